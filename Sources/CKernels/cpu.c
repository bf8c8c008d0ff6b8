// Run-time CPU feature detection for kernel dispatch.
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
uint32_t llk_cpu_features(void) {
    uint32_t f = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) f |= LLK_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= LLK_CPU_FMA;
    if (__builtin_cpu_supports("f16c")) f |= LLK_CPU_F16C;
    if (__builtin_cpu_supports("avx512f")) f |= LLK_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= LLK_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) f |= LLK_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vnni")) f |= LLK_CPU_AVX512VNNI;
    if (__builtin_cpu_supports("avx512bf16")) f |= LLK_CPU_AVX512BF16;
    return f;
}
#elif defined(__aarch64__)
uint32_t llk_cpu_features(void) {
    uint32_t f = LLK_CPU_NEON;
#if defined(__ARM_FEATURE_DOTPROD)
    f |= LLK_CPU_DOTPROD;
#endif
    return f;
}
#else
uint32_t llk_cpu_features(void) { return 0; }
#endif
