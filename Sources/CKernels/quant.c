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
static int have_avx512(void) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    }
    return have;
}

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

void llk_quantize_q8_0(const float *x, void *dst, int64_t nblocks) {
#if LLK_X86
    if (have_avx512()) { q8_0_rows(x, dst, nblocks); return; }
#endif
    llk_quantize_generic(LLK_QUANT_Q8_0, x, dst, nblocks);
}

void llk_quantize_q4_0(const float *x, void *dst, int64_t nblocks) {
#if LLK_X86
    if (have_avx512()) { q_0_rows(x, dst, nblocks, 0); return; }
#endif
    llk_quantize_generic(LLK_QUANT_Q4_0, x, dst, nblocks);
}

void llk_quantize_q5_0(const float *x, void *dst, int64_t nblocks) {
#if LLK_X86
    if (have_avx512()) { q_0_rows(x, dst, nblocks, 1); return; }
#endif
    llk_quantize_generic(LLK_QUANT_Q5_0, x, dst, nblocks);
}

void llk_quantize_q4_1(const float *x, void *dst, int64_t nblocks) {
#if LLK_X86
    if (have_avx512()) { q_1_rows(x, dst, nblocks, 0); return; }
#endif
    llk_quantize_generic(LLK_QUANT_Q4_1, x, dst, nblocks);
}

void llk_quantize_q5_1(const float *x, void *dst, int64_t nblocks) {
#if LLK_X86
    if (have_avx512()) { q_1_rows(x, dst, nblocks, 1); return; }
#endif
    llk_quantize_generic(LLK_QUANT_Q5_1, x, dst, nblocks);
}
