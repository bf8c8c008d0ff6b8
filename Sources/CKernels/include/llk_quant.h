// Row quantizers of the legacy block formats (quant.c): ggml's reference algorithms (quantize_row_*_ref), bit for
// bit — the Swift loops in Sources/Quant (Q8_0.swift, Q4_0.swift, …) are their references and the tests compare them
// on random and adversarial rows. `x` holds `nblocks` × 32 finite floats; `dst` receives the blocks.
#ifndef LLMKIT_QUANT_H
#define LLMKIT_QUANT_H
#include <stdint.h>
/// `type` values of the legacy row quantizers.
enum { LLK_QUANT_Q8_0 = 0, LLK_QUANT_Q4_0 = 1, LLK_QUANT_Q4_1 = 2, LLK_QUANT_Q5_0 = 3, LLK_QUANT_Q5_1 = 4 };
void llk_quantize_legacy(int type, const float *x, void *dst, int64_t nblocks);
/// The same with the portable C loops only (what non-AVX-512 CPUs run), for the tests.
void llk_quantize_generic(int type, const float *x, void *dst, int64_t nblocks);


// K-quant searches (quant.c), ggml's make_qkx2_quants and make_qx_quants(rmse_type 1, no importance weights) bit
// for bit: the candidate scales run one per vector lane, each lane in the scalar code's summation order; winners
// are taken in step order (a winner that moves the min restarts the following steps, as the scalar loop sees the
// new min). n ≤ 32. The Swift KQuants.makeQkx2Quants / makeQxQuants are the references.
float llk_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                           float rmin, float rdelta, int nstep, int use_mad);
float llk_make_qx_quants_rmse1(int n, int nmax, const float *x, int8_t *L);
/// Portable C versions (no vector lanes), for the tests.
float llk_make_qkx2_quants_generic(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                                   float rmin, float rdelta, int nstep, int use_mad);
float llk_make_qx_quants_rmse1_generic(int n, int nmax, const float *x, int8_t *L);

/// `n` IEEE halves → floats, bit for bit Swift's halfToFloat (NaN payloads kept, signalling NaNs not quieted):
/// vcvtph2ps with AVX-512 or F16C, its special lanes (exponent all ones) rebuilt from the bits; portable C otherwise.
void llk_f16_to_f32(const uint16_t *src, float *dst, int64_t n);
void llk_f16_to_f32_generic(const uint16_t *src, float *dst, int64_t n);
/// The index of the first NaN or ±inf among `n` floats, or −1.
int64_t llk_first_nonfinite(const float *x, int64_t n);
#endif
