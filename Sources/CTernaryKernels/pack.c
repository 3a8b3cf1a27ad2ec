/* The table of packed formats and the public packing API over it (ternary_formats.h): each call looks its format
 * up once and runs that format's row functions (i2.c, t3.c) over the N rows. */
#include "ternary_format_traits.h"

static const tf_format_traits *const formats[] = {
    [TF_FORMAT_I2] = &tf_format_traits_i2,
    [TF_FORMAT_T3] = &tf_format_traits_t3,
};

const tf_format_traits *tf_format_traits_of(tf_format format) {
    return (unsigned)format < sizeof formats / sizeof formats[0] ? formats[format] : NULL;
}

size_t tf_packed_row_bytes(tf_format format, int64_t K) {
    const tf_format_traits *f = tf_format_traits_of(format);
    return f ? tf_format_row_bytes(f, K) : 0;
}

int tf_pack(tf_format format, const int8_t *q, int64_t N, int64_t K, uint8_t *out) {
    const tf_format_traits *f = tf_format_traits_of(format);
    if (!f) return -1;
    const size_t stride = tf_format_row_bytes(f, K);
    for (int64_t n = 0; n < N; n++)
        if (f->pack_row(q + n * K, K, out + n * stride)) return -1;
    return 0;
}

int tf_unpack(tf_format format, const uint8_t *packed, int64_t N, int64_t K, int8_t *q) {
    const tf_format_traits *f = tf_format_traits_of(format);
    if (!f) return -1;
    const size_t stride = tf_format_row_bytes(f, K);
    for (int64_t n = 0; n < N; n++)
        if (f->unpack_row(packed + n * stride, K, q + n * K)) return -1;
    return 0;
}

int64_t tf_validate_packed(tf_format format, const uint8_t *packed, int64_t N, int64_t K, int64_t *bad_byte) {
    const tf_format_traits *f = tf_format_traits_of(format);
    if (!f) { /* nothing is valid in an unknown format */
        if (N <= 0) return -1;
        if (bad_byte) *bad_byte = 0;
        return 0;
    }
    const size_t stride = tf_format_row_bytes(f, K);
    for (int64_t n = 0; n < N; n++) {
        const int64_t j = f->validate_row(packed + (size_t)n * stride, K);
        if (j >= 0) {
            if (bad_byte) *bad_byte = j;
            return n;
        }
    }
    return -1;
}
