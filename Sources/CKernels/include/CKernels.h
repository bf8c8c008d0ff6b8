// CKernels: SIMD kernels Swift cannot express (AVX2 / AVX-512 VNNI / NEON dotprod intrinsics), chosen at
// run time by CPU feature. Every kernel has a Swift scalar twin in Sources/Quant and a test comparing them.
#ifndef LLMKIT_CKERNELS_H
#define LLMKIT_CKERNELS_H

#include <stdint.h>

/// CPU features llmkit's kernels care about (bit flags).
enum {
    LLK_CPU_AVX2 = 1 << 0,
    LLK_CPU_FMA = 1 << 1,
    LLK_CPU_F16C = 1 << 2,
    LLK_CPU_AVX512F = 1 << 3,
    LLK_CPU_AVX512BW = 1 << 4,
    LLK_CPU_AVX512VNNI = 1 << 5,
    LLK_CPU_AVX512BF16 = 1 << 6,
    LLK_CPU_NEON = 1 << 7,
    LLK_CPU_DOTPROD = 1 << 8,
};

/// The features of the CPU this process runs on.
uint32_t llk_cpu_features(void);

#endif
