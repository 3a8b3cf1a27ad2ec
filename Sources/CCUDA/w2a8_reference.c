/* The GPU kernels' arithmetic on the CPU (kernels/cuda/w2a8.cu), step for step: what the device check compares
 * each kernel's output with, and what the tests compare with the CPU int8 GEMM (they agree bit for bit). */
#include "ternflux_cuda.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

void tf_cuda_reference_quantize_rows(const float *X, int64_t M, int64_t K, int64_t KP, int8_t *XQ, float *INV) {
    for (int64_t m = 0; m < M; m++) {
        const float *x = X + m * K;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(x[k]));
        const float s = amax > 0.0f ? 127.0f / amax : 0.0f;
        INV[m] = amax > 0.0f ? 1.0f / s : 0.0f;
        for (int64_t k = 0; k < KP; k++) {
            float v = k < K ? x[k] * s : 0.0f;
            v = fminf(fmaxf(v, -127.0f), 127.0f);
            XQ[m * KP + k] = (int8_t)rintf(v); /* the default rounding mode: half to even, as the GPU's rintf */
        }
    }
}

/* Weight k of packed row `row` (TF_FORMAT_I2) as the kernel decodes it: code − 1. */
static inline int weight(const uint8_t *row, int64_t k) {
    const int64_t within = k & 127;
    return ((row[(k / 128) * 32 + (within & 31)] >> (2 * (within >> 5))) & 3) - 1;
}

void tf_cuda_reference_w2a8_gemm(const int8_t *XQ, const float *INV, int64_t M, int64_t KP, const uint8_t *Wpacked,
                                 const float *scale, const float *bias, int64_t N, float *Y) {
    const int64_t row_bytes = KP / 4;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            const uint8_t *w = Wpacked + n * row_bytes;
            int32_t acc = 0;
            /* One mma step per 32 weights; integer sums are exact, so the order inside a step is immaterial. */
            for (int64_t k0 = 0; k0 < KP; k0 += 32)
                for (int64_t k = k0; k < k0 + 32; k++) acc += (int32_t)XQ[m * KP + k] * weight(w, k);
            const float f = scale[n] * INV[m];
            const float p = (float)acc * f;
            Y[m * N + n] = p + (bias ? bias[n] : 0.0f);
        }
    }
}
