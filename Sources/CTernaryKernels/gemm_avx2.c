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

AVX2 static void kernel_f32_avx2(int mr, const float *x, int64_t ldx, const float *panel, int64_t kc, float *C,
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
AVX2 static void codes_to_f32_avx2(const uint8_t *codes, int64_t units, int64_t kcl, float *panel) {
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

const tf_kernel_set tf_kernels_avx2 = {
    .mr_f32 = 6,
    .mr_i8 = TF_MR_I8,
    .f32 = kernel_f32_avx2,
    .i8 = kernel_i8_avx2,
    .to_f32 = codes_to_f32_avx2,
};
#endif
