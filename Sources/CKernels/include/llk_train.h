// Training kernels (train.c): the row loops of the training ops' forward and backward passes (Sources/Finetune/Ops
// holds the math and calls these). All buffers row-major F32; `n` rows of `c` columns unless stated. Backward
// kernels that produce a parameter gradient accumulate (+=) into it; the caller gives each thread its own partial
// buffer and sums the partials in a fixed order, so results do not depend on the thread count.
// Every kernel is compiled twice from one body: an AVX-512 build (F/VL/BW/DQ + FMA, chosen at run time) and a
// portable scalar build (the reference twin); llk_train_set_simd(0) forces the portable one (tests compare them).
#pragma once
#include <stdint.h>

/// 1 if the AVX-512 builds run on this CPU and are enabled, else 0.
int llk_train_simd(void);
/// Enable (1) or disable (0) the AVX-512 builds (only enables them where the CPU has AVX-512). Returns the old value.
int llk_train_set_simd(int on);

/// exp as the kernels compute it (a degree-6 polynomial after range reduction; |rel err| < 2e-7 for x in ±87).
float llk_train_expf(float x);

/// Inverted dropout with xoshiro256** state `s` (TrainRNG's, advanced in place): for i in 0..<n, draw u (the top 24
/// bits of the next output × 2⁻²⁴), mask[i] = u < p ? 0 : 1/(1−p), x[i] *= mask[i].
void llk_train_dropout(uint64_t s[4], float p, float *mask, float *x, long n);

/// LayerNorm over rows: out = (x − mean)·rstd·w + b, mean[n] and rstd[n] kept for the backward.
void llk_layernorm_fwd(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                       long n, long c, float eps);
/// dx += ∂/∂x; dw += Σ dout·x̂; db += Σ dout (db may be NULL).
void llk_layernorm_bwd(float *dx, float *dw, float *db, const float *dout, const float *x, const float *mean,
                       const float *rstd, const float *w, long n, long c);
/// RMSNorm over rows: out = x·rstd·w, rstd = 1/sqrt(mean(x²) + eps).
void llk_rmsnorm_fwd(float *out, float *rstd, const float *x, const float *w, long n, long c, float eps);
/// dx += ∂/∂x; dw += Σ dout·x·rstd.
void llk_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *rstd, const float *w,
                     long n, long c);

/// h[r, j] += bias[j] (bias may be NULL), then out = gelu_tanh(h) (h keeps the pre-activation).
void llk_gelu_fwd(float *out, float *h, const float *bias, long n, long c);
/// dh = dout · gelu_tanh'(h) (dh may alias dout).
void llk_gelu_bwd(float *dh, const float *h, const float *dout, long count);
/// out = silu(g)·u over `count` elements.
void llk_swiglu_fwd(float *out, const float *g, const float *u, long count);
/// dg = dout·u·silu'(g), du = dout·silu(g).
void llk_swiglu_bwd(float *dg, float *du, const float *dout, const float *g, const float *u, long count);

/// Softmax cross-entropy over rows of `v` logits: loss[r] = logsumexp − logit[target]; when `grad` is nonzero the
/// logits are replaced by (softmax − onehot)·scale (rows with target < 0: loss 0 and gradient 0).
void llk_xent(float *logits, float *loss, const int32_t *targets, long n, long v, float scale, int grad);

/// Causal softmax of a tile of attention scores: rows r of S (row stride ld) belong to query t = t0 + r and see
/// keys 0...t of `cols`; P = softmax(scale·S) over those, 0 beyond; lse[r] = logsumexp(scale·S row).
void llk_attn_softmax(float *S, long ld, long rows, long t0, long cols, float scale, float *lse);
/// Backward of that softmax: S (raw scores) becomes P = exp(scale·S − lse) (0 beyond the diagonal), dP becomes
/// dS = P·(dP − D[r])·scale, where D[r] = Σ dO·O of the query row.
void llk_attn_softmax_bwd(float *S, float *dP, long ld, long rows, long t0, long cols, float scale, const float *lse,
                          const float *D);

/// Causal attention of one sequence of T tokens for `rep` query heads sharing one kv head: q/out point at the first
/// head's column (heads hd apart), k/v at the kv head's column, rows ld* apart; lse[i·T + t] = logsumexp of query
/// head i's scaled scores at t. `scratch` ≥ 5·hd·T16 + 8·T16 + 4·hd floats, T16 = T rounded up to 16. Scores 16 at a time against a
/// transposed K; P·V with four partial sums.
void llk_attn_fwd(float *out, long ldo, const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                  float *lse, long T, long hd, long rep, float scale, float *scratch);
/// Its backward: dq (overwritten), dk and dv (overwritten: the kv head's rows), given dout, out and lse; P recomputed.
void llk_attn_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out, long ldo, const float *q, long ldq,
                  const float *k, long ldk, const float *v, long ldv, const float *lse, long T, long hd, long rep,
                  float scale, float *scratch);
/// sum[j] += Σ_r x[r·ld + j] for j < cols (rows in order).
void llk_colsum(float *sum, const float *x, long ld, long n, long cols);

/// RoPE on `rows` rows of `heads` vectors of `hd` (row stride ld): pairs (x[2i], x[2i+1]) of row r rotated by the
/// angle with cos/sin at table[(pos0 + r)·hd + 2i], [.. + 2i + 1]; inverse rotates the other way (the backward).
void llk_rope(float *x, long ld, long rows, long pos0, long heads, long hd, const float *table, int inverse);

/// AdamW on one parameter (PyTorch's formula): θ −= lr·wd·θ; m, v updated; θ −= (lr/bc1)·m/(sqrt(v)/sqrt(bc2) + eps).
void llk_adamw(float *theta, const float *g, float *m, float *v, long count, float lr, float beta1, float beta2,
               float eps, float wd, float bc1, float bc2);
/// Σ g² in double (fixed order: 16 lanes over the array, then the lanes in order).
double llk_sumsq(const float *g, long count);
/// x *= s.
void llk_scale(float *x, long count, float s);
