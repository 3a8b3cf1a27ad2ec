#ifndef TERNFLUX_TERNARY_CONVERT_H
#define TERNFLUX_TERNARY_CONVERT_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element conversions for safetensors I/O. Sources may be unaligned (a safetensors data region only has the
 * alignment its header length gives it). Half → single conversions are exact; single → half round to nearest
 * even (NaN stays NaN, overflow becomes infinity), as torch's .to(torch.float16 / torch.bfloat16) does. */
void tf_f16_to_f32(const void *src, float *dst, size_t n);
void tf_bf16_to_f32(const void *src, float *dst, size_t n);
void tf_f32_to_f16(const float *src, void *dst, size_t n);
void tf_f32_to_bf16(const float *src, void *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
