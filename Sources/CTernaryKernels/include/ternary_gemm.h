#ifndef TERNFLUX_TERNARY_GEMM_H
#define TERNFLUX_TERNARY_GEMM_H
#include <stddef.h>
#include <stdint.h>
#include "ternary_formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation modes of the ternary GEMM.
 * TF_ACT_F32:  fp32 activations, exact up to fp32 summation order.
 * TF_ACT_INT8: per-token absmax int8 activations (BitNet b1.58), int32 accumulation, no int16 saturation. */
typedef enum { TF_ACT_F32 = 0, TF_ACT_INT8 = 1 } tf_act_mode;

/* Instruction-set paths; tf_set_isa forces one (tests exercise every path this CPU can run).
 * TF_ISA_AVX512VNNI (AVX-512 F/BW/VL + VNNI) replaces the int8-mode kernels with vpdpbusd ones and keeps the
 * AVX2 f32-mode kernels and activations; every path gives the same bits in int8 mode. */
typedef enum { TF_ISA_PORTABLE = 0, TF_ISA_AVX2 = 1, TF_ISA_AVX512VNNI = 2 } tf_isa;

/* The best path this build can run on this CPU (AVX2 needs AVX2 + FMA; AVX512VNNI needs those too). */
tf_isa tf_detect_isa(void);
/* The path in use (detected unless forced). */
tf_isa tf_active_isa(void);
/* Forces a path; returns 0, or -1 if this CPU cannot run it. */
int tf_set_isa(tf_isa isa);
const char *tf_isa_name(tf_isa isa);

/* Return codes of tf_ternary_gemm. */
#define TF_GEMM_OK 0
#define TF_GEMM_EBADMODE (-1)   /* mode is not a tf_act_mode */
#define TF_GEMM_EBADFORMAT (-2) /* format is not a tf_format */
#define TF_GEMM_EBADSHAPE (-3)  /* M, K or N negative, or K > 132104 in int8 mode */
#define TF_GEMM_ENULL (-4)      /* a required pointer is NULL */
#define TF_GEMM_ENOMEM (-5)     /* out of memory for the call's buffers */

/* Y[M,N] = X[M,K] . (Wq . diag(scale))^T + bias, for packed ternary Wq[N,K] in `format`
 * (Wpacked is N rows of tf_packed_row_bytes(format, K) bytes; validate untrusted bytes with
 * tf_validate_packed first: invalid codes give wrong results, never out-of-bounds access).
 * bias may be NULL. The work is split into n_threads shares run on the persistent pool (ternary_pool.h):
 * n_threads <= 0 means one share per pool thread (all usable cores), 1 runs on the calling thread only; at most
 * the pool's threads run at once, whatever n_threads is. Y must not alias X.
 * TF_ACT_F32: y = scale[n] * sum_k x[k] * w[n,k] + bias[n] in fp32 (summation order differs from a loop).
 * TF_ACT_INT8: per row m, s_m = 127 / max_k |x[m,k]| (0 for an all-zero row), xq = clamp(round_half_even(
 *   x * s_m), -127, 127), acc = sum_k xq * w exact in integers, y = acc * scale[n] / s_m + bias[n]
 *   (an all-zero row gives bias). X must be finite. Returns TF_GEMM_OK or one of the negative codes above. */
int tf_ternary_gemm(tf_act_mode mode, tf_format format,
                    const float *X, int64_t M, int64_t K,
                    const uint8_t *Wpacked, const float *scale, const float *bias, int64_t N,
                    float *Y, int n_threads);

/* Message for a tf_ternary_gemm return code. */
const char *tf_gemm_error_string(int code);

#ifdef __cplusplus
}
#endif
#endif
