/* BitNet b1.58 absmean quantizer (ternary_formats.h, docs/formats.md).
 *
 * Matching PyTorch's fp32 reference  g = W.abs().mean(-1).clamp(min=1e-5); q = (W / g).round().clamp(-1, 1):
 *  - the mean: |W| is summed in double (each term exact; K additions add at most ~K·2^-53 relative error,
 *    far below fp32's 2^-24) and divided in double, then rounded once to fp32: the mean of the fp32 values
 *    correctly rounded in all but vanishingly rare cases. torch's fp32 cascade sum lands within an ulp or two
 *    of it, so scales agree to ~1e-7 relative (tests check the committed torch fixture).
 *  - the division W / g is done in fp32, exactly as torch does, so the ratio is bit-identical given g.
 *  - round-half-to-even followed by clamp(-1, 1) only depends on whether |W/g| > 0.5: exactly 0.5 rounds to
 *    0 (even), and anything ≥ 1.5 rounds to ≥ 2 and clamps to 1 like everything in (0.5, 1.5). */
#include "ternary_formats.h"

void tf_quantize_absmean(const float *W, int64_t N, int64_t K, int8_t *q, float *scale) {
    for (int64_t n = 0; n < N; n++) {
        const float *w = W + n * K;
        double acc[4] = {0, 0, 0, 0};
        int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            acc[0] += w[k] < 0 ? -(double)w[k] : (double)w[k];
            acc[1] += w[k + 1] < 0 ? -(double)w[k + 1] : (double)w[k + 1];
            acc[2] += w[k + 2] < 0 ? -(double)w[k + 2] : (double)w[k + 2];
            acc[3] += w[k + 3] < 0 ? -(double)w[k + 3] : (double)w[k + 3];
        }
        for (; k < K; k++) acc[0] += w[k] < 0 ? -(double)w[k] : (double)w[k];
        double sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        /* K == 0: torch's mean of an empty row is NaN; an empty row has nothing to scale, use the floor. */
        float mean = K > 0 ? (float)(sum / (double)K) : 0.0f;
        float g = mean > 1e-5f ? mean : 1e-5f;
        if (mean != mean) g = mean; /* NaN propagates so callers can report non-finite weights */
        scale[n] = g;
        int8_t *qr = q + n * K;
        for (k = 0; k < K; k++) {
            float r = w[k] / g;
            qr[k] = (int8_t)((r > 0.5f) - (r < -0.5f));
        }
    }
}
