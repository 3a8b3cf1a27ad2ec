/* The arithmetic of kernels/cuda/norms.cu on the CPU, step for step: the same per-thread partials over the same
 * strided elements, the same reduction trees, each operation rounded on its own (fp32, no contraction: this file
 * is built with -ffp-contract=off and says so below). What the device check compares the kernels with, bit for
 * bit, and what the tests compare with the CPU pipeline's norms (to a few ulps: the pipeline sums in double). */
#include "ternflux_cuda.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#define THREADS TF_CUDA_NORMS_THREADS
#define EPS 1e-6f

/* The kernels' trees: for s = n / 2, ..., 1: p[t] = p[t] ∘ p[t + s] (t < s); the result is p[0]. */
static float tree_sum(float *p, int n) {
    for (int s = n / 2; s > 0; s /= 2)
        for (int t = 0; t < s; t++) p[t] = p[t] + p[t + s];
    return p[0];
}

static float tree_max(float *p, int n) {
    for (int s = n / 2; s > 0; s /= 2)
        for (int t = 0; t < s; t++) p[t] = fmaxf(p[t], p[t + s]);
    return p[0];
}

static inline float modulate(float x, float mean, float rstd, float scale, float shift) {
    return ((x - mean) * rstd) * (1.0f + scale) + shift;
}

static inline int8_t quantize(float v, float s) {
    float q = v * s;
    q = fminf(fmaxf(q, -127.0f), 127.0f);
    return (int8_t)rintf(q); /* the default rounding mode: half to even, as the GPU's rintf */
}

void tf_cuda_reference_layernorm_modulate_quantize(const float *H, int64_t ldh, int64_t M, int64_t D, const float *shift,
                                                   const float *scale, int64_t mod_stride, int64_t rows_per_batch, int64_t KP,
                                                   int8_t *XQ, float *INV, float *Y, int64_t ldy) {
    float p[THREADS];
    for (int64_t m = 0; m < M; m++) {
        const int64_t b = m / rows_per_batch;
        const float *x = H + m * ldh, *sh = shift + b * mod_stride, *sc = scale + b * mod_stride;
        /* 1. mean: thread t's partial folds k = t, t + THREADS, ... in increasing k. */
        for (int t = 0; t < THREADS; t++) {
            float acc = 0.0f;
            for (int64_t k = t; k < D; k += THREADS) acc = acc + x[k];
            p[t] = acc;
        }
        const float mean = tree_sum(p, THREADS) / (float)D;
        /* 2. variance of x - mean, rstd. */
        for (int t = 0; t < THREADS; t++) {
            float acc = 0.0f;
            for (int64_t k = t; k < D; k += THREADS) {
                const float d = x[k] - mean;
                acc = acc + d * d;
            }
            p[t] = acc;
        }
        const float variance = tree_sum(p, THREADS) / (float)D;
        const float rstd = 1.0f / sqrtf(variance + EPS);
        /* 3. the modulated row and its absmax (fmaxf is exact; the tree only mirrors the kernel). */
        for (int t = 0; t < THREADS; t++) {
            float amax = 0.0f;
            for (int64_t k = t; k < D; k += THREADS) {
                const float v = modulate(x[k], mean, rstd, sc[k], sh[k]);
                if (Y) Y[m * ldy + k] = v;
                amax = fmaxf(amax, fabsf(v));
            }
            p[t] = amax;
        }
        const float amax = tree_max(p, THREADS);
        /* 4. tf_w2a8_quantize_rows on the modulated row. */
        const float s = amax > 0.0f ? 127.0f / amax : 0.0f;
        INV[m] = amax > 0.0f ? 1.0f / s : 0.0f;
        for (int64_t k = 0; k < KP; k++) XQ[m * KP + k] = quantize(k < D ? modulate(x[k], mean, rstd, sc[k], sh[k]) : 0.0f, s);
    }
}

uint16_t tf_cuda_reference_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* One head vector: the warp's partials (lane l folds pairs l, l + 32, ...; channel 2p then 2p + 1), the tree over
 * 32 lanes, RMSNorm, RoPE, bf16. `f32` (may be NULL) gets the values before the bf16 rounding. */
static void rms_rope_head(const float *x, int64_t head_dim, const float *w, const float *cs, const float *sn, uint16_t *out,
                          float *f32) {
    const int64_t half = head_dim / 2;
    float p[32];
    for (int l = 0; l < 32; l++) {
        float acc = 0.0f;
        for (int64_t q = l; q < half; q += 32) acc = (acc + x[2 * q] * x[2 * q]) + x[2 * q + 1] * x[2 * q + 1];
        p[l] = acc;
    }
    const float ss = tree_sum(p, 32);
    const float inv = 1.0f / sqrtf(ss / (float)head_dim + EPS);
    for (int64_t q = 0; q < half; q++) {
        const float va = (x[2 * q] * inv) * w[2 * q], vb = (x[2 * q + 1] * inv) * w[2 * q + 1];
        const float o0 = va * cs[2 * q] + (-vb) * sn[2 * q];
        const float o1 = vb * cs[2 * q + 1] + va * sn[2 * q + 1];
        out[2 * q] = tf_cuda_reference_bf16(o0);
        out[2 * q + 1] = tf_cuda_reference_bf16(o1);
        if (f32) f32[2 * q] = o0, f32[2 * q + 1] = o1;
    }
}

void tf_cuda_reference_qk_rmsnorm_rope(const float *Q, int64_t ldq, const float *K, int64_t ldk, const float *V, int64_t ldv,
                                       int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t text_tokens,
                                       const float *q_weight, const float *k_weight, const float *q_weight_text,
                                       const float *k_weight_text, const float *rope_cos, const float *rope_sin, uint16_t *Qo,
                                       uint16_t *Ko, uint16_t *Vo, float *Qf, float *Kf) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t n = 0; n < tokens; n++) {
            const int64_t r = b * tokens + n;
            const int text = n < text_tokens;
            const float *cs = rope_cos + n * head_dim, *sn = rope_sin + n * head_dim;
            for (int64_t h = 0; h < heads; h++) {
                const int64_t o = ((b * heads + h) * tokens + n) * head_dim;
                rms_rope_head(Q + r * ldq + h * head_dim, head_dim, text ? q_weight_text : q_weight, cs, sn, Qo + o, Qf ? Qf + o : NULL);
                rms_rope_head(K + r * ldk + h * head_dim, head_dim, text ? k_weight_text : k_weight, cs, sn, Ko + o, Kf ? Kf + o : NULL);
                const float *v = V + r * ldv + h * head_dim;
                for (int64_t i = 0; i < head_dim; i++) Vo[o + i] = tf_cuda_reference_bf16(v[i]);
            }
        }
}
