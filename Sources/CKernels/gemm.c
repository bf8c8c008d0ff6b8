// Tile kernels for prompt-batch matrix multiplication: a block of up to 4 weight rows × 4 activation rows
// at once, every loaded weight block reused across the activation rows and vice versa (small batches; from
// 8 activation rows on, MatMul uses the panel kernels at the end of this file for Q4_0, Q8_0, Q4_K, Q6_K). Each output equals
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
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "llk_reduce.h"

#define G_INLINE static inline __attribute__((always_inline, unused))
#define G_512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

G_INLINE uint16_t g_rd16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }

G_512 G_INLINE float g_hsum(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

enum { G_Q8_0 = 0, G_Q4_0 = 1, G_Q5_0 = 2 };

/// RM weight rows × RN activation rows (compile-time constants after inlining), nb blocks of 32.
/// out[j·os + i] = dot(w row i, a row j).
G_512 G_INLINE void g_tile_32(const int kind, const int RM, const int RN, const int nb, const uint8_t *w, size_t ws,
                              const uint8_t *a, size_t as, float *out, size_t os) {
    const int WB = kind == G_Q8_0 ? 34 : kind == G_Q5_0 ? 22 : 18;
    const __m256i zero = _mm256_setzero_si256();
    const __m256i koff = _mm256_set1_epi8(kind == G_Q8_0 ? (char)0x80 : kind == G_Q5_0 ? 16 : 8);
    // Q5_0's fifth bits: qh bit k → byte k = 0x10 (spread 32 bits to 32 bytes, then test each byte's own bit)
    const __m256i bshuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bmask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe), b5 = _mm256_set1_epi8(0x10);
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
            } else if (kind == G_Q5_0) {
                uint32_t qh;
                __builtin_memcpy(&qh, bw + 2, 4);
                const __m128i t = _mm_loadu_si128((const __m128i *)(bw + 6));
                const __m256i lo = _mm256_and_si256(
                    _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), m4);
                __m256i hb = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), bshuf), bmask);
                hb = _mm256_and_si256(_mm256_cmpeq_epi8(hb, _mm256_set1_epi64x(-1)), b5);
                wu[i] = _mm256_or_si256(lo, hb);
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

G_512 void llk_gemm_q5_0_q8_0_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                     float *out, size_t os) {
    G_DISPATCH(G_Q5_0)
}

// ------------------------------------------------------------------------------------ Q4_K × Q8_K
// Q4_K × Q8_K, AVX-512 VNNI, weight rows side by side: per 64-weight chunk c the 4 weight rows' nibbles are
// gathered into 4 vectors W_t whose 128-bit lane i holds row i's 16 quants (0..15, the u8 operand) for
// elements 16t..16t+15, and each activation row's 16 quants for those elements are broadcast to all 4 lanes
// (the s8 operand): dpbusd then sums 4 products per lane with every lane a weight row, and two dpbusd cover
// a 32-weight sub-block (lane sums ≤ 8·15·128, int16 range). The two sub-blocks of a chunk are packed to
// int16 side by side and one dpwssd multiplies them by the 6-bit scales (row i's in lane i), accumulating
// exactly in int32 for the super-block; then one convert and FMA by d_w·d_a per activation row. The mins
// term −dmin_w·d_a·Σ m_s·(bsum pairs) (madd of the mins, row i in lane i, with the activation row's pair
// sums, exact in int32) goes into the same float lanes. The scales, mins and d/dmin of the 4 rows are
// unpacked together in one 512-bit vector. Rows past RM repeat row 0 (their lanes are ignored).
// Measured on Zen 4 (4×4 tile, n = 4096, in cache): 65 → 49 ns per super-block over maddubs + dpwssd.
G_512 G_INLINE void g_tile_q4_K(const int RM, const int RN, const int nb, const uint8_t *w, size_t ws,
                                const uint8_t *a, size_t as, float *out, size_t os) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i shc[4];  // int16 e of lane: scale byte 2c (e < 4) or 2c+1 (e ≥ 4), high byte zero
    for (int c = 0; c < 4; ++c) {
        const char lo = (char)(2 * c), hi = (char)(2 * c + 1), z = (char)0x80;
        shc[c] = _mm512_broadcast_i32x4(_mm_setr_epi8(lo, z, lo, z, lo, z, lo, z, hi, z, hi, z, hi, z, hi, z));
    }
    const __m512i shmin = _mm512_broadcast_i32x4(_mm_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128,
                                                                14, -128, 15, -128));
    const __m512i shv = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0, 0, 4));
    const __m512i mlo = _mm512_broadcast_i32x4(_mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m512i mhi = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    __m512 acc[4];  // activation row j; lanes 4i..4i+3: weight row i
    for (int j = 0; j < 4; ++j) acc[j] = _mm512_setzero_ps();
    const uint8_t *wr[4];
    for (int i = 0; i < 4; ++i) wr[i] = w + (i < RM ? i : 0) * ws;
    for (int ib = 0; ib < nb; ++ib) {
        // lane i: row i's d | dmin | 12 scale bytes as dwords [dd, v0, v1, v2]
        __m512i H = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(wr[0] + ib * 144)));
        H = _mm512_inserti32x4(H, _mm_loadu_si128((const __m128i *)(wr[1] + ib * 144)), 1);
        H = _mm512_inserti32x4(H, _mm_loadu_si128((const __m128i *)(wr[2] + ib * 144)), 2);
        H = _mm512_inserti32x4(H, _mm_loadu_si128((const __m128i *)(wr[3] + ib * 144)), 3);
        // 8 six-bit scales (bytes 0..7) and 8 mins (bytes 8..15) per lane (the 12-byte packing, as dot.c)
        const __m512i X = _mm512_shuffle_epi32(H, (_MM_PERM_ENUM)_MM_SHUFFLE(3, 2, 3, 1));  // v0 v2 v1 v2
        const __m512i Y = _mm512_shuffle_epi32(H, (_MM_PERM_ENUM)_MM_SHUFFLE(2, 2, 1, 1));  // v0 v0 v1 v1
        const __m512i S = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(X, shv), mlo),
                                          _mm512_and_si512(_mm512_srli_epi32(Y, 2), mhi));
        const __m512i mins = _mm512_shuffle_epi8(S, shmin);  // int16
        const __m512i T = _mm512_shuffle_epi32(H, (_MM_PERM_ENUM)0);
        const __m512 dwx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(T));
        const __m512 dminx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(T, 16)));
        float da[4] = {0, 0, 0, 0};
        for (int j = 0; j < RN; ++j) {
            const uint8_t *ba = a + j * as + ib * 292;
            __builtin_memcpy(&da[j], ba, 4);
            const __m256i b16 = _mm256_loadu_si256((const __m256i *)(ba + 260));
            const __m128i bs = _mm_hadd_epi16(_mm256_castsi256_si128(b16), _mm256_extracti128_si256(b16, 1));
            // − dmin_w·d_a·Σ m_s·(bsum_2s + bsum_2s+1), exact in int32 per lane
            const __m512i mb = _mm512_madd_epi16(mins, _mm512_broadcast_i32x4(bs));
            acc[j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mb), _mm512_mul_ps(dminx, _mm512_set1_ps(da[j])), acc[j]);
        }
        __m512i isum[4];
        for (int j = 0; j < 4; ++j) isum[j] = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
            const size_t o = (size_t)ib * 144 + 16 + 32 * c;
            const __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(wr[0] + o))),
                                                   _mm256_loadu_si256((const __m256i *)(wr[1] + o)), 1);
            const __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(wr[2] + o))),
                                                   _mm256_loadu_si256((const __m256i *)(wr[3] + o)), 1);
            const __m512i xa = _mm512_shuffle_i64x2(z01, z23, _MM_SHUFFLE(2, 0, 2, 0));  // bytes 0..15 of rows 0..3
            const __m512i xb = _mm512_shuffle_i64x2(z01, z23, _MM_SHUFFLE(3, 1, 3, 1));  // bytes 16..31
            const __m512i w0 = _mm512_and_si512(xa, m4), w1 = _mm512_and_si512(xb, m4);
            const __m512i w2 = _mm512_and_si512(_mm512_srli_epi16(xa, 4), m4);
            const __m512i w3 = _mm512_and_si512(_mm512_srli_epi16(xb, 4), m4);
            const __m512i sv = _mm512_shuffle_epi8(S, shc[c]);
            for (int j = 0; j < RN; ++j) {
                const uint8_t *q8 = a + j * as + ib * 292 + 4 + 64 * c;
                __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)q8)));
                plo = _mm512_dpbusd_epi32(plo, w1, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(q8 + 16))));
                __m512i phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w2, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(q8 + 32))));
                phi = _mm512_dpbusd_epi32(phi, w3, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(q8 + 48))));
                isum[j] = _mm512_dpwssd_epi32(isum[j], _mm512_packs_epi32(plo, phi), sv);
            }
        }
        for (int j = 0; j < RN; ++j)
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[j]), _mm512_mul_ps(dwx, _mm512_set1_ps(da[j])), acc[j]);
    }
    for (int j = 0; j < RN; ++j) {
        __attribute__((aligned(64))) float r[16];
        _mm512_store_ps(r, acc[j]);
        for (int i = 0; i < RM; ++i) out[j * os + i] = (r[4 * i] + r[4 * i + 1]) + (r[4 * i + 2] + r[4 * i + 3]);
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

// ------------------------------------------------------------------------------------ Q6_K × Q8_K
// Per 256-weight super-block and weight row: the 6-bit quants q' = q + 32 (unsigned, 0..63) are decoded once
// (as dot.c, both 128-weight halves side by side in 512-bit vectors: 77 → 75 ms over 256-bit for
// matmul(512) 4096², Zen 4) and reused for the activation rows; maddubs(q', a) gives 16-bit pair sums (≤ 2·63·127), dpwssd
// multiplies them by the int8 sub-block scale and accumulates exactly in int32. The −32·Σ sc·bsum offset is
// the starting value of the accumulator (one dpwssd of −32·sc with the activation row's bsums). Each pair's
// sum is then reduced to one int32 (as dot.c), and one FMA by d_w·d_a scales the 4 activation rows at once.

G_512 G_INLINE __m256i g_scale_pair_shuffle(int k) {
    const __m256i base = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_add_epi8(base, _mm256_set1_epi8((char)(4 * k)));
}

G_512 G_INLINE void g_tile_q6_K(const int RM, const int RN, const int nb, const uint8_t *w, size_t ws,
                                const uint8_t *a, size_t as, float *out, size_t os) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m256i neg32 = _mm256_set1_epi16(-32);
    __m512i shk[4];
    for (int c = 0; c < 4; ++c) shk[c] = _mm512_broadcast_i64x4(g_scale_pair_shuffle(c));
    __m128 acc[4];  // per weight row, activation row j in lane j
    for (int i = 0; i < RM; ++i) acc[i] = _mm_setzero_ps();
    for (int ib = 0; ib < nb; ++ib) {
        float da[4] = {0, 0, 0, 0};
        __m256i bs[4];
        __m512i av[4][4];  // activation row j, quants 32c..32c+31 of both halves (h = 0 low, 1 high)
        for (int j = 0; j < RN; ++j) {
            const uint8_t *ba = a + j * as + ib * 292;
            __builtin_memcpy(&da[j], ba, 4);
            bs[j] = _mm256_loadu_si256((const __m256i *)(ba + 260));
            for (int c = 0; c < 4; ++c)
                av[j][c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ba + 4 + 32 * c))),
                                              _mm256_loadu_si256((const __m256i *)(ba + 132 + 32 * c)), 1);
        }
        const __m128 da4 = _mm_loadu_ps(da);
        for (int i = 0; i < RM; ++i) {
            const uint8_t *bw = w + i * ws + ib * 210;
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(bw + 192)));
            const __m256i off = _mm256_mullo_epi16(sc16, neg32);
            const __m512i z = _mm512_castsi256_si512(sc16);
            const __m512i S = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0));  // scales 0..7 | 0..7 | 8..15 | 8..15
            const __m512i l0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)bw)),
                                                  _mm256_loadu_si256((const __m256i *)(bw + 64)), 1);
            const __m512i l1 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(bw + 32))),
                                                  _mm256_loadu_si256((const __m256i *)(bw + 96)), 1);
            const __m512i qh = _mm512_loadu_si512(bw + 128);
            __m512i q[4], sv[4], isum[4];
            q[0] = _mm512_or_si512(_mm512_and_si512(l0, m4), _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30));
            q[1] = _mm512_or_si512(_mm512_and_si512(l1, m4), _mm512_and_si512(_mm512_slli_epi16(qh, 2), m30));
            q[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), m4), _mm512_and_si512(qh, m30));
            q[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4),
                                   _mm512_and_si512(_mm512_srli_epi16(qh, 2), m30));
            for (int c = 0; c < 4; ++c) sv[c] = _mm512_shuffle_epi8(S, shk[c]);
            for (int j = 0; j < RN; ++j) {
                isum[j] = _mm512_castsi256_si512(_mm256_dpwssd_epi32(_mm256_setzero_si256(), off, bs[j]));
                isum[j] = _mm512_zextsi256_si512(_mm512_castsi512_si256(isum[j]));
                for (int c = 0; c < 4; ++c)
                    isum[j] = _mm512_dpwssd_epi32(isum[j], _mm512_maddubs_epi16(q[c], av[j][c]), sv[c]);
            }
            // each pair's super-block sum reduced to one int32 first (the lanes' partial sums, inflated by the
            // +32 offset, would cancel in float), the 4 activation rows in lanes 0..3
            __m256i r[4];
            for (int j = 0; j < 4; ++j)
                r[j] = j < RN ? _mm256_add_epi32(_mm512_castsi512_si256(isum[j]), _mm512_extracti64x4_epi64(isum[j], 1))
                              : _mm256_setzero_si256();
            const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(r[0], r[1]), _mm256_hadd_epi32(r[2], r[3]));
            const __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            const float dw = _cvtsh_ss(g_rd16(bw + 208));
            acc[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(t), _mm_mul_ps(_mm_set1_ps(dw), da4), acc[i]);
        }
    }
    for (int i = 0; i < RM; ++i) {
        __attribute__((aligned(16))) float r[4];
        _mm_store_ps(r, acc[i]);
        for (int j = 0; j < RN; ++j) out[j * os + i] = r[j];
    }
}

G_512 void llk_gemm_q6_K_q8_K_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                     float *out, size_t os) {
    const int nb = n / 256;
    switch (wr * 8 + ar) {
        G_KCASE(g_tile_q6_K, 1, 1) G_KCASE(g_tile_q6_K, 1, 2) G_KCASE(g_tile_q6_K, 1, 3) G_KCASE(g_tile_q6_K, 1, 4)
        G_KCASE(g_tile_q6_K, 2, 1) G_KCASE(g_tile_q6_K, 2, 2) G_KCASE(g_tile_q6_K, 2, 3) G_KCASE(g_tile_q6_K, 2, 4)
        G_KCASE(g_tile_q6_K, 3, 1) G_KCASE(g_tile_q6_K, 3, 2) G_KCASE(g_tile_q6_K, 3, 3) G_KCASE(g_tile_q6_K, 3, 4)
        G_KCASE(g_tile_q6_K, 4, 1) G_KCASE(g_tile_q6_K, 4, 2) G_KCASE(g_tile_q6_K, 4, 3) G_KCASE(g_tile_q6_K, 4, 4)
        default: return;
    }
}

// ------------------------------------------------------------------------------------ BF16 × BF16
// AVX-512 BF16: 32 elements per VDPBF16PS (pairs of exact bf16 products added into 16 f32 lanes; denormal
// inputs read as zero, as llk_dot_bf16_bf16_avx512bf16). Each weight and activation vector is loaded once
// per 32 elements and used RN / RM times; the ragged tail (n % 32) is a masked, zero-filled load.
#define G_BF16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512bf16")))

G_BF16 G_INLINE void g_tile_bf16(const int RM, const int RN, const int n, const uint8_t *w, size_t ws,
                                 const uint8_t *a, size_t as, float *out, size_t os) {
    __m512 acc[4][4];
    for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        __m512i wv[4], av[4];
        for (int i = 0; i < RM; ++i) wv[i] = _mm512_loadu_si512(w + i * ws + 2 * k);
        for (int j = 0; j < RN; ++j) av[j] = _mm512_loadu_si512(a + j * as + 2 * k);
        for (int i = 0; i < RM; ++i)
            for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)wv[i], (__m512bh)av[j]);
    }
    if (k < n) {
        const __mmask32 m = (__mmask32)((1ull << (n - k)) - 1);
        __m512i wv[4], av[4];
        for (int i = 0; i < RM; ++i) wv[i] = _mm512_maskz_loadu_epi16(m, w + i * ws + 2 * k);
        for (int j = 0; j < RN; ++j) av[j] = _mm512_maskz_loadu_epi16(m, a + j * as + 2 * k);
        for (int i = 0; i < RM; ++i)
            for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)wv[i], (__m512bh)av[j]);
    }
    for (int j = 0; j < RN; ++j)
        for (int i = 0; i < RM; ++i) out[j * os + i] = _mm512_reduce_add_ps(acc[i][j]);
}

G_BF16 void llk_gemm_bf16_bf16_avx512bf16(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                          float *out, size_t os) {
    switch (wr * 8 + ar) {
#define G_BCASE(M, N) \
    case (M) * 8 + (N): g_tile_bf16(M, N, n, (const uint8_t *)w, ws, (const uint8_t *)a, as, out, os); return;
        G_BCASE(1, 1) G_BCASE(1, 2) G_BCASE(1, 3) G_BCASE(1, 4)
        G_BCASE(2, 1) G_BCASE(2, 2) G_BCASE(2, 3) G_BCASE(2, 4)
        G_BCASE(3, 1) G_BCASE(3, 2) G_BCASE(3, 3) G_BCASE(3, 4)
        G_BCASE(4, 1) G_BCASE(4, 2) G_BCASE(4, 3) G_BCASE(4, 4)
#undef G_BCASE
        default: return;
    }
}

// ------------------------------------------------------------------------------------ F16 × F16
// 16 halves per load, widened with VCVTPH2PS (exact), then one FMA per pair into 16 f32 lanes: the f16
// products are exact in f32, so only the summation order differs from Dot.reference. Each weight and
// activation vector is converted once per 16 elements and used RN / RM times; the ragged tail (n % 16) is a
// masked, zero-filled load. AVX-512 F/BW/VL (listed under LLK_ISA_AVX512) and AVX2 + F16C + FMA (8 wide,
// the 4×4 tile done as two 4×2 halves so 8 accumulators + 4 weights stay in the 16 ymm registers).
#define G_F16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

G_F16 G_INLINE void g_tile_f16(const int RM, const int RN, const int n, const uint8_t *w, size_t ws,
                               const uint8_t *a, size_t as, float *out, size_t os) {
    __m512 acc[4][4];
    for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 wv[4], av[4];
        for (int i = 0; i < RM; ++i) wv[i] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i * ws + 2 * k)));
        for (int j = 0; j < RN; ++j) av[j] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + j * as + 2 * k)));
        for (int i = 0; i < RM; ++i)
            for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_fmadd_ps(wv[i], av[j], acc[i][j]);
    }
    if (k < n) {
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        __m512 wv[4], av[4];
        for (int i = 0; i < RM; ++i) wv[i] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i * ws + 2 * k));
        for (int j = 0; j < RN; ++j) av[j] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + j * as + 2 * k));
        for (int i = 0; i < RM; ++i)
            for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_fmadd_ps(wv[i], av[j], acc[i][j]);
    }
    for (int j = 0; j < RN; ++j)
        for (int i = 0; i < RM; ++i) out[j * os + i] = _mm512_reduce_add_ps(acc[i][j]);
}

G_F16 void llk_gemm_f16_f16_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                   float *out, size_t os) {
    switch (wr * 8 + ar) {
#define G_HCASE(M, N) \
    case (M) * 8 + (N): g_tile_f16(M, N, n, (const uint8_t *)w, ws, (const uint8_t *)a, as, out, os); return;
        G_HCASE(1, 1) G_HCASE(1, 2) G_HCASE(1, 3) G_HCASE(1, 4)
        G_HCASE(2, 1) G_HCASE(2, 2) G_HCASE(2, 3) G_HCASE(2, 4)
        G_HCASE(3, 1) G_HCASE(3, 2) G_HCASE(3, 3) G_HCASE(3, 4)
        G_HCASE(4, 1) G_HCASE(4, 2) G_HCASE(4, 3) G_HCASE(4, 4)
#undef G_HCASE
        default: return;
    }
}

#define G_AVX2 __attribute__((target("avx2,fma,f16c")))

/// `n` halves at p (n < 8) widened, zero-filled.
G_AVX2 G_INLINE __m256 g_tail_ph8(const uint8_t *p, int n) {
    uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    __builtin_memcpy(t, p, (size_t)n * 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
}

G_AVX2 G_INLINE float g_hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// RM (≤ 4) weight rows × RN (≤ 2) activation rows, 8 wide.
G_AVX2 G_INLINE void g_tile_f16_avx2(const int RM, const int RN, const int n, const uint8_t *w, size_t ws,
                                     const uint8_t *a, size_t as, float *out, size_t os) {
    __m256 acc[4][2];
    for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[4];
        for (int i = 0; i < RM; ++i) wv[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i * ws + 2 * k)));
        for (int j = 0; j < RN; ++j) {
            const __m256 av = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + j * as + 2 * k)));
            for (int i = 0; i < RM; ++i) acc[i][j] = _mm256_fmadd_ps(wv[i], av, acc[i][j]);
        }
    }
    if (k < n) {
        __m256 wv[4];
        for (int i = 0; i < RM; ++i) wv[i] = g_tail_ph8(w + i * ws + 2 * k, n - k);
        for (int j = 0; j < RN; ++j) {
            const __m256 av = g_tail_ph8(a + j * as + 2 * k, n - k);
            for (int i = 0; i < RM; ++i) acc[i][j] = _mm256_fmadd_ps(wv[i], av, acc[i][j]);
        }
    }
    for (int j = 0; j < RN; ++j)
        for (int i = 0; i < RM; ++i) out[j * os + i] = g_hsum8(acc[i][j]);
}

G_AVX2 void llk_gemm_f16_f16_avx2(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                  float *out, size_t os) {
    const uint8_t *wp = (const uint8_t *)w, *ap = (const uint8_t *)a;
    for (int j = 0; j < ar; j += 2) {
        const int rn = ar - j >= 2 ? 2 : 1;
        switch (wr * 8 + rn) {
#define G_H2CASE(M, N) \
    case (M) * 8 + (N): g_tile_f16_avx2(M, N, n, wp, ws, ap + (size_t)j * as, as, out + (size_t)j * os, os); break;
            G_H2CASE(1, 1) G_H2CASE(1, 2) G_H2CASE(2, 1) G_H2CASE(2, 2)
            G_H2CASE(3, 1) G_H2CASE(3, 2) G_H2CASE(4, 1) G_H2CASE(4, 2)
#undef G_H2CASE
            default: return;
        }
    }
}

// ------------------------------------------------------------------------------------ K-quant panels
// Panel kernels (Q4_K, Q6_K × Q8_K; AVX-512 VNNI): up to 16 weight rows × any number of activation rows per
// call. The weight rows are decoded a slab of P_SLAB super-blocks (1024 weights) at a time into a stack
// scratch (≈ 20 KB, L1-resident; nothing outlives the call, the weights stay where they are) in the layout
// dpbusd wants: for each group of 4 weights, one 64-byte vector holding the 16 rows' 4 unsigned quants
// (row i in int32 lane i), plus per-row scales/mins/d side by side in lanes. Every activation row then costs
// one broadcast-operand dpbusd per 4 weights × 16 rows, an exact int32 sub-block sum per lane (row);
// the 6-bit (Q4_K) / int8 (Q6_K) sub-block scale is one vpmulld per sub-block, the Q4_K mins one dpwssd of
// int16 (min pair) × (bsum pair) per 2 sub-blocks, Q6_K's −32 offset the starting value of the sub-block
// sum (−32·bsum); then per super-block one convert and FMA by d_w·d_a (and −dmin_w·d_a) per activation row.
// Register tile: 16 rows × P_NC activation rows (3 accumulators each: sub-block int32, super-block int32,
// float). Measured on Zen 4 (one thread, 16 rows × 512 activation rows per call, n = 4096, in cycles per
// 256-weight super-block and pair): Q4_K 11.9 → 5.5 over the 4×4 tile (vpdpbusd alone: 4.0), Q6_K 15 → 5.8;
// matmul(512) 4096², one thread, CPU time: Q4_K 116 → 53 ms, Q6_K 145 → 55 ms. 6 and 8 activation rows per
// register tile measured alike (4: 6% slower); the decode costs about as much as 4–8 activation rows.
enum { P_ROWS = 16, P_SLAB = 4, P_NC = 8 };

/// 16 vectors of 16 int32 transposed in place: v[m] lane r ← v[r] lane m.
G_512 G_INLINE void g_transpose16(__m512i v[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    // t[2p] lane-quad q: v[2p][4q], v[2p+1][4q], v[2p][4q+1], v[2p+1][4q+1]; t[2p+1]: elements 4q+2, 4q+3
    for (int i = 0; i < 16; i += 4) {
        v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);      // element 4q+0 of rows i..i+3
        v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);  // 4q+1
        v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);  // 4q+2
        v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);  // 4q+3
    }
    // v[4g + k] quad q = element 4q+k of rows 4g..4g+3. Output m = 4q + k: quads (g = 0..3) of v[4g+k] at quad q.
    for (int k = 0; k < 4; ++k) {
        // gather quad pairs: a = (v[k] q0,q1 | v[4+k] q0,q1), etc.
        const __m512i a01 = _mm512_shuffle_i32x4(v[k], v[4 + k], _MM_SHUFFLE(1, 0, 1, 0));   // g0q0 g0q1 g1q0 g1q1
        const __m512i a23 = _mm512_shuffle_i32x4(v[8 + k], v[12 + k], _MM_SHUFFLE(1, 0, 1, 0));  // g2q0 g2q1 g3q0 g3q1
        const __m512i b01 = _mm512_shuffle_i32x4(v[k], v[4 + k], _MM_SHUFFLE(3, 2, 3, 2));   // g0q2 g0q3 g1q2 g1q3
        const __m512i b23 = _mm512_shuffle_i32x4(v[8 + k], v[12 + k], _MM_SHUFFLE(3, 2, 3, 2));
        t[0 + k] = _mm512_shuffle_i32x4(a01, a23, _MM_SHUFFLE(2, 0, 2, 0));   // q0: g0 g1 g2 g3
        t[4 + k] = _mm512_shuffle_i32x4(a01, a23, _MM_SHUFFLE(3, 1, 3, 1));   // q1
        t[8 + k] = _mm512_shuffle_i32x4(b01, b23, _MM_SHUFFLE(2, 0, 2, 0));   // q2
        t[12 + k] = _mm512_shuffle_i32x4(b01, b23, _MM_SHUFFLE(3, 1, 3, 1));  // q3
    }
    for (int i = 0; i < 16; ++i) v[i] = t[i];
}

typedef struct {
    __attribute__((aligned(64))) uint8_t q[P_SLAB][64][64];  // [super-block][4-weight group][row·4 + k]
    int32_t sc[P_SLAB][8][16];                               // 6-bit scale of sub-block s, row in lane
    int32_t mn[P_SLAB][4][16];                               // mins of sub-blocks 2p, 2p+1 as an int16 pair
    float d[P_SLAB][16], dmin[P_SLAB][16];
} g_q4k_panel;

/// Decodes super-blocks sb0 ..< sb0 + nsb of the 16 rows (row pointers) into the panel.
G_512 G_INLINE void g_q4k_unpack(g_q4k_panel *P, const uint8_t *const rows[16], int sb0, int nsb) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i shv = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    for (int b = 0; b < nsb; ++b) {
        for (int r = 0; r < 16; ++r) {
            const uint8_t *x = rows[r] + (size_t)(sb0 + b) * 144;
            P->d[b][r] = _cvtsh_ss(g_rd16(x));
            P->dmin[b][r] = _cvtsh_ss(g_rd16(x + 2));
            const uint8_t *s = x + 4;
            uint8_t sc[8], m[8];
            for (int j = 0; j < 4; ++j) {
                sc[j] = s[j] & 63;
                m[j] = s[j + 4] & 63;
                sc[j + 4] = (uint8_t)((s[j + 8] & 0x0f) | ((s[j] >> 6) << 4));
                m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
            }
            for (int j = 0; j < 8; ++j) P->sc[b][j][r] = sc[j];
            for (int p = 0; p < 4; ++p) P->mn[b][p][r] = (int32_t)((uint32_t)m[2 * p] | ((uint32_t)m[2 * p + 1] << 16));
        }
        for (int c = 0; c < 4; ++c) {
            __m512i v[16];
            for (int r = 0; r < 16; ++r) {
                const __m512i t = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(rows[r] + (size_t)(sb0 + b) * 144 + 16 + 32 * c)));
                v[r] = _mm512_and_si512(_mm512_srlv_epi64(t, shv), m4);  // 4-weight groups 16c .. 16c+15
            }
            g_transpose16(v);
            for (int m = 0; m < 16; ++m) _mm512_store_si512((__m512i *)P->q[b][16 * c + m], v[m]);
        }
    }
}

G_512 G_INLINE __m512i g_bcast32(const uint8_t *p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/// NC activation rows (a, stride as, at super-block sb0) × the panel's 16 rows over nsb super-blocks; the
/// sums are added to (acc = 1) or stored in out[j·os + i] for i < wr.
G_512 G_INLINE void g_q4k_micro(const int NC, const g_q4k_panel *P, int nsb, const uint8_t *a, size_t as,
                                float *out, size_t os, int wr, int acc_out) {
    __m512 facc[P_NC];
    for (int j = 0; j < NC; ++j) facc[j] = _mm512_setzero_ps();
    for (int b = 0; b < nsb; ++b) {
        const uint8_t *ab = a + (size_t)b * 292;
        __m512i s1[P_NC], acc[P_NC];
        for (int j = 0; j < NC; ++j) s1[j] = _mm512_setzero_si512();
        for (int s = 0; s < 8; ++s) {
            for (int j = 0; j < NC; ++j) acc[j] = _mm512_setzero_si512();
            for (int g = 0; g < 8; ++g) {
                const __m512i W = _mm512_load_si512((const __m512i *)P->q[b][8 * s + g]);
                for (int j = 0; j < NC; ++j)
                    acc[j] = _mm512_dpbusd_epi32(acc[j], W, g_bcast32(ab + j * as + 4 + 32 * s + 4 * g));
            }
            const __m512i SC = _mm512_load_si512((const __m512i *)P->sc[b][s]);
            for (int j = 0; j < NC; ++j) s1[j] = _mm512_add_epi32(s1[j], _mm512_mullo_epi32(acc[j], SC));
        }
        // mins: Σ_s m_s·(bsum_2s + bsum_2s+1), the pair sums as int16 pairs broadcast per 2 sub-blocks
        __attribute__((aligned(16))) int16_t bs[P_NC][8];
        for (int j = 0; j < NC; ++j) {
            const __m256i b16 = _mm256_loadu_si256((const __m256i *)(ab + j * as + 260));
            _mm_store_si128((__m128i *)bs[j], _mm_hadd_epi16(_mm256_castsi256_si128(b16), _mm256_extracti128_si256(b16, 1)));
        }
        for (int j = 0; j < NC; ++j) {
            __m512i m = _mm512_setzero_si512();
            for (int p = 0; p < 4; ++p)
                m = _mm512_dpwssd_epi32(m, _mm512_load_si512((const __m512i *)P->mn[b][p]), g_bcast32((const uint8_t *)bs[j] + 4 * p));
            acc[j] = m;
        }
        const __m512 D = _mm512_load_ps(P->d[b]), DM = _mm512_load_ps(P->dmin[b]);
        for (int j = 0; j < NC; ++j) {
            float da;
            __builtin_memcpy(&da, ab + j * as, 4);
            const __m512 r = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(acc[j]), DM, _mm512_mul_ps(_mm512_cvtepi32_ps(s1[j]), D));
            facc[j] = _mm512_fmadd_ps(r, _mm512_set1_ps(da), facc[j]);
        }
    }
    const __mmask16 k = (__mmask16)((1u << wr) - 1);
    for (int j = 0; j < NC; ++j) {
        float *o = out + j * os;
        const __m512 v = acc_out ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, o), facc[j]) : facc[j];
        _mm512_mask_storeu_ps(o, k, v);
    }
}

G_512 void llk_panel_q4_K_q8_K_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                      float *out, size_t os) {
    const int nb = n / 256;
    const uint8_t *rows[16];
    for (int i = 0; i < 16; ++i) rows[i] = (const uint8_t *)w + (size_t)(i < wr ? i : 0) * ws;
    g_q4k_panel P;
    for (int sb0 = 0; sb0 < nb; sb0 += P_SLAB) {
        const int nsb = nb - sb0 < P_SLAB ? nb - sb0 : P_SLAB;
        g_q4k_unpack(&P, rows, sb0, nsb);
        const uint8_t *a0 = (const uint8_t *)a + (size_t)sb0 * 292;
        int j = 0;
        for (; j + P_NC <= ar; j += P_NC) g_q4k_micro(P_NC, &P, nsb, a0 + j * as, as, out + j * os, os, wr, sb0 > 0);
        switch (ar - j) {
#define P_TAIL(N) case N: g_q4k_micro(N, &P, nsb, a0 + j * as, as, out + j * os, os, wr, sb0 > 0); break;
            P_TAIL(1) P_TAIL(2) P_TAIL(3) P_TAIL(4) P_TAIL(5) P_TAIL(6) P_TAIL(7)
#undef P_TAIL
            default: break;
        }
    }
}

typedef struct {
    __attribute__((aligned(64))) uint8_t q[P_SLAB][64][64];  // [super-block][4-weight group][row·4 + k]: q + 32
    int32_t sc[P_SLAB][16][16];                              // int8 scale of sub-block s (16 weights), row in lane
    float d[P_SLAB][16];
} g_q6k_panel;

G_512 G_INLINE void g_q6k_unpack(g_q6k_panel *P, const uint8_t *const rows[16], int sb0, int nsb) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    for (int b = 0; b < nsb; ++b) {
        for (int r = 0; r < 16; ++r) {
            const uint8_t *x = rows[r] + (size_t)(sb0 + b) * 210;
            P->d[b][r] = _cvtsh_ss(g_rd16(x + 208));
            for (int s = 0; s < 16; ++s) P->sc[b][s][r] = (int8_t)x[192 + s];
        }
        for (int c = 0; c < 4; ++c) {  // 64 weights: half h = c / 2, weights 64·(c % 2) .. of the half
            const int h = c >> 1, hi = c & 1;
            __m512i v[16];
            for (int r = 0; r < 16; ++r) {
                const uint8_t *x = rows[r] + (size_t)(sb0 + b) * 210;
                const __m512i L = _mm512_loadu_si512(x + 64 * h);  // ql: weights l and l + 32 (low nibbles) / +64, +96 (high)
                const __m512i QH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h)));
                v[r] = hi ? _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                            _mm512_and_si512(_mm512_srlv_epi64(QH, shr), m30))
                          : _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi64(QH, shl), m30));
            }
            g_transpose16(v);
            for (int m = 0; m < 16; ++m) _mm512_store_si512((__m512i *)P->q[b][16 * c + m], v[m]);
        }
    }
}

G_512 G_INLINE void g_q6k_micro(const int NC, const g_q6k_panel *P, int nsb, const uint8_t *a, size_t as,
                                float *out, size_t os, int wr, int acc_out) {
    __m512 facc[P_NC];
    for (int j = 0; j < NC; ++j) facc[j] = _mm512_setzero_ps();
    for (int b = 0; b < nsb; ++b) {
        const uint8_t *ab = a + (size_t)b * 292;
        __attribute__((aligned(64))) int32_t off[P_NC][16];  // −32·bsum of each 16-weight sub-block
        for (int j = 0; j < NC; ++j) {
            const __m512i b32 = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(ab + j * as + 260)));
            _mm512_store_si512((__m512i *)off[j], _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(b32, 5)));
        }
        __m512i s1[P_NC], acc[P_NC];
        for (int j = 0; j < NC; ++j) s1[j] = _mm512_setzero_si512();
        for (int s = 0; s < 16; ++s) {
            for (int j = 0; j < NC; ++j) acc[j] = _mm512_set1_epi32(off[j][s]);
            for (int g = 0; g < 4; ++g) {
                const __m512i W = _mm512_load_si512((const __m512i *)P->q[b][4 * s + g]);
                for (int j = 0; j < NC; ++j)
                    acc[j] = _mm512_dpbusd_epi32(acc[j], W, g_bcast32(ab + j * as + 4 + 16 * s + 4 * g));
            }
            const __m512i SC = _mm512_load_si512((const __m512i *)P->sc[b][s]);
            for (int j = 0; j < NC; ++j) s1[j] = _mm512_add_epi32(s1[j], _mm512_mullo_epi32(acc[j], SC));
        }
        const __m512 D = _mm512_load_ps(P->d[b]);
        for (int j = 0; j < NC; ++j) {
            float da;
            __builtin_memcpy(&da, ab + j * as, 4);
            facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[j]), _mm512_mul_ps(D, _mm512_set1_ps(da)), facc[j]);
        }
    }
    const __mmask16 k = (__mmask16)((1u << wr) - 1);
    for (int j = 0; j < NC; ++j) {
        float *o = out + j * os;
        const __m512 v = acc_out ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, o), facc[j]) : facc[j];
        _mm512_mask_storeu_ps(o, k, v);
    }
}

G_512 void llk_panel_q6_K_q8_K_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                      float *out, size_t os) {
    const int nb = n / 256;
    const uint8_t *rows[16];
    for (int i = 0; i < 16; ++i) rows[i] = (const uint8_t *)w + (size_t)(i < wr ? i : 0) * ws;
    g_q6k_panel P;
    for (int sb0 = 0; sb0 < nb; sb0 += P_SLAB) {
        const int nsb = nb - sb0 < P_SLAB ? nb - sb0 : P_SLAB;
        g_q6k_unpack(&P, rows, sb0, nsb);
        const uint8_t *a0 = (const uint8_t *)a + (size_t)sb0 * 292;
        int j = 0;
        for (; j + P_NC <= ar; j += P_NC) g_q6k_micro(P_NC, &P, nsb, a0 + j * as, as, out + j * os, os, wr, sb0 > 0);
        switch (ar - j) {
#define P_TAIL(N) case N: g_q6k_micro(N, &P, nsb, a0 + j * as, as, out + j * os, os, wr, sb0 > 0); break;
            P_TAIL(1) P_TAIL(2) P_TAIL(3) P_TAIL(4) P_TAIL(5) P_TAIL(6) P_TAIL(7)
#undef P_TAIL
            default: break;
        }
    }
}

// Q4_K / Q6_K panels in llama.cpp's x86 summation orders (ops.c, "Q4_K and Q6_K in llama.cpp's orders"): the same
// decoded panels, other epilogues. Q4_K: two float chains per output (sums and mins), one FMA each per pair of
// sub-blocks for activation rows below `grouped` (llama.cpp's repacked gemm) or per super-block above (its gemv),
// continued across slabs (acc in out, the mins' chain in a side buffer) and subtracted at the end. Q6_K: eight
// float lanes per output as vec_dot_q6_K_q8_K keeps them (lane t = 4-weight groups t, t + 8, … of the super-block,
// each times its 16-weight sub-block's scale, minus 32·(scaled bsums 2t, 2t+1)), reduced 8 → 4 → 2 → 1 at the end.
enum { PO_NC = 4 };

G_512 G_INLINE void g_q4k_order_micro(const int NC, const g_q4k_panel *P, int nsb, const uint8_t *a, size_t as,
                                      int j0, int grouped, float *out, size_t os, float *mins, int wr, int first, int last) {
    const __mmask16 k = (__mmask16)((1u << wr) - 1);
    __m512 facc[PO_NC], fmin[PO_NC];
    for (int j = 0; j < NC; ++j) {
        facc[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(k, out + j * os);
        fmin[j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(mins + 16 * j);
    }
    for (int b = 0; b < nsb; ++b) {
        const uint8_t *ab = a + (size_t)b * 292;
        __attribute__((aligned(16))) int16_t bs[PO_NC][8];
        for (int j = 0; j < NC; ++j) {
            const __m256i b16 = _mm256_loadu_si256((const __m256i *)(ab + j * as + 260));
            _mm_store_si128((__m128i *)bs[j], _mm_hadd_epi16(_mm256_castsi256_si128(b16), _mm256_extracti128_si256(b16, 1)));
        }
        const __m512 D = _mm512_load_ps(P->d[b]), DM = _mm512_load_ps(P->dmin[b]);
        __m512i sb_sum[PO_NC], sb_min[PO_NC];
        for (int j = 0; j < NC; ++j) sb_sum[j] = sb_min[j] = _mm512_setzero_si512();
        for (int pr = 0; pr < 4; ++pr) {
            __m512i ps[PO_NC];
            for (int j = 0; j < NC; ++j) ps[j] = _mm512_setzero_si512();
            for (int h = 0; h < 2; ++h) {
                const int sub = 2 * pr + h;
                __m512i acc[PO_NC];
                for (int j = 0; j < NC; ++j) acc[j] = _mm512_setzero_si512();
                for (int g = 0; g < 8; ++g) {
                    const __m512i W = _mm512_load_si512((const __m512i *)P->q[b][8 * sub + g]);
                    for (int j = 0; j < NC; ++j)
                        acc[j] = _mm512_dpbusd_epi32(acc[j], W, g_bcast32(ab + j * as + 4 + 32 * sub + 4 * g));
                }
                const __m512i SC = _mm512_load_si512((const __m512i *)P->sc[b][sub]);
                for (int j = 0; j < NC; ++j) ps[j] = _mm512_add_epi32(ps[j], _mm512_mullo_epi32(acc[j], SC));
            }
            for (int j = 0; j < NC; ++j) {
                const __m512i pm = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_load_si512((const __m512i *)P->mn[b][pr]),
                                                       g_bcast32((const uint8_t *)bs[j] + 4 * pr));
                float da;
                __builtin_memcpy(&da, ab + j * as, 4);
                if (j0 + j < grouped) {
                    const __m512 A = _mm512_set1_ps(da);
                    facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ps[j]), _mm512_mul_ps(D, A), facc[j]);
                    fmin[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pm), _mm512_mul_ps(DM, A), fmin[j]);
                } else {
                    sb_sum[j] = _mm512_add_epi32(sb_sum[j], ps[j]);
                    sb_min[j] = _mm512_add_epi32(sb_min[j], pm);
                }
            }
        }
        for (int j = 0; j < NC; ++j) {
            if (j0 + j < grouped) continue;
            float da;
            __builtin_memcpy(&da, ab + j * as, 4);
            const __m512 A = _mm512_set1_ps(da);
            facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb_sum[j]), _mm512_mul_ps(D, A), facc[j]);
            fmin[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb_min[j]), _mm512_mul_ps(DM, A), fmin[j]);
        }
    }
    for (int j = 0; j < NC; ++j) {
        if (last) {
            _mm512_mask_storeu_ps(out + j * os, k, _mm512_sub_ps(facc[j], fmin[j]));
        } else {
            _mm512_mask_storeu_ps(out + j * os, k, facc[j]);
            _mm512_storeu_ps(mins + 16 * j, fmin[j]);
        }
    }
}

G_512 void llk_panel_q4_K_order_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                       float *out, size_t os, int grouped) {
    const int nb = n / 256;
    const uint8_t *rows[16];
    for (int i = 0; i < 16; ++i) rows[i] = (const uint8_t *)w + (size_t)(i < wr ? i : 0) * ws;
    float *mins = (float *)malloc((size_t)(ar > 0 ? ar : 1) * 16 * sizeof(float));
    if (!mins) {
        for (int j = 0; j < ar; ++j)
            for (int i = 0; i < wr; ++i)
                out[(size_t)j * os + i] = llk_dot_q4_K_q8_K_order(n, rows[i], (const uint8_t *)a + (size_t)j * as, j < grouped);
        return;
    }
    g_q4k_panel P;
    for (int sb0 = 0; sb0 < nb; sb0 += P_SLAB) {
        const int nsb = nb - sb0 < P_SLAB ? nb - sb0 : P_SLAB;
        const int first = sb0 == 0, last = sb0 + nsb == nb;
        g_q4k_unpack(&P, rows, sb0, nsb);
        const uint8_t *a0 = (const uint8_t *)a + (size_t)sb0 * 292;
        for (int j = 0; j < ar; j += PO_NC) {
            const int nc = ar - j < PO_NC ? ar - j : PO_NC;
            switch (nc) {
#define PO_CASE(N) case N: g_q4k_order_micro(N, &P, nsb, a0 + j * as, as, j, grouped, out + j * os, os, mins + 16 * j, wr, first, last); break;
                PO_CASE(1) PO_CASE(2) PO_CASE(3) PO_CASE(4)
#undef PO_CASE
                default: break;
            }
        }
    }
    free(mins);
}

// Q6_K order panel. The 8-lane integers of vec_dot_q6_K_q8_K are exact, so they may be formed in any order: lane
// t = Σ over the 8 sub-blocks s ≡ t / 4 (mod 2) of sc_s · D(s, t % 4), D(s, g) the 4-weight dot of group g of
// sub-block s (then −32·(sc_2t·bsum_2t + sc_2t+1·bsum_2t+1)). D = one dpbusd of the 16 rows' unsigned quants
// (q + 32 ≤ 63) by the broadcast activation bytes, |D| ≤ 4·63·128 < 2^15, so the scales come two at a time: one
// vpermt2w puts D(s, g) and D(s + 2, g) into the low and high int16 of each row's dword (an add of D(s + 2, g) << 16
// would borrow from the high half when D(s, g) < 0), and one dpwssd by the rows' (sc_s, sc_s+2) pairs adds both
// products to the lane — 1.5 multiply-pipe instructions per 4 weights × 16 rows (the permute runs beside them) where
// the int16 form (sc·q pairs) took 2, and the activations are used as stored. The −32·bsum term is one dpwssd of
// (−32·sc) pairs by a bsum pair, the lane's starting value. Then per super-block and activation row, as vec_dot
// does, one convert and FMA by d_a·d_w per lane (8 lanes × 16 rows in 8 vectors), reduced 8 → 4 → 2 → 1 at the end.
// The 16 rows are decoded once per call for all super-blocks (5 KB each, heap, L2-resident); PQ6_JB activation
// rows' float lanes (16 KB, L1) then go over the super-blocks PQ6_KC at a time, so that stretch of decoded weights
// is read from L1 by all of them; PQ6_NC activation rows share each weight load (3 measured alike).
// Zen 5, one thread, CPU time, matmul(512) (benchmarks/kernels.py): 4096² 129 → 48–52 ms (ggml 62–68 ms),
// 14336×4096 411 → 172–183 ms (ggml 213–216 ms); ≈ 65 cycles per super-block × 16 rows × activation row with
// the activations in cache, ≈ 80 streaming them. The int16 form before it (activations re-laid as int16 pairs per
// panel, its accumulators spilled to the stack) took 245. vpdpwssd is written as asm: clang otherwise splits most
// of them into vpmaddwd + vpaddd (49 → 58 ms).
enum { PQ6_NC = 2, PQ6_JB = 32, PQ6_KC = 2 };

typedef struct {
    __attribute__((aligned(64))) uint8_t q[64][64];  // [4-weight group][row·4 + k]: q + 32
    int32_t scp[8][16];                              // [2k + p][row]: sc of sub-block 4k + p (low), 4k + p + 2 (high)
    int32_t nsc[8][16];                              // [t][row]: −32·sc_2t (low), −32·sc_2t+1 (high)
    float d[16];
} g_q6k_sb;

G_512 G_INLINE void g_q6k_sb_unpack(g_q6k_sb *S, const uint8_t *const rows[16], int b) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    for (int r = 0; r < 16; ++r) {
        const uint8_t *x = rows[r] + (size_t)b * 210;
        const int8_t *sc = (const int8_t *)(x + 192);
        S->d[r] = _cvtsh_ss(g_rd16(x + 208));
        for (int k = 0; k < 4; ++k)
            for (int p = 0; p < 2; ++p)
                S->scp[2 * k + p][r] = (int32_t)((uint16_t)sc[4 * k + p] | (uint32_t)(uint16_t)sc[4 * k + p + 2] << 16);
        for (int t = 0; t < 8; ++t)
            S->nsc[t][r] = (int32_t)((uint16_t)(-32 * sc[2 * t]) | (uint32_t)(uint16_t)(-32 * sc[2 * t + 1]) << 16);
    }
    for (int c = 0; c < 4; ++c) {  // 64 weights: half h = c / 2, weights 64·(c % 2) .. of the half
        const int h = c >> 1, hi = c & 1;
        __m512i v[16];
        for (int r = 0; r < 16; ++r) {
            const uint8_t *x = rows[r] + (size_t)b * 210;
            const __m512i L = _mm512_loadu_si512(x + 64 * h);  // ql: weights l and l + 32 (low nibbles) / +64, +96 (high)
            const __m512i QH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h)));
            v[r] = hi ? _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4), _mm512_and_si512(_mm512_srlv_epi64(QH, shr), m30))
                      : _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi64(QH, shl), m30));
        }
        g_transpose16(v);
        for (int m = 0; m < 16; ++m) _mm512_store_si512((__m512i *)S->q[16 * c + m], v[m]);
    }
}

/// One super-block × NC activation rows (ab: row 0's block, as apart): F[j][t] (16 rows) = fma(d_a·d_w, lane t, F).
G_512 G_INLINE void g_q6k_order_sb(const int NC, const g_q6k_sb *S, const uint8_t *ab, size_t as, float (*F)[128], int first) {
    // word 2r ← lo's word 2r, word 2r + 1 ← hi's word 2r: lane r = (D(s, g), D(s + 2, g)) of row r as int16
    const __m512i pk = _mm512_set_epi32(0x003e001e, 0x003c001c, 0x003a001a, 0x00380018, 0x00360016, 0x00340014, 0x00320012,
                                        0x00300010, 0x002e000e, 0x002c000c, 0x002a000a, 0x00280008, 0x00260006, 0x00240004,
                                        0x00220002, 0x00200000);
    __m512i L[PQ6_NC][8];
    for (int t = 0; t < 8; ++t) {
        const __m512i N = _mm512_load_si512((const __m512i *)S->nsc[t]);
        for (int j = 0; j < NC; ++j) L[j][t] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), N, g_bcast32(ab + j * as + 260 + 4 * t));
    }
#pragma clang loop unroll(full)
    for (int k = 0; k < 4; ++k) {
#pragma clang loop unroll(full)
        for (int p = 0; p < 2; ++p) {
            const int s = 4 * k + p;
            const __m512i SC = _mm512_load_si512((const __m512i *)S->scp[2 * k + p]);
#pragma clang loop unroll(full)
            for (int g = 0; g < 4; ++g) {
                const __m512i W0 = _mm512_load_si512((const __m512i *)S->q[4 * s + g]);
                const __m512i W1 = _mm512_load_si512((const __m512i *)S->q[4 * s + 8 + g]);
                for (int j = 0; j < NC; ++j) {
                    const uint8_t *aj = ab + j * as + 4;
                    const __m512i lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W0, g_bcast32(aj + 16 * s + 4 * g));
                    const __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W1, g_bcast32(aj + 16 * s + 32 + 4 * g));
                    const __m512i X = _mm512_permutex2var_epi16(lo, pk, hi);
                    __asm__("vpdpwssd %2, %1, %0" : "+v"(L[j][4 * p + g]) : "v"(X), "v"(SC));  // L += X·SC per int16 pair
                }
            }
        }
    }
    const __m512 dw = _mm512_load_ps(S->d);
    for (int j = 0; j < NC; ++j) {
        float da;
        __builtin_memcpy(&da, ab + j * as, 4);
        const __m512 d = _mm512_mul_ps(_mm512_set1_ps(da), dw);
        for (int t = 0; t < 8; ++t) {
            const __m512 prev = first ? _mm512_setzero_ps() : _mm512_load_ps(F[j] + 16 * t);
            _mm512_store_ps(F[j] + 16 * t, _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(L[j][t]), prev));
        }
    }
}

G_512 void llk_panel_q6_K_order_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                       float *out, size_t os) {
    const int nb = n / 256;
    const uint8_t *rows[16];
    for (int i = 0; i < 16; ++i) rows[i] = (const uint8_t *)w + (size_t)(i < wr ? i : 0) * ws;
    g_q6k_sb *S = nb > 0 ? (g_q6k_sb *)aligned_alloc(64, (size_t)nb * sizeof(g_q6k_sb)) : NULL;
    if (!S) {
        for (int j = 0; j < ar; ++j)
            for (int i = 0; i < wr; ++i) out[(size_t)j * os + i] = llk_dot_q6_K_q8_K_order(n, rows[i], (const uint8_t *)a + (size_t)j * as);
        return;
    }
    for (int b = 0; b < nb; ++b) g_q6k_sb_unpack(S + b, rows, b);
    const __mmask16 k = (__mmask16)((1u << wr) - 1);
    __attribute__((aligned(64))) float F[PQ6_JB][128];  // 8 lanes × 16 rows per activation row
    for (int j0 = 0; j0 < ar; j0 += PQ6_JB) {
        const int jn = ar - j0 < PQ6_JB ? ar - j0 : PQ6_JB;
        const uint8_t *aj0 = (const uint8_t *)a + (size_t)j0 * as;
        for (int b0 = 0; b0 < nb; b0 += PQ6_KC) {
            const int b1 = nb - b0 < PQ6_KC ? nb : b0 + PQ6_KC;
            int j = 0;
            for (; j + PQ6_NC <= jn; j += PQ6_NC)
                for (int b = b0; b < b1; ++b) g_q6k_order_sb(PQ6_NC, S + b, aj0 + (size_t)j * as + (size_t)b * 292, as, F + j, b == 0);
            for (; j < jn; ++j)
                for (int b = b0; b < b1; ++b) g_q6k_order_sb(1, S + b, aj0 + (size_t)j * as + (size_t)b * 292, as, F + j, b == 0);
        }
        for (int j = 0; j < jn; ++j) {
            __m512 r[4];
            for (int i = 0; i < 4; ++i) r[i] = _mm512_add_ps(_mm512_load_ps(F[j] + 16 * (i + 4)), _mm512_load_ps(F[j] + 16 * i));
            _mm512_mask_storeu_ps(out + (size_t)(j0 + j) * os, k, _mm512_add_ps(_mm512_add_ps(r[0], r[2]), _mm512_add_ps(r[1], r[3])));
        }
    }
    free(S);
}

// Q4_0 / Q8_0 × Q8_0 panels (AVX-512 VNNI): the same scheme with 32-weight blocks. Weights decoded to unsigned
// bytes (Q4_0: the raw nibble = q + 8; Q8_0: w ⊕ 0x80 = w + 128), so each block's int32 sum starts at
// −off·Σa (off = 8 / 128; Σa of every activation block computed once per 8 activation rows and slab with a
// ones-dpbusd and a transposing add tree, 16 blocks per vector) and then takes 8 broadcast-operand dpbusd;
// one convert and FMA by d_w·d_a per block and activation row (the 16 rows' d_w side by side in lanes).
// Zen 4, one thread, n = 4096, 512 activation rows: 16 → 7.1 cycles per 256 weights and pair over the 4×4
// tile (Q4_0 and Q8_0 alike; 5.8 without the Σa / d_a preparation, which a 256-bit hadd tree made 7.9);
// matmul(512) 4096², one thread, CPU time: Q4_0 166 → 72 ms, Q8_0 156 → 73 ms.
enum { P0_SLAB = 32 };  // blocks per slab (1024 weights)

typedef struct {
    __attribute__((aligned(64))) uint8_t q[P0_SLAB * 8][64];  // [block·8 + 4-weight group][row·4 + k]
    float d[P0_SLAB][16];
} g_q0_panel;

G_512 G_INLINE void g_q0_unpack(const int kind, g_q0_panel *P, const uint8_t *const rows[16], __m512i roff, int b0,
                                int nblk) {
    const int WB = kind == G_Q8_0 ? 34 : 18;
    const __m512i m4 = _mm512_set1_epi8(0x0f), flip = _mm512_set1_epi8((char)0x80);
    const __m512i shv = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    // The 16 rows' scales of a block in one gather (4 bytes from each block start: d, then quants cut off). One
    // half-to-float per scalar was half of this kernel's time with 8 activation rows (decode batches).
    for (int b = 0; b < nblk; ++b) {
        const __m512i dh = _mm512_i32gather_epi32(roff, rows[0] + (size_t)(b0 + b) * WB, 1);
        _mm512_store_ps(P->d[b], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dh)));
    }
    for (int b = 0; b < nblk; b += 2) {  // two blocks (16 groups of 4) per transpose; an odd last block pads
        const int b1 = b + 1 < nblk ? b + 1 : b;
        __m512i v[16];
        for (int r = 0; r < 16; ++r) {
            const uint8_t *x0 = rows[r] + (size_t)(b0 + b) * WB + 2, *x1 = rows[r] + (size_t)(b0 + b1) * WB + 2;
            if (kind == G_Q8_0) {
                v[r] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x0)),
                                                           _mm256_loadu_si256((const __m256i *)x1), 1), flip);
            } else {
                const __m512i t = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x0))),
                    _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x1)), 1);
                v[r] = _mm512_and_si512(_mm512_srlv_epi64(t, shv), m4);  // lo nibbles = weights 0..15, hi = 16..31
            }
        }
        g_transpose16(v);
        for (int m = 0; m < 16 && 8 * b + m < 8 * nblk; ++m) _mm512_store_si512((__m512i *)P->q[8 * b + m], v[m]);
    }
}

/// Per activation row j < ar and block b < nb: nc[j·st + b] = −off·Σa, da[j·st + b] = d_a (st ≥ nb rounded up to 16;
/// the pads are written too). 16 blocks at a time: the 32 quants of blocks t and t + 8 in one vector, a ones-dpbusd,
/// then a transposing add tree leaves block t's sum in lane t; the 16 scales come from one gather.
G_512 G_INLINE void g_q0_act_prep(const int kind, int ar, const uint8_t *a, size_t as, int nb, int32_t *nc, float *da,
                                  size_t st) {
    const __m512i ones = _mm512_set1_epi8(1);
    const int sh = kind == G_Q8_0 ? 7 : 3;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(34));
    for (int j = 0; j < ar; ++j) {
        const uint8_t *aj = a + j * as;
        for (int b = 0; b < nb; b += 16) {
            const int nv = nb - b < 16 ? nb - b : 16;
            const __mmask16 valid = (__mmask16)((1u << nv) - 1);
            const __m512i dh = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, idx, aj + 34 * b, 1);
            _mm512_storeu_ps(da + j * st + b, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dh)));
            __m512i s[8];
            for (int t = 0; t < 8; ++t) {
                const int t0 = b + t < nb ? b + t : b, t1 = b + 8 + t < nb ? b + 8 + t : b;
                const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(aj + 34 * t0 + 2))),
                                                     _mm256_loadu_si256((const __m256i *)(aj + 34 * t1 + 2)), 1);
                s[t] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, v);
            }
            const __m512i S = llk_transpose_sum16_epi32(s);  // lane t: block b + t
            _mm512_storeu_si512(nc + j * st + b, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(S, sh)));
        }
    }
}

/// Lines to prefetch while a slab is multiplied: spread over its blocks (`pf`, `npf`; none when pf is NULL).
G_512 G_INLINE void g_q0_micro(const int kind, const int NC, const g_q0_panel *P, int nblk, const uint8_t *a, size_t as,
                               const int32_t *nc, const float *da, size_t st, float *out, size_t os, int wr, int acc_out,
                               const uint8_t *const *pf, int npf) {
    // One FMA chain per output across all blocks, continued from the previous slab's partial result (not a sum
    // of per-slab chains): the summation order of llama.cpp's repacked Q4_0 kernels, so outputs match it bit for bit.
    const __mmask16 k = (__mmask16)((1u << wr) - 1);
    __m512 facc[P_NC];
    for (int j = 0; j < NC; ++j) facc[j] = acc_out ? _mm512_maskz_loadu_ps(k, out + j * os) : _mm512_setzero_ps();
    for (int b = 0; b < nblk; ++b) {
        if (pf)
            for (int q = b * npf / nblk; q < (b + 1) * npf / nblk; ++q) _mm_prefetch((const char *)pf[q], _MM_HINT_T0);
        __m512i acc[P_NC];
        for (int j = 0; j < NC; ++j) acc[j] = _mm512_set1_epi32(nc[j * st + b]);
        for (int g = 0; g < 8; ++g) {
            const __m512i W = _mm512_load_si512((const __m512i *)P->q[8 * b + g]);
            for (int j = 0; j < NC; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], W, g_bcast32(a + j * as + 34 * b + 2 + 4 * g));
        }
        const __m512 D = _mm512_load_ps(P->d[b]);
        for (int j = 0; j < NC; ++j)
            facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[j]), _mm512_mul_ps(D, _mm512_set1_ps(da[j * st + b])), facc[j]);
    }
    for (int j = 0; j < NC; ++j) _mm512_mask_storeu_ps(out + j * os, k, facc[j]);
}

/// Any number of weight rows, 16 at a time; the activation side (−off·Σa, d_a) is prepared once per call, so
/// MatMul calls it once per thread over the thread's rows (with a decode batch of 2–8 rows that preparation
/// cost as much as the products when it was redone for every 16 rows). While a panel's slab is multiplied, the
/// same slab of the next 16 rows is prefetched, spread over the blocks: the panel's access pattern (16 rows side
/// by side) is not one the hardware prefetchers follow, and a large matrix streams from DRAM.
G_512 G_INLINE void g_q0_panel_run(const int kind, int n, const void *w, size_t ws, int wr, const void *a, size_t as,
                                   int ar, float *out, size_t os) {
    const int nb = n / 32, WB = kind == G_Q8_0 ? 34 : 18;
    if (nb <= 0 || wr <= 0 || ar <= 0) return;
    const size_t st = (size_t)(nb + 15) / 16 * 16;
    int32_t *nc = aligned_alloc(64, st * (size_t)ar * (sizeof(int32_t) + sizeof(float)));
    if (!nc) abort();
    float *da = (float *)(nc + st * (size_t)ar);
    g_q0_act_prep(kind, ar, (const uint8_t *)a, as, nb, nc, da, st);
    g_q0_panel P;
    const uint8_t *pf[16 * (P0_SLAB * 34 / 64 + 2)];
    for (int g0 = 0; g0 < wr; g0 += 16) {
        const int gw = wr - g0 < 16 ? wr - g0 : 16, next = wr - g0 - gw < 16 ? wr - g0 - gw : 16;
        const uint8_t *rows[16];
        __attribute__((aligned(64))) int32_t off[16];
        for (int i = 0; i < 16; ++i) {
            rows[i] = (const uint8_t *)w + (size_t)(g0 + (i < gw ? i : 0)) * ws;
            off[i] = (int32_t)(rows[i] - rows[0]);
        }
        const __m512i roff = _mm512_load_si512((const __m512i *)off);
        float *og = out + g0;
        for (int b0 = 0; b0 < nb; b0 += P0_SLAB) {
            const int nblk = nb - b0 < P0_SLAB ? nb - b0 : P0_SLAB;
            int npf = 0;
            for (int r = 0; r < next; ++r) {
                const uintptr_t lo = (uintptr_t)(rows[0] + (size_t)(16 + r) * ws + (size_t)b0 * WB), hi = lo + (size_t)nblk * WB;
                for (uintptr_t l = lo & ~(uintptr_t)63; l < hi; l += 64) pf[npf++] = (const uint8_t *)l;
            }
            g_q0_unpack(kind, &P, rows, roff, b0, nblk);
            const uint8_t *a0 = (const uint8_t *)a + (size_t)b0 * 34;
            for (int j = 0; j < ar; j += P_NC) {
                const uint8_t *const *p = j == 0 && npf ? pf : NULL;
                switch (ar - j < P_NC ? ar - j : P_NC) {
#define P_CASE(N) case N: g_q0_micro(kind, N, &P, nblk, a0 + j * as, as, nc + j * st + b0, da + j * st + b0, st, og + j * os, os, gw, b0 > 0, p, npf); break;
                    P_CASE(1) P_CASE(2) P_CASE(3) P_CASE(4) P_CASE(5) P_CASE(6) P_CASE(7) P_CASE(8)
#undef P_CASE
                    default: break;
                }
            }
        }
    }
    free(nc);
}

G_512 void llk_panel_q4_0_q8_0_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                      float *out, size_t os) {
    g_q0_panel_run(G_Q4_0, n, w, ws, wr, a, as, ar, out, os);
}

G_512 void llk_panel_q8_0_q8_0_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                      float *out, size_t os) {
    g_q0_panel_run(G_Q8_0, n, w, ws, wr, a, as, ar, out, os);
}

// Q8_0 × Q8_0 for decode batches (2–8 activation rows, e.g. the output matrix of `llmkit serve --parallel 8`):
// tinyBLAS's per-output order, as the 4×4 tile kernel above (8 float lanes per output, one FMA by d_w·d_a per
// block, the tile's horizontal sum), so both give the same floats; but two activation rows share a 512-bit vector,
// one per 256-bit half, so each dpbusd / convert / FMA serves two outputs, and the weight rows are read once for
// the whole batch. The activation side (quants of a row pair side by side, −128·Σa per 4-byte group as the dpbusd
// start, the two d_a) is laid out once per call; a call takes any number of weight rows (MatMul: a thread's range).
// 8 activation rows, n = 576, 49152 rows, one thread: about 3× the tile kernel's speed (and 1 thread's 4×4 tile
// path read the 28 MiB matrix twice per step).
typedef struct {
    __m512i q, nc;  // quants of rows 2p | 2p+1; −128·(sum of each 4-byte group)
    __m512 d;       // d_a of row 2p (low 8 lanes) | row 2p+1
} g_q8_pair;

G_512 G_INLINE void g_q8_small_micro(const int RM, const int NP, int nb, const uint8_t *w, size_t ws, const g_q8_pair *P,
                                     int ar, float *out, size_t os) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[4][4];
    for (int i = 0; i < RM; ++i)
        for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
    for (int b = 0; b < nb; ++b) {
        __m512i wv[4];
        __m512 dw[4];
        for (int i = 0; i < RM; ++i) {
            const uint8_t *bw = w + i * ws + (size_t)b * 34;
            _mm_prefetch((const char *)(bw + 8 * ws), _MM_HINT_T0);  // two tiles ahead: the matrix streams from DRAM
            wv[i] = _mm512_xor_si512(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(bw + 2))), flip);
            dw[i] = _mm512_set1_ps(_cvtsh_ss(g_rd16(bw)));
        }
        const g_q8_pair *Q = P + (size_t)b * NP;
        for (int p = 0; p < NP; ++p)
            for (int i = 0; i < RM; ++i) {
                const __m512i s = _mm512_dpbusd_epi32(Q[p].nc, wv[i], Q[p].q);
                acc[i][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[i], Q[p].d), acc[i][p]);
            }
    }
    for (int p = 0; p < NP; ++p)
        for (int i = 0; i < RM; ++i) {
            out[2 * p * os + i] = g_hsum(_mm512_castps512_ps256(acc[i][p]));
            if (2 * p + 1 < ar)
                out[(2 * p + 1) * os + i] = g_hsum(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[i][p]), 1)));
        }
}

G_512 G_INLINE void g_q8_small_rows(const int NP, int nb, const uint8_t *w, size_t ws, int wr, const g_q8_pair *P, int ar,
                                    float *out, size_t os) {
    int i = 0;
    for (; i + 4 <= wr; i += 4) g_q8_small_micro(4, NP, nb, w + i * ws, ws, P, ar, out + i, os);
    switch (wr - i) {
    case 3: g_q8_small_micro(3, NP, nb, w + i * ws, ws, P, ar, out + i, os); break;
    case 2: g_q8_small_micro(2, NP, nb, w + i * ws, ws, P, ar, out + i, os); break;
    case 1: g_q8_small_micro(1, NP, nb, w + i * ws, ws, P, ar, out + i, os); break;
    default: break;
    }
}

G_512 void llk_gemm_q8_0_small_avx512(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar,
                                      float *out, size_t os) {
    for (; ar > 8; ar -= 8, a = (const uint8_t *)a + 8 * as, out += 8 * os)
        llk_gemm_q8_0_small_avx512(n, w, ws, wr, a, as, 8, out, os);
    if (ar <= 0 || wr <= 0) return;
    const int nb = n / 32, np = (ar + 1) / 2;
    g_q8_pair *P = aligned_alloc(64, sizeof(g_q8_pair) * (size_t)(nb > 0 ? nb : 1) * np);
    if (!P) abort();
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < nb; ++b)
        for (int p = 0; p < np; ++p) {
            const uint8_t *a0 = (const uint8_t *)a + 2 * p * as + (size_t)b * 34;
            const uint8_t *a1 = 2 * p + 1 < ar ? a0 + as : a0;
            g_q8_pair *Q = P + (size_t)b * np + p;
            Q->q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a0 + 2))),
                                      _mm256_loadu_si256((const __m256i *)(a1 + 2)), 1);
            Q->nc = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), k128, Q->q));
            Q->d = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(_cvtsh_ss(g_rd16(a0))), _mm512_set1_ps(_cvtsh_ss(g_rd16(a1))));
        }
    const uint8_t *wb = (const uint8_t *)w;
    switch (np) {
    case 1: g_q8_small_rows(1, nb, wb, ws, wr, P, ar, out, os); break;
    case 2: g_q8_small_rows(2, nb, wb, ws, wr, P, ar, out, os); break;
    case 3: g_q8_small_rows(3, nb, wb, ws, wr, P, ar, out, os); break;
    default: g_q8_small_rows(4, nb, wb, ws, wr, P, ar, out, os); break;
    }
    free(P);
}

#endif // __x86_64__

// ============================================================================================ dispatch

llk_gemm_fn llk_gemm_kernel(uint32_t type, int isa) {
#if defined(__x86_64__)
    if (isa == LLK_ISA_AVX512) {
        switch (type) {
        case 2: return llk_gemm_q4_0_q8_0_avx512;
        case 6: return llk_gemm_q5_0_q8_0_avx512;
        case 8: return llk_gemm_q8_0_q8_0_avx512;
        case 12: return llk_gemm_q4_K_q8_K_avx512;
        case 14: return llk_gemm_q6_K_q8_K_avx512;
        case 1: return llk_gemm_f16_f16_avx512;
        default: return NULL;
        }
    }
    if (isa == LLK_ISA_AVX2) return type == 1 ? llk_gemm_f16_f16_avx2 : NULL;
    if (isa == LLK_ISA_AVX512BF16) return type == 30 ? llk_gemm_bf16_bf16_avx512bf16 : NULL;
#endif
    (void)type; (void)isa;
    return NULL;
}

llk_gemm_fn llk_panel_kernel(uint32_t type, int isa) {
#if defined(__x86_64__)
    if (isa == LLK_ISA_AVX512) {
        switch (type) {
        case 2: return llk_panel_q4_0_q8_0_avx512;
        case 8: return llk_panel_q8_0_q8_0_avx512;
        case 12: return llk_panel_q4_K_q8_K_avx512;
        case 14: return llk_panel_q6_K_q8_K_avx512;
        default: return NULL;
        }
    }
#endif
    (void)type; (void)isa;
    return NULL;
}

llk_gemm_fn llk_panel_select(uint32_t type, uint32_t features) {
    const uint32_t need = llk_dot_isa_features(LLK_ISA_AVX512);
    if ((features & need) != need) return NULL;
    llk_gemm_fn f = llk_panel_kernel(type, LLK_ISA_AVX512);
#if defined(__x86_64__)
    if (f) {
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx512vl")) return NULL;
    }
#endif
    return f;
}

llk_gemm_fn llk_gemm_q8_0_small_select(uint32_t features) {
#if defined(__x86_64__)
    return llk_gemm_select(8, features) == llk_gemm_q8_0_q8_0_avx512 ? llk_gemm_q8_0_small_avx512 : NULL;
#else
    (void)features;
    return NULL;
#endif
}

llk_gemm_fn llk_gemm_select(uint32_t type, uint32_t features) {
    static const int order[] = {LLK_ISA_AVX512BF16, LLK_ISA_AVX512, LLK_ISA_AVX2, LLK_ISA_NEON};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); ++k) {
        const int isa = order[k];
        const uint32_t need = llk_dot_isa_features(isa);
        if ((features & need) != need) continue;
        llk_gemm_fn f = llk_gemm_kernel(type, isa);
        if (!f) continue;
#if defined(__x86_64__)
        if (isa == LLK_ISA_AVX512 || isa == LLK_ISA_AVX512BF16) {
            __builtin_cpu_init();
            if (!__builtin_cpu_supports("avx512vl")) continue;
        }
#endif
        return f;
    }
    return NULL;
}

// Q4_K / Q6_K panels in llama.cpp's orders: the AVX-512 VNNI panels where the CPU has them, else the order dots
// (ops.c) one output at a time — the same floats either way.
static int korder_panels(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512dq");
    }
    return cached;
#else
    return 0;
#endif
}

void llk_panel_q4_K_order(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar, float *out,
                          size_t os, int grouped) {
#if defined(__x86_64__)
    if (korder_panels()) { llk_panel_q4_K_order_avx512(n, w, ws, wr, a, as, ar, out, os, grouped); return; }
#endif
    for (int j = 0; j < ar; ++j)
        for (int i = 0; i < wr; ++i)
            out[(size_t)j * os + i] = llk_dot_q4_K_q8_K_order(n, (const uint8_t *)w + (size_t)i * ws, (const uint8_t *)a + (size_t)j * as, j < grouped);
}

void llk_panel_q6_K_order(int n, const void *w, size_t ws, int wr, const void *a, size_t as, int ar, float *out,
                          size_t os) {
#if defined(__x86_64__)
    if (korder_panels()) { llk_panel_q6_K_order_avx512(n, w, ws, wr, a, as, ar, out, os); return; }
#endif
    for (int j = 0; j < ar; ++j)
        for (int i = 0; i < wr; ++i)
            out[(size_t)j * os + i] = llk_dot_q6_K_q8_K_order(n, (const uint8_t *)w + (size_t)i * ws, (const uint8_t *)a + (size_t)j * as);
}
