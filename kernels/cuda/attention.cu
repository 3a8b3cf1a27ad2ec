// tf_flash_attention_bf16_d32 / tf_flash_attention_bf16_d128: FLUX joint attention, O = softmax(Q K^T / sqrt(D)) V
// over all tokens (text and image together, no mask), a FlashAttention-2-style forward pass on bf16 tensor cores.
//
// LAUNCH CONTRACT (macros in attention_layout.cuh; the host side is Sources/CCUDA/cuda_attention.c)
//   blockDim  = (TF_ATTN_THREADS = 128, 1, 1)                     4 warps, 16 query rows each
//   gridDim   = (ceil(tokens / TF_ATTN_BR = 64), batch * heads, 1)  x: query tile, y: (batch, head) = b * heads + h
//   dynamic shared memory = 0 bytes; static shared memory = TfAttn<D>::SMEM_BYTES:
//     D = 128: Q 64 x 128 + K 64 x 128 + V 64 x 128 bf16 = 49 152 bytes (48 KB, no attribute needed)
//     D =  32: Q 64 x 32 + K 128 x 32 + V 128 x 32 bf16  = 20 480 bytes
//   Arguments (Q, K, V, heads, tokens, O):
//     Q, K, V  bf16 (uint16 bits), [batch * heads, tokens, D] contiguous, 16-byte aligned (cuMemAlloc gives 256)
//     heads    heads per batch element (>= 1; batch = gridDim.y / heads)
//     tokens   >= 1, arbitrary (ragged last query and key tiles handled)
//     O        fp32 [batch, tokens, heads * D]: row (b, n) holds head h at columns h * D .. h * D + D - 1, the
//              layout the out-projection consumes. Rows past `tokens` of the last query tile are not written.
//   gridDim.y <= 65 535 bounds batch * heads; tokens * D * (batch * heads) elements are indexed in int64.
//
// ALGORITHM (per CTA: query rows q0 = 64 blockIdx.x .. q0 + 63 of head blockIdx.y)
//   Q tile -> shared (cp.async) -> registers (ldmatrix, all D / 16 k-steps, kept for the whole loop).
//   For each key tile j of BC keys (BC = 64 for D = 128, 128 for D = 32), single K and V buffers:
//     [K_j landed, barrier]  issue V_j copy  |  S = Q K_j^T (mma, fp32)  |  mask keys >= tokens to -inf
//     online softmax per row: m' = max(m, rowmax S); alpha = exp2(m c - m' c); P = exp2(S c - m' c) with
//       c = log2(e) / sqrt(D) (one FFMA + ex2.approx.ftz per score); P rounded to bf16 (the mma operand); the
//       row sum l accumulates the *rounded* P, l = alpha l + sum P, so the final O / l is an exact weighted mean
//       of the rows of V with the weights the tensor cores used (FlashAttention-2 sums the unrounded P; summing
//       the rounded ones removes the common-mode error of the bf16 rounding from the normalisation); O *= alpha
//     [V_j landed, barrier]  issue K_{j+1} copy  |  O += P V_j (mma, fp32)
//   So the V copy overlaps S and the softmax, the next K copy overlaps P V; two barriers per key tile.
//   The row max and row sum of a row live in the four lanes t = 0..3 of its group (each holds 2 columns of each
//   n8 tile): the max is reduced with two xor-shuffles every tile, the sum (linear) only once at the end.
//   Masked keys: their S is set to -inf before the max, so P = exp2(-inf) = 0 exactly, and their V rows are
//   zero-filled (src-size 0), so they contribute exactly 0 (never 0 * garbage). Key tile 0 always holds key 0,
//   so every row's max is finite after it; the -inf guard on the max is kept anyway (no NaN from -inf - -inf).
//   Padding query rows (past tokens) are zero-filled, computed, and not stored.
//
// FRAGMENTS (PTX ISA, mma.m16n8k16.row.col.f32.bf16.bf16.f32; lane = 4 groupID + threadID_in_group = 4g + t)
//   A (16 x 16 row-major), 4 registers of 2 bf16 (low half = lower column): a0a1 = A[g][2t, 2t+1],
//     a2a3 = A[g+8][2t, 2t+1], a4a5 = A[g][2t+8, 2t+9], a6a7 = A[g+8][2t+8, 2t+9].
//   B (16 x 8, "col"), 2 registers: b0b1 = B[2t, 2t+1][g], b2b3 = B[2t+8, 2t+9][g].
//   C/D (16 x 8 fp32): c0, c1 = C[g][2t, 2t+1]; c2, c3 = C[g+8][2t, 2t+1].
//   ldmatrix.m8n8.x4.b16: lanes 8j..8j+7 give the 8 row addresses (16 bytes each) of matrix j; without .trans
//   lane 4g + t receives row g, elements 2t, 2t+1 of matrix j in register j; with .trans it receives rows
//   2t, 2t+1 of column g. attention_layout.cuh says, per operand, which matrix is which rows and chunk:
//   Q (A, no .trans), K (B with B[k][n] = K[n][k]: rows of K are columns of B, no .trans), V (B with
//   B[k][n] = V[k][n]: .trans). P (A) is repacked from the S accumulators of the same lane (cvt.rn.bf16x2).
//
// REGISTERS, SPILLS, OCCUPANCY (ptxas, CUDA 13.0, -O3; ops/gpu/build-fatbin.sh enforces 0 spill bytes)
//   D = 128: 226 registers on sm_90, 223 on sm_80/86/89, no spill; 48 KB shared: 2 CTAs (8 warps) per SM, bound
//            by registers (a third CTA needs <= 168 registers: __launch_bounds__(128, 3) spills ~150 bytes).
//   D =  32: 154 registers on sm_90, 145 on sm_80/86/89, no spill; 20 KB shared: 3 CTAs (12 warps) per SM
//            (four need <= 128 registers: sm_90 then spills 12 bytes).
//   Per-lane state for D = 128: Q fragments 32 + O 64 + S 32 registers (P, 16, replaces S as it is packed);
//   for D = 32: Q 8 + O 16 + S 64 (P 32).
//
// CHECKED WITHOUT A GPU: ops/gpu/attention_emulation/run.sh emulates this kernel CTA by CTA on the host with the
// index functions of attention_layout.cuh and the PTX semantics of cp.async, ldmatrix (.trans), mma, cvt and
// shfl (copies, swizzle, bank conflicts, pipeline hazards, every fragment element, the online softmax, every O
// element against Sources/CCUDA/attention_reference.c). It has not run on a GPU.
#include <cstdint>
#include "attention_layout.cuh"

__device__ __forceinline__ void tf_attn_cp_async16(uint32_t smem, const void* global, uint32_t bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem), "l"(global), "r"(bytes) : "memory");
}

__device__ __forceinline__ void tf_attn_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void tf_attn_cp_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ void tf_attn_ldsm_x4(uint32_t smem, uint32_t (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem)
                 : "memory");
}

__device__ __forceinline__ void tf_attn_ldsm_x4_trans(uint32_t smem, uint32_t (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem)
                 : "memory");
}

__device__ __forceinline__ void tf_attn_mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x by the SFU (ex2.approx.ftz.f32: ~2 ulp, -inf gives +0, subnormal results flush to +0, no denormal
// fix-up instructions around MUFU.EX2 as exp2f's non-ftz form needs). Weights below 2^-126 are irrelevant here.
__device__ __forceinline__ float tf_attn_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// Two fp32 rounded to nearest-even bf16 in one register: `lo` in bits 0..15 (the lower column), `hi` above.
__device__ __forceinline__ uint32_t tf_attn_pack_bf16(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

template <int D>
__device__ __forceinline__ void tf_attn_forward(uint8_t* shared, const uint16_t* __restrict__ Q, const uint16_t* __restrict__ K,
                                                const uint16_t* __restrict__ V, int heads, int tokens, float* __restrict__ O) {
    using T = TfAttn<D>;
    constexpr float c = T::SCALE_LOG2;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int64_t bh = blockIdx.y, q0 = (int64_t)blockIdx.x * TF_ATTN_BR;
    const int64_t head_base = bh * (int64_t)tokens * D;
    const uint16_t* Qh = Q + head_base;
    const uint16_t* Kh = K + head_base;
    const uint16_t* Vh = V + head_base;
    const uint32_t smem = (uint32_t)__cvta_generic_to_shared(shared);
    const uint32_t sQ = smem + T::Q_OFFSET, sK = smem + T::K_OFFSET, sV = smem + T::V_OFFSET;

    // Issue the copies of the key (or value) tile starting at key k0 into `buffer` as one commit group.
    auto load_kv = [&](uint32_t buffer, const uint16_t* src, int64_t k0) {
#pragma unroll
        for (int i = 0; i < T::KV_COPIES; i++) {
            const TfAttnCopy cp = tf_attn_copy<D>(tid, i, k0, tokens);
            tf_attn_cp_async16(buffer + cp.smem, src + cp.global, cp.bytes);
        }
        tf_attn_cp_commit();
    };

    // Prologue: the Q tile and key tile 0, then Q into registers for the whole loop.
#pragma unroll
    for (int i = 0; i < T::Q_COPIES; i++) {
        const TfAttnCopy cp = tf_attn_copy<D>(tid, i, q0, tokens);
        tf_attn_cp_async16(sQ + cp.smem, Qh + cp.global, cp.bytes);
    }
    load_kv(sK, Kh, 0);
    tf_attn_cp_wait_all();
    __syncthreads();
    uint32_t qf[T::KS][4];
#pragma unroll
    for (int ks = 0; ks < T::KS; ks++) tf_attn_ldsm_x4(sQ + tf_attn_ldsm_q<D>(warp, ks, lane), qf[ks]);

    float o[T::NT_O][4];
#pragma unroll
    for (int nt = 0; nt < T::NT_O; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY};  // running max of S (unscaled) of rows g and g + 8
    float l[2] = {0.0f, 0.0f};            // this lane's part of the running sums of P

    const int ntiles = (tokens + T::BC - 1) / T::BC;
    for (int j = 0; j < ntiles; j++) {
        const int64_t k0 = (int64_t)j * T::BC;
        if (j > 0) {
            tf_attn_cp_wait_all();  // this thread's copies of K_j have landed
            __syncthreads();        // everyone's are visible, and everyone is done reading V_{j-1}
        }
        load_kv(sV, Vh, k0);

        // S = Q K_j^T, 16 rows x BC keys per warp.
        float s[T::NT_S][4];
#pragma unroll
        for (int nt = 0; nt < T::NT_S; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < T::KS; ks++)
#pragma unroll
            for (int np = 0; np < T::NT_S / 2; np++) {
                uint32_t b[4];
                tf_attn_ldsm_x4(sK + tf_attn_ldsm_k<D>(np, ks, lane), b);
                uint32_t bt[2][2];  // [n-tile 2 np + u][b0b1, b2b3]
#pragma unroll
                for (int r = 0; r < 4; r++) bt[tf_attn_k_tile(np, r) - 2 * np][tf_attn_k_breg(r)] = b[r];
                tf_attn_mma(s[2 * np], qf[ks], bt[0][0], bt[0][1]);
                tf_attn_mma(s[2 * np + 1], qf[ks], bt[1][0], bt[1][1]);
            }
        // Keys at or past `tokens` (only in the last tile) get -inf: P = 0 exactly.
        if (k0 + T::BC > tokens) {
#pragma unroll
            for (int nt = 0; nt < T::NT_S; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++)
                    if (k0 + tf_attn_c_col(nt, lane, i) >= tokens) s[nt][i] = -INFINITY;
        }

        // Online softmax: new running max, rescale factors, P (in place of S) and the row sums.
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int nt = 0; nt < T::NT_S; nt++) {
            mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
        }
        float alpha[2], ms[2];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
            mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
            ms[h] = mx[h] == -INFINITY ? 0.0f : mx[h] * c;
            alpha[h] = tf_attn_exp2(fmaf(m[h], c, -ms[h]));  // 0 on the first tile (m = -inf)
            m[h] = mx[h];
            l[h] *= alpha[h];
        }
        uint32_t pf[T::KS_PV][4];
#pragma unroll
        for (int kk = 0; kk < T::KS_PV; kk++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int nt = tf_attn_p_tile(kk, r), e = tf_attn_p_elem(r), h = e >> 1;
                const float p0 = tf_attn_exp2(fmaf(s[nt][e], c, -ms[h])), p1 = tf_attn_exp2(fmaf(s[nt][e + 1], c, -ms[h]));
                pf[kk][r] = tf_attn_pack_bf16(p0, p1);
                // The rounded values, back in fp32: what the mma multiplies V by.
                l[h] += __uint_as_float(pf[kk][r] << 16) + __uint_as_float(pf[kk][r] & 0xffff0000u);
            }
#pragma unroll
        for (int nt = 0; nt < T::NT_O; nt++) {
            o[nt][0] *= alpha[0];
            o[nt][1] *= alpha[0];
            o[nt][2] *= alpha[1];
            o[nt][3] *= alpha[1];
        }

        tf_attn_cp_wait_all();  // this thread's copies of V_j have landed
        __syncthreads();        // everyone's are visible, and everyone is done reading K_j
        if (j + 1 < ntiles) load_kv(sK, Kh, k0 + T::BC);

        // O += P V_j.
#pragma unroll
        for (int kk = 0; kk < T::KS_PV; kk++)
#pragma unroll
            for (int dp = 0; dp < T::NT_O / 2; dp++) {
                uint32_t b[4];
                tf_attn_ldsm_x4_trans(sV + tf_attn_ldsm_v<D>(kk, dp, lane), b);
                uint32_t bt[2][2];  // [d-tile 2 dp + u][b0b1, b2b3]
#pragma unroll
                for (int r = 0; r < 4; r++) bt[tf_attn_v_tile(dp, r) - 2 * dp][tf_attn_v_breg(r)] = b[r];
                tf_attn_mma(o[2 * dp], pf[kk], bt[0][0], bt[0][1]);
                tf_attn_mma(o[2 * dp + 1], pf[kk], bt[1][0], bt[1][1]);
            }
    }

    // Row sums over the four lanes of each group, then O / l into [batch, tokens, heads * D].
    float inv[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
        inv[h] = 1.0f / l[h];
    }
    const int64_t b = bh / heads, hd = bh % heads;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int64_t row = q0 + tf_attn_c_row(warp, lane, 2 * h);
        if (row >= tokens) continue;
        float* out = O + tf_attn_out<D>(b, hd, heads, tokens, row, 0);
#pragma unroll
        for (int nt = 0; nt < T::NT_O; nt++) {
            float2 v;
            v.x = o[nt][2 * h] * inv[h];
            v.y = o[nt][2 * h + 1] * inv[h];
            *reinterpret_cast<float2*>(out + tf_attn_c_col(nt, lane, 0)) = v;
        }
    }
}

extern "C" __global__ void __launch_bounds__(TF_ATTN_THREADS)
    tf_flash_attention_bf16_d128(const uint16_t* __restrict__ Q, const uint16_t* __restrict__ K, const uint16_t* __restrict__ V,
                                 int heads, int tokens, float* __restrict__ O) {
    __shared__ __align__(128) uint8_t shared[TfAttn<128>::SMEM_BYTES];
    tf_attn_forward<128>(shared, Q, K, V, heads, tokens, O);
}

extern "C" __global__ void __launch_bounds__(TF_ATTN_THREADS)
    tf_flash_attention_bf16_d32(const uint16_t* __restrict__ Q, const uint16_t* __restrict__ K, const uint16_t* __restrict__ V,
                                int heads, int tokens, float* __restrict__ O) {
    __shared__ __align__(128) uint8_t shared[TfAttn<32>::SMEM_BYTES];
    tf_attn_forward<32>(shared, Q, K, V, heads, tokens, O);
}
