// Private to the C kernels: horizontal reductions shared by gemm.c and ops.c.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

/// 8 vectors s[t] = [8 int32 partial sums of item t | 8 partial sums of item t + 8] → one vector whose lane t is
/// item t's total (t = 0…15): a transposing add tree (unpack + add twice, then 128-bit lane shuffles).
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline, unused))
static inline __m512i llk_transpose_sum16_epi32(const __m512i s[8]) {
    __m512i x[4], y[2];
    for (int p = 0; p < 4; ++p)
        x[p] = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2 * p], s[2 * p + 1]), _mm512_unpackhi_epi32(s[2 * p], s[2 * p + 1]));
    for (int p = 0; p < 2; ++p)
        y[p] = _mm512_add_epi32(_mm512_unpacklo_epi64(x[2 * p], x[2 * p + 1]), _mm512_unpackhi_epi64(x[2 * p], x[2 * p + 1]));
    // y[0] lane-quad q: items 0..3 (q = 0, 1: halves of items 0..3; q = 2, 3: items 8..11); y[1]: 4..7 / 12..15
    const __m512i z = _mm512_add_epi32(_mm512_shuffle_i32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_shuffle_i32x4(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}
#endif
