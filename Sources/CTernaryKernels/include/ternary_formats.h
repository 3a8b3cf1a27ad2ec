#ifndef TERNFLUX_TERNARY_FORMATS_H
#define TERNFLUX_TERNARY_FORMATS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The two packed ternary weight formats (docs/formats.md).
 * Weights are a row-major [N, K] matrix (N output channels, K input features) of values in {-1, 0, +1}.
 *
 * TF_FORMAT_I2: 2 bits per weight, code = w + 1 in {0, 1, 2}. Each row is split into blocks of 128
 *   weights; a block is 32 bytes, byte j holding weights k = 128*b + j + 32*s at bits [2s, 2s+2), s = 0..3.
 *   The row is padded with w = 0 (code 1) to a multiple of 128; row stride = ceil(K/128) * 32 bytes.
 * TF_FORMAT_T3: base 3, five weights per byte, byte = sum_{i<5} (w_{5j+i} + 1) * 3^i (0..242), row padded
 *   with w = 0 to a multiple of 5; row stride = ceil(K/5) bytes.
 */
typedef enum { TF_FORMAT_I2 = 0, TF_FORMAT_T3 = 1 } tf_format;

/* Bytes of one packed row of K weights (0 for K <= 0 or an unknown format).
 * Each format's layout code is one entry of ternary_format_traits.h; these functions run it row by row. */
size_t tf_packed_row_bytes(tf_format format, int64_t K);

/* Packs q[N][K] (each -1, 0 or +1) into out[N][tf_packed_row_bytes]. Returns 0, or -1 if a value is not ternary
 * or the format is unknown. */
int tf_pack(tf_format format, const int8_t *q, int64_t N, int64_t K, uint8_t *out);

/* Unpacks packed[N][row_bytes] into q[N][K]. Returns 0, or -1 if a byte is not a valid code or the format is
 * unknown. */
int tf_unpack(tf_format format, const uint8_t *packed, int64_t N, int64_t K, int8_t *q);

/* Checks that every packed byte of packed[N][row_bytes] is a valid code (i2: no 2-bit field equal to 3;
 * t3: no byte above 242). Returns -1 if all are valid, else the index of the first row holding an invalid
 * byte, and stores that byte's offset within the row in *bad_byte when bad_byte is not NULL. An unknown format
 * reports row 0, byte 0 (when N > 0). */
int64_t tf_validate_packed(tf_format format, const uint8_t *packed, int64_t N, int64_t K, int64_t *bad_byte);

/* BitNet b1.58 absmean quantizer per output channel:
 *   scale[n] = max(mean_k |W[n,k]|, 1e-5),  q[n,k] = clamp(round_half_even(W[n,k] / scale[n]), -1, 1). */
void tf_quantize_absmean(const float *W, int64_t N, int64_t K, int8_t *q, float *scale);

#ifdef __cplusplus
}
#endif
#endif
