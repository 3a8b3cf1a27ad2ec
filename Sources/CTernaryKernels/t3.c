/* TF_FORMAT_T3: base 3, five weights per byte, byte j = sum_{i<5} (w_{5j+i} + 1) * 3^i in 0..242, the row padded
 * with w = 0 to a multiple of 5 (ternary_formats.h, docs/formats.md). */
#include "ternary_format_traits.h"
#include <pthread.h>
#include <string.h>

#define T3_MAX_BYTE 242 /* 3^5 - 1 */

static int pack_row(const int8_t *q, int64_t K, uint8_t *row) {
    const size_t bytes = tf_format_row_bytes(&tf_format_traits_t3, K);
    for (size_t j = 0; j < bytes; j++) {
        unsigned v = 0, pow3 = 1;
        for (int i = 0; i < 5; i++) {
            const int64_t k = (int64_t)j * 5 + i;
            const int w = k < K ? q[k] : 0;
            if (w < -1 || w > 1) return -1;
            v += (unsigned)(w + 1) * pow3;
            pow3 *= 3;
        }
        row[j] = (uint8_t)v;
    }
    return 0;
}

static int unpack_row(const uint8_t *row, int64_t K, int8_t *q) {
    const size_t bytes = tf_format_row_bytes(&tf_format_traits_t3, K);
    for (size_t j = 0; j < bytes; j++) {
        unsigned v = row[j];
        if (v > T3_MAX_BYTE) return -1;
        for (int i = 0; i < 5; i++) {
            const int64_t k = (int64_t)j * 5 + i;
            if (k < K) q[k] = (int8_t)((int)(v % 3) - 1);
            v /= 3;
        }
    }
    return 0;
}

static int64_t validate_row(const uint8_t *row, int64_t K) {
    const size_t bytes = tf_format_row_bytes(&tf_format_traits_t3, K);
    unsigned any = 0;
    for (size_t j = 0; j < bytes; j++) any |= (unsigned)(row[j] > T3_MAX_BYTE); /* branch-free: vectorizes */
    if (any)
        for (size_t j = 0; j < bytes; j++)
            if (row[j] > T3_MAX_BYTE) return (int64_t)j;
    return -1;
}

static uint8_t lut[256][8]; /* base-3 digits of each byte value (the first five are the codes), then 1s */
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void lut_init(void) {
    for (int v = 0; v < 256; v++) {
        int x = v;
        for (int i = 0; i < 8; i++) {
            lut[v][i] = (uint8_t)(i < 5 ? x % 3 : 1);
            x /= 3;
        }
    }
}

static void prepare(void) { pthread_once(&lut_once, lut_init); }

/* One 8-byte table copy per packed byte, 5 bytes apart. A range starting inside a byte (k0 % 5 != 0: the GEMM's
 * depth blocks are not multiples of 5) is decoded into tmp and copied from the right offset. */
static void decode_codes(const uint8_t *row, int64_t k0, int64_t len, uint8_t *out, uint8_t *tmp) {
    const int64_t off = k0 % 5, nbytes = (off + len + 4) / 5;
    const uint8_t *p = row + k0 / 5;
    uint8_t *dst = off ? tmp : out;
    for (int64_t j = 0; j < nbytes; j++) memcpy(dst + 5 * j, lut[p[j]], 8);
    if (off) memcpy(out, tmp + off, (size_t)len);
    const int64_t padded = (len + 3) & ~(int64_t)3;
    for (int64_t k = len; k < padded; k++) out[k] = 1;
}

/* The references read the bytes digit by digit (not through the table). */
static double dot_f32_ref(const uint8_t *row, const float *x, int64_t K) {
    double sum = 0.0;
    for (int64_t j = 0; 5 * j < K; j++)
        for (int64_t k = 5 * j, v = row[j]; k < 5 * j + 5 && k < K; k++, v /= 3)
            sum += (double)x[k] * (double)(v % 3 - 1);
    return sum;
}

static int64_t dot_i8_ref(const uint8_t *row, const int8_t *x, int64_t K) {
    int64_t sum = 0;
    for (int64_t j = 0; 5 * j < K; j++)
        for (int64_t k = 5 * j, v = row[j]; k < 5 * j + 5 && k < K; k++, v /= 3)
            sum += (int64_t)x[k] * (v % 3 - 1);
    return sum;
}

const tf_format_traits tf_format_traits_t3 = {
    .name = "t3",
    .block_weights = 5,
    .block_bytes = 1,
    .pack_row = pack_row,
    .unpack_row = unpack_row,
    .validate_row = validate_row,
    .prepare = prepare,
    .decode_codes = decode_codes,
    .dot_f32_ref = dot_f32_ref,
    .dot_i8_ref = dot_i8_ref,
};
