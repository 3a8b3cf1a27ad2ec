/* The CPU reference of tf_flash_attention_bf16_d32 / _d128 (kernels/cuda/attention.cu): exact softmax attention
 * from the same bf16 inputs, O = softmax(Q K^T / sqrt(D)) V over all tokens, no mask, computed in double (the
 * scores, a two-pass softmax: max, then exp and sum, and P V), rounded once to fp32 at the end. The GPU kernel
 * rounds P to bf16 for its tensor cores and accumulates in fp32; the device check and the host emulation compare
 * with this within a stated tolerance, not bit for bit. Also the bf16 conversions the checks use. */
#include "ternflux_cuda.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

uint16_t tf_cuda_bf16_from_float(float f) {
    const uint32_t b = bits_of(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40); /* NaN stays a (quiet) NaN */
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);                 /* nearest, ties to even */
}

float tf_cuda_bf16_to_float(uint16_t h) {
    const uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

int tf_cuda_reference_attention(const uint16_t *Q, const uint16_t *K, const uint16_t *V, int64_t batch, int64_t heads,
                                int64_t tokens, int64_t head_dim, int64_t row_begin, int64_t row_end, float *O) {
    if (!Q || !K || !V || !O || batch < 1 || heads < 1 || tokens < 1 || head_dim < 1 || row_begin < 0 || row_end > tokens ||
        row_begin > row_end)
        return TF_CUDA_EARG;
    const int64_t n = tokens, d = head_dim;
    double *k = malloc(sizeof(double) * (size_t)(n * d)), *v = malloc(sizeof(double) * (size_t)(n * d));
    double *p = malloc(sizeof(double) * (size_t)n), *q = malloc(sizeof(double) * (size_t)d), *acc = malloc(sizeof(double) * (size_t)d);
    if (!k || !v || !p || !q || !acc) {
        free(k), free(v), free(p), free(q), free(acc);
        return TF_CUDA_EARG;
    }
    const double scale = 1.0 / sqrt((double)d);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++) {
            const int64_t base = (b * heads + h) * n * d;
            for (int64_t i = 0; i < n * d; i++) k[i] = tf_cuda_bf16_to_float(K[base + i]), v[i] = tf_cuda_bf16_to_float(V[base + i]);
            for (int64_t r = row_begin; r < row_end; r++) {
                for (int64_t e = 0; e < d; e++) q[e] = tf_cuda_bf16_to_float(Q[base + r * d + e]);
                double mx = -INFINITY;
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < d; e++) s += q[e] * k[j * d + e];
                    p[j] = s * scale;
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < n; j++) sum += (p[j] = exp(p[j] - mx));
                for (int64_t e = 0; e < d; e++) acc[e] = 0;
                for (int64_t j = 0; j < n; j++)
                    for (int64_t e = 0; e < d; e++) acc[e] += p[j] * v[j * d + e];
                float *out = O + ((b * n + r) * heads + h) * d;
                for (int64_t e = 0; e < d; e++) out[e] = (float)(acc[e] / sum);
            }
        }
    free(k), free(v), free(p), free(q), free(acc);
    return TF_CUDA_OK;
}
