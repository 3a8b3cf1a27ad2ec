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

/* Instruction-set paths; tf_set_isa forces one (tests exercise every path this CPU can run). */
typedef enum { TF_ISA_PORTABLE = 0, TF_ISA_AVX2 = 1, TF_ISA_AVX512VNNI = 2 } tf_isa;

/* The best path this CPU supports. */
tf_isa tf_detect_isa(void);
/* The path in use (detected unless forced). */
tf_isa tf_active_isa(void);
/* Forces a path; returns 0, or -1 if this CPU cannot run it. */
int tf_set_isa(tf_isa isa);
const char *tf_isa_name(tf_isa isa);

/* Y[M,N] = X[M,K] . (Wq . diag(scale))^T + bias, for packed ternary Wq[N,K] in `format`.
 * bias may be NULL. n_threads <= 0 means all online cores. Returns 0, or a negative value on bad arguments. */
int tf_ternary_gemm(tf_act_mode mode, tf_format format,
                    const float *X, int64_t M, int64_t K,
                    const uint8_t *Wpacked, const float *scale, const float *bias, int64_t N,
                    float *Y, int n_threads);

#ifdef __cplusplus
}
#endif
#endif
