#ifndef TERNFLUX_CUDA_H
#define TERNFLUX_CUDA_H
/* The CUDA backend through the driver API only: libcuda.so.1 is opened at run time (dlopen), so the same binary
 * runs where no NVIDIA driver exists (every call then answers TF_CUDA_ENODRIVER). The kernels are the embedded
 * fatbin (ternflux_cuda_fatbin.h, built by ops/gpu/build-fatbin.sh from the .cu files in kernels/cuda), loaded into the
 * device's primary context with cuModuleLoadData. */
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define TF_CUDA_OK 0
#define TF_CUDA_ENODRIVER (-1)   /* libcuda.so.1 cannot be opened, or lacks an entry point */
#define TF_CUDA_EINIT (-2)       /* cuInit failed (driver present, no usable GPU or a driver/library mismatch) */
#define TF_CUDA_ENODEVICE (-3)   /* the driver sees no device, or not the one asked for */
#define TF_CUDA_ETOOOLD (-4)     /* compute capability below 8.0 (int8 mma.sync m16n8k32 needs sm_80) */
#define TF_CUDA_ECALL (-5)       /* a driver call failed; the message names it and the driver's error */
#define TF_CUDA_EARG (-6)        /* bad arguments */

/* The oldest compute capability the kernels are built for (major * 10 + minor). */
#define TF_CUDA_MIN_COMPUTE 80

typedef struct {
    int ordinal;
    int compute_major, compute_minor;
    int driver_version;       /* cuDriverGetVersion: 13000 for CUDA 13.0 */
    size_t total_memory;
    char name[256];
} tf_cuda_device_info;

/* Opens the driver and describes device `ordinal`; on failure returns a negative code and writes why into
 * `message` (never NULL-terminated beyond `message_size`). Safe to call from any thread, any number of times. */
int tf_cuda_probe(int ordinal, tf_cuda_device_info *info, char *message, size_t message_size);

/* How many devices the driver sees (0 with a message when there is no driver). */
int tf_cuda_device_count(char *message, size_t message_size);

/* The embedded fatbin and its size (what cuModuleLoadData is given). */
const unsigned char *tf_cuda_fatbin(size_t *size);

/* The launch shape of tf_w2a8_gemm_tiled (kernels/cuda/w2a8_tiled.cu; the same numbers as TF_TILED_BM, _BN and
 * _THREADS in kernels/cuda/w2a8_tiled_layout.cuh, which CUDABackendTests compares): one CTA of
 * TF_CUDA_TILED_THREADS threads per TF_CUDA_TILED_BM × TF_CUDA_TILED_BN tile of Y, 48 KB of static shared
 * memory, grid (ceil(N / BN), ceil(M / BM)). grid.y ≤ 65 535 bounds M for both GEMM kernels. */
#define TF_CUDA_TILED_BM 128
#define TF_CUDA_TILED_BN 256
#define TF_CUDA_TILED_THREADS 256
#define TF_CUDA_MAX_ROWS ((int64_t)65535 * 16) /* the simple kernel's bound (16 rows per CTA), the lower one */

/* A ternary linear layer resident on a device (cuda_linear.c): y = int8(x) · Wᵀ · diag(scale) + bias with the
 * arithmetic of tf_ternary_gemm(TF_ACT_INT8, TF_FORMAT_I2, ...), so both give the same bits. `Wpacked` is N rows of
 * TF_FORMAT_I2 (K rounded up to 128, four weights per byte); it, `scale` and `bias` (NULL for none) are copied to
 * the device at create and may be freed after. The GEMM kernel is the tiled one unless TERNFLUX_CUDA_GEMM=simple. */
typedef struct tf_cuda_linear tf_cuda_linear;
int tf_cuda_linear_create(int ordinal, const uint8_t *Wpacked, int64_t N, int64_t K, const float *scale, const float *bias,
                          tf_cuda_linear **out, char *message, size_t message_size);
/* Y[M, N] from host X[M, K] (copied in and out; the call returns when Y is written). Thread-safe. */
int tf_cuda_linear_apply(tf_cuda_linear *linear, const float *X, int64_t M, float *Y, char *message, size_t message_size);
void tf_cuda_linear_destroy(tf_cuda_linear *linear);
/* Device memory the layer holds (weights, scales, bias). */
size_t tf_cuda_linear_device_bytes(const tf_cuda_linear *linear);

/* Device time of the layer's two kernels on M rows of X (copied in once): the mean over `iterations`
 * back-to-back launches of the quantization and of the GEMM, each timed from a synchronized device to a
 * synchronized device (host clock). `message` gets the GEMM kernel's name on success. For the benchmarks. */
int tf_cuda_linear_benchmark(tf_cuda_linear *linear, const float *X, int64_t M, int iterations, double *quantize_seconds,
                             double *gemm_seconds, char *message, size_t message_size);

/* Free and total memory of device `ordinal` (cuMemGetInfo in its primary context). */
int tf_cuda_memory_info(int ordinal, size_t *free_bytes, size_t *total_bytes, char *message, size_t message_size);

/* One GEMM from host buffers: a layer created, applied once and destroyed (for the checks). */
int tf_cuda_w2a8_gemm(int ordinal, const float *X, int64_t M, int64_t K, const uint8_t *Wpacked, const float *scale,
                      const float *bias, int64_t N, float *Y, char *message, size_t message_size);

/* The CPU reference of the two kernels' arithmetic (w2a8_reference.c): the same quantization, the same
 * fragment-by-fragment integer accumulation, the same separately rounded epilogue. XQ is M rows of KP bytes
 * (K rounded up to 128), INV M floats. */
void tf_cuda_reference_quantize_rows(const float *X, int64_t M, int64_t K, int64_t KP, int8_t *XQ, float *INV);
void tf_cuda_reference_w2a8_gemm(const int8_t *XQ, const float *INV, int64_t M, int64_t KP, const uint8_t *Wpacked,
                                 const float *scale, const float *bias, int64_t N, float *Y);

/* The FLUX blocks' norms (kernels/cuda/norms.cu; launch contracts and layouts there): one CTA of
 * TF_CUDA_NORMS_THREADS threads per row for tf_layernorm_modulate_quantize, one warp per (row, head) for
 * tf_qk_rmsnorm_rope (TF_NORMS_THREADS in norms.cu, which CUDABackendTests compares). Both reduce in fp32 in a
 * fixed order that the references below repeat, so GPU and reference agree bit for bit. */
#define TF_CUDA_NORMS_THREADS 256
#define TF_CUDA_NORMS_MAX_HEAD_DIM 512

/* LayerNorm (no affine, eps 1e-6) of M rows of H (stride ldh, D values each), times (1 + scale) plus shift, then
 * the per-token int8 quantization of tf_w2a8_quantize_rows: XQ [M, KP] (KP >= D; D rounded up to 128 for the
 * GEMM; zero past D) and INV [M], bit for bit what tf_cuda_reference_quantize_rows gives from the modulated fp32
 * rows, which go to Y [M rows of stride ldy] unless Y is NULL. Row m is modulated by the D values at
 * shift + (m / rows_per_batch) * mod_stride and scale + (m / rows_per_batch) * mod_stride. */
void tf_cuda_reference_layernorm_modulate_quantize(const float *H, int64_t ldh, int64_t M, int64_t D, const float *shift,
                                                   const float *scale, int64_t mod_stride, int64_t rows_per_batch, int64_t KP,
                                                   int8_t *XQ, float *INV, float *Y, int64_t ldy);

/* q and k RMSNorm per head (eps 1e-6) times the head weight, then the FLUX rotary embedding (pairs of adjacent
 * channels: out[2i] = v[2i] cos[2i] - v[2i+1] sin[2i], out[2i+1] = v[2i+1] cos[2i+1] + v[2i] sin[2i+1]), and v as
 * it is; all three as bf16 bits in [batch * heads, tokens, head_dim] (element ((b * heads + h) * tokens + n) *
 * head_dim + i). Q, K, V are batch * tokens rows (strides ldq, ldk, ldv) of heads * head_dim values; token n < text_tokens uses
 * q_weight_text / k_weight_text, the others q_weight / k_weight ([head_dim] each); rope_cos, rope_sin are [tokens,
 * head_dim] (FluxRotaryTable's rows for the joint sequence). head_dim even, 2 to TF_CUDA_NORMS_MAX_HEAD_DIM.
 * Qf and Kf (NULL for none; the reference only) get the values before the bf16 rounding, in the same layout. */
void tf_cuda_reference_qk_rmsnorm_rope(const float *Q, int64_t ldq, const float *K, int64_t ldk, const float *V, int64_t ldv,
                                       int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t text_tokens,
                                       const float *q_weight, const float *k_weight, const float *q_weight_text,
                                       const float *k_weight_text, const float *rope_cos, const float *rope_sin, uint16_t *Qo,
                                       uint16_t *Ko, uint16_t *Vo, float *Qf, float *Kf);

/* fp32 to bf16 bits as the kernels convert: round to nearest even, a NaN to 0x7FC0. */
uint16_t tf_cuda_reference_bf16(float f);

/* The two kernels from host buffers on device `ordinal` (cuda_norms.c): the inputs copied in, one launch, the
 * outputs copied out; the arguments as the references' above, except that Y is dense here ([M, D], NULL for none)
 * and KP is D rounded up to 128. With iterations > 0 the kernel then runs that many more times back to back and
 * *seconds gets the mean device time of one launch (synchronized device to synchronized device, host clock); the
 * outputs copied out are the last launch's (the kernels are deterministic). */
int tf_cuda_layernorm_modulate_quantize(int ordinal, const float *H, int64_t ldh, int64_t M, int64_t D, const float *shift,
                                        const float *scale, int64_t mod_stride, int64_t rows_per_batch, int8_t *XQ, float *INV,
                                        float *Y, int iterations, double *seconds, char *message, size_t message_size);
int tf_cuda_qk_rmsnorm_rope(int ordinal, const float *Q, int64_t ldq, const float *K, int64_t ldk, const float *V, int64_t ldv,
                            int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t text_tokens,
                            const float *q_weight, const float *k_weight, const float *q_weight_text, const float *k_weight_text,
                            const float *rope_cos, const float *rope_sin, uint16_t *Qo, uint16_t *Ko, uint16_t *Vo, int iterations,
                            double *seconds, char *message, size_t message_size);

/* FLUX joint attention on a device (cuda_attention.c; kernels/cuda/attention.cu): O = softmax(Q K^T / sqrt(D)) V
 * over all `tokens` of each (batch, head), no mask, on bf16 tensor cores with an online softmax in fp32.
 * Q, K, V are host bf16 (the bits, as uint16_t) in layout [batch * heads, tokens, head_dim] contiguous (head h of
 * batch b is the matrix at (b * heads + h) * tokens * head_dim); O is host fp32 [batch, tokens, heads * head_dim]
 * (the out-projection's input rows). head_dim is 32 or 128; batch * heads <= TF_CUDA_ATTENTION_MAX_BH; tokens >= 1.
 * The operands are copied in, the kernel runs, O is copied out (one scratch area per device, grown on demand,
 * calls on one device serialized). Thread-safe. */
int tf_cuda_attention(int ordinal, const uint16_t *Q, const uint16_t *K, const uint16_t *V, int64_t batch, int64_t heads,
                      int64_t tokens, int64_t head_dim, float *O, char *message, size_t message_size);

/* Device time of the attention kernel alone: the operands copied in once, one launch to warm up (its faults are
 * reported), then the mean over `iterations` back-to-back launches, timed from a synchronized device to a
 * synchronized device (host clock). `message` gets the kernel's name on success. For the benchmarks. */
int tf_cuda_attention_benchmark(int ordinal, const uint16_t *Q, const uint16_t *K, const uint16_t *V, int64_t batch,
                                int64_t heads, int64_t tokens, int64_t head_dim, int iterations, double *seconds,
                                char *message, size_t message_size);

/* The attention kernel's launch shape (the same numbers as TF_ATTN_BR and TF_ATTN_THREADS in
 * kernels/cuda/attention_layout.cuh, which AttentionReferenceTests compares): one CTA of TF_CUDA_ATTENTION_THREADS
 * threads per TF_CUDA_ATTENTION_BR query rows of one (batch, head), grid (ceil(tokens / BR), batch * heads). */
#define TF_CUDA_ATTENTION_BR 64
#define TF_CUDA_ATTENTION_THREADS 128
#define TF_CUDA_ATTENTION_MAX_BH 65535 /* gridDim.y */
#define TF_CUDA_ATTENTION_MAX_TOKENS ((int64_t)1 << 30)

/* The CPU reference of the attention kernel (attention_reference.c): exact softmax attention from the same bf16
 * inputs, computed in double and rounded once to fp32, for query rows row_begin .. row_end - 1 of every (batch,
 * head) (0 and tokens for all), written into O [batch, tokens, heads * head_dim]; other rows are left as they are.
 * Any head_dim >= 1. TF_CUDA_OK, or TF_CUDA_EARG for bad arguments or no memory. */
int tf_cuda_reference_attention(const uint16_t *Q, const uint16_t *K, const uint16_t *V, int64_t batch, int64_t heads,
                                int64_t tokens, int64_t head_dim, int64_t row_begin, int64_t row_end, float *O);

/* bf16 <-> fp32: round to nearest, ties to even (NaN stays NaN, overflow gives infinity), as torch's
 * .to(torch.bfloat16) and tf_f32_to_bf16 do; the widening is exact. */
uint16_t tf_cuda_bf16_from_float(float f);
float tf_cuda_bf16_to_float(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
