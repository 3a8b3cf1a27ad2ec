#ifndef TERNFLUX_TERNARY_FORMAT_TRAITS_H
#define TERNFLUX_TERNARY_FORMAT_TRAITS_H
/* One entry per packed ternary format (ternary_formats.h): everything that depends on a packing's layout.
 *
 * Each packing lives in one file (i2.c, t3.c) that defines its entry; tf_format_traits_of finds it. The public
 * packing API (tf_pack, tf_unpack, tf_validate_packed, tf_packed_row_bytes in pack.c) and the GEMM driver
 * (gemm.c) only go through the entry, so they hold no format branch (docs/kernels.md, "Formats"). The table is
 * in the public headers so that the tests can check every format against its own scalar reference.
 *
 * All row functions take one packed row of K weights (K > 0 unless said otherwise), tf_format_row_bytes(K)
 * bytes long, and never read outside it. */
#include <stddef.h>
#include <stdint.h>
#include "ternary_formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* decode_codes' k0 is always a multiple of this (the GEMM's depth blocks are; i2 decodes whole 128-weight
 * blocks). */
#define TF_DECODE_K_ALIGN 128
/* decode_codes writes at most len + TF_DECODE_SLACK bytes of out and of tmp. */
#define TF_DECODE_SLACK 128

typedef struct tf_format_traits {
    /* The packing's name, as in a checkpoint's ternflux.packing ("i2", "t3"). */
    const char *name;
    /* A row is a sequence of blocks of block_weights weights in block_bytes bytes each, the last one padded with
     * w = 0 (tf_format_row_bytes). */
    int64_t block_weights;
    size_t block_bytes;

    /* Packs q[0, K) (each -1, 0 or +1) into the row, padding included. Returns 0, or -1 if a value is not
     * ternary (the row is then partly written). K <= 0 writes nothing. */
    int (*pack_row)(const int8_t *q, int64_t K, uint8_t *row);
    /* Unpacks the row into q[0, K). Returns 0, or -1 if a code of a weight k < K is invalid (t3: any byte of the
     * row above 242, padding digits included). */
    int (*unpack_row)(const uint8_t *row, int64_t K, int8_t *q);
    /* Offset of the first invalid byte of the row (every byte, padding included), or -1 if all are valid. */
    int64_t (*validate_row)(const uint8_t *row, int64_t K);

    /* Builds whatever tables decode_codes reads; idempotent and thread-safe. NULL when there are none. The GEMM
     * calls it once per call before decoding. */
    void (*prepare)(void);
    /* GEMM decoder: the codes w + 1 of weights k in [k0, k0 + len) of the row (k0 + len <= K, k0 a multiple of
     * TF_DECODE_K_ALIGN), k-contiguous into out[0, len); out[len, len rounded up to 4) holds the codes of the
     * weights that follow (the row's padding: code 1 in a valid row) or 1. Bytes of out beyond that are
     * undefined. tmp is scratch. out and tmp each hold at least len + TF_DECODE_SLACK bytes. Invalid codes give
     * codes in {0, 1, 2, 3} (wrong results, never out-of-bounds access). */
    void (*decode_codes)(const uint8_t *row, int64_t k0, int64_t len, uint8_t *out, uint8_t *tmp);

    /* Scalar references, straight from the packed bytes (not through decode_codes), the ground truth of the
     * tests. For a valid row:
     *   dot_f32_ref = sum_{k<K} x[k] * w[k] summed in double in k order;
     *   dot_i8_ref  = sum_{k<K} x[k] * w[k] exactly in integers. */
    double (*dot_f32_ref)(const uint8_t *row, const float *x, int64_t K);
    int64_t (*dot_i8_ref)(const uint8_t *row, const int8_t *x, int64_t K);
} tf_format_traits;

/* The entry of `format`, or NULL if it is not a tf_format. */
const tf_format_traits *tf_format_traits_of(tf_format format);

/* The entries themselves, one per format file (i2.c, t3.c), listed by tf_format_traits_of (pack.c). */
extern const tf_format_traits tf_format_traits_i2;
extern const tf_format_traits tf_format_traits_t3;

/* Bytes of one packed row of K weights (0 for K <= 0). */
static inline size_t tf_format_row_bytes(const tf_format_traits *f, int64_t K) {
    return K <= 0 ? 0 : (size_t)((K + f->block_weights - 1) / f->block_weights) * f->block_bytes;
}

#ifdef __cplusplus
}
#endif
#endif
