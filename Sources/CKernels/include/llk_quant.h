// Row quantizers of the legacy block formats (quant.c): ggml's reference algorithms (quantize_row_*_ref), bit for
// bit — the Swift loops in Sources/Quant (Q8_0.swift, Q4_0.swift, …) are their references and the tests compare them
// on random and adversarial rows. `x` holds `nblocks` × 32 finite floats; `dst` receives the blocks.
#ifndef LLMKIT_QUANT_H
#define LLMKIT_QUANT_H
#include <stdint.h>
void llk_quantize_q8_0(const float *x, void *dst, int64_t nblocks);
void llk_quantize_q4_0(const float *x, void *dst, int64_t nblocks);
void llk_quantize_q4_1(const float *x, void *dst, int64_t nblocks);
void llk_quantize_q5_0(const float *x, void *dst, int64_t nblocks);
void llk_quantize_q5_1(const float *x, void *dst, int64_t nblocks);
/// The same with the portable C loops only (what non-AVX-512 CPUs run), for the tests.
void llk_quantize_generic(int type, const float *x, void *dst, int64_t nblocks);
/// `type` values of llk_quantize_generic.
enum { LLK_QUANT_Q8_0 = 0, LLK_QUANT_Q4_0 = 1, LLK_QUANT_Q4_1 = 2, LLK_QUANT_Q5_0 = 3, LLK_QUANT_Q5_1 = 4 };
#endif
