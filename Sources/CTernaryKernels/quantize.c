/* BitNet b1.58 absmean quantizer (ternary_formats.h, docs/formats.md).
 *
 * The reference is PyTorch in fp32:  g = W.abs().mean(-1).clamp(min=1e-5);  q = (W / g).round().clamp(-1, 1).
 * We reproduce it bit for bit rather than "closely":
 *  - torch's mean on CPU is sum(|W|) / K in fp32, and its fp32 sum of a contiguous row is a fixed cascade:
 *    8-lane vectors (AVX2's Vectorized<float>) accumulated in 4 interleaved streams with 4 carry levels of
 *    16 steps each, tail vectors into stream 0, streams folded, scalar tail summed from 0, then the 8 lanes
 *    added in order (ATen/native/cpu/SumKernel.cpp: vectorized_inner_sum / row_sum / multi_row_sum; rows
 *    shorter than 8 take the scalar row_sum). torch_row_sum() below follows that order exactly, so γ equals
 *    torch's (with an AVX-512 torch build the lane count is 16 and γ can differ by an ulp).
 *  - the division W / g is fp32, as in torch, so the ratio is bit-identical given g.
 *  - round-half-to-even followed by clamp(-1, 1) only depends on whether |W/g| > 0.5: exactly 0.5 rounds to
 *    0 (even), and anything ≥ 1.5 rounds to ≥ 2 and clamps to 1 like everything in (0.5, 1.5). */
#include "ternary_formats.h"
#include <string.h>

enum { LANES = 8, STREAMS = 4, LEVELS = 4 };

static inline float absf(float x) { return x < 0 ? -x : x; }

/* ATen utils::CeilLog2 */
static int64_t ceil_log2(int64_t x) {
    if (x <= 2) return 1;
    int64_t v = x - 1, r = 0;
    while (v) { r++; v >>= 1; }
    return r;
}

/* multi_row_sum over `size` groups, each group STREAMS consecutive items of `width` floats (width = LANES for
 * the vector path, 1 for the scalar path); out[k][lane] receives stream k's sum. */
static void multi_row_sum(const float *x, int64_t size, int width, float out[STREAMS][LANES]) {
    float acc[LEVELS][STREAMS][LANES];
    memset(acc, 0, sizeof acc);
    int64_t level_power = ceil_log2(size) / LEVELS;
    if (level_power < 4) level_power = 4;
    const int64_t level_step = (int64_t)1 << level_power, level_mask = level_step - 1;
    int64_t i = 0;
    while (i + level_step <= size) {
        for (int64_t j = 0; j < level_step; ++j, ++i)
            for (int k = 0; k < STREAMS; k++)
                for (int l = 0; l < width; l++) acc[0][k][l] += absf(x[(i * STREAMS + k) * width + l]);
        for (int j = 1; j < LEVELS; j++) {
            for (int k = 0; k < STREAMS; k++)
                for (int l = 0; l < width; l++) { acc[j][k][l] += acc[j - 1][k][l]; acc[j - 1][k][l] = 0; }
            if ((i & (level_mask << (j * level_power))) != 0) break;
        }
    }
    for (; i < size; ++i)
        for (int k = 0; k < STREAMS; k++)
            for (int l = 0; l < width; l++) acc[0][k][l] += absf(x[(i * STREAMS + k) * width + l]);
    for (int j = 1; j < LEVELS; j++)
        for (int k = 0; k < STREAMS; k++)
            for (int l = 0; l < width; l++) acc[0][k][l] += acc[j][k][l];
    for (int k = 0; k < STREAMS; k++)
        for (int l = 0; l < width; l++) out[k][l] = acc[0][k][l];
}

/* row_sum: `count` items of `width` floats, as STREAMS interleaved streams plus a tail into stream 0. */
static void row_sum(const float *x, int64_t count, int width, float out[LANES]) {
    float partial[STREAMS][LANES];
    const int64_t groups = count / STREAMS;
    multi_row_sum(x, groups, width, partial);
    for (int64_t i = groups * STREAMS; i < count; i++)
        for (int l = 0; l < width; l++) partial[0][l] += absf(x[i * width + l]);
    for (int k = 1; k < STREAMS; k++)
        for (int l = 0; l < width; l++) partial[0][l] += partial[k][l];
    for (int l = 0; l < width; l++) out[l] = partial[0][l];
}

/* sum_k |x[k]| in torch's fp32 order for a contiguous row. */
static float torch_row_sum(const float *x, int64_t K) {
    float lanes[LANES];
    if (K < LANES) {                       /* scalar_inner_sum */
        row_sum(x, K, 1, lanes);
        return 0.0f + lanes[0];
    }
    const int64_t vectors = K / LANES;     /* vectorized_inner_sum */
    row_sum(x, vectors, LANES, lanes);
    float total = 0;
    for (int64_t k = vectors * LANES; k < K; k++) total += absf(x[k]);
    for (int l = 0; l < LANES; l++) total += lanes[l];
    return total;
}

void tf_quantize_absmean(const float *W, int64_t N, int64_t K, int8_t *q, float *scale) {
    for (int64_t n = 0; n < N; n++) {
        const float *w = W + n * K;
        /* K == 0: torch's mean of an empty row is NaN; an empty row has nothing to scale, use the floor. */
        float mean = K > 0 ? torch_row_sum(w, K) / (float)K : 0.0f;
        float g = mean > 1e-5f ? mean : 1e-5f;
        if (mean != mean) g = mean; /* NaN propagates so callers can report non-finite weights */
        scale[n] = g;
        int8_t *qr = q + n * K;
        for (int64_t k = 0; k < K; k++) {
            float r = w[k] / g;
            qr[k] = (int8_t)((r > 0.5f) - (r < -0.5f));
        }
    }
}
