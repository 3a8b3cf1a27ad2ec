/* AVX-512 VNNI int8 micro-kernels (compiled for those instructions only; dispatched at run time by gemm.c when the
 * CPU has AVX-512 F/BW/VL and VNNI). f32 mode keeps the AVX2 kernels.
 *
 * int8 panel kernel: up to 8 rows x 16 columns (12 rows measured no faster). One 64-byte panel load holds the
 *   16 columns x 4 consecutive k as u8 codes w + 1 in {0, 1, 2} (gemm_internal.h), exactly one zmm; vpdpbusd against a broadcast of the row's 4
 *   activation bytes (s8) adds code[k..k+3] . x[k..k+3] straight into the 16 int32 column sums (|step| <= 1016,
 *   no int16 stage, no saturation). The driver's row sum of xq removes the +1 offset, as on the other paths, and
 *   the final scaling is the same multiply-then-add, so every path gives the same bits.
 * int8 few-row path: per 64 k one vpdpbusd of the u8 codes against the row's s8 activations; a 32-k tail (k32 is
 *   a multiple of 32) uses the 256-bit form.
 */
#if defined(__x86_64__)
#include "gemm_internal.h"
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

#define TF_MR_I8_VNNI 8

VNNI INLINE void i8_block_vnni(const int MR, const int8_t *xq, int64_t ldx, const uint8_t *panel, int64_t steps,
                               float *C, int64_t ldc, int flags, const int32_t *xsum, int64_t xsum_stride,
                               const float *inv_s, const float *gamma, const float *bias) {
    __m512i acc[TF_MR_I8_VNNI];
    for (int i = 0; i < MR; i++) acc[i] = _mm512_setzero_si512();
    for (int64_t s = 0; s < steps; s++) {
        const __m512i w = _mm512_loadu_si512((const void *)(panel + s * 64));
        for (int i = 0; i < MR; i++) {
            int32_t x4;
            __builtin_memcpy(&x4, xq + i * ldx + 4 * s, 4);
            acc[i] = _mm512_dpbusd_epi32(acc[i], w, _mm512_set1_epi32(x4));
        }
    }
    const __m512 g = _mm512_loadu_ps(gamma), b = _mm512_loadu_ps(bias);
    for (int i = 0; i < MR; i++) {
        float *c = C + i * ldc;
        __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i], _mm512_set1_epi32(xsum[i * xsum_stride])));
        if (!(flags & TF_K_FIRST)) v = _mm512_add_ps(v, _mm512_loadu_ps(c));
        if (flags & TF_K_LAST)
            v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_mul_ps(g, _mm512_set1_ps(inv_s[i]))), b);
        _mm512_storeu_ps(c, v);
    }
}

VNNI static void kernel_i8_vnni(int mr, const int8_t *xq, int64_t ldx, const uint8_t *panel, int64_t steps, float *C,
                                int64_t ldc, int flags, const int32_t *xsum, int64_t xsum_stride, const float *inv_s,
                                const float *gamma, const float *bias) {
    switch (mr) {
    case 8: i8_block_vnni(8, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 7: i8_block_vnni(7, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 6: i8_block_vnni(6, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 5: i8_block_vnni(5, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 4: i8_block_vnni(4, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 3: i8_block_vnni(3, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    case 2: i8_block_vnni(2, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    default: i8_block_vnni(1, xq, ldx, panel, steps, C, ldc, flags, xsum, xsum_stride, inv_s, gamma, bias); break;
    }
}

VNNI INLINE void dot_i8_block_vnni(const int MR, const int NC, const int8_t *xq, int64_t ldq, int64_t k32,
                                   const uint8_t *const codes[2], int32_t *sums) {
    __m512i acc[4][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
    int64_t k = 0;
    for (; k + 64 <= k32; k += 64) {
        __m512i w[2];
        for (int j = 0; j < NC; j++) w[j] = _mm512_loadu_si512((const void *)(codes[j] + k));
        for (int i = 0; i < MR; i++) {
            const __m512i xv = _mm512_loadu_si512((const void *)(xq + i * ldq + k));
            for (int j = 0; j < NC; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], w[j], xv);
        }
    }
    if (k < k32) { /* the last 32 k */
        __m256i w[2];
        for (int j = 0; j < NC; j++) w[j] = _mm256_loadu_si256((const __m256i *)(codes[j] + k));
        for (int i = 0; i < MR; i++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + i * ldq + k));
            for (int j = 0; j < NC; j++)
                acc[i][j] = _mm512_add_epi32(acc[i][j], _mm512_zextsi256_si512(
                                                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), w[j], xv)));
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NC; j++) sums[i * 2 + j] = _mm512_reduce_add_epi32(acc[i][j]);
}

VNNI static void dot_i8_vnni(int mr, const int8_t *xq, int64_t ldq, int64_t k32, const uint8_t *const codes[2], int nc,
                             int32_t *sums) {
    if (nc == 2) {
        switch (mr) {
        case 4: dot_i8_block_vnni(4, 2, xq, ldq, k32, codes, sums); return;
        case 3: dot_i8_block_vnni(3, 2, xq, ldq, k32, codes, sums); return;
        case 2: dot_i8_block_vnni(2, 2, xq, ldq, k32, codes, sums); return;
        default: dot_i8_block_vnni(1, 2, xq, ldq, k32, codes, sums); return;
        }
    }
    switch (mr) {
    case 4: dot_i8_block_vnni(4, 1, xq, ldq, k32, codes, sums); return;
    case 3: dot_i8_block_vnni(3, 1, xq, ldq, k32, codes, sums); return;
    case 2: dot_i8_block_vnni(2, 1, xq, ldq, k32, codes, sums); return;
    default: dot_i8_block_vnni(1, 1, xq, ldq, k32, codes, sums); return;
    }
}

const tf_kernel_set tf_kernels_avx512vnni = {
    .mr_f32 = 6,
    .mr_i8 = TF_MR_I8_VNNI,
    .f32 = tf_kernel_f32_avx2,
    .i8 = kernel_i8_vnni,
    .to_f32 = tf_codes_to_f32_avx2,
    .dot_f32 = tf_dot_f32_avx2,
    .dot_i8 = dot_i8_vnni,
};
#endif
