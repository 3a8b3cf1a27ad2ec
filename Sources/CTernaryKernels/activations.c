/* Vectorised activations and softmax exponentials (ternary_activations.h). */
#include "ternary_activations.h"
#include "ternary_gemm.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* e^x for 8 lanes. Range reduction x = n ln2 + r with ln2 split in two (Cody–Waite), so r is exact to ~1 ulp;
 * the Cephes expf polynomial for e^r on |r| <= ln2/2; then 2^n through the exponent bits. */
AVX2 INLINE __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228394f), lo = _mm256_set1_ps(-87.3365448f);
    const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    /* min/max return their second operand when either is NaN: x last keeps a NaN a NaN. */
    x = _mm256_min_ps(hi, x);
    x = _mm256_max_ps(lo, x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n is in [-126, 128]: 2^n in two halves so n = 128 (x near the top) does not overflow the exponent. */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i half = _mm256_srai_epi32(ni, 1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
    const __m256 result = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_andnot_ps(underflow, result);
}

/* x / (1 + e^(-x)) */
AVX2 INLINE __m256 silu8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(one, e));
}

AVX2 static void silu_avx2(const float *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, silu8(_mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = src[i] / (1.0f + expf(-src[i]));
}

AVX2 static void affine_silu_avx2(float *x, size_t n, float scale, float shift) {
    const __m256 s = _mm256_set1_ps(scale), b = _mm256_set1_ps(shift);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, silu8(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), s, b)));
    for (; i < n; i++) { const float v = x[i] * scale + shift; x[i] = v / (1.0f + expf(-v)); }
}

AVX2 static void gelu_tanh_avx2(const float *src, float *dst, size_t n) {
    const __m256 k0 = _mm256_set1_ps(-2.0f * 0.7978845608028654f), k1 = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(src + i);
        const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        const __m256 u = _mm256_mul_ps(k0, _mm256_fmadd_ps(k1, x3, x)); /* -2 * inner */
        _mm256_storeu_ps(dst + i, _mm256_div_ps(x, _mm256_add_ps(one, exp8(u))));
    }
    for (; i < n; i++) {
        const float x = src[i];
        dst[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
}

AVX2 static float exp_shifted_sum_avx2(float *x, size_t n, float shift) {
    const __m256 m = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float sum = _mm_cvtss_f32(s);
    for (; i < n; i++) { const float e = expf(x[i] - shift); x[i] = e; sum += e; }
    return sum;
}

static int use_avx2(void) { return tf_active_isa() >= TF_ISA_AVX2; }
#else
static int use_avx2(void) { return 0; }
#endif

void tf_silu_f32(const float *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (use_avx2()) { silu_avx2(src, dst, n); return; }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = src[i] / (1.0f + expf(-src[i]));
}

void tf_affine_silu_f32(float *x, size_t n, float scale, float shift) {
#if defined(__x86_64__)
    if (use_avx2()) { affine_silu_avx2(x, n, scale, shift); return; }
#endif
    for (size_t i = 0; i < n; i++) { const float v = x[i] * scale + shift; x[i] = v / (1.0f + expf(-v)); }
}

void tf_gelu_tanh_f32(const float *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (use_avx2()) { gelu_tanh_avx2(src, dst, n); return; }
#endif
    for (size_t i = 0; i < n; i++) {
        const float x = src[i];
        dst[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
}

float tf_exp_shifted_sum_f32(float *x, size_t n, float shift) {
#if defined(__x86_64__)
    if (use_avx2()) return exp_shifted_sum_avx2(x, n, shift);
#endif
    float sum = 0;
    for (size_t i = 0; i < n; i++) { const float e = expf(x[i] - shift); x[i] = e; sum += e; }
    return sum;
}
