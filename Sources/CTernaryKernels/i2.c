/* TF_FORMAT_I2: 2 bits per weight, code = w + 1, in blocks of 128 weights / 32 bytes; byte j of a block holds
 * k = 32s + j of the block at bits [2s, 2s + 2), s = 0..3 (ternary_formats.h, docs/formats.md). Padding is code 1,
 * so a fully padded byte is 0x55. */
#include "ternary_format_traits.h"
#include <string.h>

#define I2_BLOCK 128
#define I2_BLOCK_BYTES 32

/* Code of weight k (any byte value: an invalid field gives 3). */
static inline int code_at(const uint8_t *row, int64_t k) {
    const int64_t within = k & (I2_BLOCK - 1);
    return (row[(k / I2_BLOCK) * I2_BLOCK_BYTES + (within & 31)] >> (2 * (within >> 5))) & 3;
}

/* Non-zero where a 2-bit field of b is 3. */
static inline unsigned bad_fields(uint8_t b) { return (unsigned)(b & (b >> 1) & 0x55); }

static int pack_row(const int8_t *q, int64_t K, uint8_t *row) {
    memset(row, 0x55, tf_format_row_bytes(&tf_format_traits_i2, K)); /* code 1 in all four slots */
    for (int64_t k = 0; k < K; k++) {
        const int8_t w = q[k];
        if (w < -1 || w > 1) return -1;
        const int64_t within = k & (I2_BLOCK - 1), s = within >> 5;
        uint8_t *byte = row + (k / I2_BLOCK) * I2_BLOCK_BYTES + (within & 31);
        *byte = (uint8_t)((*byte & ~(3u << (2 * s))) | ((uint8_t)(w + 1) << (2 * s)));
    }
    return 0;
}

static int unpack_row(const uint8_t *row, int64_t K, int8_t *q) {
    for (int64_t k = 0; k < K; k++) {
        const int code = code_at(row, k);
        if (code == 3) return -1;
        q[k] = (int8_t)(code - 1);
    }
    return 0;
}

static int64_t validate_row(const uint8_t *row, int64_t K) {
    const size_t bytes = tf_format_row_bytes(&tf_format_traits_i2, K);
    unsigned any = 0;
    for (size_t j = 0; j < bytes; j++) any |= bad_fields(row[j]); /* branch-free: vectorizes */
    if (any)
        for (size_t j = 0; j < bytes; j++)
            if (bad_fields(row[j])) return (int64_t)j;
    return -1;
}

/* Whole blocks from k0 / 128 on, k-contiguous: four shifted, masked copies of each block's 32 bytes (constant
 * shifts: the compiler vectorizes the loop). The last block's padding codes follow len. */
static void decode_codes(const uint8_t *row, int64_t k0, int64_t len, uint8_t *out, uint8_t *tmp) {
    (void)tmp;
    const int64_t b0 = k0 / I2_BLOCK, b1 = (k0 + len + I2_BLOCK - 1) / I2_BLOCK;
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *p = row + b * I2_BLOCK_BYTES;
        uint8_t *o = out + (b - b0) * I2_BLOCK;
        for (int j = 0; j < 32; j++) {
            o[j] = (uint8_t)(p[j] & 3);
            o[32 + j] = (uint8_t)((p[j] >> 2) & 3);
            o[64 + j] = (uint8_t)((p[j] >> 4) & 3);
            o[96 + j] = (uint8_t)(p[j] >> 6);
        }
    }
}

static double dot_f32_ref(const uint8_t *row, const float *x, int64_t K) {
    double sum = 0.0;
    for (int64_t k = 0; k < K; k++) sum += (double)x[k] * (double)(code_at(row, k) - 1);
    return sum;
}

static int64_t dot_i8_ref(const uint8_t *row, const int8_t *x, int64_t K) {
    int64_t sum = 0;
    for (int64_t k = 0; k < K; k++) sum += (int64_t)x[k] * (code_at(row, k) - 1);
    return sum;
}

const tf_format_traits tf_format_traits_i2 = {
    .name = "i2",
    .block_weights = I2_BLOCK,
    .block_bytes = I2_BLOCK_BYTES,
    .pack_row = pack_row,
    .unpack_row = unpack_row,
    .validate_row = validate_row,
    .prepare = NULL,
    .decode_codes = decode_codes,
    .dot_f32_ref = dot_f32_ref,
    .dot_i8_ref = dot_i8_ref,
};
