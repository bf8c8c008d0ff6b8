// Tile kernels for prompt-batch matrix multiplication: a block of up to 4 weight rows × 4 activation rows
// at once, every loaded weight block reused across the activation rows and vice versa. Each output equals
// the per-pair dot kernel (dot.c, and its Swift twin `Dot.reference`) up to float summation order: the
// integer block sums are exact, then each is scaled by d_w·d_a and accumulated in 8 float lanes.
//
// AVX-512 VNNI (Q8_0 and Q4_0 weights, Q8_0 activations): per 32-weight block the weight quants are made
// unsigned (Q8_0: w ⊕ 0x80 = w + 128; Q4_0: the raw nibble = q + 8) and multiplied by the signed activation
// quants with one dpbusd per pair; the offset (128·Σa or 8·Σa, one dpbusd per activation row and block)
// is the starting value of that dpbusd, negated. Exact for any int8 activation quant (no sign trick).
// The 16 scale products d_w·d_a of a block come from one 512-bit multiply and are read back as broadcast
// operands of the FMAs (measured on Zen 4: 4×4 tiles ≈ 22 cycles per block, front-end bound; 512-bit
// pairing of activation rows was slower).
// The file is built without -mavx512*: each kernel carries its own target attribute and runs only after
// llk_gemm_select has checked the CPU.
#include "CKernels.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define G_INLINE static inline __attribute__((always_inline, unused))
#define G_512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

G_INLINE uint16_t g_rd16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }

G_512 G_INLINE float g_hsum(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

enum { G_Q8_0 = 0, G_Q4_0 = 1 };

/// RM weight rows × RN activation rows (compile-time constants after inlining), nb blocks of 32.
/// out[j·os + i] = dot(w row i, a row j).
G_512 G_INLINE void g_tile_32(const int kind, const int RM, const int RN, const int nb, const uint8_t *w, size_t ws,
                              const uint8_t *a, size_t as, float *out, size_t os) {
    const int WB = kind == G_Q8_0 ? 34 : 18;
    const __m256i zero = _mm256_setzero_si256();
    const __m256i koff = _mm256_set1_epi8(kind == G_Q8_0 ? (char)0x80 : 8);
    const __m256i flip = _mm256_set1_epi8((char)0x80), m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4][4];
    for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
    const __m512i expand = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __attribute__((aligned(64))) float sc[16];
    for (int ib = 0; ib < nb; ++ib) {
        __m256i aq[4], ncorr[4], wu[4];
        uint64_t ha = 0, hw = 0;
        for (int j = 0; j < RN; ++j) {
            const uint8_t *ba = a + j * as + ib * 34;
            aq[j] = _mm256_loadu_si256((const __m256i *)(ba + 2));
            ncorr[j] = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, koff, aq[j]));
            ha |= (uint64_t)g_rd16(ba) << (16 * j);
        }
        for (int i = 0; i < RM; ++i) {
            const uint8_t *bw = w + i * ws + ib * WB;
            if (kind == G_Q8_0) {
                wu[i] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(bw + 2)), flip);
            } else {
                const __m128i t = _mm_loadu_si128((const __m128i *)(bw + 2));
                wu[i] = _mm256_and_si256(
                    _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), m4);
            }
            hw |= (uint64_t)g_rd16(bw) << (16 * i);
        }
        // the 16 scale products d_w[i]·d_a[j] at sc[4j + i], read back as broadcast operands of the FMAs
        const __m128 dw4 = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)hw));
        const __m128 da4 = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)ha));
        _mm512_store_ps(sc, _mm512_mul_ps(_mm512_broadcast_f32x4(dw4),
                                          _mm512_permutexvar_ps(expand, _mm512_castps128_ps512(da4))));
        __asm__ volatile("" : : "r"(sc) : "memory");  // keep them in memory: shuffling them out costs more
        for (int i = 0; i < RM; ++i)
            for (int j = 0; j < RN; ++j) {
                const __m256i p = _mm256_dpbusd_epi32(ncorr[j], wu[i], aq[j]);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&sc[4 * j + i]), acc[i][j]);
            }
    }
    for (int j = 0; j < RN; ++j)
        for (int i = 0; i < RM; ++i) out[j * os + i] = g_hsum(acc[i][j]);
}

#define G_CASE(KIND, M, N) \
    case (M) * 8 + (N): g_tile_32(KIND, M, N, nb, (const uint8_t *)w, ws, (const uint8_t *)a, as, out, os); return;

#define G_DISPATCH(KIND)                                                                       \
    const int nb = n / 32;                                                                     \
    switch (wr * 8 + ar) {                                                                     \
        G_CASE(KIND, 1, 1) G_CASE(KIND, 1, 2) G_CASE(KIND, 1, 3) G_CASE(KIND, 1, 4)            \
        G_CASE(KIND, 2, 1) G_CASE(KIND, 2, 2) G_CASE(KIND, 2, 3) G_CASE(KIND, 2, 4)            \
        G_CASE(KIND, 3, 1) G_CASE(KIND, 3, 2) G_CASE(KIND, 3, 3) G_CASE(KIND, 3, 4)            \
        G_CASE(KIND, 4, 1) G_CASE(KIND, 4, 2) G_CASE(KIND, 4, 3) G_CASE(KIND, 4, 4)            \
        default: return;                                                                       \
    }

G_512 void llk_gemm_q8_0_q8_0_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                     float *out, size_t os) {
    G_DISPATCH(G_Q8_0)
}

G_512 void llk_gemm_q4_0_q8_0_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                     float *out, size_t os) {
    G_DISPATCH(G_Q4_0)
}

// ------------------------------------------------------------------------------------ Q4_K × Q8_K
// Per 256-weight super-block and 32-weight sub-block s: maddubs(nibbles, a) gives 16-bit pair sums
// (≤ 2·15·127), dpwssd multiplies them by the 6-bit scale and accumulates exactly in int32 for the whole
// super-block; then one convert and FMA by d_w·d_a per pair. The mins term dmin_w·d_a·Σ m_s·(bsum pairs) is
// summed per weight row for the 4 activation rows at once (lanes j) and subtracted at the end.

/// Q4_K's 12 packed bytes → 8 six-bit scales (bytes 0..7) and 8 mins (bytes 8..15) in u[4] (as dot.c).
G_INLINE void g_unpack_k4_scales(const uint8_t *s, uint32_t u[4]) {
    uint32_t v0, v1, v2;
    __builtin_memcpy(&v0, s, 4); __builtin_memcpy(&v1, s + 4, 4); __builtin_memcpy(&v2, s + 8, 4);
    u[3] = ((v2 >> 4) & 0x0f0f0f0f) | (((v1 >> 6) & 0x03030303) << 4);
    u[2] = v1 & 0x3f3f3f3f;
    u[1] = (v2 & 0x0f0f0f0f) | (((v0 >> 6) & 0x03030303) << 4);
    u[0] = v0 & 0x3f3f3f3f;
}

G_512 G_INLINE void g_tile_q4_K(const int RM, const int RN, const int nb, const uint8_t *w, size_t ws,
                                const uint8_t *a, size_t as, float *out, size_t os) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4][4];
    __m128 macc[4];  // mins term per weight row, lane j
    for (int i = 0; i < RM; ++i) {
        macc[i] = _mm_setzero_ps();
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    for (int ib = 0; ib < nb; ++ib) {
        __m128i bs[4];
        float da[4];
        for (int j = 0; j < 4; ++j) {
            if (j < RN) {
                const uint8_t *ba = a + j * as + ib * 292;
                __builtin_memcpy(&da[j], ba, 4);
                const __m256i b16 = _mm256_loadu_si256((const __m256i *)(ba + 260));
                bs[j] = _mm_hadd_epi16(_mm256_castsi256_si128(b16), _mm256_extracti128_si256(b16, 1));
            } else {
                da[j] = 0;
                bs[j] = _mm_setzero_si128();
            }
        }
        const __m128 da4 = _mm_loadu_ps(da);
        for (int i = 0; i < RM; ++i) {
            const uint8_t *bw = w + i * ws + ib * 144;
            uint32_t u[4];
            g_unpack_k4_scales(bw + 4, u);
            __attribute__((aligned(16))) int16_t sc[8];
            _mm_store_si128((__m128i *)sc, _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[1], (int)u[0])));
            const __m128i mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2]));
            __m256i isum[4];
            for (int j = 0; j < RN; ++j) isum[j] = _mm256_setzero_si256();
            for (int c = 0; c < 4; ++c) {
                const __m256i qb = _mm256_loadu_si256((const __m256i *)(bw + 16 + 32 * c));
                const __m256i ql = _mm256_and_si256(qb, m4), qh = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
                const __m256i sl = _mm256_set1_epi16(sc[2 * c]), sh = _mm256_set1_epi16(sc[2 * c + 1]);
                for (int j = 0; j < RN; ++j) {
                    const uint8_t *q8 = a + j * as + ib * 292 + 4 + 64 * c;
                    isum[j] = _mm256_dpwssd_epi32(isum[j], _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)q8)), sl);
                    isum[j] = _mm256_dpwssd_epi32(isum[j], _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(q8 + 32))), sh);
                }
            }
            const float dw = _cvtsh_ss(g_rd16(bw)), dmin = _cvtsh_ss(g_rd16(bw + 2));
            for (int j = 0; j < RN; ++j)
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(dw * da[j]), acc[i][j]);
            // Σ_s m_s·(bsum_2s + bsum_2s+1) for the 4 activation rows, in lanes 0..3
            const __m128i m01 = _mm_hadd_epi32(_mm_madd_epi16(mins, bs[0]), _mm_madd_epi16(mins, bs[1]));
            const __m128i m23 = _mm_hadd_epi32(_mm_madd_epi16(mins, bs[2]), _mm_madd_epi16(mins, bs[3]));
            const __m128i summs = _mm_hadd_epi32(m01, m23);
            macc[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(summs), _mm_mul_ps(_mm_set1_ps(dmin), da4), macc[i]);
        }
    }
    for (int i = 0; i < RM; ++i) {
        __attribute__((aligned(16))) float m[4];
        _mm_store_ps(m, macc[i]);
        for (int j = 0; j < RN; ++j) out[j * os + i] = g_hsum(acc[i][j]) - m[j];
    }
}

#define G_KCASE(FN, M, N) \
    case (M) * 8 + (N): FN(M, N, nb, (const uint8_t *)w, ws, (const uint8_t *)a, as, out, os); return;

G_512 void llk_gemm_q4_K_q8_K_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                     float *out, size_t os) {
    const int nb = n / 256;
    switch (wr * 8 + ar) {
        G_KCASE(g_tile_q4_K, 1, 1) G_KCASE(g_tile_q4_K, 1, 2) G_KCASE(g_tile_q4_K, 1, 3) G_KCASE(g_tile_q4_K, 1, 4)
        G_KCASE(g_tile_q4_K, 2, 1) G_KCASE(g_tile_q4_K, 2, 2) G_KCASE(g_tile_q4_K, 2, 3) G_KCASE(g_tile_q4_K, 2, 4)
        G_KCASE(g_tile_q4_K, 3, 1) G_KCASE(g_tile_q4_K, 3, 2) G_KCASE(g_tile_q4_K, 3, 3) G_KCASE(g_tile_q4_K, 3, 4)
        G_KCASE(g_tile_q4_K, 4, 1) G_KCASE(g_tile_q4_K, 4, 2) G_KCASE(g_tile_q4_K, 4, 3) G_KCASE(g_tile_q4_K, 4, 4)
        default: return;
    }
}

#endif // __x86_64__

// ============================================================================================ dispatch

llk_gemm_fn llk_gemm_kernel(uint32_t type, int isa) {
#if defined(__x86_64__)
    if (isa == LLK_ISA_AVX512) {
        switch (type) {
        case 2: return llk_gemm_q4_0_q8_0_avx512;
        case 8: return llk_gemm_q8_0_q8_0_avx512;
        case 12: return llk_gemm_q4_K_q8_K_avx512;
        default: return NULL;
        }
    }
#endif
    (void)type; (void)isa;
    return NULL;
}

llk_gemm_fn llk_gemm_select(uint32_t type, uint32_t features) {
    static const int order[] = {LLK_ISA_AVX512, LLK_ISA_AVX2, LLK_ISA_NEON};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); ++k) {
        const int isa = order[k];
        const uint32_t need = llk_dot_isa_features(isa);
        if ((features & need) != need) continue;
        llk_gemm_fn f = llk_gemm_kernel(type, isa);
        if (!f) continue;
#if defined(__x86_64__)
        if (isa == LLK_ISA_AVX512) {
            __builtin_cpu_init();
            if (!__builtin_cpu_supports("avx512vl")) continue;
        }
#endif
        return f;
    }
    return NULL;
}
