#ifndef TERNFLUX_TERNARY_ACTIVATIONS_H
#define TERNFLUX_TERNARY_ACTIVATIONS_H
/* Element-wise activations and the exponential of softmax, vectorised (AVX2 + FMA when the CPU has them and
 * tf_active_isa() allows it; a scalar path with the libm formulas otherwise).
 *
 * The vector exponential is a Cephes-style range reduction (x = n ln2 + r, |r| <= ln2/2) with a degree-6
 * polynomial: relative error below 2e-7 over [-87, 88] (tested against expf). Below -87.3 it returns 0, above
 * 88.7 it saturates at e^88.7; NaN propagates. GELU (tanh approximation) uses the identity
 * 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), so it needs one exponential and no tanh. */
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] = src[i] / (1 + e^(-src[i])); dst may equal src. */
void tf_silu_f32(const float *src, float *dst, size_t n);

/* x[i] = silu(x[i] * scale + shift), in place (a group norm's affine step followed by SiLU). */
void tf_affine_silu_f32(float *x, size_t n, float scale, float shift);

/* dst[i] = 0.5 src (1 + tanh(0.7978845608 (src + 0.044715 src^3))) (PyTorch's gelu "tanh"); dst may equal src. */
void tf_gelu_tanh_f32(const float *src, float *dst, size_t n);

/* x[i] = e^(x[i] - shift); returns the sum of the new values (the denominator of a softmax row whose maximum
 * is shift). */
float tf_exp_shifted_sum_f32(float *x, size_t n, float shift);

#ifdef __cplusplus
}
#endif
#endif
