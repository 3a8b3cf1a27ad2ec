/* AVX2 + FMA micro-kernels (compiled for those instructions only; dispatched at run time by gemm.c).
 *
 * f32: 6 rows x 16 columns, 12 ymm accumulators; per k two panel loads, six broadcasts, twelve FMAs.
 * int8: 6 rows x 16 columns. A 32-byte panel load holds 8 columns x 4 consecutive k as u8 codes w + 1 in
 *   {0, 1, 2}; vpmaddubsw against a broadcast of the row's 4 activation bytes (s8, |x| <= 127) gives per
 *   16-bit lane code[k]x[k] + code[k+1]x[k+1], at most 2*2*127 = 508 in magnitude (no saturation). Lanes
 *   accumulate in int16 for 64 steps: 64 * 508 = 32512 <= 32767, so int16 can never wrap; then vpmaddwd
 *   with ones widens pairs into the 8 int32 column sums. The driver's row sum of xq removes the +1 offset.
 */
#if defined(__x86_64__)
#include "gemm_internal.h"
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* Largest number of vpmaddubsw results one int16 lane may accumulate: 64 * 508 <= INT16_MAX. */
#define I16_STEPS 64

#ifndef TF_MR_I8
#define TF_MR_I8 6
#endif

AVX2 INLINE void f32_block(const int MR, const float *x, int64_t ldx, const float *panel, int64_t kc, float *C,
                           int64_t ldc, int flags, const float *gamma, const float *bias) {
    __m256 acc[6][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_load_ps(panel + k * 16), w1 = _mm256_load_ps(panel + k * 16 + 8);
        for (int i = 0; i < MR; i++) {
            const __m256 xb = _mm256_broadcast_ss(x + i * ldx + k);
            acc[i][0] = _mm256_fmadd_ps(xb, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xb, w1, acc[i][1]);
        }
    }
    const __m256 g0 = _mm256_loadu_ps(gamma), g1 = _mm256_loadu_ps(gamma + 8);
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    for (int i = 0; i < MR; i++) {
        float *c = C + i * ldc;
        __m256 v0 = acc[i][0], v1 = acc[i][1];
        if (!(flags & TF_K_FIRST)) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
        }
        if (flags & TF_K_LAST) {
            v0 = _mm256_fmadd_ps(v0, g0, b0);
            v1 = _mm256_fmadd_ps(v1, g1, b1);
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
    }
}

AVX2 void tf_kernel_f32_avx2(int mr, const float *x, int64_t ldx, const float *panel, int64_t kc, float *C,
                                 int64_t ldc, int flags, const float *gamma, const float *bias) {
    switch (mr) {
    case 6: f32_block(6, x, ldx, panel, kc, C, ldc, flags, gamma, bias); break;
    case 5: f32_block(5, x, ldx, panel, kc, C, ldc, flags, gamma, bias); break;
    case 4: f32_block(4, x, ldx, panel, kc, C, ldc, flags, gamma, bias); break;
    case 3: f32_block(3, x, ldx, panel, kc, C, ldc, flags, gamma, bias); break;
    case 2: f32_block(2, x, ldx, panel, kc, C, ldc, flags, gamma, bias); break;
    default: f32_block(1, x, ldx, panel, kc, C, ldc, flags, gamma, bias); break;
    }
}

AVX2 INLINE void i8_block(const int MR, const int8_t *xq, int64_t ldx, const uint8_t *panel, int64_t steps,
                          float *C, int64_t ldc, int flags, const int32_t *xsum, int64_t xsum_stride,
                          const float *inv_s, const float *gamma, const float *bias) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc32[6][2];
    for (int i = 0; i < MR; i++) acc32[i][0] = acc32[i][1] = _mm256_setzero_si256();
    for (int64_t s0 = 0; s0 < steps; s0 += I16_STEPS) {
        const int64_t s1 = s0 + I16_STEPS < steps ? s0 + I16_STEPS : steps;
        __m256i acc16[6][2];
        for (int i = 0; i < MR; i++) acc16[i][0] = acc16[i][1] = _mm256_setzero_si256();
        for (int64_t s = s0; s < s1; s++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(panel + s * 64));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(panel + s * 64 + 32));
            for (int i = 0; i < MR; i++) {
                int32_t x4;
                __builtin_memcpy(&x4, xq + i * ldx + 4 * s, 4);
                const __m256i xb = _mm256_set1_epi32(x4);
                acc16[i][0] = _mm256_add_epi16(acc16[i][0], _mm256_maddubs_epi16(w0, xb));
                acc16[i][1] = _mm256_add_epi16(acc16[i][1], _mm256_maddubs_epi16(w1, xb));
            }
        }
        for (int i = 0; i < MR; i++) {
            acc32[i][0] = _mm256_add_epi32(acc32[i][0], _mm256_madd_epi16(acc16[i][0], ones));
            acc32[i][1] = _mm256_add_epi32(acc32[i][1], _mm256_madd_epi16(acc16[i][1], ones));
        }
    }
    const __m256 g0 = _mm256_loadu_ps(gamma), g1 = _mm256_loadu_ps(gamma + 8);
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    for (int i = 0; i < MR; i++) {
        float *c = C + i * ldc;
        const __m256i off = _mm256_set1_epi32(xsum[i * xsum_stride]);
        __m256 v0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc32[i][0], off));
        __m256 v1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc32[i][1], off));
        if (!(flags & TF_K_FIRST)) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
        }
        if (flags & TF_K_LAST) {
            const __m256 is = _mm256_set1_ps(inv_s[i]);
            /* multiply then add (no FMA), as the portable path does: both paths agree bit for bit */
            v0 = _mm256_add_ps(_mm256_mul_ps(v0, _mm256_mul_ps(g0, is)), b0);
            v1 = _mm256_add_ps(_mm256_mul_ps(v1, _mm256_mul_ps(g1, is)), b1);
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
    }
}

AVX2 static void kernel_i8_avx2(int mr, const int8_t *xq, int64_t ldx, const uint8_t *panel, int64_t steps,
                                float *C, int64_t ldc, int flags, const int32_t *xsum, int64_t xsum_stride,
                                const float *inv_s, const float *gamma, const float *bias) {
    switch (mr) {
#if TF_MR_I8 >= 6
    case 6: i8_block(6, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 5: i8_block(5, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
#endif
    case 4: i8_block(4, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 3: i8_block(3, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 2: i8_block(2, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    default: i8_block(1, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    }
}

/* Per 4-k step: two 32-byte loads (columns 0-7 and 8-15, four k each), a 4x4 byte transpose inside each
 * 128-bit lane and a dword permute put each k's 8 columns in one 64-bit element, which widens to 8 floats. */
AVX2 void tf_codes_to_f32_avx2(const uint8_t *codes, int64_t units, int64_t kcl, float *panel) {
    const int64_t steps = (kcl + 3) / 4, full = kcl / 4;
    const __m256i one8 = _mm256_set1_epi8(1);
    const __m256i tr = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t u = 0; u < units; u++) {
        const uint8_t *src = codes + u * steps * 4 * TF_NR;
        float *dst = panel + u * kcl * TF_NR;
        for (int64_t st = 0; st < full; st++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(src + st * 64));
            __m256i b = _mm256_loadu_si256((const __m256i *)(src + st * 64 + 32));
            a = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_sub_epi8(a, one8), tr), perm);
            b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_sub_epi8(b, one8), tr), perm);
            const __m128i alo = _mm256_castsi256_si128(a), ahi = _mm256_extracti128_si256(a, 1);
            const __m128i blo = _mm256_castsi256_si128(b), bhi = _mm256_extracti128_si256(b, 1);
            const __m128i ak[4] = {alo, _mm_srli_si128(alo, 8), ahi, _mm_srli_si128(ahi, 8)};
            const __m128i bk[4] = {blo, _mm_srli_si128(blo, 8), bhi, _mm_srli_si128(bhi, 8)};
            float *d = dst + st * 64;
            for (int t = 0; t < 4; t++) {
                _mm256_store_ps(d + t * 16, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(ak[t])));
                _mm256_store_ps(d + t * 16 + 8, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bk[t])));
            }
        }
        for (int64_t k = full * 4; k < kcl; k++) {
            const uint8_t *c = src + full * 64 + (k & 3);
            for (int j = 0; j < TF_NR; j++) dst[k * TF_NR + j] = (float)((int)c[4 * j] - 1);
        }
    }
}

/* Few-row path: up to 4 rows x 2 columns; per 8 k, each column's codes widen to 8 dwords (vpmovzxbd) and a
 * vpermps table lookup turns them into -1.0, 0.0, +1.0; eight FMAs against the rows' activations. */
AVX2 INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* U independent accumulator sets over consecutive 8-k steps, so that MR * NC * U >= 8 chains hide the FMA latency. */
AVX2 INLINE void dot_f32_block(const int MR, const int NC, const int U, const float *x, int64_t ldx, int64_t K,
                               const uint8_t *const codes[2], float *sums) {
    const __m256 lut = _mm256_setr_ps(-1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
    __m256 acc[4][4][2];
    for (int u = 0; u < U; u++)
        for (int i = 0; i < MR; i++) acc[u][i][0] = acc[u][i][1] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 * U <= K; k += 8 * U) {
        for (int u = 0; u < U; u++) {
            __m256 w[2];
            for (int j = 0; j < NC; j++) {
                const __m128i c8 = _mm_loadl_epi64((const __m128i *)(codes[j] + k + 8 * u));
                w[j] = _mm256_permutevar8x32_ps(lut, _mm256_cvtepu8_epi32(c8));
            }
            for (int i = 0; i < MR; i++) {
                const __m256 xv = _mm256_loadu_ps(x + i * ldx + k + 8 * u);
                for (int j = 0; j < NC; j++) acc[u][i][j] = _mm256_fmadd_ps(xv, w[j], acc[u][i][j]);
            }
        }
    }
    for (int u = 1; u < U; u++)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NC; j++) acc[0][i][j] = _mm256_add_ps(acc[0][i][j], acc[u][i][j]);
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NC; j++) {
            float s = 0.0f;
            for (int64_t t = k; t < K; t++) s += x[i * ldx + t] * (float)((int)codes[j][t] - 1);
            sums[i * 2 + j] = hsum256(acc[0][i][j]) + s;
        }
}

AVX2 void tf_dot_f32_avx2(int mr, const float *x, int64_t ldx, int64_t K, const uint8_t *const codes[2], int nc,
                              float *sums) {
    if (nc == 2) {
        switch (mr) {
        case 4: dot_f32_block(4, 2, 1, x, ldx, K, codes, sums); return;
        case 3: dot_f32_block(3, 2, 1, x, ldx, K, codes, sums); return;
        case 2: dot_f32_block(2, 2, 2, x, ldx, K, codes, sums); return;
        default: dot_f32_block(1, 2, 4, x, ldx, K, codes, sums); return;
        }
    }
    switch (mr) {
    case 4: dot_f32_block(4, 1, 2, x, ldx, K, codes, sums); return;
    case 3: dot_f32_block(3, 1, 2, x, ldx, K, codes, sums); return;
    case 2: dot_f32_block(2, 1, 4, x, ldx, K, codes, sums); return;
    default: dot_f32_block(1, 1, 4, x, ldx, K, codes, sums); return;
    }
}

/* int8 few-row path: per 32 k one vpmaddubsw of the u8 codes against each row's s8 activations (|pair sum| <= 508),
 * int16 lanes accumulated for at most 64 steps (64 * 508 <= 32767), then widened with vpmaddwd. */
AVX2 INLINE int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AVX2 INLINE void dot_i8_block(const int MR, const int NC, const int8_t *xq, int64_t ldq, int64_t k32,
                              const uint8_t *const codes[2], int32_t *sums) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc32[4][2];
    for (int i = 0; i < MR; i++) acc32[i][0] = acc32[i][1] = _mm256_setzero_si256();
    for (int64_t k0 = 0; k0 < k32; k0 += 32 * I16_STEPS) {
        const int64_t k1 = k0 + 32 * I16_STEPS < k32 ? k0 + 32 * I16_STEPS : k32;
        __m256i acc16[4][2];
        for (int i = 0; i < MR; i++) acc16[i][0] = acc16[i][1] = _mm256_setzero_si256();
        for (int64_t k = k0; k < k1; k += 32) {
            __m256i w[2];
            for (int j = 0; j < NC; j++) w[j] = _mm256_loadu_si256((const __m256i *)(codes[j] + k));
            for (int i = 0; i < MR; i++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + i * ldq + k));
                for (int j = 0; j < NC; j++) acc16[i][j] = _mm256_add_epi16(acc16[i][j], _mm256_maddubs_epi16(w[j], xv));
            }
        }
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NC; j++) acc32[i][j] = _mm256_add_epi32(acc32[i][j], _mm256_madd_epi16(acc16[i][j], ones));
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NC; j++) sums[i * 2 + j] = hsum256_epi32(acc32[i][j]);
}

AVX2 static void dot_i8_avx2(int mr, const int8_t *xq, int64_t ldq, int64_t k32, const uint8_t *const codes[2], int nc,
                             int32_t *sums) {
    if (nc == 2) {
        switch (mr) {
        case 4: dot_i8_block(4, 2, xq, ldq, k32, codes, sums); return;
        case 3: dot_i8_block(3, 2, xq, ldq, k32, codes, sums); return;
        case 2: dot_i8_block(2, 2, xq, ldq, k32, codes, sums); return;
        default: dot_i8_block(1, 2, xq, ldq, k32, codes, sums); return;
        }
    }
    switch (mr) {
    case 4: dot_i8_block(4, 1, xq, ldq, k32, codes, sums); return;
    case 3: dot_i8_block(3, 1, xq, ldq, k32, codes, sums); return;
    case 2: dot_i8_block(2, 1, xq, ldq, k32, codes, sums); return;
    default: dot_i8_block(1, 1, xq, ldq, k32, codes, sums); return;
    }
}

const tf_kernel_set tf_kernels_avx2 = {
    .mr_f32 = 6,
    .mr_i8 = TF_MR_I8,
    .f32 = tf_kernel_f32_avx2,
    .i8 = kernel_i8_avx2,
    .to_f32 = tf_codes_to_f32_avx2,
    .dot_f32 = tf_dot_f32_avx2,
    .dot_i8 = dot_i8_avx2,
};
#endif
