// The FLUX blocks' norms on NVIDIA GPUs, fused with what follows them, in fp32 with a FIXED reduction order that
// Sources/CCUDA/norms_reference.c repeats step for step (so the GPU and the reference give the same bits):
//
//   tf_layernorm_modulate_quantize   LayerNorm (no affine, eps 1e-6) · (1 + scale) + shift, then the per-token
//                                    int8 quantization of tf_w2a8_quantize_rows (w2a8.cu): XQ and INV feed
//                                    tf_w2a8_gemm / tf_w2a8_gemm_tiled directly; optionally the fp32 row too.
//   tf_qk_rmsnorm_rope               per-head RMSNorm (learned weight, eps 1e-6) of q and k, the FLUX rotary
//                                    embedding, and bf16 q, k, v in the layout a flash-attention kernel reads.
//
// The CPU pipeline (Sources/FluxModel/Models/Transformer/RowOps.swift) accumulates the statistics in double;
// these kernels do it in fp32, so they match it to a few ulps (FluxModelTests.CUDANormsParityTests), not bit for
// bit. Every other operation is the CPU's, in the CPU's order, each rounded on its own (__fadd_rn, __fmul_rn, ...:
// nvcc would otherwise contract a·b + c into an FMA), and no fast-math approximation: __fdiv_rn, __fsqrt_rn.
//
// REDUCTIONS (both kernels; the reference writes the same loops)
//   Block (tf_layernorm_modulate_quantize, TF_NORMS_THREADS = 256 threads): thread t folds the elements
//   k = t, t + 256, t + 512, ... < D in increasing k into its partial p[t] (starting from 0), then the
//   tree  for s = 128, 64, ..., 1: p[t] = p[t] ∘ p[t + s] for t < s; the result is p[0].
//   Levels s >= 32 go through shared memory, s = 16 .. 1 through __shfl_down_sync in warp 0 (lane t receives
//   lane t + s: the same pairs in the same order).
//   Warp (tf_qk_rmsnorm_rope, one warp per head vector): lane l folds the channel pairs p = l, l + 32, ... <
//   headDim / 2 in increasing p, channel 2p then 2p + 1, then the tree s = 16 .. 1 by __shfl_down_sync; lane 0's
//   value is broadcast (__shfl_sync).
//
// REGISTERS (ptxas, CUDA 13.0, -O3): tf_layernorm_modulate_quantize 64 on sm_80, 86, 89, 90 (__launch_bounds__
// 256 threads x 4 CTAs an SM), tf_qk_rmsnorm_rope 61 (sm_80), 55 (sm_86, 89), 54 (sm_90); no spill.
//
// CHECKED WITHOUT A GPU: ops/gpu/norms_emulation/run.sh compiles this file for the host, runs every CUDA thread
// as a fiber (barriers and shuffles included) behind a stand-in libcuda.so.1, and runs the device harness
// ops/gpu/norms_check.c through the real host entry points (Sources/CCUDA/cuda_norms.c): every output bit equals
// the reference's, no access leaves its buffer. It has not run on a GPU.
#include <cstdint>

#define TF_NORMS_THREADS 256  // threads per CTA of both kernels (TF_CUDA_NORMS_THREADS in ternflux_cuda.h)
#define TF_NORMS_CACHE 12     // row elements each thread keeps in registers: rows of D <= 3 072 are read once
#define TF_NORMS_MIN_BLOCKS 4  // CTAs per SM tf_layernorm_modulate_quantize is built for (<= 64 registers)
#define TF_NORMS_MAX_HEAD_DIM 512
#define TF_NORMS_PAIRS (TF_NORMS_MAX_HEAD_DIM / 64)  // channel pairs per lane at the largest head
#define TF_NORMS_EPS 1e-6f

// The block tree above, p[t] = p[t] + p[t + s]. `red` has TF_NORMS_THREADS + 1 floats; the last one carries the
// result to every thread (a different slot, so the next reduction's stores cannot race with its reads).
__device__ __forceinline__ float tf_norms_block_sum(float v, float* red) {
    const int t = threadIdx.x;
    red[t] = v;
    __syncthreads();
    for (int s = TF_NORMS_THREADS / 2; s >= 32; s /= 2) {
        if (t < s) red[t] = __fadd_rn(red[t], red[t + s]);
        __syncthreads();
    }
    if (t < 32) {
        float w = red[t];
        for (int s = 16; s > 0; s /= 2) w = __fadd_rn(w, __shfl_down_sync(0xffffffffu, w, s));
        if (t == 0) red[TF_NORMS_THREADS] = w;
    }
    __syncthreads();
    return red[TF_NORMS_THREADS];
}

// The same tree with fmaxf (exact and order-free for non-NaN values; fmaxf drops a NaN on both sides).
__device__ __forceinline__ float tf_norms_block_max(float v, float* red) {
    const int t = threadIdx.x;
    red[t] = v;
    __syncthreads();
    for (int s = TF_NORMS_THREADS / 2; s >= 32; s /= 2) {
        if (t < s) red[t] = fmaxf(red[t], red[t + s]);
        __syncthreads();
    }
    if (t < 32) {
        float w = red[t];
        for (int s = 16; s > 0; s /= 2) w = fmaxf(w, __shfl_down_sync(0xffffffffu, w, s));
        if (t == 0) red[TF_NORMS_THREADS] = w;
    }
    __syncthreads();
    return red[TF_NORMS_THREADS];
}

// One modulated element, RowOps.layerNormModulate's order: ((x - mean) · rstd) · (1 + scale) + shift.
__device__ __forceinline__ float tf_norms_modulate(float x, float mean, float rstd, float scale, float shift) {
    return __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(x, mean), rstd), __fadd_rn(1.0f, scale)), shift);
}

// tf_w2a8_quantize_rows' step: clamp(rint(v · s), -127, 127), rint half to even after the clamp.
__device__ __forceinline__ int8_t tf_norms_quantize(float v, float s) {
    float q = __fmul_rn(v, s);
    q = fminf(fmaxf(q, -127.0f), 127.0f);
    return (int8_t)rintf(q);
}

// One row of tf_layernorm_modulate_quantize. CACHED: the row's elements (then its modulated values) stay in
// registers, TF_NORMS_CACHE per thread (D <= 3 072, FLUX's width); otherwise every phase reads the row again from global
// memory and the modulated value is recomputed for the quantization (the same operations, so the same bits).
template <bool CACHED>
__device__ __forceinline__ void tf_norms_layernorm_row(const float* __restrict__ x, int64_t D,
                                                       const float* __restrict__ shift, const float* __restrict__ scale,
                                                       int64_t KP, int8_t* __restrict__ q, float* __restrict__ inv,
                                                       float* __restrict__ y, float* red) {
    const int t = threadIdx.x;
    float c[CACHED ? TF_NORMS_CACHE : 1];
    // 1. mean = sum / D.
    float acc = 0.0f;
    if (CACHED) {
#pragma unroll
        for (int j = 0; j < TF_NORMS_CACHE; j++) {
            const int k = t + j * TF_NORMS_THREADS;  // < TF_NORMS_CACHE · 256: int
            c[j] = k < D ? x[k] : 0.0f;
            if (k < D) acc = __fadd_rn(acc, c[j]);
        }
    } else {
        for (int64_t k = t; k < D; k += TF_NORMS_THREADS) acc = __fadd_rn(acc, x[k]);
    }
    const float mean = __fdiv_rn(tf_norms_block_sum(acc, red), (float)D);
    // 2. variance = sum (x - mean)² / D (two passes, as the CPU), rstd = 1 / sqrt(variance + eps).
    acc = 0.0f;
    if (CACHED) {
#pragma unroll
        for (int j = 0; j < TF_NORMS_CACHE; j++) {
            const int k = t + j * TF_NORMS_THREADS;  // < TF_NORMS_CACHE · 256: int
            const float d = __fsub_rn(c[j], mean);
            if (k < D) acc = __fadd_rn(acc, __fmul_rn(d, d));
        }
    } else {
        for (int64_t k = t; k < D; k += TF_NORMS_THREADS) {
            const float d = __fsub_rn(x[k], mean);
            acc = __fadd_rn(acc, __fmul_rn(d, d));
        }
    }
    const float variance = __fdiv_rn(tf_norms_block_sum(acc, red), (float)D);
    const float rstd = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(variance, TF_NORMS_EPS)));
    // 3. the modulated row (written when y is given) and its absmax.
    float amax = 0.0f;
    if (CACHED) {
#pragma unroll
        for (int j = 0; j < TF_NORMS_CACHE; j++) {
            const int k = t + j * TF_NORMS_THREADS;  // < TF_NORMS_CACHE · 256: int
            if (k < D) {
                c[j] = tf_norms_modulate(c[j], mean, rstd, scale[k], shift[k]);
                if (y) y[k] = c[j];
                amax = fmaxf(amax, fabsf(c[j]));
            }
        }
    } else {
        for (int64_t k = t; k < D; k += TF_NORMS_THREADS) {
            const float v = tf_norms_modulate(x[k], mean, rstd, scale[k], shift[k]);
            if (y) y[k] = v;
            amax = fmaxf(amax, fabsf(v));
        }
    }
    amax = tf_norms_block_max(amax, red);
    // 4. tf_w2a8_quantize_rows on the modulated row: s = 127 / amax, INV = 1 / s (0 for an all-zero row),
    //    XQ[k] for k < KP (zero past D).
    const float s = amax > 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    if (t == 0) *inv = amax > 0.0f ? __fdiv_rn(1.0f, s) : 0.0f;
    if (CACHED) {
#pragma unroll
        for (int j = 0; j < TF_NORMS_CACHE; j++) {
            const int k = t + j * TF_NORMS_THREADS;  // < TF_NORMS_CACHE · 256: int
            if (k < KP) q[k] = tf_norms_quantize(k < D ? c[j] : 0.0f, s);
        }
    } else {
        for (int64_t k = t; k < KP; k += TF_NORMS_THREADS)
            q[k] = tf_norms_quantize(k < D ? tf_norms_modulate(x[k], mean, rstd, scale[k], shift[k]) : 0.0f, s);
    }
}

// LAUNCH CONTRACT
//   blockDim = (TF_NORMS_THREADS = 256, 1, 1), gridDim = (M, 1, 1): one CTA per row (M <= 2^31 - 1); 1 028 bytes
//   of static shared memory, no dynamic shared memory. Rows of D <= 3 072 stay in registers; wider ones are read
//   again from global memory in each phase (the same arithmetic).
//   H      [M rows of stride ldh] fp32, D values a row (1 <= D <= 2^24, ldh >= D).
//   shift, scale: row m uses shift + (m / rows_per_batch) · mod_stride and scale + (m / rows_per_batch) ·
//          mod_stride, D values each (FLUX's AdaLayerNormZero output [batch, 6·D] is mod_stride 6·D with shift
//          at +0 / scale at +D for the attention input, +3·D / +4·D for the feed-forward's; the single blocks'
//          [batch, 3·D] is mod_stride 3·D, +0 / +D).
//   XQ     [M, KP] int8, KP >= D (D rounded up to 128 for the GEMM), zero past D; INV [M] fp32: exactly what
//          tf_w2a8_quantize_rows gives from the modulated fp32 rows.
//   Y      NULL, or [M rows of stride ldy] fp32: the modulated rows. No output may overlap H, shift or scale.
extern "C" __global__ void __launch_bounds__(TF_NORMS_THREADS, TF_NORMS_MIN_BLOCKS)
    tf_layernorm_modulate_quantize(const float* __restrict__ H, int64_t ldh, int64_t M, int64_t D,
                                   const float* __restrict__ shift, const float* __restrict__ scale, int64_t mod_stride,
                                   int64_t rows_per_batch, int64_t KP, int8_t* __restrict__ XQ, float* __restrict__ INV,
                                   float* __restrict__ Y, int64_t ldy) {
    __shared__ float red[TF_NORMS_THREADS + 1];
    const int64_t m = blockIdx.x;
    if (m >= M) return;
    const int64_t b = m / rows_per_batch;
    const float* x = H + m * ldh;
    const float* sh = shift + b * mod_stride;
    const float* sc = scale + b * mod_stride;
    float* y = Y ? Y + m * ldy : nullptr;
    if (D <= (int64_t)TF_NORMS_CACHE * TF_NORMS_THREADS)
        tf_norms_layernorm_row<true>(x, D, sh, sc, KP, XQ + m * KP, INV + m, y, red);
    else
        tf_norms_layernorm_row<false>(x, D, sh, sc, KP, XQ + m * KP, INV + m, y, red);
}

// fp32 to bf16 bits, round to nearest even (PyTorch's c10 conversion): a NaN becomes the quiet NaN 0x7FC0, a
// finite value rounding past the largest bf16 becomes infinity. Integer arithmetic, so the reference has it
// exactly (cvt.rn.bf16.f32 would give the same for every non-NaN value).
__device__ __forceinline__ uint32_t tf_norms_bf16(float f) {
    const uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

// One head vector of q or k on one warp: RMSNorm then RoPE, as RowOps.rmsNormHeads with FluxRotaryTable.rotate:
// v = (x · inv) · w; out[2i] = v[2i]·cos[2i] + (-v[2i+1])·sin[2i], out[2i+1] = v[2i+1]·cos[2i+1] + v[2i]·sin[2i+1].
__device__ __forceinline__ void tf_norms_rms_rope_head(const float* __restrict__ x, int64_t headDim,
                                                       const float* __restrict__ w, const float* __restrict__ cs,
                                                       const float* __restrict__ sn, uint16_t* __restrict__ out,
                                                       int lane) {
    const int64_t half = headDim / 2;
    float a[TF_NORMS_PAIRS], b[TF_NORMS_PAIRS];
    float acc = 0.0f;
#pragma unroll
    for (int j = 0; j < TF_NORMS_PAIRS; j++) {
        const int64_t p = lane + 32 * j;
        a[j] = p < half ? x[2 * p] : 0.0f;
        b[j] = p < half ? x[2 * p + 1] : 0.0f;
        if (p < half) acc = __fadd_rn(__fadd_rn(acc, __fmul_rn(a[j], a[j])), __fmul_rn(b[j], b[j]));
    }
    for (int s = 16; s > 0; s /= 2) acc = __fadd_rn(acc, __shfl_down_sync(0xffffffffu, acc, s));
    const float ss = __shfl_sync(0xffffffffu, acc, 0);
    const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)headDim), TF_NORMS_EPS)));
#pragma unroll
    for (int j = 0; j < TF_NORMS_PAIRS; j++) {
        const int64_t p = lane + 32 * j;
        if (p < half) {
            const float va = __fmul_rn(__fmul_rn(a[j], inv), w[2 * p]);
            const float vb = __fmul_rn(__fmul_rn(b[j], inv), w[2 * p + 1]);
            const float o0 = __fadd_rn(__fmul_rn(va, cs[2 * p]), __fmul_rn(-vb, sn[2 * p]));
            const float o1 = __fadd_rn(__fmul_rn(vb, cs[2 * p + 1]), __fmul_rn(va, sn[2 * p + 1]));
            reinterpret_cast<uint32_t*>(out)[p] = tf_norms_bf16(o0) | (tf_norms_bf16(o1) << 16);
        }
    }
}

// LAUNCH CONTRACT
//   blockDim = (TF_NORMS_THREADS = 256, 1, 1): 8 warps, one warp per (row, head), the warp's unit
//   u = 8 · blockIdx.x + warp, row r = u / heads, head h = u % heads; gridDim = (ceil(batch · tokens · heads / 8),
//   1, 1). No shared memory; warps past the last unit return (no block barrier in this kernel).
//   Q, K, V  [batch · tokens rows of stride ldq / ldk / ldv] fp32, row r = b · tokens + n holding heads · headDim
//            values, head h at h · headDim (the CPU's q, k, v after the linears). headDim even, 2..512.
//   weights  q_weight, k_weight [headDim] for tokens n >= text_tokens; q_weight_text, k_weight_text [headDim] for
//            n < text_tokens (the double blocks' norm_added_q/k on the text rows; may be NULL when text_tokens is 0).
//   rope_cos, rope_sin [tokens, headDim] fp32 (FluxRotaryTable: token n of the joint [text, image] sequence uses row n).
//   Qo, Ko, Vo  bf16 bits [batch · heads, tokens, headDim]: element ((b · heads + h) · tokens + n) · headDim + i,
//            each (batch, head) a contiguous [tokens, headDim] matrix, as flash attention reads it. 4-byte aligned
//            (a lane stores a pair of channels as one 32-bit word).
extern "C" __global__ void __launch_bounds__(TF_NORMS_THREADS)
    tf_qk_rmsnorm_rope(const float* __restrict__ Q, int64_t ldq, const float* __restrict__ K, int64_t ldk,
                       const float* __restrict__ V, int64_t ldv, int64_t batch, int64_t tokens, int64_t heads,
                       int64_t headDim, int64_t text_tokens, const float* __restrict__ q_weight,
                       const float* __restrict__ k_weight, const float* __restrict__ q_weight_text,
                       const float* __restrict__ k_weight_text, const float* __restrict__ rope_cos,
                       const float* __restrict__ rope_sin, uint16_t* __restrict__ Qo, uint16_t* __restrict__ Ko,
                       uint16_t* __restrict__ Vo) {
    const int lane = threadIdx.x & 31;
    const int64_t unit = (int64_t)blockIdx.x * (TF_NORMS_THREADS / 32) + threadIdx.x / 32;
    if (unit >= batch * tokens * heads) return;  // the whole warp: unit is the same on its 32 lanes
    const int64_t h = unit % heads, r = unit / heads, n = r % tokens, b = r / tokens;
    const bool text = n < text_tokens;
    const float* cs = rope_cos + n * headDim;
    const float* sn = rope_sin + n * headDim;
    const int64_t o = ((b * heads + h) * tokens + n) * headDim;
    tf_norms_rms_rope_head(Q + r * ldq + h * headDim, headDim, text ? q_weight_text : q_weight, cs, sn, Qo + o, lane);
    tf_norms_rms_rope_head(K + r * ldk + h * headDim, headDim, text ? k_weight_text : k_weight, cs, sn, Ko + o, lane);
    const float* v = V + r * ldv + h * headDim;
    for (int64_t p = lane; p < headDim / 2; p += 32)
        reinterpret_cast<uint32_t*>(Vo + o)[p] = tf_norms_bf16(v[2 * p]) | (tf_norms_bf16(v[2 * p + 1]) << 16);
}
