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
    LLK_CPU_AVX512DQ = 1 << 9,
};

/// The features of the CPU this process runs on.
uint32_t llk_cpu_features(void);

// MARK: dot-product kernels (dot.c)
// One weight row `x` of `n` elements (ggml block layout of the weight type) times one activation row `y`,
// already quantized to the type ggml pairs with it (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for
// Q2_K..Q6_K; F16/BF16/F32 with themselves). `n` is a whole number of blocks. Every kernel equals the Swift
// reference `Dot.reference` up to float summation order (integer block sums are exact); activation quants
// must lie in -127...127, as our quantizers guarantee.
//
// Naming: llk_dot_<weight>_<activation>_<isa>. ISAs and the weight types they cover:
//   avx2       AVX2 + FMA + F16C          every type above (Q4_0..Q8_0, Q2_K..Q6_K, F16, BF16, F32)
//   avx512     AVX-512 F/BW/VL + VNNI     Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q6_K (the others gained under 3% on Zen 4)
//   avx512bf16 AVX-512 F/BW/VL + BF16     BF16 (VDPBF16PS; denormal inputs read as zero)
//   neon       NEON, SDOT where compiled with +dotprod (__ARM_FEATURE_DOTPROD; Apple silicon)
//              Q4_0 Q8_0 Q4_K Q6_K F16
// Selection: llk_dot_select(type, llk_cpu_features()) returns the most capable ISA's kernel the CPU can run
// for a ggml type id, or NULL (use the scalar reference); Swift calls it once per type (Dot.kernel(for:)).

typedef float (*llk_dot_fn)(int n, const void *x, const void *y);

enum {
    LLK_ISA_AVX2 = 1,
    LLK_ISA_AVX512 = 2,
    LLK_ISA_AVX512BF16 = 3,
    LLK_ISA_NEON = 4,
};

/// The kernel for ggml weight type id `type` written for `isa`, or NULL (none written, or not compiled for
/// this architecture). Does not check the CPU.
llk_dot_fn llk_dot_kernel(uint32_t type, int isa);

/// The LLK_CPU_* features an ISA's kernels need (AVX-512 ones also need AVX512VL, checked by llk_dot_select).
uint32_t llk_dot_isa_features(int isa);

/// The fastest kernel for ggml weight type id `type` on a CPU with `features` (LLK_CPU_* bits), or NULL.
llk_dot_fn llk_dot_select(uint32_t type, uint32_t features);

#if defined(__x86_64__)
float llk_dot_q4_0_q8_0_avx2(int n, const void *x, const void *y);
float llk_dot_q4_1_q8_1_avx2(int n, const void *x, const void *y);
float llk_dot_q5_0_q8_0_avx2(int n, const void *x, const void *y);
float llk_dot_q5_1_q8_1_avx2(int n, const void *x, const void *y);
float llk_dot_q8_0_q8_0_avx2(int n, const void *x, const void *y);
float llk_dot_q2_K_q8_K_avx2(int n, const void *x, const void *y);
float llk_dot_q3_K_q8_K_avx2(int n, const void *x, const void *y);
float llk_dot_q4_K_q8_K_avx2(int n, const void *x, const void *y);
float llk_dot_q5_K_q8_K_avx2(int n, const void *x, const void *y);
float llk_dot_q6_K_q8_K_avx2(int n, const void *x, const void *y);
float llk_dot_f16_f16_avx2(int n, const void *x, const void *y);
float llk_dot_bf16_bf16_avx2(int n, const void *x, const void *y);
float llk_dot_f32_f32_avx2(int n, const void *x, const void *y);

float llk_dot_q4_0_q8_0_avx512(int n, const void *x, const void *y);
float llk_dot_q4_1_q8_1_avx512(int n, const void *x, const void *y);
float llk_dot_q5_0_q8_0_avx512(int n, const void *x, const void *y);
float llk_dot_q5_1_q8_1_avx512(int n, const void *x, const void *y);
float llk_dot_q8_0_q8_0_avx512(int n, const void *x, const void *y);
float llk_dot_q4_K_q8_K_avx512(int n, const void *x, const void *y);
float llk_dot_q6_K_q8_K_avx512(int n, const void *x, const void *y);

float llk_dot_bf16_bf16_avx512bf16(int n, const void *x, const void *y);
#endif

#if defined(__aarch64__)
float llk_dot_q4_0_q8_0_neon(int n, const void *x, const void *y);
float llk_dot_q8_0_q8_0_neon(int n, const void *x, const void *y);
float llk_dot_q4_K_q8_K_neon(int n, const void *x, const void *y);
float llk_dot_q6_K_q8_K_neon(int n, const void *x, const void *y);
float llk_dot_f16_f16_neon(int n, const void *x, const void *y);
#endif

// MARK: activation quantizers (dot.c)
// A row of `n` floats (whole blocks) → Q8_0 (ggml type 8) or Q8_K (type 15) activation blocks, byte-identical to
// the Swift twins (ActivationQuant.quantizeQ8_0's x86 rounding, KQuants.quantizeQ8_K) for finite input.
//   avx512     AVX-512 F/BW/VL (selected with the AVX512 ISA's features)
typedef void (*llk_quantize_fn)(const float *x, void *y, int n);

/// The quantizer for activation type id `type` written for `isa`, or NULL. Does not check the CPU.
llk_quantize_fn llk_quantize_kernel(uint32_t type, int isa);

/// The quantizer for activation type id `type` on a CPU with `features`, or NULL (use the Swift one).
llk_quantize_fn llk_quantize_select(uint32_t type, uint32_t features);

#if defined(__x86_64__)
void llk_quantize_q8_0_avx512(const float *x, void *y, int n);
void llk_quantize_q8_K_avx512(const float *x, void *y, int n);
#endif

#include "llk_pause.h"
#include "llk_ops.h"
#include "llk_train.h"
#include "llk_quant.h"

// MARK: tile (GEMM) kernels (gemm.c)
// A block of outputs at once for a prompt batch: `w_rows` (1...4) weight rows starting at `w`, `w_stride`
// bytes apart, times `a_rows` (1...4) activation rows starting at `a`, `a_stride` bytes apart, each `n`
// elements (whole blocks; activations quantized as for the dot kernels):
//   out[j * out_stride + i] = dot(weight row i, activation row j)    (i < w_rows, j < a_rows)
// Every output equals the per-pair dot kernel / `Dot.reference` up to float summation order.
//   avx512     AVX-512 F/BW/VL + VNNI     Q4_0 Q5_0 Q8_0 (Q8_0 activations), Q4_K (Q8_K activations)
// llk_gemm_select returns NULL where no tile kernel exists (other types, arm64, older CPUs): use the dot kernels.

#include <stddef.h>

typedef void (*llk_gemm_fn)(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                            int a_rows, float *out, size_t out_stride);

/// The most rows / activation rows one tile-kernel call takes.
enum { LLK_GEMM_MAX_ROWS = 4, LLK_GEMM_MAX_BATCH = 4 };

/// The tile kernel for ggml weight type id `type` written for `isa`, or NULL. Does not check the CPU.
llk_gemm_fn llk_gemm_kernel(uint32_t type, int isa);

/// The fastest tile kernel for ggml weight type id `type` on a CPU with `features`, or NULL.
llk_gemm_fn llk_gemm_select(uint32_t type, uint32_t features);

#if defined(__x86_64__)
void llk_gemm_q8_0_q8_0_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                               int a_rows, float *out, size_t out_stride);
void llk_gemm_q4_0_q8_0_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                               int a_rows, float *out, size_t out_stride);
void llk_gemm_q5_0_q8_0_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                               int a_rows, float *out, size_t out_stride);
void llk_gemm_q4_K_q8_K_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                               int a_rows, float *out, size_t out_stride);
#endif

// Added tile kernels: Q6_K (Q8_K activations; avx512 = AVX-512 F/BW/VL + VNNI) and BF16 (BF16 activations;
// avx512bf16 = AVX-512 F/BW/VL + BF16, any n, denormal inputs read as zero like the BF16 dot kernel).
#if defined(__x86_64__)
void llk_gemm_q6_K_q8_K_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                               int a_rows, float *out, size_t out_stride);
void llk_gemm_bf16_bf16_avx512bf16(int n, const void *w, size_t w_stride, int w_rows, const void *a,
                                   size_t a_stride, int a_rows, float *out, size_t out_stride);
#endif

// F16 tile kernels (F16 activations, any n): avx512 = AVX-512 F/BW/VL (selected with the rest of that ISA),
// avx2 = AVX2 + FMA + F16C. Halves widened exactly to f32, products exact, f32 FMA accumulation.
#if defined(__x86_64__)
void llk_gemm_f16_f16_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                             int a_rows, float *out, size_t out_stride);
void llk_gemm_f16_f16_avx2(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                           int a_rows, float *out, size_t out_stride);
#endif

// Panel kernels (gemm.c): the tile-kernel signature with up to LLK_PANEL_MAX_ROWS (16) weight rows and any
// number of activation rows per call (a whole prompt batch). Each call decodes its weight rows a slab of
// super-blocks at a time into a small stack scratch (never a second copy of the matrix) and reuses every
// decoded slab for all the activation rows; the decoding costs about as much as 4–8 activation rows, so
// MatMul uses these for batches of 8 or more and the tile kernels below that. Same contract otherwise:
//   out[j * out_stride + i] = dot(weight row i, activation row j)    (i < w_rows, j < a_rows)
// equal to the per-pair dot kernel / `Dot.reference` up to float summation order.
//   avx512     AVX-512 F/BW/VL + VNNI     Q4_0 Q8_0 (Q8_0 activations), Q4_K Q6_K (Q8_K activations)
// Q4_0 and Q8_0 take any number of weight rows (16 at a time, the activation side prepared once per call).
enum { LLK_PANEL_MAX_ROWS = 16 };

/// The panel kernel for ggml weight type id `type` written for `isa`, or NULL. Does not check the CPU.
llk_gemm_fn llk_panel_kernel(uint32_t type, int isa);

/// The panel kernel for ggml weight type id `type` on a CPU with `features`, or NULL.
llk_gemm_fn llk_panel_select(uint32_t type, uint32_t features);

#if defined(__x86_64__)
void llk_panel_q4_0_q8_0_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                int a_rows, float *out, size_t out_stride);
void llk_panel_q8_0_q8_0_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                int a_rows, float *out, size_t out_stride);
void llk_panel_q4_K_q8_K_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                int a_rows, float *out, size_t out_stride);
void llk_panel_q6_K_q8_K_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                int a_rows, float *out, size_t out_stride);
#endif

// Q8_0 weights × a decode batch (gemm.c): the tile-kernel signature and floats (tinyBLAS's order, as
// llk_gemm_q8_0_q8_0_avx512), any number of weight rows per call, built for 2–8 activation rows (more are done
// 8 at a time). NULL where the CPU lacks AVX-512 VNNI (then the tile kernel or the dot kernel).
llk_gemm_fn llk_gemm_q8_0_small_select(uint32_t features);
#if defined(__x86_64__)
void llk_gemm_q8_0_small_avx512(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                int a_rows, float *out, size_t out_stride);
#endif

#endif
