// Elementwise and attention kernels of the forward pass, computed with the exact arithmetic llama.cpp's CPU
// backend uses on the same machine (a native build picks its AVX-512 or AVX2 path; so do we, at run time):
//   llk_rope_norm   ggml rope, NORM mode: x0·c − x1·s and x0·s + x1·c, each with one fused multiply-add
//                   (GCC contracts ggml's C++ expressions: fma(x0, c, −(x1·s)), fma(x0, s, x1·c))
//   llk_swiglu      ggml_vec_swiglu_f32: silu(x)·g with ggml_v_expf, 16 / 8 lanes, scalar tail with expf
//   llk_soft_max    ggml_vec_soft_max_f32: y = exp(x − max), returns the sum in double, 16 / 8 lanes at a time
//   llk_dot_f16_vec ggml_vec_dot_f16 (one activation row: decode): 4 accumulators of 16 / 8 lanes over 64 / 32
//                   elements, the llama.cpp reduction tree, leftovers in double
//   llk_dot_f16_blas  llamafile tinyBLAS F16 (batches of ≥ 2 rows: prompts): one accumulator of 16 / 8 lanes,
//                   then its horizontal sum
// One ulp of difference in any of these flips an 8-bit activation rounding somewhere downstream, and the flips
// compound over the layers (see Infer/Attention.swift), so "close" is not enough here. Scalar fallbacks follow
// ggml's generic C.
#include "llk_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "llk_reduce.h"
#define LLK_X86 1
#endif

static inline float h2f(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) { bits = sign; }
        else { float f = (float)man * 0x1p-24f; memcpy(&bits, &f, 4); bits |= sign; }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f; memcpy(&f, &bits, 4);
    return f;
}

// MARK: - ISA selection

enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

static int isa_level(void) {
    static int level = -1;
    if (level < 0) {
        int l = ISA_SCALAR;
#if LLK_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) l = ISA_AVX2;
        if (l == ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) l = ISA_AVX512;
#endif
        level = l;
    }
    return level;
}

int llk_ops_isa(void) { return isa_level(); }

// MARK: - rope

#if LLK_X86
__attribute__((target("fma")))
static void rope_fma(float *x, int heads, int head_dim, int n_dims, const float *cache) {
    for (int h = 0; h < heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < n_dims; i += 2) {
            const float c = cache[i], s = cache[i + 1];
            const float x0 = v[i], x1 = v[i + 1];
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + 1] = fmaf(x0, s, x1 * c);
        }
    }
}
#endif

static void rope_generic(float *x, int heads, int head_dim, int n_dims, const float *cache) {
    for (int h = 0; h < heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < n_dims; i += 2) {
            const float c = cache[i], s = cache[i + 1];
            const float x0 = v[i], x1 = v[i + 1];
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + 1] = fmaf(x0, s, x1 * c);
        }
    }
}

void llk_rope_norm(float *x, int heads, int head_dim, int n_dims, const float *cache) {
#if LLK_X86
    if (isa_level() >= ISA_AVX2) { rope_fma(x, heads, head_dim, n_dims, cache); return; }
#endif
    rope_generic(x, heads, head_dim, n_dims, cache);
}

// MARK: - exp (ggml_v_expf), silu, softmax

#if LLK_X86
__attribute__((target("avx512f,avx512dq")))
static inline __m512 v_expf_512(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0F)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d)) return res;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ), _mm512_set1_ps(INFINITY), zero);
    return _mm512_mask_blend_ps(d, res, alt);
}

__attribute__((target("avx2,fma")))
static inline __m256 v_expf_256(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256i c = _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n),
                                                        _mm256_set1_ps(126), _CMP_GT_OQ));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (!_mm256_movemask_ps(_mm256_castsi256_ps(c))) return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256i d = _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n),
                                                        _mm256_set1_ps(192), _CMP_GT_OQ));
    return _mm256_or_ps(
        _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(_mm256_castsi256_ps(d),
                         _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(c), _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                                      _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)))));
}

__attribute__((target("avx512f,avx512dq")))
static int swiglu_512(int n, float *y, const float *x, const float *g) {
    int i = 0;
    const __m512 one = _mm512_set1_ps(1), zero = _mm512_setzero_ps();
    for (; i + 15 < n; i += 16) {
        const __m512 xv = _mm512_loadu_ps(x + i);
        const __m512 silu = _mm512_div_ps(xv, _mm512_add_ps(one, v_expf_512(_mm512_sub_ps(zero, xv))));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(silu, _mm512_loadu_ps(g + i)));
    }
    return i;
}

__attribute__((target("avx2,fma")))
static int swiglu_256(int n, float *y, const float *x, const float *g) {
    int i = 0;
    const __m256 one = _mm256_set1_ps(1), zero = _mm256_setzero_ps();
    for (; i + 7 < n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 silu = _mm256_div_ps(xv, _mm256_add_ps(one, v_expf_256(_mm256_sub_ps(zero, xv))));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(silu, _mm256_loadu_ps(g + i)));
    }
    return i;
}

__attribute__((target("avx512f,avx512dq")))
static double soft_max_512(int n, float *y, const float *x, float max, int *done) {
    int i = 0;
    double sum = 0;
    for (; i + 15 < n; i += 16) {
        const __m512 val = v_expf_512(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(max)));
        _mm512_storeu_ps(y + i, val);
        sum += (double)_mm512_reduce_add_ps(val);
    }
    *done = i;
    return sum;
}

__attribute__((target("avx2,fma")))
static double soft_max_256(int n, float *y, const float *x, float max, int *done) {
    int i = 0;
    double sum = 0;
    for (; i + 7 < n; i += 8) {
        const __m256 val = v_expf_256(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max)));
        _mm256_storeu_ps(y + i, val);
        __m128 v2 = _mm_add_ps(_mm256_extractf128_ps(val, 1), _mm256_castps256_ps128(val));
        v2 = _mm_add_ps(v2, _mm_movehl_ps(v2, v2));
        v2 = _mm_add_ss(v2, _mm_movehdup_ps(v2));
        sum += (double)_mm_cvtss_f32(v2);
    }
    *done = i;
    return sum;
}
#endif

void llk_swiglu(int n, float *y, const float *x, const float *g) {
    int i = 0;
#if LLK_X86
    if (isa_level() == ISA_AVX512) i = swiglu_512(n, y, x, g);
    else if (isa_level() == ISA_AVX2) i = swiglu_256(n, y, x, g);
#endif
    for (; i < n; ++i) y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

double llk_soft_max(int n, float *y, const float *x, float max) {
    int i = 0;
    double sum = 0;
#if LLK_X86
    if (isa_level() == ISA_AVX512) sum = soft_max_512(n, y, x, max, &i);
    else if (isa_level() == ISA_AVX2) sum = soft_max_256(n, y, x, max, &i);
#endif
    for (; i < n; ++i) {
        const float val = expf(x[i] - max);
        sum += (double)val;
        y[i] = val;
    }
    return sum;
}

// MARK: - F16 dots

#if LLK_X86
__attribute__((target("avx512f")))
static float dot_f16_vec_512(int n, const uint16_t *x, const uint16_t *y) {
    const int np = n & ~63;
    __m512 sum[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int i = 0; i < np; i += 64) {
        for (int j = 0; j < 4; j++) {
            const __m512 ax = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16 * j)));
            const __m512 ay = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16 * j)));
            sum[j] = _mm512_fmadd_ps(ax, ay, sum[j]);
        }
    }
    sum[0] = _mm512_add_ps(sum[0], sum[2]);
    sum[1] = _mm512_add_ps(sum[1], sum[3]);
    sum[0] = _mm512_add_ps(sum[0], sum[1]);
    double sumf = (double)_mm512_reduce_add_ps(sum[0]);
    for (int i = np; i < n; ++i) sumf += (double)(h2f(x[i]) * h2f(y[i]));
    return (float)sumf;
}

__attribute__((target("avx2,fma,f16c")))
static float dot_f16_vec_256(int n, const uint16_t *x, const uint16_t *y) {
    const int np = n & ~31;
    __m256 sum[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < np; i += 32) {
        for (int j = 0; j < 4; j++) {
            const __m256 ax = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * j)));
            const __m256 ay = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * j)));
            sum[j] = _mm256_fmadd_ps(ax, ay, sum[j]);
        }
    }
    sum[0] = _mm256_add_ps(sum[0], sum[2]);
    sum[1] = _mm256_add_ps(sum[1], sum[3]);
    sum[0] = _mm256_add_ps(sum[0], sum[1]);
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(sum[0]), _mm256_extractf128_ps(sum[0], 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    double sumf = (double)_mm_cvtss_f32(_mm_hadd_ps(t1, t1));
    for (int i = np; i < n; ++i) sumf += (double)(h2f(x[i]) * h2f(y[i]));
    return (float)sumf;
}

__attribute__((target("avx512f")))
static float dot_f16_blas_512(int k, const uint16_t *a, const uint16_t *b) {
    __m512 c = _mm512_setzero_ps();
    for (int l = 0; l < k; l += 16) {
        c = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + l))),
                            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + l))), c);
    }
    return _mm512_reduce_add_ps(c);
}

__attribute__((target("avx2,fma,f16c")))
static float dot_f16_blas_256(int k, const uint16_t *a, const uint16_t *b) {
    __m256 c = _mm256_setzero_ps();
    for (int l = 0; l < k; l += 8) {
        c = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + l))),
                            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + l))), c);
    }
    __m128 x = _mm_add_ps(_mm256_extractf128_ps(c, 1), _mm256_castps256_ps128(c));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

// F16 rows × one F16 activation row (decode), AVX-512: the activations widened to F32 once per call, then each row
// is one forward stream (64 halves per step into four FMA chains, a masked tail) — one sequential stream per thread
// is what the hardware prefetcher follows best (4 interleaved rows per thread, through the tile kernel, measured
// 30–40% slower on a 34 MB matrix; software prefetch on top no gain). Measured (1 thread, CPU time, busy machine):
// 4096² 873 µs vs 904 µs, 1024² 30 µs vs 38 µs for the AVX2 dot per row.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
static void gemv_f16_512(int n, const uint8_t *w, size_t ws, int w_rows, const uint16_t *a, float *af, float *out) {
    for (int i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(af + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))));
    const int n16 = n & ~15;
    const __mmask16 tm = (__mmask16)((1u << (n - n16)) - 1);
    if (tm) _mm512_mask_storeu_ps(af + n16, tm, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tm, a + n16)));
    for (int r = 0; r < w_rows; r++) {
        const uint16_t *x = (const uint16_t *)(w + (size_t)r * ws);
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
        int i = 0;
        for (; i + 64 <= n; i += 64) {
            s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))), _mm512_loadu_ps(af + i), s0);
            s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16))), _mm512_loadu_ps(af + i + 16), s1);
            s2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 32))), _mm512_loadu_ps(af + i + 32), s2);
            s3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 48))), _mm512_loadu_ps(af + i + 48), s3);
        }
        for (; i + 16 <= n; i += 16)
            s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))), _mm512_loadu_ps(af + i), s0);
        if (tm) s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tm, x + i)), _mm512_maskz_loadu_ps(tm, af + i), s1);
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3)));
    }
}
#endif

int llk_gemv_f16_available(void) {
#if LLK_X86
    __builtin_cpu_init();
    return isa_level() == ISA_AVX512 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

void llk_gemv_f16(int n, const void *w, size_t w_stride, int w_rows, const void *a, float *out) {
#if LLK_X86
    float *af = llk_gemv_f16_available() ? (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float)) : NULL;
    if (af) {
        gemv_f16_512(n, (const uint8_t *)w, w_stride, w_rows, (const uint16_t *)a, af, out);
        free(af);
        return;
    }
#endif
    for (int i = 0; i < w_rows; i++)
        out[i] = llk_dot_f16_vec(n, (const uint16_t *)((const uint8_t *)w + (size_t)i * w_stride), (const uint16_t *)a);
}

float llk_dot_f16_vec(int n, const uint16_t *x, const uint16_t *y) {
#if LLK_X86
    if (isa_level() == ISA_AVX512) return dot_f16_vec_512(n, x, y);
    if (isa_level() == ISA_AVX2) return dot_f16_vec_256(n, x, y);
#endif
    double sumf = 0;
    for (int i = 0; i < n; ++i) sumf += (double)(h2f(x[i]) * h2f(y[i]));
    return (float)sumf;
}

#if LLK_X86
/// Each row against NY vectors: every dot_f16_vec_512's FMAs in its order, the row's chunk widened once for all.
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
dot_f16_vec_multi_512(const int NY, int n, const uint16_t *x, const uint16_t *y, size_t ystride, float *out, size_t ostride) {
    const int np = n & ~63;
    __m512 sum[4][4];
    for (int g = 0; g < NY; ++g)
        for (int j = 0; j < 4; ++j) sum[g][j] = _mm512_setzero_ps();
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++) {
            const __m512 ax = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16 * j)));
            for (int g = 0; g < NY; ++g)
                sum[g][j] = _mm512_fmadd_ps(ax, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + g * ystride + i + 16 * j))), sum[g][j]);
        }
    for (int g = 0; g < NY; ++g) {
        sum[g][0] = _mm512_add_ps(sum[g][0], sum[g][2]);
        sum[g][1] = _mm512_add_ps(sum[g][1], sum[g][3]);
        sum[g][0] = _mm512_add_ps(sum[g][0], sum[g][1]);
        double sumf = (double)_mm512_reduce_add_ps(sum[g][0]);
        for (int i = np; i < n; ++i) sumf += (double)(h2f(x[i]) * h2f(y[g * ystride + i]));
        out[g * ostride] = (float)sumf;
    }
}

__attribute__((target("avx512f"))) static void dot_f16_vec_multi_avx512(int n, const uint16_t *x, size_t stride, int rows,
                                                                         const uint16_t *y, size_t ystride, int ny,
                                                                         float *out, size_t ostride) {
    // Rows far apart (a KV cache's transposed values: one row per context slot apart) are often out of cache and
    // not followed by the hardware prefetchers: the first 256 bytes of the row two ahead are prefetched (cold rows
    // 2 KiB apart: 28 → 20 ns per 64-element dot; keys, 384 bytes apart, measured better without).
    const int lines = stride * 2 < 1024 ? 0 : n * 2 < 256 ? (n * 2 + 63) / 64 : 4;
    for (int q = 0; q < 2 && q < rows; ++q)
        for (int l = 0; l < lines; ++l) _mm_prefetch((const char *)(x + q * stride) + 64 * l, _MM_HINT_T0);
    for (int r = 0; r < rows; ++r) {
        if (r + 2 < rows)
            for (int l = 0; l < lines; ++l) _mm_prefetch((const char *)(x + (r + 2) * stride) + 64 * l, _MM_HINT_T0);
        const uint16_t *xr = x + (size_t)r * stride;
        for (int g = 0; g < ny; g += 4) {
            switch (ny - g < 4 ? ny - g : 4) {
            case 1: dot_f16_vec_multi_512(1, n, xr, y + g * ystride, ystride, out + g * ostride + r, ostride); break;
            case 2: dot_f16_vec_multi_512(2, n, xr, y + g * ystride, ystride, out + g * ostride + r, ostride); break;
            case 3: dot_f16_vec_multi_512(3, n, xr, y + g * ystride, ystride, out + g * ostride + r, ostride); break;
            default: dot_f16_vec_multi_512(4, n, xr, y + g * ystride, ystride, out + g * ostride + r, ostride); break;
            }
        }
    }
}
#endif

void llk_dot_f16_vec_multi(int n, const uint16_t *x, size_t stride, int rows, const uint16_t *y, size_t ystride, int ny,
                           float *out, size_t ostride) {
#if LLK_X86
    if (isa_level() == ISA_AVX512) { dot_f16_vec_multi_avx512(n, x, stride, rows, y, ystride, ny, out, ostride); return; }
#endif
    for (int g = 0; g < ny; ++g)
        for (int r = 0; r < rows; ++r) out[(size_t)g * ostride + r] = llk_dot_f16_vec(n, x + (size_t)r * stride, y + (size_t)g * ystride);
}

int llk_dot_f16_blas_width(void) {
    return isa_level() == ISA_AVX512 ? 16 : isa_level() == ISA_AVX2 ? 8 : 1;
}

float llk_dot_f16_blas(int k, const uint16_t *a, const uint16_t *b) {
#if LLK_X86
    if (isa_level() == ISA_AVX512) return dot_f16_blas_512(k, a, b);
    if (isa_level() == ISA_AVX2) return dot_f16_blas_256(k, a, b);
#endif
    return llk_dot_f16_vec(k, a, b);
}

// MARK: - Q4_0 in the order of llama.cpp's repacked kernels
// On AVX2 / AVX-512 CPUs llama.cpp repacks Q4_0 matrices whose row count is a multiple of 8 and multiplies them
// with its 8×8 gemv/gemm kernels (repack.cpp), for decode and prompts alike. Per output they compute, block by
// block, acc = fma((float)Σ_block q·a, d_w·d_a, acc) — one scalar chain, no horizontal float sum — which rounds
// differently from the vec_dot order (8 float lanes, then a horizontal sum). This kernel reproduces that chain
// on the ordinary (not repacked) layout: the integer block sums are exact, only the float chain matters.

static int32_t q4_0_block_isum_generic(const uint8_t *bx, const uint8_t *by) {
    int32_t s = 0;
    for (int j = 0; j < 16; j++) {
        const int v0 = (bx[2 + j] & 0x0f) - 8, v1 = (bx[2 + j] >> 4) - 8;
        s += v0 * (int8_t)by[2 + j] + v1 * (int8_t)by[2 + j + 16];
    }
    return s;
}

#if LLK_X86
__attribute__((target("avx2,fma")))
static float dot_q4_0_chain_avx2(int n, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx, *y = (const uint8_t *)vy;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256i off = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    float acc = 0;
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *bx = x + b * 18, *by = y + b * 34;
        const __m128i raw = _mm_loadu_si128((const __m128i *)(bx + 2));
        const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
        const __m256i a = _mm256_loadu_si256((const __m256i *)(by + 2));
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), _mm256_maddubs_epi16(off, a));
        const __m256i s32 = _mm256_madd_epi16(p, ones);
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
        const int32_t isum = _mm_cvtsi128_si32(r);
        acc = fmaf((float)isum, h2f((uint16_t)(bx[0] | bx[1] << 8)) * h2f((uint16_t)(by[0] | by[1] << 8)), acc);
    }
    return acc;
}
#endif

float llk_dot_q4_0_q8_0_chain_ref(int n, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx, *y = (const uint8_t *)vy;
    float acc = 0;
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *bx = x + b * 18, *by = y + b * 34;
        acc = fmaf((float)q4_0_block_isum_generic(bx, by),
                   h2f((uint16_t)(bx[0] | bx[1] << 8)) * h2f((uint16_t)(by[0] | by[1] << 8)), acc);
    }
    return acc;
}

float llk_dot_q4_0_q8_0_chain(int n, const void *vx, const void *vy) {
#if LLK_X86
    if (isa_level() >= ISA_AVX2) return dot_q4_0_chain_avx2(n, vx, vy);
#endif
    return llk_dot_q4_0_q8_0_chain_ref(n, vx, vy);
}

int llk_q4_0_uses_chain_order(int rows) {
    return isa_level() >= ISA_AVX2 && rows % 8 == 0;
}

// A tile of up to 4 weight rows × 4 activation rows in the same chain order: per block, the 16 integer block
// sums are reduced into one vector of 16 lanes (lane 4·j + i = weight row i, activation row j) and folded into
// 16 accumulators with one vector FMA — lane-wise the very same fma((float)isum, d_w·d_a, acc) as the chain above.
// Same calling convention as the gemm.c tile kernels (llk_gemm_fn).
#if LLK_X86
__attribute__((target("avx2,fma"))) static inline __m128i hsum4_epi32(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

__attribute__((target("avx2,fma")))
static void gemm_q4_0_chain_avx2(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                 int a_rows, float *out, size_t out_stride) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m256i off = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    __m256 acc_lo = _mm256_setzero_ps(), acc_hi = _mm256_setzero_ps();  // lanes 0-7 (j = 0, 1), 8-15 (j = 2, 3)
    const uint8_t *W[4], *A[4];
    for (int i = 0; i < 4; i++) W[i] = (const uint8_t *)w + (size_t)(i < w_rows ? i : 0) * w_stride;
    for (int j = 0; j < 4; j++) A[j] = (const uint8_t *)a + (size_t)(j < a_rows ? j : 0) * a_stride;
    for (int b = 0; b < n / 32; b++) {
        __m256i q[4];
        float dw[4], da[4];
        for (int i = 0; i < 4; i++) {
            const uint8_t *bx = W[i] + b * 18;
            const __m128i raw = _mm_loadu_si128((const __m128i *)(bx + 2));
            q[i] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
            dw[i] = h2f((uint16_t)(bx[0] | bx[1] << 8));
        }
        __m256i s[16];
        for (int j = 0; j < 4; j++) {
            const uint8_t *by = A[j] + b * 34;
            const __m256i y = _mm256_loadu_si256((const __m256i *)(by + 2));
            const __m256i oy = _mm256_maddubs_epi16(off, y);
            da[j] = h2f((uint16_t)(by[0] | by[1] << 8));
            for (int i = 0; i < 4; i++) {
                s[4 * j + i] = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q[i], y), oy), ones);
            }
        }
        const __m256i lo = _mm256_set_m128i(hsum4_epi32(s[4], s[5], s[6], s[7]), hsum4_epi32(s[0], s[1], s[2], s[3]));
        const __m256i hi = _mm256_set_m128i(hsum4_epi32(s[12], s[13], s[14], s[15]), hsum4_epi32(s[8], s[9], s[10], s[11]));
        const __m256 sc_lo = _mm256_setr_ps(dw[0] * da[0], dw[1] * da[0], dw[2] * da[0], dw[3] * da[0],
                                            dw[0] * da[1], dw[1] * da[1], dw[2] * da[1], dw[3] * da[1]);
        const __m256 sc_hi = _mm256_setr_ps(dw[0] * da[2], dw[1] * da[2], dw[2] * da[2], dw[3] * da[2],
                                            dw[0] * da[3], dw[1] * da[3], dw[2] * da[3], dw[3] * da[3]);
        acc_lo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), sc_lo, acc_lo);
        acc_hi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), sc_hi, acc_hi);
    }
    float r[16];
    _mm256_storeu_ps(r, acc_lo);
    _mm256_storeu_ps(r + 8, acc_hi);
    for (int j = 0; j < a_rows; j++)
        for (int i = 0; i < w_rows; i++) out[(size_t)j * out_stride + i] = r[4 * j + i];
}
#endif

static void gemm_q4_0_chain_generic(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                                    int a_rows, float *out, size_t out_stride) {
    for (int j = 0; j < a_rows; j++)
        for (int i = 0; i < w_rows; i++)
            out[(size_t)j * out_stride + i] = llk_dot_q4_0_q8_0_chain(n, (const uint8_t *)w + (size_t)i * w_stride,
                                                                      (const uint8_t *)a + (size_t)j * a_stride);
}

void llk_gemm_q4_0_chain(int n, const void *w, size_t w_stride, int w_rows, const void *a, size_t a_stride,
                         int a_rows, float *out, size_t out_stride) {
#if LLK_X86
    if (isa_level() >= ISA_AVX2) { gemm_q4_0_chain_avx2(n, w, w_stride, w_rows, a, a_stride, a_rows, out, out_stride); return; }
#endif
    gemm_q4_0_chain_generic(n, w, w_stride, w_rows, a, a_stride, a_rows, out, out_stride);
}

// Q4_0 rows × one Q8_0 activation row (decode) in the same chain order, 16 rows side by side in the lanes of one
// accumulator as in llama.cpp's repacked gemv, without its repacking (the weights stay as mapped).
// Four blocks of a row are 72 contiguous bytes = 18 dwords. Per group of 16 rows and 4 blocks, 16-byte loads of
// 4 rows each and a 4×4 dword transpose per 128-bit chunk give T[j], lane r = dword j of row r's 72 bytes. The
// scales come out of those dwords (d0 = low half of T[0], d1 = high half of T[4], d2 = low of T[9], d3 = high of
// T[13]); every dword's nibbles belong to one block (T[0..4] block 0, T[5..8] 1, T[9..13] 2, T[14..17] 3), so
// dpbusd against an activation table laid out the same way (zeros against the scale bytes) leaves each row's block
// sum in its lane — no gather, no horizontal reduction. The table (and −8·Σa per block) is built once per call.
// Blocks past the last multiple of 4 take a per-block step with a gather of the scales.
// The next 16 rows are prefetched to L2 in address order meanwhile: 16 interleaved row streams are followed
// poorly by the hardware prefetchers (measured: about half the bandwidth without it).
// AVX-512 VNNI only (llk_gemv_q4_0_chain_available).
#if LLK_X86
static inline int32_t load_i32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

typedef struct { int32_t lo[18], hi[18]; } q4_0_act4;  // a 4-block group's activation dwords, weight-aligned

// T[4s + k] for k < kn: lanes r = dword 4s + k of the 16 rows' spans starting at p[r] (+ 16s bytes); the last set
// (s = 4) reads 8 bytes per row, exactly the span's end.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq")))
static inline void q4_0_transpose_set(const uint8_t *const p[16], size_t o, int last, __m512i T[4]) {
    __m512i V[4];
    for (int c = 0; c < 4; c++) {
        const __m128i r0 = last ? _mm_loadl_epi64((const __m128i *)(p[c] + o)) : _mm_loadu_si128((const __m128i *)(p[c] + o));
        const __m128i r1 = last ? _mm_loadl_epi64((const __m128i *)(p[4 + c] + o)) : _mm_loadu_si128((const __m128i *)(p[4 + c] + o));
        const __m128i r2 = last ? _mm_loadl_epi64((const __m128i *)(p[8 + c] + o)) : _mm_loadu_si128((const __m128i *)(p[8 + c] + o));
        const __m128i r3 = last ? _mm_loadl_epi64((const __m128i *)(p[12 + c] + o)) : _mm_loadu_si128((const __m128i *)(p[12 + c] + o));
        __m512i v = _mm512_castsi128_si512(r0);
        v = _mm512_inserti32x4(v, r1, 1);
        v = _mm512_inserti32x4(v, r2, 2);
        V[c] = _mm512_inserti32x4(v, r3, 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(V[0], V[1]), t1 = _mm512_unpackhi_epi32(V[0], V[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(V[2], V[3]), t3 = _mm512_unpackhi_epi32(V[2], V[3]);
    T[0] = _mm512_unpacklo_epi64(t0, t2);
    T[1] = _mm512_unpackhi_epi64(t0, t2);
    if (!last) {
        T[2] = _mm512_unpacklo_epi64(t1, t3);
        T[3] = _mm512_unpackhi_epi64(t1, t3);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq")))
static inline __m512i q4_0_dwords_dot(__m512i acc, const __m512i *T, const int32_t *lo, const int32_t *hi, int n) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i acc2 = _mm512_setzero_si512();
    for (int j = 0; j < n; j++) {
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(T[j], m4), _mm512_set1_epi32(lo[j]));
        acc2 = _mm512_dpbusd_epi32(acc2, _mm512_and_si512(_mm512_srli_epi16(T[j], 4), m4), _mm512_set1_epi32(hi[j]));
    }
    return _mm512_add_epi32(acc, acc2);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq")))
static void gemv_q4_0_chain_512(int n, const void *w, size_t ws, int w_rows, const void *a, float *out) {
    const int nb = n / 32, ng = nb / 4;
    const uint8_t *y = (const uint8_t *)a;
    // Per call: the weight-aligned activation table of each 4-block group, −8·Σa and d_a of every block.
    void *mem = malloc((size_t)ng * sizeof(q4_0_act4) + (size_t)nb * (sizeof(int32_t) + sizeof(float)));
    if (!mem) {
        for (int i = 0; i < w_rows; i++) out[i] = llk_dot_q4_0_q8_0_chain(n, (const uint8_t *)w + (size_t)i * ws, a);
        return;
    }
    q4_0_act4 *tab = (q4_0_act4 *)mem;
    int32_t *sa8 = (int32_t *)(tab + ng);
    float *da = (float *)(sa8 + nb);
    for (int b = 0; b < nb; b++) {
        const uint8_t *by = y + (size_t)b * 34;
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += (int8_t)by[2 + i];
        sa8[b] = -8 * s;
        da[b] = h2f((uint16_t)(by[0] | by[1] << 8));
    }
    for (int g = 0; g < ng; g++) {
        uint8_t lo[72], hi[72];
        for (int p = 0; p < 72; p++) {
            const int blk = 4 * g + p / 18, o = p % 18;
            lo[p] = o < 2 ? 0 : y[(size_t)blk * 34 + 2 + (o - 2)];
            hi[p] = o < 2 ? 0 : y[(size_t)blk * 34 + 2 + 16 + (o - 2)];
        }
        for (int j = 0; j < 18; j++) { tab[g].lo[j] = load_i32(lo + 4 * j); tab[g].hi[j] = load_i32(hi + 4 * j); }
    }

    for (int r0 = 0; r0 < w_rows; r0 += 16) {
        const int wr = w_rows - r0 < 16 ? w_rows - r0 : 16;
        const uint8_t *rows[16];
        int32_t off[16];
        for (int i = 0; i < 16; i++) {
            const size_t o = (size_t)(i < wr ? i : 0) * ws;
            rows[i] = (const uint8_t *)w + (size_t)r0 * ws + o;
            off[i] = (int32_t)o;
        }
        // Prefetch of the next group (rows r0 + 16 …, at most 16 of them), spread evenly over this group's steps.
        const int nr = w_rows - r0 - 16 < 16 ? (w_rows - r0 - 16 > 0 ? w_rows - r0 - 16 : 0) : 16;
        const char *next = (const char *)w + (size_t)(r0 + 16) * ws;
        const size_t next_lines = ((size_t)nr * ws + 63) / 64, steps = (size_t)ng + (size_t)(nb - 4 * ng);
        const size_t per_step = steps ? (next_lines + steps - 1) / steps : 0;
        size_t line = 0;
        __m512 acc = _mm512_setzero_ps();
        for (int g = 0; g < ng; g++) {
            for (size_t e = line + per_step; line < e && line < next_lines; line++) _mm_prefetch(next + 64 * line, _MM_HINT_T1);
            const size_t o = (size_t)g * 72;
            __m512i T[20];
            for (int s = 0; s < 5; s++) q4_0_transpose_set(rows, o + 16 * (size_t)s, s == 4, T + 4 * s);
            const int b = 4 * g;
            const __m512 D[4] = {
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(T[0])),
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T[4], 16))),
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(T[9])),
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T[13], 16))),
            };
            static const int first[5] = {0, 5, 9, 14, 18};
            for (int k = 0; k < 4; k++) {
                const __m512i S = q4_0_dwords_dot(_mm512_set1_epi32(sa8[b + k]), T + first[k], tab[g].lo + first[k],
                                                  tab[g].hi + first[k], first[k + 1] - first[k]);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), _mm512_mul_ps(D[k], _mm512_set1_ps(da[b + k])), acc);
            }
        }
        const __m512i didx = _mm512_loadu_si512((const void *)off);
        for (int b = 4 * ng; b < nb; b++) {
            for (size_t e = line + per_step; line < e && line < next_lines; line++) _mm_prefetch(next + 64 * line, _MM_HINT_T1);
            const size_t o = (size_t)b * 18;
            __m512i T[4];
            const uint8_t *nib[16];
            for (int i = 0; i < 16; i++) nib[i] = rows[i] + 2;
            q4_0_transpose_set(nib, o, 0, T);
            const uint8_t *by = y + (size_t)b * 34 + 2;
            int32_t lo[4], hi[4];
            for (int k = 0; k < 4; k++) { lo[k] = load_i32(by + 4 * k); hi[k] = load_i32(by + 16 + 4 * k); }
            const __m512i S = q4_0_dwords_dot(_mm512_set1_epi32(sa8[b]), T, lo, hi, 4);
            const __m512i dh = _mm512_i32gather_epi32(didx, (const void *)(rows[0] + o), 1);
            const __m512 D = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dh));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), _mm512_mul_ps(D, _mm512_set1_ps(da[b])), acc);
        }
        _mm512_mask_storeu_ps(out + r0, (__mmask16)((1u << wr) - 1), acc);
    }
    free(mem);
}
#endif

int llk_gemv_q4_0_chain_available(void) {
#if LLK_X86
    __builtin_cpu_init();
    return isa_level() == ISA_AVX512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

void llk_gemv_q4_0_chain(int n, const void *w, size_t w_stride, int w_rows, const void *a, float *out) {
#if LLK_X86
    // (row offsets within a 16-row group are gathered as int32: rows so long that 15 of them pass 2 GiB take the
    // loop below)
    if (llk_gemv_q4_0_chain_available() && w_stride <= (size_t)INT32_MAX / 16) {
        gemv_q4_0_chain_512(n, w, w_stride, w_rows, a, out);
        return;
    }
#endif
    for (int i = 0; i < w_rows; i++) out[i] = llk_dot_q4_0_q8_0_chain(n, (const uint8_t *)w + (size_t)i * w_stride, a);
}

// MARK: - Q4_K and Q6_K in llama.cpp's orders (x86)
// The integer parts of a K-quant dot product are exact in any order; what decides the float result is where the
// integers are converted and in which order the floats are summed. On AVX2 / AVX-512 CPUs llama.cpp computes:
//   Q4_K, matrices with rows % 8 == 0 (repacked 8×8, repack.cpp), per output, two chains summed at the end:
//     gemv (decode, and the batch rows past the last multiple of 4): per super-block,
//       acc = fma((float)Σ_s sc_s·raw_s, d·d_a, acc); accmin = fma((float)Σ_s m_s·bsum_s, dmin·d_a, accmin)
//     gemm (batch rows in groups of 4): the same per pair of 32-weight sub-blocks instead of per super-block;
//     result acc − accmin.
//   Q6_K (not repacked), every batch size: vec_dot_q6_K_q8_K's AVX2 order — 8 int32 lanes per super-block, lane t
//     holding the products of bytes 4t..4t+3 of each 32-weight vector (times their sub-block scale) minus 32·(the
//     scaled bsums 2t, 2t+1); acc_t = fma(d_a·d, (float)lane_t, acc_t); at the end an 8 → 4 → 2 → 1 pairwise sum.
//     (llama.cpp builds newer than the references' commit route Q6_K batches of 8+ to "tiled" kernels with yet
//     another order; the references — and so these kernels — follow vec_dot.)
// Layouts: Q4_K 144 B = d, dmin, scales[12] @4, qs[128] @16; Q6_K 210 B = ql[128], qh[64] @128, scales[16] @192,
// d @208; Q8_K 292 B = d (f32), qs[256] @4, bsums[16] (int16, per 16) @260.

static inline void k4_scale_min(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static inline int16_t rd_i16(const uint8_t *p) { int16_t v; memcpy(&v, p, 2); return v; }
static inline float rd_f32(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }

// Q4_K super-block integers: isum[sb], imin[sb] for the 4 pairs of 32-weight sub-blocks.
static void q4_K_ints_generic(const uint8_t *x, const uint8_t *y, int32_t isum[4], int32_t imin[4]) {
    const uint8_t *qs = x + 16;
    const int8_t *q8 = (const int8_t *)(y + 4);
    for (int sb = 0; sb < 4; sb++) {
        int32_t s = 0, mn = 0;
        for (int h = 0; h < 2; h++) {
            const int sub = 2 * sb + h;
            int sc, m;
            k4_scale_min(x + 4, sub, &sc, &m);
            int32_t raw = 0;
            for (int l = 0; l < 32; l++) raw += ((qs[32 * sb + l] >> (4 * h)) & 15) * q8[32 * sub + l];
            s += sc * raw;
            mn += m * (rd_i16(y + 260 + 4 * sub) + rd_i16(y + 262 + 4 * sub));
        }
        isum[sb] = s;
        imin[sb] = mn;
    }
}

// Q6_K super-block integers: the 8 lanes of vec_dot_q6_K_q8_K's AVX2 order.
static void q6_K_lanes_generic(const uint8_t *x, const uint8_t *y, int32_t L[8]) {
    const uint8_t *ql = x, *qh = x + 128;
    const int8_t *sc = (const int8_t *)(x + 192), *q8 = (const int8_t *)(y + 4);
    uint8_t q[256];
    for (int j = 0; j < 2; j++) {
        for (int l = 0; l < 32; l++) {
            const uint8_t h = qh[32 * j + l];
            q[128 * j + l] = (uint8_t)((ql[64 * j + l] & 15) | ((h & 3) << 4));
            q[128 * j + 32 + l] = (uint8_t)((ql[64 * j + 32 + l] & 15) | (((h >> 2) & 3) << 4));
            q[128 * j + 64 + l] = (uint8_t)((ql[64 * j + l] >> 4) | (((h >> 4) & 3) << 4));
            q[128 * j + 96 + l] = (uint8_t)((ql[64 * j + 32 + l] >> 4) | (((h >> 6) & 3) << 4));
        }
    }
    for (int t = 0; t < 8; t++) {
        int32_t s = 0;
        for (int v = 0; v < 8; v++) {  // the 32-weight vectors 128j + 32k, v = 4j + k
            const int base = 32 * v + 4 * t, sub = 2 * v + (t >= 4);
            int32_t p = 0;
            for (int e = 0; e < 4; e++) p += q[base + e] * q8[base + e];
            s += sc[sub] * p;
        }
        L[t] = s - 32 * (rd_i16(y + 260 + 4 * t) * sc[2 * t] + rd_i16(y + 262 + 4 * t) * sc[2 * t + 1]);
    }
}

#if LLK_X86
#define T_KORD __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma")))

T_KORD static void q4_K_ints_512(const uint8_t *x, const uint8_t *y, int32_t isum[4], int32_t imin[4]) {
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) k4_scale_min(x + 4, j, &sc[j], &m[j]);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int sb = 0; sb < 4; sb++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(x + 16 + 32 * sb));
        const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(raw, m4)),
                                             _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), 1);
        const __m512i a = _mm512_loadu_si512((const void *)(y + 4 + 64 * sb));
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, a);
        const __m512i s = _mm512_mullo_epi32(p, _mm512_inserti64x4(_mm512_set1_epi32(sc[2 * sb]),
                                                                   _mm256_set1_epi32(sc[2 * sb + 1]), 1));
        isum[sb] = _mm512_reduce_add_epi32(s);
        imin[sb] = m[2 * sb] * (rd_i16(y + 260 + 8 * sb) + rd_i16(y + 262 + 8 * sb)) +
                   m[2 * sb + 1] * (rd_i16(y + 264 + 8 * sb) + rd_i16(y + 266 + 8 * sb));
    }
}

// Q4_K's 12 packed scale/min bytes → the 8 six-bit scales in bytes 0..7 and the 8 mins in bytes 8..15 of u.
static inline void q4_K_scales_mins(const uint8_t *bx, uint32_t u[4]) {
    uint32_t a0, a1, a2;
    memcpy(&a0, bx + 4, 4); memcpy(&a1, bx + 8, 4); memcpy(&a2, bx + 12, 4);
    u[0] = a0 & 0x3f3f3f3f;
    u[1] = (a2 & 0x0f0f0f0f) | (((a0 >> 6) & 0x03030303) << 4);
    u[2] = a1 & 0x3f3f3f3f;
    u[3] = ((a2 >> 4) & 0x0f0f0f0f) | (((a1 >> 6) & 0x03030303) << 4);
}

// vec_dot_q6_K_q8_K's float part, shared by its AVX2 and AVX-512 integer cores: per super-block the eight int32
// lanes minus 32·(bsum · scale) pairs, times d_w·d_a into eight float lanes; at the end llama.cpp's lane sum.
__attribute__((target("avx2,fma,f16c"))) static inline __attribute__((always_inline)) __m256
q6_K_order_step(__m256 acc, __m256i lanes, const uint8_t *bx, const uint8_t *by, __m128i sc8) {
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(by + 260)), _mm256_cvtepi8_epi16(sc8)), 5);
    const float d = rd_f32(by) * h2f((uint16_t)(bx[208] | bx[209] << 8));
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_sub_epi32(lanes, off)), acc);
}

__attribute__((target("avx2,fma,f16c"))) static inline __attribute__((always_inline)) float q6_K_order_sum(__m256 acc) {
    float a8[8], r[4];
    _mm256_storeu_ps(a8, acc);
    for (int i = 0; i < 4; i++) r[i] = a8[i + 4] + a8[i];
    return (r[0] + r[2]) + (r[1] + r[3]);
}

// Whole rows, AVX2 (also what AVX-512 CPUs run): the same integers through maddubs/madd (exact: |pair sums| ≤
// 2·63·128), Q6_K's eight float lanes kept in one vector, Q4_K's super-block total with one horizontal sum.
__attribute__((target("avx2,fma,f16c")))
static float q6_K_order_avx2(int n, const uint8_t *x, const uint8_t *y) {
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *bx = x + (size_t)b * 210, *by = y + (size_t)b * 292;
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(bx + 192));
        __m256i sum = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(bx + 64 * j));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(bx + 64 * j + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)(bx + 128 + 32 * j));
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m15), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, m15), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m15), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m15), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4)),
            };
            for (int k = 0; k < 4; k++) {
                const int v = 4 * j + k;
                const __m256i p16 = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(by + 4 + 32 * v)));
                // int16 scales: lanes 0-7 sub-block 2v, lanes 8-15 sub-block 2v + 1
                const __m256i s16 = _mm256_setr_m128i(_mm_set1_epi16((int8_t)bx[192 + 2 * v]), _mm_set1_epi16((int8_t)bx[193 + 2 * v]));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(s16, p16));
            }
        }
        acc = q6_K_order_step(acc, sum, bx, by, sc8);
    }
    return q6_K_order_sum(acc);
}

// Q6_K, one row, AVX-512 VNNI (the same integers, fewer instructions): 64 weights per vector decoded to unsigned
// q + 32, one dpbusd by the activation bytes gives the 16 groups' 4-weight sums (dword m: sub-block 4c + m / 4,
// group m % 4, i.e. lane m % 8), times the sub-block scales (a permute of the 16 sign-extended scales) and summed;
// the vector's two halves added give the eight lanes, then −32·(bsum · scale) pairs and the float part as above.
// Zen 5, one thread, CPU time (benchmarks/kernels.py): 4096² 526 → 267–316 µs (ggml 474–579 µs, the matrix in L3),
// 14336×4096 1970 → 1454–1539 µs (ggml 1825–2088 µs).
T_KORD static float q6_K_order_512(int n, const uint8_t *x, const uint8_t *y) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    const __m512i rep = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *bx = x + (size_t)b * 210, *by = y + (size_t)b * 292;
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(bx + 192));
        const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
        __m512i sum = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {  // weights 64c .. 64c + 63: half c / 2 of ql / qh, low (c even) or high nibbles
            const __m512i L = _mm512_loadu_si512(bx + 64 * (c >> 1));
            const __m512i QH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(bx + 128 + 32 * (c >> 1))));
            const __m512i q = (c & 1) ? _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4), _mm512_and_si512(_mm512_srlv_epi64(QH, shr), m30))
                                      : _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi64(QH, shl), m30));
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(by + 4 + 64 * c));
            const __m512i s = _mm512_permutexvar_epi32(_mm512_add_epi32(rep, _mm512_set1_epi32(4 * c)), sc32);
            sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(p, s));
        }
        acc = q6_K_order_step(acc, _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1)), bx, by, sc8);
    }
    return q6_K_order_sum(acc);
}

__attribute__((target("avx2,fma,f16c")))
static float q4_K_gemv_order_avx2(int n, const uint8_t *x, const uint8_t *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    float acc = 0, accmin = 0;
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *bx = x + (size_t)b * 144, *by = y + (size_t)b * 292;
        uint32_t u[4];
        q4_K_scales_mins(bx, u);
        const __m128i sm = _mm_loadu_si128((const __m128i *)u);
        const __m256i sm16 = _mm256_cvtepu8_epi16(sm);  // int16 lanes 0..7 scales, 8..15 mins
        __m256i sum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(bx + 16 + 32 * c));
            const __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(raw, m4), _mm256_loadu_si256((const __m256i *)(by + 4 + 64 * c)));
            const __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4),
                                                     _mm256_loadu_si256((const __m256i *)(by + 36 + 64 * c)));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(plo, _mm256_set1_epi16((int16_t)((const uint8_t *)u)[2 * c])));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(phi, _mm256_set1_epi16((int16_t)((const uint8_t *)u)[2 * c + 1])));
        }
        // Σ m_s·(bsum_2s + bsum_2s+1): pair sums by hadd (int16, ≤ 2·16·128), then madd with the mins
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(by + 260));
        const __m128i b32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        __m128i mn = _mm_madd_epi16(b32, _mm256_extracti128_si256(sm16, 1));
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        // horizontal sums of r (scales part) and mn (mins part) together
        __m128i t = _mm_hadd_epi32(r, mn);  // r0+r1, r2+r3, m0+m1, m2+m3
        t = _mm_hadd_epi32(t, t);           // Σr, Σm, …
        const float da = rd_f32(by);
        acc = fmaf((float)_mm_cvtsi128_si32(t), _cvtsh_ss((uint16_t)(bx[0] | bx[1] << 8)) * da, acc);
        accmin = fmaf((float)_mm_extract_epi32(t, 1), _cvtsh_ss((uint16_t)(bx[2] | bx[3] << 8)) * da, accmin);
    }
    return acc - accmin;
}

// Q4_K gemv order over many rows, AVX-512 VNNI: per row and super-block the 128 nibble bytes are two 64-byte
// loads; the low (high) nibbles of load p hold sub-blocks 4p and 4p+2 (4p+1 and 4p+3), multiplied by an
// activation table laid out the same way (built once per call) with maddubs and summed with their int16 scales by
// dpwssd (exact: pair sums ≤ 2·15·128). The super-block's two int32 totals then take the same float steps as
// q4_K_gemv_order_avx2, so each output has its bits. The rows are one forward stream per call (as the F16 gemv;
// software prefetch 4 KiB ahead measured ~15% slower on cache-resident matrices and no clear gain from DRAM).
// Measured (1 thread, CPU time, busy machine): 4096² 230 µs vs 500 µs for the per-row AVX2 order dot.
typedef struct { int8_t lo[2][64], hi[2][64]; int16_t ps[8]; float da; int32_t pad[11]; } q4_K_act;  // 320 B

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")))
static void gemv_q4_K_order_512(int n, const uint8_t *w, size_t ws, int w_rows, const uint8_t *y, float *out) {
    const int nb = n / 256;
    q4_K_act *tab = (q4_K_act *)aligned_alloc(64, (size_t)(nb > 0 ? nb : 1) * sizeof(q4_K_act));
    if (!tab) {
        for (int i = 0; i < w_rows; i++) out[i] = llk_dot_q4_K_q8_K_order(n, w + (size_t)i * ws, y, 0);
        return;
    }
    for (int b = 0; b < nb; b++) {
        const uint8_t *by = y + (size_t)b * 292;
        for (int p = 0; p < 2; p++) {
            memcpy(tab[b].lo[p], by + 4 + 128 * p, 32);
            memcpy(tab[b].lo[p] + 32, by + 68 + 128 * p, 32);
            memcpy(tab[b].hi[p], by + 36 + 128 * p, 32);
            memcpy(tab[b].hi[p] + 32, by + 100 + 128 * p, 32);
        }
        for (int s = 0; s < 8; s++) tab[b].ps[s] = (int16_t)(rd_i16(by + 260 + 4 * s) + rd_i16(by + 262 + 4 * s));
        tab[b].da = rd_f32(by);
    }
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    // pshufb indices: int16 4p (+1) in 128-bit lanes 0-1, int16 4p+2 (+3) in lanes 2-3
    __m512i sidx[4];
    for (int k = 0; k < 4; k++) {
        const int p = k >> 1, h = k & 1;
        const int s0 = 4 * p + h, s1 = 4 * p + 2 + h;
        const __m128i i0 = _mm_set1_epi16((int16_t)(2 * s0 | (2 * s0 + 1) << 8));
        const __m128i i1 = _mm_set1_epi16((int16_t)(2 * s1 | (2 * s1 + 1) << 8));
        sidx[k] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(i0, i0)), _mm256_set_m128i(i1, i1), 1);
    }
    for (int r = 0; r < w_rows; r++) {
        const uint8_t *x = w + (size_t)r * ws;
        float acc = 0, accmin = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *bx = x + (size_t)b * 144;
            uint32_t u[4];
            q4_K_scales_mins(bx, u);
            const __m128i sm16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)u));     // scales
            const __m128i mn16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(u + 2))); // mins
            const __m512i S = _mm512_broadcast_i32x4(sm16);
            const q4_K_act *t = &tab[b];
            __m512i X = _mm512_setzero_si512();
            for (int p = 0; p < 2; p++) {
                const __m512i q = _mm512_loadu_si512((const void *)(bx + 16 + 64 * p));
                const __m512i plo = _mm512_maddubs_epi16(_mm512_and_si512(q, m4), _mm512_load_si512((const void *)t->lo[p]));
                const __m512i phi = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4),
                                                         _mm512_load_si512((const void *)t->hi[p]));
                X = _mm512_dpwssd_epi32(X, plo, _mm512_shuffle_epi8(S, sidx[2 * p]));
                X = _mm512_dpwssd_epi32(X, phi, _mm512_shuffle_epi8(S, sidx[2 * p + 1]));
            }
            const __m256i x8 = _mm256_add_epi32(_mm512_castsi512_si256(X), _mm512_extracti64x4_epi64(X, 1));
            const __m128i rr = _mm_add_epi32(_mm256_castsi256_si128(x8), _mm256_extracti128_si256(x8, 1));
            const __m128i mn = _mm_madd_epi16(_mm_loadu_si128((const __m128i *)t->ps), mn16);
            __m128i s = _mm_hadd_epi32(rr, mn);
            s = _mm_hadd_epi32(s, s);
            acc = fmaf((float)_mm_cvtsi128_si32(s), _cvtsh_ss((uint16_t)(bx[0] | bx[1] << 8)) * t->da, acc);
            accmin = fmaf((float)_mm_extract_epi32(s, 1), _cvtsh_ss((uint16_t)(bx[2] | bx[3] << 8)) * t->da, accmin);
        }
        out[r] = acc - accmin;
    }
    free(tab);
}
#endif

static int korder_simd(void) {
#if LLK_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = isa_level() == ISA_AVX512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    }
    return cached;
#else
    return 0;
#endif
}

static inline void q4_K_ints(const uint8_t *x, const uint8_t *y, int32_t isum[4], int32_t imin[4], int simd) {
#if LLK_X86
    if (simd) { q4_K_ints_512(x, y, isum, imin); return; }
#endif
    (void)simd;
    q4_K_ints_generic(x, y, isum, imin);
}

// The float parts (shared by the SIMD and portable integer cores; fmaf is the fused operation either way).
static float q4_K_order(int n, const void *vx, const void *vy, int per_pair, int simd) {
    const uint8_t *x = (const uint8_t *)vx, *y = (const uint8_t *)vy;
    float acc = 0, accmin = 0;
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *bx = x + (size_t)b * 144, *by = y + (size_t)b * 292;
        int32_t isum[4], imin[4];
        q4_K_ints(bx, by, isum, imin, simd);
        const float da = rd_f32(by);
        const float sd = h2f((uint16_t)(bx[0] | bx[1] << 8)) * da, sm = h2f((uint16_t)(bx[2] | bx[3] << 8)) * da;
        if (per_pair) {
            for (int sb = 0; sb < 4; sb++) {
                acc = fmaf((float)isum[sb], sd, acc);
                accmin = fmaf((float)imin[sb], sm, accmin);
            }
        } else {
            acc = fmaf((float)(isum[0] + isum[1] + isum[2] + isum[3]), sd, acc);
            accmin = fmaf((float)(imin[0] + imin[1] + imin[2] + imin[3]), sm, accmin);
        }
    }
    return acc - accmin;
}

static float q6_K_order_generic(int n, const void *vx, const void *vy) {
    const uint8_t *x = (const uint8_t *)vx, *y = (const uint8_t *)vy;
    float acc8[8] = {0};
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *bx = x + (size_t)b * 210, *by = y + (size_t)b * 292;
        int32_t L[8];
        q6_K_lanes_generic(bx, by, L);
        const float d = rd_f32(by) * h2f((uint16_t)(bx[208] | bx[209] << 8));
        for (int t = 0; t < 8; t++) acc8[t] = fmaf(d, (float)L[t], acc8[t]);
    }
    float r[4];
    for (int i = 0; i < 4; i++) r[i] = acc8[i + 4] + acc8[i];
    return (r[0] + r[2]) + (r[1] + r[3]);
}

float llk_dot_q4_K_q8_K_order(int n, const void *x, const void *y, int per_pair) {
#if LLK_X86
    if (!per_pair && isa_level() >= ISA_AVX2) return q4_K_gemv_order_avx2(n, (const uint8_t *)x, (const uint8_t *)y);
#endif
    return q4_K_order(n, x, y, per_pair, korder_simd());
}
float llk_dot_q4_K_q8_K_order_ref(int n, const void *x, const void *y, int per_pair) { return q4_K_order(n, x, y, per_pair, 0); }
float llk_dot_q6_K_q8_K_order(int n, const void *x, const void *y) {
#if LLK_X86
    if (korder_simd()) return q6_K_order_512(n, (const uint8_t *)x, (const uint8_t *)y);
    if (isa_level() >= ISA_AVX2) return q6_K_order_avx2(n, (const uint8_t *)x, (const uint8_t *)y);
#endif
    return q6_K_order_generic(n, x, y);
}
float llk_dot_q6_K_q8_K_order_ref(int n, const void *x, const void *y) { return q6_K_order_generic(n, x, y); }

int llk_k_quants_use_llamacpp_order(void) { return isa_level() >= ISA_AVX2; }

void llk_gemv_q4_K_order(int n, const void *w, size_t w_stride, int w_rows, const void *a, float *out) {
#if LLK_X86
    if (korder_simd()) {
        gemv_q4_K_order_512(n, (const uint8_t *)w, w_stride, w_rows, (const uint8_t *)a, out);
        return;
    }
#endif
    for (int i = 0; i < w_rows; i++) out[i] = llk_dot_q4_K_q8_K_order(n, (const uint8_t *)w + (size_t)i * w_stride, a, 0);
}
