// Forward-pass kernels with llama.cpp's exact CPU arithmetic (ops.c).
#pragma once
#include <stddef.h>
#include <stdint.h>

/// 0 scalar, 1 AVX2+FMA+F16C, 2 AVX-512F/DQ: the path the ops below take on this CPU.
int llk_ops_isa(void);
/// RoPE NORM mode on `heads` vectors of `head_dim`, first `n_dims` rotated by cache = [cos0, sin0, cos1, sin1 …].
void llk_rope_norm(float *x, int heads, int head_dim, int n_dims, const float *cache);
/// y[i] = silu(x[i]) · g[i] (ggml_vec_swiglu_f32).
void llk_swiglu(int n, float *y, const float *x, const float *g);
/// y[i] = exp(x[i] − max); returns Σ y in double (ggml_vec_soft_max_f32).
double llk_soft_max(int n, float *y, const float *x, float max);
/// F16 dot as ggml_vec_dot_f16 (decode).
float llk_dot_f16_vec(int n, const uint16_t *x, const uint16_t *y);
/// out[g·ostride + r] = llk_dot_f16_vec(n, x + r·stride, y + g·ystride) for r < rows, g < ny, bit for bit (each row is
/// read once for the ny vectors: the query heads that share a KV head).
void llk_dot_f16_vec_multi(int n, const uint16_t *x, size_t stride, int rows, const uint16_t *y, size_t ystride, int ny,
                           float *out, size_t ostride);
/// F16 dot as llamafile's tinyBLAS (prompt batches); k a multiple of llk_dot_f16_blas_width().
float llk_dot_f16_blas(int k, const uint16_t *a, const uint16_t *b);
int llk_dot_f16_blas_width(void);
/// Q4_0 × Q8_0 dot in the order of llama.cpp's repacked 8×8 kernels (a scalar FMA chain over blocks), and its
/// portable twin; llk_q4_0_uses_chain_order says whether llama.cpp repacks a matrix of `rows` rows on this CPU.
float llk_dot_q4_0_q8_0_chain(int n, const void *x, const void *y);
float llk_dot_q4_0_q8_0_chain_ref(int n, const void *x, const void *y);
int llk_q4_0_uses_chain_order(int rows);
/// Up to 4 Q4_0 weight rows × 4 Q8_0 activation rows in that chain order (llk_gemm_fn convention).
void llk_gemm_q4_0_chain(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                         int a_rows, float *out, size_t out_stride);
/// Q4_0 rows (any number) × one activation row in that chain order (out[i] for row i); the AVX-512 VNNI path exists
/// where llk_gemv_q4_0_chain_available() (else it loops over the chain dot).
void llk_gemv_q4_0_chain(int n, const void *w, size_t w_stride, int w_rows, const void *a, float *out);
int llk_gemv_q4_0_chain_available(void);
/// F16 rows (any number) × one F16 activation row (out[i] for row i): AVX-512 where llk_gemv_f16_available(), one
/// sequential stream per call; else llk_dot_f16_vec per row.
void llk_gemv_f16(int n, const void *w, size_t w_stride, int w_rows, const void *a, float *out);
int llk_gemv_f16_available(void);
/// Q4_K and Q6_K × Q8_K dots in llama.cpp's x86 summation orders (ops.c explains them): Q4_K with the FMA per
/// super-block (per_pair 0: its repacked gemv) or per pair of sub-blocks (1: its gemm); Q6_K in vec_dot's 8-lane
/// order. The _ref twins use portable integer code.
float llk_dot_q4_K_q8_K_order(int n, const void *x, const void *y, int per_pair);
float llk_dot_q4_K_q8_K_order_ref(int n, const void *x, const void *y, int per_pair);
/// Q4_K rows (any number) × one Q8_K activation row, each output bit-equal to llk_dot_q4_K_q8_K_order(…, 0)
/// (out[i] for row i; AVX-512 VNNI where available, else that dot per row).
void llk_gemv_q4_K_order(int n, const void *w, size_t w_stride, int w_rows, const void *a, float *out);
float llk_dot_q6_K_q8_K_order(int n, const void *x, const void *y);
float llk_dot_q6_K_q8_K_order_ref(int n, const void *x, const void *y);
/// Up to 16 Q4_K / Q6_K weight rows × ar activation rows in those orders (out[j·os + i]); Q4_K's activation rows
/// below `grouped` take the per-pair (gemm) order, the rest the per-super-block (gemv) one.
void llk_panel_q4_K_order(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar, float *out,
                          size_t os, int grouped);
void llk_panel_q6_K_order(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar, float *out,
                          size_t os);
/// Whether llama.cpp on this CPU uses those orders (x86 with AVX2).
int llk_k_quants_use_llamacpp_order(void);
