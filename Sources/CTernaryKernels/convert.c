/* F16 / BF16 <-> F32 conversion (ternary_convert.h). The F16 → F32 path uses F16C when the CPU has it. */
#include "ternary_convert.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TF_HAVE_X86 1
#endif

static inline uint16_t load_u16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static inline float bits_to_f32(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));         /* inf / NaN */
    if (exp != 0) return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));    /* normal */
    /* zero or subnormal: man * 2^-24, exact in fp32 */
    float f = (float)man * 5.9604644775390625e-8f;
    return sign ? -f : f;
}

static void f16_to_f32_portable(const unsigned char *s, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(load_u16(s + 2 * i));
}

#ifdef TF_HAVE_X86
__attribute__((target("avx,f16c")))
static void f16_to_f32_f16c(const unsigned char *s, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(s + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) dst[i] = half_to_float(load_u16(s + 2 * i));
}
#endif

void tf_f16_to_f32(const void *src, float *dst, size_t n) {
    const unsigned char *s = (const unsigned char *)src;
#ifdef TF_HAVE_X86
    __builtin_cpu_init(); /* idempotent; the feature bits are then plain reads */
    if (__builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx")) { f16_to_f32_f16c(s, dst, n); return; }
#endif
    f16_to_f32_portable(s, dst, n);
}

void tf_bf16_to_f32(const void *src, float *dst, size_t n) {
    const unsigned char *s = (const unsigned char *)src;
    uint32_t *d = (uint32_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)load_u16(s + 2 * i) << 16;
}

void tf_f32_to_bf16(const float *src, void *dst, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = f32_to_bits(src[i]);
        uint16_t h;
        if ((b & 0x7fffffffu) > 0x7f800000u) h = (uint16_t)((b >> 16) | 0x40);          /* quiet NaN */
        else h = (uint16_t)((b + 0x7fffu + ((b >> 16) & 1)) >> 16);                        /* nearest even */
        memcpy(d + 2 * i, &h, 2);
    }
}

static inline uint16_t float_to_half(float f) {
    uint32_t b = f32_to_bits(f);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    uint32_t a = b & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;                     /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;                    /* rounds to >= 65520: infinity */
    if (a >= 0x38800000u) {                                        /* normal half */
        uint32_t r = a + 0x0fffu + ((a >> 13) & 1);
        return sign | (uint16_t)((r - 0x38000000u) >> 13);
    }
    /* subnormal half or zero: value / 2^-24 rounded to nearest even (exact in fp32 arithmetic) */
    float v = bits_to_f32(a) * 16777216.0f;                        /* a * 2^24, exact */
    uint32_t m = (uint32_t)v;
    float frac = v - (float)m;
    if (frac > 0.5f || (frac == 0.5f && (m & 1))) m++;
    return sign | (uint16_t)m;
}

void tf_f32_to_f16(const float *src, void *dst, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = float_to_half(src[i]);
        memcpy(d + 2 * i, &h, 2);
    }
}
