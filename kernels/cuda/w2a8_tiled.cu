// tf_w2a8_gemm_tiled: the ternary W2A8 GEMM of w2a8.cu (tf_w2a8_gemm), tiled for speed, with the same bits.
//
// LAUNCH CONTRACT (macros in w2a8_tiled_layout.cuh)
//   blockDim  = (TF_TILED_THREADS = 256, 1, 1)                       8 warps
//   gridDim   = (ceil(N / TF_TILED_BN = 256), ceil(M / TF_TILED_BM = 128), 1)
//   dynamic shared memory = 0 bytes; static shared memory = TF_TILED_SMEM_BYTES = 49 152 (48 KB, no attribute)
//   Arguments and layouts exactly as tf_w2a8_gemm: XQ [M, KP] int8 (KP a multiple of 128, zero past K),
//   INV [M], W TF_FORMAT_I2 [N rows of KP / 128 blocks of 32 bytes], scale [N], bias [N] or NULL, Y [M, N] fp32.
//   M, N >= 1 arbitrary; gridDim.y <= 65 535 means M <= 8 388 480. XQ and W must be 16-byte aligned (cuMemAlloc
//   gives 256), which with KP % 128 == 0 makes every 16-byte row chunk and W half-block aligned.
//
// TILING
//   CTA tile 128 (M) x 256 (N), BK = 128 per stage: one I2 block (32 bytes) per column against 128 bytes of XQ
//   per row. Two shared-memory stages of A (128 x 128 int8, 16 KB) and W (256 x 32 bytes, 8 KB) filled with
//   cp.async.cg (16 bytes; src-size 0 zero-fills rows past M and columns past N); the copy of stage kb + 1 is
//   issued right after the barrier that publishes stage kb, so it overlaps stage kb's mma (one barrier a stage).
//   8 warps as 2 (M) x 4 (N), each a 64 x 64 warp tile = 4 m16 tiles x 8 n8 tiles: 128 accumulators, 128
//   mma.sync per warp per stage. A fragments come from ldmatrix.x4 (one per m16 tile per k32 step), W from two
//   32-bit loads per n8 tile per stage (each word holds the codes of all four k32 steps). ptxas: 242 registers
//   (sm_90; 244 on sm_80..89), no spill, so one CTA (8 warps) per SM. A third stage would need 72 KB, i.e.
//   dynamic shared memory and cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES); this kernel stays at 48 KB.
//
// FRAGMENTS (PTX ISA, mma.m16n8k32, .s8/.u8 operands; lane = 4 groupID + threadID_in_group = 4g + t)
//   A (16 x 32, row-major), 4 registers of 4 bytes: a0 = A[g][4t..4t+3], a1 = A[g+8][4t..4t+3],
//     a2 = A[g][16+4t..16+4t+3], a3 = A[g+8][16+4t..16+4t+3].
//   B (32 x 8, "col": each register is 4 consecutive k of one column), column n = g:
//     b0 = B[4t..4t+3][g], b1 = B[16+4t..16+4t+3][g].
//   C/D (16 x 8 s32): c0, c1 = C[g][2t], C[g][2t+1]; c2, c3 = C[g+8][2t], C[g+8][2t+1].
//   This is the layout tf_w2a8_gemm uses (there: a0/a2 from row group, a1/a3 from row group + 8 at k + 4t and
//   k + 16 + 4t; b0/b1 from W bytes 4t and 16 + 4t of the block at shift 2s; c0..c3 at rows group, group + 8,
//   columns 2t, 2t + 1), which matches the ISA's figures for m16n8k32 .s8 (row = groupID for a_i with i < 4 and
//   i in 8..11 counting bytes, groupID + 8 otherwise; col = 4 threadID_in_group + (i & 3) (+16 for i >= 8);
//   B row = 4 threadID_in_group + (i & 3) (+16 for i >= 4), col = groupID; C row = groupID (+8 for c2, c3),
//   col = 2 threadID_in_group + (i & 1)).
//   Why each index here is right:
//   - ldmatrix.x4 (.b16, no .trans): lanes 8j..8j+7 give the row addresses of matrix j, and lane 4g + t receives
//     row g, b16 elements 2t, 2t + 1 (= bytes 4t..4t+3) of matrix j in register j. Matrix j is rows 8 (j & 1) +
//     0..7 of the m-tile at bytes 16 (j >> 1) + 0..15 of the k-step, so register j is exactly a_j above.
//   - W: byte j of an I2 block holds k = 32s + j at bits [2s, 2s+2). For k-step s (k = 32s .. 32s + 31 of the
//     block) b0 needs k = 32s + 4t + 0..3, i.e. bytes 4t..4t+3 at shift 2s; b1 needs bytes 16 + 4t..+3. The two
//     words of a column a lane loads (bytes 4t.., 16 + 4t..) thus serve all four k-steps, shifted by 2s.
//   - The accumulator of lane (g, t), register i, is Y[row g + 8 (i >> 1)][col 2t + (i & 1)] of its tile.
//
// WEIGHTS AS UNSIGNED CODES (exactly the same integers as code - 1)
//   The mma takes B as .u8 codes c = w + 1 in {0, 1, 2} ((word >> 2s) & 0x03030303: one or two instructions
//   a register, where __vsub4 would cost several more; a code 3, which TF_FORMAT_I2 never writes, still gives
//   3 - 1 = 2 as decode4 and the reference do), and the row sums of A are accumulated alongside with
//   dp4a (A bytes x 1). Then  acc = sum_k x_k c_k - sum_k x_k = sum_k x_k (c_k - 1) = sum_k x_k w_k  exactly, in
//   int32 (both sides wrap alike modulo 2^32, as the s8 x s8 mma of tf_w2a8_gemm would). Each lane's dp4a sums
//   the k its A registers hold (4t.., 16 + 4t..); the four lanes t = 0..3 of a group hold the row's 32 k of the
//   step, so the row sum is completed with two xor-shuffles (lanes 4g + t ^ 1, ^ 2) in the epilogue. Zero-filled
//   rows and columns (past M / N) are never written.
//
// EPILOGUE: as tf_w2a8_gemm, Y = __fadd_rn(__fmul_rn((float)acc, __fmul_rn(scale[n], INV[m])), bias[n] or 0).
//
// CHECKED WITHOUT A GPU: ops/gpu/tiled_emulation/run.sh emulates this kernel CTA by CTA on the host with the
// index functions of w2a8_tiled_layout.cuh and the PTX semantics of cp.async, ldmatrix, mma, dp4a and shfl
// (copies, swizzles, bank conflicts, pipeline hazards, fragments, every Y element's bits against
// Sources/CCUDA/w2a8_reference.c). It has not run on a GPU.
#include <cstdint>
#include "w2a8_tiled_layout.cuh"

__device__ __forceinline__ void tf_tiled_cp_async16(uint32_t smem, const void* global, uint32_t bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem), "l"(global), "r"(bytes) : "memory");
}

__device__ __forceinline__ void tf_tiled_ldsm_x4(uint32_t smem, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem));
}

extern "C" __global__ void __launch_bounds__(TF_TILED_THREADS, 1)
    tf_w2a8_gemm_tiled(const int8_t* __restrict__ XQ, const float* __restrict__ INV, int64_t M, int64_t KP,
                       const uint8_t* __restrict__ W, const float* __restrict__ scale, const float* __restrict__ bias,
                       int64_t N, float* __restrict__ Y) {
    __shared__ __align__(128) uint8_t shared[TF_TILED_SMEM_BYTES];
    const uint32_t smem = (uint32_t)__cvta_generic_to_shared(shared);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int64_t m0 = (int64_t)blockIdx.y * TF_TILED_BM, n0 = (int64_t)blockIdx.x * TF_TILED_BN;
    const int64_t nk = KP / TF_TILED_BK;

    // This thread's copies, at k-block 0; a later k-block adds kb * TF_TILED_BK (A) and kb * 32 (W) to the source.
    const int8_t* a_src[TF_TILED_A_COPIES];
    uint32_t a_dst[TF_TILED_A_COPIES], a_bytes[TF_TILED_A_COPIES];
#pragma unroll
    for (int i = 0; i < TF_TILED_A_COPIES; i++) {
        const TfTiledCopy c = tf_tiled_a_copy(tid, i, m0, M, KP, 0);
        a_src[i] = XQ + c.global;
        a_dst[i] = smem + c.smem;
        a_bytes[i] = c.bytes;
    }
    const uint8_t* w_src[TF_TILED_W_COPIES];
    uint32_t w_dst[TF_TILED_W_COPIES], w_bytes[TF_TILED_W_COPIES];
#pragma unroll
    for (int i = 0; i < TF_TILED_W_COPIES; i++) {
        const TfTiledCopy c = tf_tiled_w_copy(tid, i, n0, N, KP, 0);
        w_src[i] = W + c.global;
        w_dst[i] = smem + TF_TILED_A_BYTES + c.smem;
        w_bytes[i] = c.bytes;
    }
    // Issue the copies of k-block kb into buffer `stage` as one commit group.
    auto load_stage = [&](int stage, int64_t kb) {
#pragma unroll
        for (int i = 0; i < TF_TILED_A_COPIES; i++)
            tf_tiled_cp_async16(a_dst[i] + stage * TF_TILED_A_STAGE_BYTES, a_src[i] + kb * TF_TILED_BK, a_bytes[i]);
#pragma unroll
        for (int i = 0; i < TF_TILED_W_COPIES; i++)
            tf_tiled_cp_async16(w_dst[i] + stage * TF_TILED_W_STAGE_BYTES, w_src[i] + kb * 32, w_bytes[i]);
        asm volatile("cp.async.commit_group;\n" ::: "memory");
    };

    int32_t acc[TF_TILED_MT][TF_TILED_NT][4];
    int32_t rowsum[TF_TILED_MT][2];  // this lane's part of the row sums of rows g and g + 8 of each m-tile
#pragma unroll
    for (int mt = 0; mt < TF_TILED_MT; mt++) {
        rowsum[mt][0] = rowsum[mt][1] = 0;
#pragma unroll
        for (int nt = 0; nt < TF_TILED_NT; nt++) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0;
    }

    load_stage(0, 0);
    for (int64_t kb = 0; kb < nk; kb++) {
        const int stage = (int)(kb & 1);
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");  // this thread's copies of k-block kb have landed
        // Everyone's copies of k-block kb are visible, and everyone is done reading k-block kb - 1 (the other buffer).
        __syncthreads();
        if (kb + 1 < nk) load_stage(stage ^ 1, kb + 1);

        const uint32_t a_stage = smem + stage * TF_TILED_A_STAGE_BYTES;
        const uint8_t* w_stage = shared + TF_TILED_A_BYTES + stage * TF_TILED_W_STAGE_BYTES;
        uint32_t wword[TF_TILED_NT][2];
#pragma unroll
        for (int nt = 0; nt < TF_TILED_NT; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++) wword[nt][h] = *reinterpret_cast<const uint32_t*>(w_stage + tf_tiled_lds_w(warp, nt, h, lane));
#pragma unroll
        for (int ks = 0; ks < TF_TILED_KS; ks++) {
            uint32_t a[TF_TILED_MT][4];
#pragma unroll
            for (int mt = 0; mt < TF_TILED_MT; mt++) {
                tf_tiled_ldsm_x4(a_stage + tf_tiled_ldsm_a(warp, mt, ks, lane), a[mt][0], a[mt][1], a[mt][2], a[mt][3]);
                rowsum[mt][0] = __dp4a((int)a[mt][0], 0x01010101, rowsum[mt][0]);
                rowsum[mt][0] = __dp4a((int)a[mt][2], 0x01010101, rowsum[mt][0]);
                rowsum[mt][1] = __dp4a((int)a[mt][1], 0x01010101, rowsum[mt][1]);
                rowsum[mt][1] = __dp4a((int)a[mt][3], 0x01010101, rowsum[mt][1]);
            }
#pragma unroll
            for (int nt = 0; nt < TF_TILED_NT; nt++) {
                const uint32_t b0 = tf_tiled_codes(wword[nt][0], ks), b1 = tf_tiled_codes(wword[nt][1], ks);
#pragma unroll
                for (int mt = 0; mt < TF_TILED_MT; mt++)
                    asm volatile(
                        "mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                        "{%0, %1, %2, %3};\n"
                        : "+r"(acc[mt][nt][0]), "+r"(acc[mt][nt][1]), "+r"(acc[mt][nt][2]), "+r"(acc[mt][nt][3])
                        : "r"(a[mt][0]), "r"(a[mt][1]), "r"(a[mt][2]), "r"(a[mt][3]), "r"(b0), "r"(b1));
            }
        }
    }

    // Complete the row sums over the four lanes of each group (t = 0..3 hold disjoint k) and fold them in.
#pragma unroll
    for (int mt = 0; mt < TF_TILED_MT; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            rowsum[mt][half] += __shfl_xor_sync(0xffffffffu, rowsum[mt][half], 1);
            rowsum[mt][half] += __shfl_xor_sync(0xffffffffu, rowsum[mt][half], 2);
        }
    // Epilogue: rows and columns inside the CTA tile, compared with what is left of M and N (both clamp to the tile).
    const int rows_left = (int)(M - m0 < TF_TILED_BM ? M - m0 : TF_TILED_BM);
    const int cols_left = (int)(N - n0 < TF_TILED_BN ? N - n0 : TF_TILED_BN);
    float inv[TF_TILED_MT][2];
    float* yrow[TF_TILED_MT][2];
#pragma unroll
    for (int mt = 0; mt < TF_TILED_MT; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            const int r = tf_tiled_c_row(warp, mt, lane, 2 * half);
            inv[mt][half] = r < rows_left ? INV[m0 + r] : 0.0f;
            yrow[mt][half] = r < rows_left ? Y + (m0 + r) * N + n0 : Y;  // only stored through when r < rows_left
        }
#pragma unroll
    for (int nt = 0; nt < TF_TILED_NT; nt++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int c = tf_tiled_c_col(warp, nt, lane, e);
            if (c >= cols_left) continue;
            const float s = scale[n0 + c], b = bias ? bias[n0 + c] : 0.0f;
#pragma unroll
            for (int mt = 0; mt < TF_TILED_MT; mt++)
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    if (tf_tiled_c_row(warp, mt, lane, 2 * half) >= rows_left) continue;
                    const float f = __fmul_rn(s, inv[mt][half]);
                    const float p = __fmul_rn((float)(acc[mt][nt][2 * half + e] - rowsum[mt][half]), f);
                    yrow[mt][half][c] = __fadd_rn(p, b);
                }
        }
}
