// Row quantizers of the legacy block formats, ggml's reference algorithms (quantize_row_q8_0_ref, _q4_0_ref,
// _q4_1_ref, _q5_0_ref, _q5_1_ref) bit for bit, so `llmkit quantize` writes llama-quantize's bytes. Per block of 32:
//   Q8_0  d = max|x| / 127,                     q = roundf(x·(1/d))            (halves away from zero)
//   Q4_0  d = (value of largest |x|) / −8,      q = min(15, (int8)(x·(1/d) + 8.5))
//   Q5_0  d = (value of largest |x|) / −16,     q = min(31, (int8)(x·(1/d) + 16.5)), 5th bits in qh
//   Q4_1  d = (max − min) / 15, m = min,        q = min(15, (int8)((x − m)·(1/d) + 0.5))
//   Q5_1  d = (max − min) / 31, m = min,        q = min(31, (int8)((x − m)·(1/d) + 0.5)), 5th bits in qh
// (1/d is 0 when d is 0.) The float → int8 conversion is x86's: cvttss2si to int32 (0x80000000 for NaN and out of
// range) and the low byte; it matters only for degenerate blocks whose 1/d overflows. Every multiply and add is
// its own rounding, as in ggml's C (no contraction into FMAs). The Swift loops in Sources/Quant are the references.
#pragma STDC FP_CONTRACT OFF
#include "CKernels.h"
#include "llk_quant.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define LLK_X86 1
#endif

// MARK: - scalar helpers

/// float → IEEE half, round to nearest even (F16C's and Swift floatToHalf's result).
static inline uint16_t f2h(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffff;
    if (a >= 0x7f800000) return sign | (a > 0x7f800000 ? (uint16_t)(0x7e00 | ((a >> 13) & 0x3ff)) : 0x7c00);
    if (a >= 0x47800000) return sign | 0x7c00;
    if (a < 0x38800000) {
        if (a < 0x33000000) return sign;
        const uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000, shift = 126 - e;
        const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        return sign | (uint16_t)(q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0));
    }
    return sign | (uint16_t)(((a + 0x0fff + ((a >> 13) & 1)) >> 13) - (112 << 10));
}

static inline void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/// (int8_t)f as x86 computes it.
static inline int8_t c_int8(float f) {
    const int32_t i = (isfinite(f) && fabsf(f) < 2147483520.0f) ? (int32_t)f : INT32_MIN;
    return (int8_t)(uint8_t)(uint32_t)i;
}

/// roundf: halves away from zero (x − trunc(x) is exact).
static inline float round_away(float x) {
    const float t = truncf(x);
    const float f = x - t;
    return fabsf(f) >= 0.5f ? t + copysignf(1.0f, x) : t;
}

/// The value of largest magnitude (the first on ties; +0 for an all-zero block), as ggml's loops find it.
static inline float abs_max_value(const float *v) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++) {
        const float a = fabsf(v[j]);
        if (amax < a) { amax = a; max = v[j]; }
    }
    return max;
}

// MARK: - portable blocks

static void q8_0_block(const float *v, uint8_t *p) {
    float amax = 0;
    for (int j = 0; j < 32; j++) { const float a = fabsf(v[j]); amax = a > amax ? a : amax; }
    const float d = amax / 127;
    const float id = d != 0 ? 1 / d : 0;
    put_u16(p, f2h(d));
    for (int j = 0; j < 32; j++) {
        const float x0 = v[j] * id;
        p[2 + j] = (uint8_t)c_int8(round_away(x0));
    }
}

static void q4_0_block(const float *v, uint8_t *p) {
    const float d = abs_max_value(v) / -8;
    const float id = d != 0 ? 1 / d : 0;
    put_u16(p, f2h(d));
    for (int j = 0; j < 16; j++) {
        const float x0 = v[j] * id, x1 = v[j + 16] * id;
        int8_t q0 = c_int8(x0 + 8.5f), q1 = c_int8(x1 + 8.5f);
        q0 = q0 < 15 ? q0 : 15;
        q1 = q1 < 15 ? q1 : 15;
        p[2 + j] = (uint8_t)((uint8_t)q0 | (uint8_t)((uint8_t)q1 << 4));
    }
}

static void q5_0_block(const float *v, uint8_t *p) {
    const float d = abs_max_value(v) / -16;
    const float id = d != 0 ? 1 / d : 0;
    put_u16(p, f2h(d));
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        const float x0 = v[j] * id, x1 = v[j + 16] * id;
        int8_t s0 = c_int8(x0 + 16.5f), s1 = c_int8(x1 + 16.5f);
        const uint8_t q0 = (uint8_t)(s0 < 31 ? s0 : 31), q1 = (uint8_t)(s1 < 31 ? s1 : 31);
        p[6 + j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
        qh |= ((uint32_t)(q0 & 0x10) >> 4) << j | ((uint32_t)(q1 & 0x10) >> 4) << (j + 16);
    }
    put_u32(p + 2, qh);
}

static void min_max(const float *v, float *lo, float *hi) {
    float l = 3.40282347e+38f, h = -3.40282347e+38f;
    for (int j = 0; j < 32; j++) {
        if (v[j] < l) l = v[j];
        if (v[j] > h) h = v[j];
    }
    *lo = l;
    *hi = h;
}

static void q4_1_block(const float *v, uint8_t *p) {
    float lo, hi;
    min_max(v, &lo, &hi);
    const float d = (hi - lo) / 15;
    const float id = d != 0 ? 1 / d : 0;
    put_u16(p, f2h(d));
    put_u16(p + 2, f2h(lo));
    for (int j = 0; j < 16; j++) {
        const float x0 = (v[j] - lo) * id, x1 = (v[j + 16] - lo) * id;
        int8_t q0 = c_int8(x0 + 0.5f), q1 = c_int8(x1 + 0.5f);
        q0 = q0 < 15 ? q0 : 15;
        q1 = q1 < 15 ? q1 : 15;
        p[4 + j] = (uint8_t)((uint8_t)q0 | (uint8_t)((uint8_t)q1 << 4));
    }
}

static void q5_1_block(const float *v, uint8_t *p) {
    float lo, hi;
    min_max(v, &lo, &hi);
    const float d = (hi - lo) / 31;
    const float id = d != 0 ? 1 / d : 0;
    put_u16(p, f2h(d));
    put_u16(p + 2, f2h(lo));
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        const float x0 = (v[j] - lo) * id, x1 = (v[j + 16] - lo) * id;
        int8_t s0 = c_int8(x0 + 0.5f), s1 = c_int8(x1 + 0.5f);
        const uint8_t q0 = (uint8_t)(s0 < 31 ? s0 : 31), q1 = (uint8_t)(s1 < 31 ? s1 : 31);
        p[8 + j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
        qh |= ((uint32_t)(q0 & 0x10) >> 4) << j | ((uint32_t)(q1 & 0x10) >> 4) << (j + 16);
    }
    put_u32(p + 4, qh);
}

typedef void (*block_fn)(const float *, uint8_t *);
static const block_fn generic_blocks[] = {q8_0_block, q4_0_block, q4_1_block, q5_0_block, q5_1_block};
static const int block_bytes[] = {34, 18, 20, 22, 24};

void llk_quantize_generic(int type, const float *x, void *dst, int64_t nblocks) {
    uint8_t *p = dst;
    for (int64_t b = 0; b < nblocks; b++) generic_blocks[type](x + 32 * b, p + block_bytes[type] * b);
}

// MARK: - AVX-512: the same arithmetic, 16 lanes at a time

#if LLK_X86
/// Whether this CPU has all of `bits` (LLK_CPU_*; llk_cpu_features read once).
static int have(uint32_t bits) {
    static int64_t features = -1;
    if (features < 0) features = llk_cpu_features();
    return ((uint32_t)features & bits) == bits;
}

static int have_avx512(void) { return have(LLK_CPU_AVX512F | LLK_CPU_AVX512DQ); }

#define T512 __attribute__((target("avx512f,avx512dq")))

T512 static inline __m512 abs512(__m512 x) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x); }

/// c_int8 per lane, sign-extended to int32: cvttps2dq gives 0x80000000 for NaN/out of range, as cvttss2si.
T512 static inline __m512i int8_lanes(__m512 x) {
    return _mm512_srai_epi32(_mm512_slli_epi32(_mm512_cvttps_epi32(x), 24), 24);
}

T512 static inline __m512 round_away512(__m512 x) {
    const __m512 t = _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 m = _mm512_cmp_ps_mask(abs512(_mm512_sub_ps(x, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_and_ps(x, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));
    return _mm512_mask_add_ps(t, m, t, one);
}

/// The signed value of largest magnitude, first on ties, +0 for an all-zero block.
T512 static inline float abs_max_value512(__m512 v0, __m512 v1, const float *v) {
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs512(v0), abs512(v1)));
    if (amax == 0) return 0;
    const __m512 a = _mm512_set1_ps(amax);
    const uint32_t m = (uint32_t)_mm512_cmp_ps_mask(abs512(v0), a, _CMP_EQ_OQ) |
                       (uint32_t)_mm512_cmp_ps_mask(abs512(v1), a, _CMP_EQ_OQ) << 16;
    return v[__builtin_ctz(m)];
}

/// Bytes (q0 & lowmask) | (q1 << 4) of two lane sets: lowmask 0xff for the 4-bit types (ggml ORs the whole
/// byte), 0x0f for the 5-bit ones.
T512 static inline void store_nibbles(uint8_t *p, __m512i q0, __m512i q1, int lowmask) {
    const __m512i lo = _mm512_and_si512(q0, _mm512_set1_epi32(lowmask));
    const __m512i hi = _mm512_and_si512(_mm512_slli_epi32(q1, 4), _mm512_set1_epi32(0xf0));
    _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(_mm512_or_si512(lo, hi)));
}

T512 static void q8_0_rows(const float *x, uint8_t *p, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += 32, p += 34) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs512(v0), abs512(v1)));
        const float d = amax / 127;
        const __m512 id = _mm512_set1_ps(d != 0 ? 1 / d : 0);
        put_u16(p, f2h(d));
        _mm_storeu_si128((__m128i *)(p + 2), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away512(_mm512_mul_ps(v0, id)))));
        _mm_storeu_si128((__m128i *)(p + 18), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away512(_mm512_mul_ps(v1, id)))));
    }
}

/// Q4_0 (qmax 15, offset 8.5, divisor −8) and Q5_0 (31, 16.5, −16).
T512 static void q_0_rows(const float *x, uint8_t *p, int64_t nb, int five) {
    const float div = five ? -16.0f : -8.0f;
    const __m512 off = _mm512_set1_ps(five ? 16.5f : 8.5f);
    const __m512i qmax = _mm512_set1_epi32(five ? 31 : 15);
    const int bytes = five ? 22 : 18;
    for (int64_t b = 0; b < nb; b++, x += 32, p += bytes) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float d = abs_max_value512(v0, v1, x) / div;
        const __m512 id = _mm512_set1_ps(d != 0 ? 1 / d : 0);
        put_u16(p, f2h(d));
        const __m512i q0 = _mm512_min_epi32(int8_lanes(_mm512_add_ps(_mm512_mul_ps(v0, id), off)), qmax);
        const __m512i q1 = _mm512_min_epi32(int8_lanes(_mm512_add_ps(_mm512_mul_ps(v1, id), off)), qmax);
        if (five) {
            const __m512i bit = _mm512_set1_epi32(0x10);
            put_u32(p + 2, (uint32_t)_mm512_test_epi32_mask(q0, bit) | (uint32_t)_mm512_test_epi32_mask(q1, bit) << 16);
            store_nibbles(p + 6, q0, q1, 0x0f);
        } else {
            store_nibbles(p + 2, q0, q1, 0xff);
        }
    }
}

/// Q4_1 and Q5_1. A block whose min or max is a zero goes the scalar way: which zero (±0) the first-wins loop
/// keeps decides the sign of the stored m (or d), and the vector min/max does not say.
T512 static void q_1_rows(const float *x, uint8_t *p, int64_t nb, int five) {
    const float div = five ? 31.0f : 15.0f;
    const __m512 half = _mm512_set1_ps(0.5f);
    const __m512i qmax = _mm512_set1_epi32(five ? 31 : 15);
    const int bytes = five ? 24 : 20;
    for (int64_t b = 0; b < nb; b++, x += 32, p += bytes) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float lo = _mm512_reduce_min_ps(_mm512_min_ps(v0, v1)), hi = _mm512_reduce_max_ps(_mm512_max_ps(v0, v1));
        if (lo == 0 || hi == 0) { (five ? q5_1_block : q4_1_block)(x, p); continue; }
        const float d = (hi - lo) / div;
        const __m512 id = _mm512_set1_ps(d != 0 ? 1 / d : 0), m = _mm512_set1_ps(lo);
        put_u16(p, f2h(d));
        put_u16(p + 2, f2h(lo));
        const __m512i q0 = _mm512_min_epi32(int8_lanes(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v0, m), id), half)), qmax);
        const __m512i q1 = _mm512_min_epi32(int8_lanes(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v1, m), id), half)), qmax);
        if (five) {
            const __m512i bit = _mm512_set1_epi32(0x10);
            put_u32(p + 4, (uint32_t)_mm512_test_epi32_mask(q0, bit) | (uint32_t)_mm512_test_epi32_mask(q1, bit) << 16);
            store_nibbles(p + 8, q0, q1, 0x0f);
        } else {
            store_nibbles(p + 4, q0, q1, 0xff);
        }
    }
}
#endif

void llk_quantize_legacy(int type, const float *x, void *dst, int64_t nblocks) {
#if LLK_X86
    if (have_avx512()) {
        switch (type) {
        case LLK_QUANT_Q8_0: q8_0_rows(x, dst, nblocks); return;
        case LLK_QUANT_Q4_0: q_0_rows(x, dst, nblocks, 0); return;
        case LLK_QUANT_Q5_0: q_0_rows(x, dst, nblocks, 1); return;
        case LLK_QUANT_Q4_1: q_1_rows(x, dst, nblocks, 0); return;
        case LLK_QUANT_Q5_1: q_1_rows(x, dst, nblocks, 1); return;
        }
    }
#endif
    llk_quantize_generic(type, x, dst, nblocks);
}

// MARK: - K-quant scale searches

static inline int32_t nearest_int(float f) {
    const float val = f + 12582912.f;
    int32_t i;
    memcpy(&i, &val, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int32_t clampi(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/// The part of make_qkx2_quants before the search: min/max (min ≤ 0), sums, the first quants and their error.
/// Returns 1 when the block is flat (L zeroed, *the_min and *scale set: nothing to search).
static int qkx2_start(int n, int nmax, const float *x, const float *w, uint8_t *L, int use_mad, float *min_, float *max_,
                      float *sum_w_, float *sum_x_, float *scale_, float *best_error_) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float ww = w[i];
        sum_w += ww;
        sum_x += ww * x[i];
    }
    if (min > 0) min = 0;
    *min_ = min;
    *max_ = max;
    *sum_w_ = sum_w;
    *sum_x_ = sum_x;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *scale_ = 0;
        return 1;
    }
    const float iscale = (float)nmax / (max - min);
    const float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    *scale_ = scale;
    *best_error_ = best_error;
    return 0;
}

float llk_make_qkx2_quants_generic(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                                   float rmin, float rdelta, int nstep, int use_mad) {
    float min, max, sum_w, sum_x, scale, best_error;
    if (qkx2_start(n, nmax, x, weights, L, use_mad, &min, &max, &sum_w, &sum_x, &scale, &best_error) || nstep < 1) {
        *the_min = -min;
        return scale;
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        const float iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int32_t l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i], fl = (float)l;
            sum_l += w * fl;
            sum_l2 += w * fl * fl;
            sum_xl += w * fl * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/// The part of make_qx_quants (rmse_type 1) before the search: the value of largest magnitude, the first quants,
/// their scale and its score. Returns 1 for an all-zero block (L zeroed, nothing to search).
static int qx_start(int n, int nmax, const float *x, int8_t *L, float *max_, float *scale_, float *best_) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 1;
    }
    const float iscale = (float)(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int32_t l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i], fl = (float)l;
        sumlx += w * x[i] * fl;
        suml2 += w * fl * fl;
    }
    *max_ = max;
    *scale_ = suml2 != 0 ? sumlx / suml2 : 0;
    *best_ = *scale_ * sumlx;
    return 0;
}

float llk_make_qx_quants_rmse1_generic(int n, int nmax, const float *x, int8_t *L) {
    float max, scale, best;
    if (qx_start(n, nmax, x, L, &max, &scale, &best)) return 0;
    float iscale, sumlx, suml2;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int32_t l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i], fl = (float)l;
            sumlx += w * x[i] * fl;
            suml2 += w * fl * fl;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

#if LLK_X86
T512 static inline __m512i nearest_int512(__m512 f) {
    const __m512i i = _mm512_castps_si512(_mm512_add_ps(f, _mm512_set1_ps(12582912.f)));
    return _mm512_sub_epi32(_mm512_and_si512(i, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
}

T512 static inline __m512 clamp_lanes(__m512i l, int lo, int hi) {
    return _mm512_cvtepi32_ps(_mm512_max_epi32(_mm512_set1_epi32(lo), _mm512_min_epi32(_mm512_set1_epi32(hi), l)));
}

T512 static float qkx2_avx512(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                               float rmin, float rdelta, int nstep, int use_mad) {
    float min, max, sum_w, sum_x, scale, best_error;
    if (qkx2_start(n, nmax, x, w, L, use_mad, &min, &max, &sum_w, &sum_x, &scale, &best_error) || nstep < 1) {
        *the_min = -min;
        return scale;
    }
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    int best_step = -1;
    float best_min_used = 0;
    __m512 fl[32];
    for (int s0 = 0; s0 <= nstep;) {
        const int lanes = nstep + 1 - s0 < 16 ? nstep + 1 - s0 : 16;
        const float min_used = min;
        const __m512 steps = _mm512_add_ps(_mm512_set1_ps((float)s0), iota);
        const __m512 iscale = _mm512_div_ps(
            _mm512_add_ps(_mm512_add_ps(_mm512_set1_ps(rmin), _mm512_mul_ps(_mm512_set1_ps(rdelta), steps)), _mm512_set1_ps((float)nmax)),
            _mm512_set1_ps(max - min));
        __m512 sum_l = _mm512_setzero_ps(), sum_l2 = sum_l, sum_xl = sum_l;
        for (int i = 0; i < n; i++) {
            fl[i] = clamp_lanes(nearest_int512(_mm512_mul_ps(iscale, _mm512_set1_ps(x[i] - min))), 0, nmax);
            const __m512 wfl = _mm512_mul_ps(_mm512_set1_ps(w[i]), fl[i]);
            sum_l = _mm512_add_ps(sum_l, wfl);
            sum_l2 = _mm512_add_ps(sum_l2, _mm512_mul_ps(wfl, fl[i]));
            sum_xl = _mm512_add_ps(sum_xl, _mm512_mul_ps(wfl, _mm512_set1_ps(x[i])));
        }
        const __m512 sw = _mm512_set1_ps(sum_w), sx = _mm512_set1_ps(sum_x);
        const __m512 D = _mm512_sub_ps(_mm512_mul_ps(sw, sum_l2), _mm512_mul_ps(sum_l, sum_l));
        __m512 this_scale = _mm512_div_ps(_mm512_sub_ps(_mm512_mul_ps(sw, sum_xl), _mm512_mul_ps(sx, sum_l)), D);
        __m512 this_min = _mm512_div_ps(_mm512_sub_ps(_mm512_mul_ps(sum_l2, sx), _mm512_mul_ps(sum_l, sum_xl)), D);
        const __mmask16 pos = _mm512_cmp_ps_mask(this_min, _mm512_setzero_ps(), _CMP_GT_OQ);
        this_min = _mm512_mask_mov_ps(this_min, pos, _mm512_setzero_ps());
        this_scale = _mm512_mask_mov_ps(this_scale, pos, _mm512_div_ps(sum_xl, sum_l2));
        __m512 cur = _mm512_setzero_ps();
        for (int i = 0; i < n; i++) {
            __m512 diff = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(this_scale, fl[i]), this_min), _mm512_set1_ps(x[i]));
            diff = use_mad ? _mm512_andnot_ps(sign, diff) : _mm512_mul_ps(diff, diff);
            cur = _mm512_add_ps(cur, _mm512_mul_ps(_mm512_set1_ps(w[i]), diff));
        }
        const __mmask16 dpos = _mm512_cmp_ps_mask(D, _mm512_setzero_ps(), _CMP_GT_OQ);
        float ce[16], ts[16], tm[16];
        _mm512_storeu_ps(ce, cur);
        _mm512_storeu_ps(ts, this_scale);
        _mm512_storeu_ps(tm, this_min);
        int next = s0 + lanes;
        for (int k = 0; k < lanes; k++) {
            if (!((dpos >> k) & 1) || !(ce[k] < best_error)) continue;
            best_error = ce[k];
            scale = ts[k];
            const int moved = tm[k] != min;
            min = tm[k];
            best_step = s0 + k;
            best_min_used = min_used;
            if (moved) { next = s0 + k + 1; break; }  // later steps see the new min: redo them
        }
        s0 = next;
    }
    if (best_step >= 0) {
        const float iscale = (rmin + rdelta * (float)best_step + (float)nmax) / (max - best_min_used);
        for (int i = 0; i < n; i++) L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - best_min_used)), 0, nmax);
    }
    *the_min = -min;
    return scale;
}

T512 static float qx_rmse1_avx512(int n, int nmax, const float *x, int8_t *L) {
    float max, scale, best;
    if (qx_start(n, nmax, x, L, &max, &scale, &best)) return 0;
    // steps −9…−1, 1…9: lanes 0…15 hold −9…−1, 1…7; the second pass 8, 9
    static const float step_sets[2][16] = {{-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7},
                                           {8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
    int best_step = 0;
    for (int pass = 0; pass < 2; pass++) {
        const int lanes = pass == 0 ? 16 : 2;
        const __m512 iscale = _mm512_div_ps(
            _mm512_xor_ps(_mm512_add_ps(_mm512_set1_ps((float)nmax), _mm512_mul_ps(_mm512_set1_ps(0.1f), _mm512_loadu_ps(step_sets[pass]))),
                          _mm512_set1_ps(-0.0f)),
            _mm512_set1_ps(max));
        __m512 slx = _mm512_setzero_ps(), sl2 = slx;
        for (int i = 0; i < n; i++) {
            const __m512 fl = clamp_lanes(nearest_int512(_mm512_mul_ps(iscale, _mm512_set1_ps(x[i]))), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            slx = _mm512_add_ps(slx, _mm512_mul_ps(_mm512_set1_ps(w * x[i]), fl));
            sl2 = _mm512_add_ps(sl2, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(w), fl), fl));
        }
        float a[16], b[16];
        _mm512_storeu_ps(a, slx);
        _mm512_storeu_ps(b, sl2);
        for (int k = 0; k < lanes; k++) {
            if (b[k] > 0 && a[k] * a[k] > best * b[k]) {
                scale = a[k] / b[k];
                best = scale * a[k];
                best_step = (int)step_sets[pass][k];
            }
        }
    }
    if (best_step != 0) {
        const float iscale = -((float)nmax + 0.1f * (float)best_step) / max;
        for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    }
    return scale;
}
#endif

float llk_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                           float rmin, float rdelta, int nstep, int use_mad) {
#if LLK_X86
    if (have_avx512()) return qkx2_avx512(n, nmax, x, weights, L, the_min, rmin, rdelta, nstep, use_mad);
#endif
    return llk_make_qkx2_quants_generic(n, nmax, x, weights, L, the_min, rmin, rdelta, nstep, use_mad);
}

float llk_make_qx_quants_rmse1(int n, int nmax, const float *x, int8_t *L) {
#if LLK_X86
    if (have_avx512()) return qx_rmse1_avx512(n, nmax, x, L);
#endif
    return llk_make_qx_quants_rmse1_generic(n, nmax, x, L);
}

// MARK: - f16 → f32

static inline float h2f_bits(uint16_t h) {
    const uint32_t em = (uint32_t)(h & 0x7fff) << 13, exp = em & (0x7c00u << 13);
    uint32_t r;
    if (exp == 0x7c00u << 13) r = em + (224u << 23);  // inf / NaN, payload kept
    else if (exp == 0) {                               // zero / subnormal: exact float arithmetic
        float a, b = 0;
        const uint32_t ab = em + (113u << 23), bb = 113u << 23;
        memcpy(&a, &ab, 4);
        memcpy(&b, &bb, 4);
        const float d = a - b;
        memcpy(&r, &d, 4);
    } else r = em + (112u << 23);
    r |= (uint32_t)(h & 0x8000) << 16;
    float f;
    memcpy(&f, &r, 4);
    return f;
}

void llk_f16_to_f32_generic(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = h2f_bits(src[i]);
}

#if LLK_X86
T512 static void f16_to_f32_avx512(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        __m512 f = _mm512_cvtph_ps(h);
        const __m512i w = _mm512_cvtepu16_epi32(h);
        const __mmask16 special = _mm512_cmpeq_epi32_mask(_mm512_and_si512(w, _mm512_set1_epi32(0x7c00)), _mm512_set1_epi32(0x7c00));
        if (special) {
            const __m512i bits = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x8000)), 16),
                                                 _mm512_or_si512(_mm512_set1_epi32(0x7f800000), _mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x3ff)), 13)));
            f = _mm512_mask_mov_ps(f, special, _mm512_castsi512_ps(bits));
        }
        _mm512_storeu_ps(dst + i, f);
    }
    for (; i < n; i++) dst[i] = h2f_bits(src[i]);
}

__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        __m256 f = _mm256_cvtph_ps(h);
        const __m256i w = _mm256_cvtepu16_epi32(h);
        const __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x7c00)), _mm256_set1_epi32(0x7c00));
        if (!_mm256_testz_si256(special, special)) {
            const __m256i bits = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x8000)), 16),
                                                 _mm256_or_si256(_mm256_set1_epi32(0x7f800000), _mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x3ff)), 13)));
            f = _mm256_blendv_ps(f, _mm256_castsi256_ps(bits), _mm256_castsi256_ps(special));
        }
        _mm256_storeu_ps(dst + i, f);
    }
    for (; i < n; i++) dst[i] = h2f_bits(src[i]);
}

#endif

void llk_f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
#if LLK_X86
    if (have_avx512()) { f16_to_f32_avx512(src, dst, n); return; }
    if (have(LLK_CPU_AVX2 | LLK_CPU_F16C)) { f16_to_f32_f16c(src, dst, n); return; }
#endif
    llk_f16_to_f32_generic(src, dst, n);
}

// MARK: - finiteness check of a row to quantize

static int64_t first_nonfinite_generic(const float *x, int64_t from, int64_t n) {
    for (int64_t i = from; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, 4);
        if ((b & 0x7f800000) == 0x7f800000) return i;
    }
    return -1;
}

#if LLK_X86
T512 static int64_t first_nonfinite_avx512(const float *x, int64_t n) {
    const __m512i e = _mm512_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __mmask16 m = _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_loadu_si512(x + i), e), e);
        if (m) return i + __builtin_ctz(m);
    }
    return first_nonfinite_generic(x, i, n);
}
#endif

int64_t llk_first_nonfinite(const float *x, int64_t n) {
#if LLK_X86
    if (have_avx512()) return first_nonfinite_avx512(x, n);
#endif
    return first_nonfinite_generic(x, 0, n);
}
