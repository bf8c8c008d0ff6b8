// Training kernels: the row loops of Finetune's ops (see llk_train.h for each contract; the math is written out
// in the Swift op files). Each kernel body is an always-inline function compiled twice — into an AVX-512 function
// (target attribute; clang vectorizes the loops to 16 lanes) and into a portable one (the scalar reference twin) —
// and the exported symbol picks one per call from a flag set once from the CPU's features.
// Conventions: reductions run over 16 fixed lanes then add the lanes in order, in both builds, so a result depends
// only on the data and the build (not on threads or timing); exp is our own polynomial (vectorizable, no libm).
#include "llk_train.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__)
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
static int simd_flag = -1;
static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}
static inline int simd_on(void) {
    if (simd_flag < 0) simd_flag = cpu_has_avx512();
    return simd_flag;
}
int llk_train_simd(void) { return simd_on(); }
int llk_train_set_simd(int on) {
    int old = simd_on();
    simd_flag = on ? cpu_has_avx512() : 0;
    return old;
}
// Defines name (dispatching), name_avx512 and name_ref from the body name_body.
#define KERNEL(name, params, args)                                                   \
    static T512 void name##_avx512 params { name##_body args; }                     \
    static void name##_ref params { name##_body args; }                             \
    void name params {                                                              \
        if (simd_on()) name##_avx512 args; else name##_ref args;                    \
    }
#define KERNEL_R(type, name, params, args)                                           \
    static T512 type name##_avx512 params { return name##_body args; }              \
    static type name##_ref params { return name##_body args; }                      \
    type name params { return simd_on() ? name##_avx512 args : name##_ref args; }
#else
int llk_train_simd(void) { return 0; }
int llk_train_set_simd(int on) { (void)on; return 0; }
#define KERNEL(name, params, args) void name params { name##_body args; }
#define KERNEL_R(type, name, params, args) type name params { return name##_body args; }
#endif

// MARK: helpers

/// exp(x): n = round(x·log2 e) by the 1.5·2²³ trick, r = x − n·ln 2 in two parts, Cephes' degree-6 polynomial,
/// times 2ⁿ built in the exponent bits. x is clamped to [−87.3, 88.3] (results stay normal and finite).
INLINE float fexp(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return y * scale;
}

float llk_train_expf(float x) { return fexp(x); }

INLINE float fsum(const float *x, long c) {
    float acc[16] = {0};
    long i = 0;
    for (; i + 16 <= c; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    for (int k = 0; i < c; i++, k++) acc[k] += x[i];
    float s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

INLINE float fmaxrow(const float *x, long c) {
    float m = -INFINITY;
    for (long i = 0; i < c; i++) m = x[i] > m ? x[i] : m;
    return m;
}

// MARK: dropout (scalar: one RNG stream)

void llk_train_dropout(uint64_t s[4], float p, float *mask, float *x, long n) {
    uint64_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    const float keep = 1.0f / (1.0f - p);
    for (long i = 0; i < n; i++) {
        uint64_t r5 = s1 * 5;
        uint64_t result = ((r5 << 7) | (r5 >> 57)) * 9;
        uint64_t t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
        s3 = (s3 << 45) | (s3 >> 19);
        float u = (float)(result >> 40) * 0x1p-24f;
        float m = u < p ? 0.0f : keep;
        mask[i] = m;
        x[i] *= m;
    }
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
}

// MARK: LayerNorm, RMSNorm

INLINE void llk_layernorm_fwd_body(float *out, float *mean, float *rstd, const float *x, const float *w,
                                   const float *b, long n, long c, float eps) {
    for (long r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *o = out + r * c;
        float m = fsum(xr, c) / (float)c;
        for (long i = 0; i < c; i++) o[i] = (xr[i] - m) * (xr[i] - m);  // scratch for the variance
        float var = fsum(o, c) / (float)c;
        float s = 1.0f / sqrtf(var + eps);
        for (long i = 0; i < c; i++) o[i] = (xr[i] - m) * s * w[i] + b[i];
        mean[r] = m;
        rstd[r] = s;
    }
}
KERNEL(llk_layernorm_fwd, (float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                           long n, long c, float eps), (out, mean, rstd, x, w, b, n, c, eps))

INLINE void llk_layernorm_bwd_body(float *dx, float *dw, float *db, const float *dout, const float *x,
                                   const float *mean, const float *rstd, const float *w, long n, long c) {
    for (long r = 0; r < n; r++) {
        const float *xr = x + r * c, *dr = dout + r * c;
        float *dxr = dx + r * c;
        const float m = mean[r], s = rstd[r];
        // a = Σ dnorm, b = Σ dnorm·x̂ where dnorm = dout·w (16 lanes, then in order)
        float a[16] = {0}, b[16] = {0};
        long i = 0;
        for (; i + 16 <= c; i += 16)
            for (int k = 0; k < 16; k++) {
                float xh = (xr[i + k] - m) * s, dn = dr[i + k] * w[i + k];
                a[k] += dn;
                b[k] += dn * xh;
            }
        for (int k = 0; i < c; i++, k++) {
            float xh = (xr[i] - m) * s, dn = dr[i] * w[i];
            a[k] += dn;
            b[k] += dn * xh;
        }
        float sa = 0, sb = 0;
        for (int k = 0; k < 16; k++) { sa += a[k]; sb += b[k]; }
        const float dmean = sa / (float)c, dxmean = sb / (float)c;
        for (i = 0; i < c; i++) {
            float xh = (xr[i] - m) * s;
            dw[i] += dr[i] * xh;
            dxr[i] += (dr[i] * w[i] - dmean - xh * dxmean) * s;
        }
        if (db) for (i = 0; i < c; i++) db[i] += dr[i];
    }
}
KERNEL(llk_layernorm_bwd, (float *dx, float *dw, float *db, const float *dout, const float *x, const float *mean,
                           const float *rstd, const float *w, long n, long c), (dx, dw, db, dout, x, mean, rstd, w, n, c))

INLINE void llk_rmsnorm_fwd_body(float *out, float *rstd, const float *x, const float *w, long n, long c, float eps) {
    for (long r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *o = out + r * c;
        for (long i = 0; i < c; i++) o[i] = xr[i] * xr[i];
        float s = 1.0f / sqrtf(fsum(o, c) / (float)c + eps);
        for (long i = 0; i < c; i++) o[i] = xr[i] * s * w[i];
        rstd[r] = s;
    }
}
KERNEL(llk_rmsnorm_fwd, (float *out, float *rstd, const float *x, const float *w, long n, long c, float eps),
       (out, rstd, x, w, n, c, eps))

INLINE void llk_rmsnorm_bwd_body(float *dx, float *dw, const float *dout, const float *x, const float *rstd,
                                 const float *w, long n, long c) {
    for (long r = 0; r < n; r++) {
        const float *xr = x + r * c, *dr = dout + r * c;
        float *dxr = dx + r * c;
        const float s = rstd[r];
        float b[16] = {0};
        long i = 0;
        for (; i + 16 <= c; i += 16)
            for (int k = 0; k < 16; k++) b[k] += dr[i + k] * w[i + k] * xr[i + k] * s;
        for (int k = 0; i < c; i++, k++) b[k] += dr[i] * w[i] * xr[i] * s;
        float sb = 0;
        for (int k = 0; k < 16; k++) sb += b[k];
        const float dxmean = sb / (float)c;
        for (i = 0; i < c; i++) {
            float xh = xr[i] * s;
            dw[i] += dr[i] * xh;
            dxr[i] += (dr[i] * w[i] - xh * dxmean) * s;
        }
    }
}
KERNEL(llk_rmsnorm_bwd, (float *dx, float *dw, const float *dout, const float *x, const float *rstd, const float *w,
                         long n, long c), (dx, dw, dout, x, rstd, w, n, c))

// MARK: GELU (tanh), SwiGLU

#define GELU_K 0.7978845608028654f  // sqrt(2/π)
#define GELU_A 0.044715f

INLINE float ftanh(float u) { return 1.0f - 2.0f / (fexp(2.0f * u) + 1.0f); }

INLINE void llk_gelu_fwd_body(float *out, float *h, const float *bias, long n, long c) {
    for (long r = 0; r < n; r++) {
        float *hr = h + r * c, *o = out + r * c;
        if (bias) for (long i = 0; i < c; i++) hr[i] += bias[i];
        for (long i = 0; i < c; i++) {
            float x = hr[i];
            o[i] = 0.5f * x * (1.0f + ftanh(GELU_K * (x + GELU_A * x * x * x)));
        }
    }
}
KERNEL(llk_gelu_fwd, (float *out, float *h, const float *bias, long n, long c), (out, h, bias, n, c))

INLINE void llk_gelu_bwd_body(float *dh, const float *h, const float *dout, long count) {
    // dh may be dout (in place): element i reads only index i, so vectorizing is safe despite the aliasing.
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < count; i++) {
        float x = h[i];
        float t = ftanh(GELU_K * (x + GELU_A * x * x * x));
        float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        dh[i] = dout[i] * d;
    }
}
KERNEL(llk_gelu_bwd, (float *dh, const float *h, const float *dout, long count), (dh, h, dout, count))

INLINE void llk_swiglu_fwd_body(float *out, const float *g, const float *u, long count) {
    for (long i = 0; i < count; i++) out[i] = g[i] / (1.0f + fexp(-g[i])) * u[i];
}
KERNEL(llk_swiglu_fwd, (float *out, const float *g, const float *u, long count), (out, g, u, count))

INLINE void llk_swiglu_bwd_body(float *dg, float *du, const float *dout, const float *g, const float *u, long count) {
    for (long i = 0; i < count; i++) {
        float sg = 1.0f / (1.0f + fexp(-g[i]));
        float d = dout[i], gi = g[i];
        dg[i] = d * u[i] * sg * (1.0f + gi * (1.0f - sg));
        du[i] = d * gi * sg;
    }
}
KERNEL(llk_swiglu_bwd, (float *dg, float *du, const float *dout, const float *g, const float *u, long count),
       (dg, du, dout, g, u, count))

// MARK: cross-entropy

INLINE void llk_xent_body(float *logits, float *loss, const int32_t *targets, long n, long v, float scale, int grad) {
    for (long r = 0; r < n; r++) {
        float *l = logits + r * v;
        int32_t t = targets[r];
        if (t < 0) {
            loss[r] = 0;
            if (grad) for (long i = 0; i < v; i++) l[i] = 0;
            continue;
        }
        float m = fmaxrow(l, v);
        float acc[16] = {0};
        long i = 0;
        for (; i + 16 <= v; i += 16)
            for (int k = 0; k < 16; k++) acc[k] += fexp(l[i + k] - m);
        for (int k = 0; i < v; i++, k++) acc[k] += fexp(l[i] - m);
        float sum = 0;
        for (int k = 0; k < 16; k++) sum += acc[k];
        float lse = m + logf(sum);
        loss[r] = lse - l[t];
        if (grad) {
            for (long j = 0; j < v; j++) l[j] = fexp(l[j] - lse) * scale;
            l[t] -= scale;
        }
    }
}
KERNEL(llk_xent, (float *logits, float *loss, const int32_t *targets, long n, long v, float scale, int grad),
       (logits, loss, targets, n, v, scale, grad))

// MARK: attention softmax

INLINE void llk_attn_softmax_body(float *S, long ld, long rows, long t0, long cols, float scale, float *lse) {
    for (long r = 0; r < rows; r++) {
        float *s = S + r * ld;
        long valid = t0 + r + 1 < cols ? t0 + r + 1 : cols;
        float m = fmaxrow(s, valid) * scale;
        float acc[16] = {0};
        long j = 0;
        for (; j + 16 <= valid; j += 16)
            for (int k = 0; k < 16; k++) { float p = fexp(s[j + k] * scale - m); s[j + k] = p; acc[k] += p; }
        for (int k = 0; j < valid; j++, k++) { float p = fexp(s[j] * scale - m); s[j] = p; acc[k] += p; }
        float sum = 0;
        for (int k = 0; k < 16; k++) sum += acc[k];
        float inv = 1.0f / sum;
        for (j = 0; j < valid; j++) s[j] *= inv;
        for (; j < cols; j++) s[j] = 0;
        lse[r] = m + logf(sum);
    }
}
KERNEL(llk_attn_softmax, (float *S, long ld, long rows, long t0, long cols, float scale, float *lse),
       (S, ld, rows, t0, cols, scale, lse))

INLINE void llk_attn_softmax_bwd_body(float *S, float *dP, long ld, long rows, long t0, long cols, float scale,
                                      const float *lse, const float *D) {
    for (long r = 0; r < rows; r++) {
        float *s = S + r * ld, *dp = dP + r * ld;
        long valid = t0 + r + 1 < cols ? t0 + r + 1 : cols;
        const float l = lse[r], d = D[r];
        long j = 0;
        for (; j < valid; j++) {
            float p = fexp(s[j] * scale - l);
            s[j] = p;
            dp[j] = p * (dp[j] - d) * scale;
        }
        for (; j < cols; j++) { s[j] = 0; dp[j] = 0; }
    }
}
KERNEL(llk_attn_softmax_bwd, (float *S, float *dP, long ld, long rows, long t0, long cols, float scale,
                              const float *lse, const float *D), (S, dP, ld, rows, t0, cols, scale, lse, D))

// MARK: attention (one sequence, one group of query heads sharing a kv head)

/// Kt[d·ldt + j] = k[j·ldk + d] for j < T, zero for T ≤ j < ldt (so score loops can run whole 16-lane blocks).
INLINE void transpose_block(float *Kt, long ldt, const float *k, long ldk, long T, long hd) {
    for (long j = 0; j < T; j++)
        for (long d = 0; d < hd; d++) Kt[d * ldt + j] = k[j * ldk + d];
    for (long d = 0; d < hd; d++)
        for (long j = T; j < ldt; j++) Kt[d * ldt + j] = 0;
}

#pragma clang diagnostic ignored "-Wpsabi"  // v16 helpers are always inlined: no call ABI involved
typedef float v16 __attribute__((vector_size(64)));
INLINE v16 ld16(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
INLINE void st16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

/// s[j] = Σ_d q[d]·Kt[d][j] for j < n (n a multiple of 16): 16-lane vectors, four blocks of 16 scores at a time so
/// the four FMA chains over d overlap.
INLINE void scores(float *s, const float *q, const float *Kt, long ldt, long n, long hd) {
    long j0 = 0;
    for (; j0 + 64 <= n; j0 += 64) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (long d = 0; d < hd; d++) {
            const float *kt = Kt + d * ldt + j0;
            const float qd = q[d];
            a0 += qd * ld16(kt); a1 += qd * ld16(kt + 16); a2 += qd * ld16(kt + 32); a3 += qd * ld16(kt + 48);
        }
        st16(s + j0, a0); st16(s + j0 + 16, a1); st16(s + j0 + 32, a2); st16(s + j0 + 48, a3);
    }
    for (; j0 < n; j0 += 16) {
        v16 a = {0};
        for (long d = 0; d < hd; d++) a += q[d] * ld16(Kt + d * ldt + j0);
        st16(s + j0, a);
    }
}

/// scores() for four query rows at once (rows of s lds apart): each K block loaded once for all four rows.
INLINE void scores4(float *s, long lds, const float *const *q, const float *Kt, long ldt, long n, long hd) {
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    long j0 = 0;
    for (; j0 + 32 <= n; j0 += 32) {
        v16 a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (long d = 0; d < hd; d++) {
            const v16 k0 = ld16(Kt + d * ldt + j0), k1 = ld16(Kt + d * ldt + j0 + 16);
            a0 += q0[d] * k0; b0 += q0[d] * k1;
            a1 += q1[d] * k0; b1 += q1[d] * k1;
            a2 += q2[d] * k0; b2 += q2[d] * k1;
            a3 += q3[d] * k0; b3 += q3[d] * k1;
        }
        st16(s + j0, a0); st16(s + j0 + 16, b0);
        st16(s + lds + j0, a1); st16(s + lds + j0 + 16, b1);
        st16(s + 2 * lds + j0, a2); st16(s + 2 * lds + j0 + 16, b2);
        st16(s + 3 * lds + j0, a3); st16(s + 3 * lds + j0 + 16, b3);
    }
    for (; j0 < n; j0 += 16) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (long d = 0; d < hd; d++) {
            const v16 k0 = ld16(Kt + d * ldt + j0);
            a0 += q0[d] * k0; a1 += q1[d] * k0; a2 += q2[d] * k0; a3 += q3[d] * k0;
        }
        st16(s + j0, a0); st16(s + lds + j0, a1); st16(s + 2 * lds + j0, a2); st16(s + 3 * lds + j0, a3);
    }
}

/// acc[d] = Σ_{j<n} w[j]·x[j·ldx + d]: four partial sums over j (added in order at the end); 16-lane vectors over d
/// when hd is a multiple of 16, scalar otherwise.
INLINE void weighted_rows(float *acc, const float *w, const float *x, long ldx, long n, long hd, float *tmp) {
    if (hd % 16 == 0) {
        for (long d0 = 0; d0 < hd; d0 += 16) {
            v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            const float *xd = x + d0;
            long j = 0;
            for (; j + 4 <= n; j += 4) {
                a0 += w[j] * ld16(xd + j * ldx);
                a1 += w[j + 1] * ld16(xd + (j + 1) * ldx);
                a2 += w[j + 2] * ld16(xd + (j + 2) * ldx);
                a3 += w[j + 3] * ld16(xd + (j + 3) * ldx);
            }
            for (; j < n; j++) a0 += w[j] * ld16(xd + j * ldx);
            st16(acc + d0, (a0 + a1) + (a2 + a3));
        }
        return;
    }
    for (long d = 0; d < hd; d++) tmp[d] = 0;
    for (long j = 0; j < n; j++)
        for (long d = 0; d < hd; d++) tmp[d] += w[j] * x[j * ldx + d];
    for (long d = 0; d < hd; d++) acc[d] = tmp[d];
}

/// y[j·ldy + d] += w[j]·x[d] for j < n, d < hd (the dk/dv scatter of one query row).
INLINE void add_outer(float *y, long ldy, const float *w, const float *x, long n, long hd) {
    if (hd % 16 == 0) {
        for (long d0 = 0; d0 < hd; d0 += 16) {
            const v16 xv = ld16(x + d0);
            for (long j = 0; j < n; j++) st16(y + j * ldy + d0, ld16(y + j * ldy + d0) + w[j] * xv);
        }
        return;
    }
    for (long j = 0; j < n; j++)
        for (long d = 0; d < hd; d++) y[j * ldy + d] += w[j] * x[d];
}

/// y[j·ldy + d] += Σ_{r<4} w[r·ldw + j]·x[r][d] for j < n (hd a multiple of 16): four query rows' outer products
/// in one pass over y, the rows added in order.
INLINE void add_outer4(float *y, long ldy, const float *w, long ldw, const float *const *x, long n, long hd) {
    for (long d0 = 0; d0 < hd; d0 += 16) {
        const v16 x0 = ld16(x[0] + d0), x1 = ld16(x[1] + d0), x2 = ld16(x[2] + d0), x3 = ld16(x[3] + d0);
        const float *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw;
        for (long j = 0; j < n; j++) {
            v16 a = ld16(y + j * ldy + d0);
            a += w0[j] * x0;
            a += w1[j] * x1;
            a += w2[j] * x2;
            a += w3[j] * x3;
            st16(y + j * ldy + d0, a);
        }
    }
}

INLINE void llk_attn_fwd_body(float *out, long ldo, const float *q, long ldq, const float *k, long ldk, const float *v,
                              long ldv, float *lse, long T, long hd, long rep, float scale, float *scratch) {
    const long ldt = (T + 15) / 16 * 16;
    float *Kt = scratch, *Vc = Kt + hd * ldt, *s = Vc + hd * ldt, *tmp = s + 4 * ldt;  // s: four rows
    transpose_block(Kt, ldt, k, ldk, T, hd);
    for (long j = 0; j < T; j++) memcpy(Vc + j * hd, v + j * ldv, (size_t)hd * sizeof(float));  // dense rows: 1 line each
    // Query rows in groups of four: each row's scores and unnormalized P = exp(scale·S − max) (zero past its
    // diagonal), then one pass over V for all four outputs, each scaled by its 1/Σ P.
    for (long i = 0; i < rep; i++) {
        for (long t0 = 0; t0 < T; t0 += 4) {
            const long R = T - t0 < 4 ? T - t0 : 4, nmax = t0 + R, n16 = (nmax + 15) / 16 * 16;
            float inv[4];
            const int grouped = R == 4;
            if (grouped) {
                const float *qs[4] = {q + t0 * ldq + i * hd, q + (t0 + 1) * ldq + i * hd, q + (t0 + 2) * ldq + i * hd,
                                      q + (t0 + 3) * ldq + i * hd};
                scores4(s, ldt, qs, Kt, ldt, n16, hd);
            }
            for (long r = 0; r < R; r++) {
                const long t = t0 + r, n = t + 1;
                float *sr = s + r * ldt;
                if (!grouped) scores(sr, q + t * ldq + i * hd, Kt, ldt, n16, hd);
                float mx[16];
                for (int jj = 0; jj < 16; jj++) mx[jj] = -INFINITY;
                for (long j = 0; j < n16; j += 16)  // lanes past n hold scores of later or zero-padded keys: skipped
                    for (int jj = 0; jj < 16; jj++) mx[jj] = (j + jj < n && sr[j + jj] > mx[jj]) ? sr[j + jj] : mx[jj];
                float m = -INFINITY;
                for (int jj = 0; jj < 16; jj++) m = mx[jj] > m ? mx[jj] : m;
                m *= scale;
                float acc[16] = {0};
                long j = 0;
                for (; j + 16 <= n; j += 16)
                    for (int jj = 0; jj < 16; jj++) { float p = fexp(sr[j + jj] * scale - m); sr[j + jj] = p; acc[jj] += p; }
                for (int jj = 0; j < n; j++, jj++) { float p = fexp(sr[j] * scale - m); sr[j] = p; acc[jj] += p; }
                for (; j < nmax; j++) sr[j] = 0;
                float sum = 0;
                for (int jj = 0; jj < 16; jj++) sum += acc[jj];
                inv[r] = 1.0f / sum;
                lse[i * T + t] = m + logf(sum);
            }
            if (R == 4 && hd % 16 == 0) {
                for (long d0 = 0; d0 < hd; d0 += 16) {
                    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                    const float *s0 = s, *s1 = s + ldt, *s2 = s + 2 * ldt, *s3 = s + 3 * ldt;
                    for (long j = 0; j < nmax; j++) {
                        const v16 vj = ld16(Vc + j * hd + d0);
                        a0 += s0[j] * vj; a1 += s1[j] * vj; a2 += s2[j] * vj; a3 += s3[j] * vj;
                    }
                    st16(out + t0 * ldo + i * hd + d0, a0 * inv[0]);
                    st16(out + (t0 + 1) * ldo + i * hd + d0, a1 * inv[1]);
                    st16(out + (t0 + 2) * ldo + i * hd + d0, a2 * inv[2]);
                    st16(out + (t0 + 3) * ldo + i * hd + d0, a3 * inv[3]);
                }
            } else {
                for (long r = 0; r < R; r++) {
                    float *o = out + (t0 + r) * ldo + i * hd;
                    weighted_rows(o, s + r * ldt, Vc, hd, t0 + r + 1, hd, tmp);
                    for (long d = 0; d < hd; d++) o[d] *= inv[r];
                }
            }
        }
    }
}
KERNEL(llk_attn_fwd, (float *out, long ldo, const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                      float *lse, long T, long hd, long rep, float scale, float *scratch),
       (out, ldo, q, ldq, k, ldk, v, ldv, lse, T, hd, rep, scale, scratch))

INLINE void llk_attn_bwd_body(float *dq, float *dk, float *dv, const float *dout, const float *out, long ldo,
                              const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                              const float *lse, long T, long hd, long rep, float scale, float *scratch) {
    const long ldt = (T + 15) / 16 * 16;
    // dK and dV accumulate in dense (T, hd) blocks (one cache line per row at hd 16), copied out at the end.
    float *Kt = scratch, *Vt = Kt + hd * ldt, *Kc = Vt + hd * ldt, *dKc = Kc + hd * ldt, *dVc = dKc + hd * ldt;
    float *s = dVc + hd * ldt, *dp = s + 4 * ldt, *tmp = dp + 4 * ldt;  // s, dp: four rows each
    transpose_block(Kt, ldt, k, ldk, T, hd);
    transpose_block(Vt, ldt, v, ldv, T, hd);
    for (long j = 0; j < T; j++) memcpy(Kc + j * hd, k + j * ldk, (size_t)hd * sizeof(float));
    memset(dKc, 0, (size_t)(T * hd) * sizeof(float));
    memset(dVc, 0, (size_t)(T * hd) * sizeof(float));
    // Query rows in groups of four: each row's scores, P and dS as in the forward, then one pass over the keys adds
    // all four rows' outer products into dK and dV (a quarter of the loads and stores of row-at-a-time updates).
    for (long i = 0; i < rep; i++) {
        for (long t0 = 0; t0 < T; t0 += 4) {
            const long R = T - t0 < 4 ? T - t0 : 4, nmax = t0 + R, n16 = (nmax + 15) / 16 * 16;
            const float *qrs[4], *dors[4];
            for (long r = 0; r < R; r++) { qrs[r] = q + (t0 + r) * ldq + i * hd; dors[r] = dout + (t0 + r) * ldo + i * hd; }
            const int grouped = R == 4;
            if (grouped) {
                scores4(s, ldt, qrs, Kt, ldt, n16, hd);
                scores4(dp, ldt, dors, Vt, ldt, n16, hd);
            }
            for (long r = 0; r < R; r++) {
                const long t = t0 + r, n = t + 1;
                const float *qr = q + t * ldq + i * hd, *dor = dout + t * ldo + i * hd, *orow = out + t * ldo + i * hd;
                float *sr = s + r * ldt, *dpr = dp + r * ldt;
                const float l = lse[i * T + t];
                float D = 0;
                for (long d = 0; d < hd; d++) D += dor[d] * orow[d];
                if (!grouped) {
                    scores(sr, qr, Kt, ldt, n16, hd);
                    scores(dpr, dor, Vt, ldt, n16, hd);
                }
#pragma clang loop vectorize(assume_safety)
                for (long j = 0; j < n; j++) {
                    float p = fexp(sr[j] * scale - l);
                    sr[j] = p;
                    dpr[j] = p * (dpr[j] - D) * scale;
                }
                for (long j = n; j < nmax; j++) { sr[j] = 0; dpr[j] = 0; }
                weighted_rows(dq + t * ldq + i * hd, dpr, Kc, hd, n, hd, tmp);
            }
            if (R == 4 && hd % 16 == 0) {
                add_outer4(dKc, hd, dp, ldt, qrs, nmax, hd);
                add_outer4(dVc, hd, s, ldt, dors, nmax, hd);
            } else {
                for (long r = 0; r < R; r++) {
                    add_outer(dKc, hd, dp + r * ldt, qrs[r], nmax, hd);
                    add_outer(dVc, hd, s + r * ldt, dors[r], nmax, hd);
                }
            }
        }
    }
    for (long j = 0; j < T; j++) {
        memcpy(dk + j * ldk, dKc + j * hd, (size_t)hd * sizeof(float));
        memcpy(dv + j * ldv, dVc + j * hd, (size_t)hd * sizeof(float));
    }
}
KERNEL(llk_attn_bwd, (float *dq, float *dk, float *dv, const float *dout, const float *out, long ldo, const float *q, long ldq,
                      const float *k, long ldk, const float *v, long ldv, const float *lse, long T, long hd, long rep,
                      float scale, float *scratch),
       (dq, dk, dv, dout, out, ldo, q, ldq, k, ldk, v, ldv, lse, T, hd, rep, scale, scratch))

INLINE void llk_colsum_body(float *sum, const float *x, long ld, long n, long cols) {
    for (long r = 0; r < n; r++) {
        const float *row = x + r * ld;
        for (long j = 0; j < cols; j++) sum[j] += row[j];
    }
}
KERNEL(llk_colsum, (float *sum, const float *x, long ld, long n, long cols), (sum, x, ld, n, cols))

// MARK: RoPE (NORM mode: adjacent pairs)

INLINE void llk_rope_body(float *x, long ld, long rows, long pos0, long heads, long hd, const float *table,
                          int inverse) {
    const float sign = inverse ? -1.0f : 1.0f;
    for (long r = 0; r < rows; r++) {
        const float *cs = table + (pos0 + r) * hd;
        for (long h = 0; h < heads; h++) {
            float *v = x + r * ld + h * hd;
            for (long i = 0; i < hd; i += 2) {
                float c = cs[i], s = sign * cs[i + 1];
                float x0 = v[i], x1 = v[i + 1];
                v[i] = x0 * c - x1 * s;
                v[i + 1] = x0 * s + x1 * c;
            }
        }
    }
}
KERNEL(llk_rope, (float *x, long ld, long rows, long pos0, long heads, long hd, const float *table, int inverse),
       (x, ld, rows, pos0, heads, hd, table, inverse))

// MARK: optimizer helpers

INLINE void llk_adamw_body(float *theta, const float *g, float *m, float *v, long count, float lr, float beta1,
                           float beta2, float eps, float wd, float bc1, float bc2) {
    const float stepSize = lr / bc1, sbc2 = sqrtf(bc2), decay = 1.0f - lr * wd;
    for (long i = 0; i < count; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / sbc2 + eps;
        theta[i] = theta[i] * decay - stepSize * mi / denom;
    }
}
KERNEL(llk_adamw, (float *theta, const float *g, float *m, float *v, long count, float lr, float beta1, float beta2,
                   float eps, float wd, float bc1, float bc2), (theta, g, m, v, count, lr, beta1, beta2, eps, wd, bc1, bc2))

INLINE double llk_sumsq_body(const float *g, long count) {
    double acc[16] = {0};
    long i = 0;
    for (; i + 16 <= count; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += (double)g[i + k] * (double)g[i + k];
    for (int k = 0; i < count; i++, k++) acc[k] += (double)g[i] * (double)g[i];
    double s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}
KERNEL_R(double, llk_sumsq, (const float *g, long count), (g, count))

INLINE void llk_scale_body(float *x, long count, float s) {
    for (long i = 0; i < count; i++) x[i] *= s;
}
KERNEL(llk_scale, (float *x, long count, float s), (x, count, s))
