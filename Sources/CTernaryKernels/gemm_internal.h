/* Internal interface between the GEMM driver (gemm.c) and the per-ISA micro-kernels.
 *
 * The driver decodes packed weights once per (column block, depth block) into a panel that stays in L2
 * and runs a register-blocked micro-kernel over many rows of X against it. Panel layouts (NR = 16 output
 * columns per micro-panel):
 *   f32 mode:  float  [kc][16]          w = code - 1 as fp32, padding columns 0.
 *   int8 mode: uint8  [kc/4][16][4]     u8 codes w + 1 in {0,1,2}, four consecutive k per column, so one
 *              32-byte load holds 8 columns x 4 k for vpmaddubsw against a broadcast of 4 activation bytes.
 *              Padding (columns >= N, k >= K) is code 1 against activation 0.
 */
#ifndef TERNFLUX_GEMM_INTERNAL_H
#define TERNFLUX_GEMM_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#define TF_NR 16

/* Flags of one micro-kernel call. */
#define TF_K_FIRST 1 /* first depth block: C is not read */
#define TF_K_LAST 2  /* last depth block: apply the scale and bias */

/* C[i][0..16) (stride ldc) for i < mr rows:
 *   acc = sum_k x[i][k] * (panel[k][col]);   C = (FIRST ? 0 : C) + acc;   if LAST: C = C * gamma + bias. */
typedef void (*tf_kernel_f32)(int mr, const float *x, int64_t ldx, const float *panel, int64_t kc,
                              float *C, int64_t ldc, int flags, const float *gamma, const float *bias);

/* int8 mode: acc = sum_k xq[i][k] * code[k][col] - xsum[i]  (exact int32: code - 1 = w);
 *   C = (FIRST ? 0 : C) + (float)acc;   if LAST: C = C * (gamma * inv_s[i]) + bias.
 * steps = number of 4-k groups in the panel; xsum[i * xsum_stride] is sum of xq over this depth block. */
typedef void (*tf_kernel_i8)(int mr, const int8_t *xq, int64_t ldx, const uint8_t *panel, int64_t steps,
                             float *C, int64_t ldc, int flags, const int32_t *xsum, int64_t xsum_stride,
                             const float *inv_s, const float *gamma, const float *bias);

/* Converts a code panel [units][ceil(kcl/4)][16][4] into the f32 panel [units][kcl][16] (w = code - 1). */
typedef void (*tf_codes_to_f32)(const uint8_t *codes, int64_t units, int64_t kcl, float *panel);

/* Few-row path (M <= TF_SMALL_M_F32 / TF_SMALL_M_I8: the measured crossovers with the panel path, docs/kernels.md):
 * weights are decoded one row (output column) at a time into k-contiguous u8 codes (w + 1, padded with code 1 up
 * to a multiple of 32), and each of up to TF_SMALL_MR rows of X is dotted with up to two such columns:
 *   f32:  sums[i * 2 + j] = sum_{k < K} x[i][k] * (codes_j[k] - 1)            (fp32, any order)
 *   int8: sums[i * 2 + j] = sum_{k < k32} xq[i][k] * codes_j[k]                (exact int32; k32 = K rounded up to
 *         32, xq zero past K, so the caller subtracts the row's sum of xq to get sum xq * w). */
#ifndef TF_SMALL_M_F32
#define TF_SMALL_M_F32 8
#endif
#ifndef TF_SMALL_M_I8
#define TF_SMALL_M_I8 32
#endif
#define TF_SMALL_MR 4
typedef void (*tf_dot_f32)(int mr, const float *x, int64_t ldx, int64_t K, const uint8_t *const codes[2], int nc,
                           float *sums);
typedef void (*tf_dot_i8)(int mr, const int8_t *xq, int64_t ldq, int64_t k32, const uint8_t *const codes[2], int nc,
                          int32_t *sums);

typedef struct {
    int mr_f32;
    int mr_i8;
    tf_kernel_f32 f32;
    tf_kernel_i8 i8;
    tf_codes_to_f32 to_f32;
    tf_dot_f32 dot_f32;
    tf_dot_i8 dot_i8;
} tf_kernel_set;

/* Threads of the persistent pool including the caller (pool.c). */
int tf_pool_threads(void);

/* Per-thread scratch memory (pool.c), 64-byte aligned, contents undefined, valid until the next acquire of the
 * same slot on the same thread. Slot 0: a GEMM call's quantized activations (calling thread); slot 1: one
 * share's panels (whichever thread runs it). Release after use: large buffers are freed, small ones kept. */
#define TF_SCRATCH_SLOTS 2
#define TF_SCRATCH_CALL 0
#define TF_SCRATCH_SHARE 1
void *tf_scratch_acquire(int slot, size_t bytes);
void tf_scratch_release(int slot);

void tf_codes_to_f32_portable(const uint8_t *codes, int64_t units, int64_t kcl, float *panel);

extern const tf_kernel_set tf_kernels_portable;
#if defined(__x86_64__)
extern const tf_kernel_set tf_kernels_avx2;
extern const tf_kernel_set tf_kernels_avx512vnni;
/* The AVX2 f32-mode kernels, shared by the AVX-512 VNNI set (it replaces only the int8 kernels). */
void tf_kernel_f32_avx2(int mr, const float *x, int64_t ldx, const float *panel, int64_t kc, float *C, int64_t ldc,
                        int flags, const float *gamma, const float *bias);
void tf_codes_to_f32_avx2(const uint8_t *codes, int64_t units, int64_t kcl, float *panel);
void tf_dot_f32_avx2(int mr, const float *x, int64_t ldx, int64_t K, const uint8_t *const codes[2], int nc,
                     float *sums);
#endif

#endif
