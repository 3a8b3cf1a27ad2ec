/* Packing and unpacking of the i2 and t3 ternary formats (layouts in ternary_formats.h, docs/formats.md). */
#include "ternary_formats.h"
#include <string.h>

size_t tf_packed_row_bytes(tf_format format, int64_t K) {
    if (K <= 0) return 0;
    switch (format) {
    case TF_FORMAT_I2: return (size_t)((K + 127) / 128) * 32;
    case TF_FORMAT_T3: return (size_t)((K + 4) / 5);
    }
    return 0;
}

static int pack_row_i2(const int8_t *q, int64_t K, uint8_t *out) {
    size_t bytes = tf_packed_row_bytes(TF_FORMAT_I2, K);
    memset(out, 0x55, bytes); /* code 1 (w = 0) in all four slots: padding is zero weight */
    for (int64_t k = 0; k < K; k++) {
        int8_t w = q[k];
        if (w < -1 || w > 1) return -1;
        int64_t block = k >> 7, within = k & 127;
        int64_t j = within & 31, s = within >> 5;
        uint8_t *byte = out + block * 32 + j;
        *byte = (uint8_t)((*byte & ~(3u << (2 * s))) | ((uint8_t)(w + 1) << (2 * s)));
    }
    return 0;
}

static int unpack_row_i2(const uint8_t *p, int64_t K, int8_t *q) {
    for (int64_t k = 0; k < K; k++) {
        int64_t block = k >> 7, within = k & 127;
        int code = (p[block * 32 + (within & 31)] >> (2 * (within >> 5))) & 3;
        if (code == 3) return -1;
        q[k] = (int8_t)(code - 1);
    }
    return 0;
}

static int pack_row_t3(const int8_t *q, int64_t K, uint8_t *out) {
    size_t bytes = tf_packed_row_bytes(TF_FORMAT_T3, K);
    for (size_t j = 0; j < bytes; j++) {
        unsigned v = 0, pow3 = 1;
        for (int i = 0; i < 5; i++) {
            int64_t k = (int64_t)j * 5 + i;
            int w = k < K ? q[k] : 0;
            if (w < -1 || w > 1) return -1;
            v += (unsigned)(w + 1) * pow3;
            pow3 *= 3;
        }
        out[j] = (uint8_t)v;
    }
    return 0;
}

static int unpack_row_t3(const uint8_t *p, int64_t K, int8_t *q) {
    size_t bytes = tf_packed_row_bytes(TF_FORMAT_T3, K);
    for (size_t j = 0; j < bytes; j++) {
        unsigned v = p[j];
        if (v > 242) return -1;
        for (int i = 0; i < 5; i++) {
            int64_t k = (int64_t)j * 5 + i;
            if (k < K) q[k] = (int8_t)((int)(v % 3) - 1);
            v /= 3;
        }
    }
    return 0;
}

int tf_pack(tf_format format, const int8_t *q, int64_t N, int64_t K, uint8_t *out) {
    size_t stride = tf_packed_row_bytes(format, K);
    for (int64_t n = 0; n < N; n++) {
        int rc = format == TF_FORMAT_I2 ? pack_row_i2(q + n * K, K, out + n * stride)
                                        : pack_row_t3(q + n * K, K, out + n * stride);
        if (rc) return rc;
    }
    return 0;
}

int tf_unpack(tf_format format, const uint8_t *packed, int64_t N, int64_t K, int8_t *q) {
    size_t stride = tf_packed_row_bytes(format, K);
    for (int64_t n = 0; n < N; n++) {
        int rc = format == TF_FORMAT_I2 ? unpack_row_i2(packed + n * stride, K, q + n * K)
                                        : unpack_row_t3(packed + n * stride, K, q + n * K);
        if (rc) return rc;
    }
    return 0;
}

int64_t tf_validate_packed(tf_format format, const uint8_t *packed, int64_t N, int64_t K, int64_t *bad_byte) {
    size_t stride = tf_packed_row_bytes(format, K);
    for (int64_t n = 0; n < N; n++) {
        const uint8_t *p = packed + (size_t)n * stride;
        unsigned any = 0;
        /* branch-free scan of the row (vectorizes); the slow search below runs only for a bad row */
        if (format == TF_FORMAT_I2) {
            for (size_t j = 0; j < stride; j++) any |= (unsigned)(p[j] & (p[j] >> 1) & 0x55);
        } else {
            for (size_t j = 0; j < stride; j++) any |= (unsigned)(p[j] > 242);
        }
        if (any) {
            for (size_t j = 0; j < stride; j++) {
                int bad = format == TF_FORMAT_I2 ? (p[j] & (p[j] >> 1) & 0x55) != 0 : p[j] > 242;
                if (bad) {
                    if (bad_byte) *bad_byte = (int64_t)j;
                    break;
                }
            }
            return n;
        }
    }
    return -1;
}
