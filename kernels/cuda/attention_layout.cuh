// The index arithmetic of tf_flash_attention_bf16_d32 / _d128 (kernels/cuda/attention.cu): tile sizes, the
// cp.async copy plan, the shared-memory swizzle, the per-lane ldmatrix addresses, which register of which
// fragment holds what, and the output coordinates. It is shared, unchanged, by the kernel and by the host
// emulation (ops/gpu/attention_emulation), which compiles it with g++ and checks every index against the PTX
// ISA's layouts; nothing here may depend on CUDA beyond the qualifier.
#ifndef TERNFLUX_ATTENTION_LAYOUT_CUH
#define TERNFLUX_ATTENTION_LAYOUT_CUH
#include <cstdint>

#if defined(__CUDACC__)
#define TF_ATTN_FN __host__ __device__ __forceinline__
#else
#define TF_ATTN_FN inline
#endif

// The launch contract (see attention.cu), the same for both head dimensions:
//   blockDim = (TF_ATTN_THREADS, 1, 1), gridDim = (ceil(tokens / TF_ATTN_BR), batch * heads, 1),
//   0 bytes of dynamic shared memory; static shared memory TfAttn<D>::SMEM_BYTES (48 KB for D = 128, 20 KB for 32).
#define TF_ATTN_BR 64        // query rows per CTA
#define TF_ATTN_WARPS 4      // each warp owns 16 query rows (one m16 tile)
#define TF_ATTN_THREADS 128
#define TF_ATTN_BC_D32 128   // keys per pipeline step, head dim 32
#define TF_ATTN_BC_D128 64   // keys per pipeline step, head dim 128
#define TF_ATTN_SMEM_D32 20480
#define TF_ATTN_SMEM_D128 49152

// log2(e) / sqrt(D): the softmax is exp2(S * c - max(S) * c) with S = Q K^T unscaled.
#define TF_ATTN_SCALE_LOG2_D32 0.25503486f   // 1.4426950408889634 / sqrt(32)  = 0.2550348616...
#define TF_ATTN_SCALE_LOG2_D128 0.12751743f  // 1.4426950408889634 / sqrt(128) = 0.1275174308...

template <int D>
struct TfAttn {
    static_assert(D == 32 || D == 128, "head dims 32 and 128");
    static constexpr int BC = D == 32 ? TF_ATTN_BC_D32 : TF_ATTN_BC_D128;
    static constexpr int CHUNKS = D / 8;              // 16-byte chunks per row (8 bf16)
    static constexpr int ROW_BYTES = 2 * D;
    static constexpr int KS = D / 16;                 // k16 steps of S = Q K^T
    static constexpr int NT_S = BC / 8;               // n8 tiles of S per warp (keys)
    static constexpr int KS_PV = BC / 16;             // k16 steps of O += P V
    static constexpr int NT_O = D / 8;                // n8 tiles of O per warp (head dim)
    static constexpr int Q_BYTES = TF_ATTN_BR * ROW_BYTES;
    static constexpr int KV_BYTES = BC * ROW_BYTES;   // one K (or V) tile
    static constexpr int Q_OFFSET = 0;
    static constexpr int K_OFFSET = Q_BYTES;
    static constexpr int V_OFFSET = Q_BYTES + KV_BYTES;
    static constexpr int SMEM_BYTES = Q_BYTES + 2 * KV_BYTES;
    static constexpr int Q_COPIES = TF_ATTN_BR * CHUNKS / TF_ATTN_THREADS;  // cp.async of 16 bytes per thread
    static constexpr int KV_COPIES = BC * CHUNKS / TF_ATTN_THREADS;
    static constexpr float SCALE_LOG2 = D == 32 ? TF_ATTN_SCALE_LOG2_D32 : TF_ATTN_SCALE_LOG2_D128;
    static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory is limited to 48 KB");
    static_assert(SMEM_BYTES == (D == 32 ? TF_ATTN_SMEM_D32 : TF_ATTN_SMEM_D128), "the documented sizes");
    static_assert(Q_COPIES * TF_ATTN_THREADS == TF_ATTN_BR * CHUNKS, "Q copies must tile the Q buffer");
    static_assert(KV_COPIES * TF_ATTN_THREADS == BC * CHUNKS, "K/V copies must tile their buffers");
    static_assert(TF_ATTN_WARPS * 16 == TF_ATTN_BR && TF_ATTN_WARPS * 32 == TF_ATTN_THREADS, "4 warps of 16 rows");
};

// ---- Shared memory -------------------------------------------------------------------------------------------
// Each buffer (Q: 64 rows, K and V: BC rows) holds row r (a query or a key) as 2D bytes, d = 8c..8c+7 in 16-byte
// chunk c, stored at chunk c ^ swizzle(r). An ldmatrix phase (one 8x8 matrix) reads one chunk of 8 consecutive
// rows 8i..8i+7; the 16-byte bank group of row r, stored chunk s, is (r * CHUNKS + s) mod 8:
//   D = 128 (16 chunks, 256-byte rows): (s) mod 8, so s = c ^ (r & 7) gives 8 distinct groups;
//   D =  32 (4 chunks, 64-byte rows): 4 (r & 1) + s, so s = c ^ ((r >> 1) & 3) gives 8 distinct groups.
// cp.async writes whole chunks, so the swizzle costs the copies nothing.
template <int D>
TF_ATTN_FN int tf_attn_swizzle(int r) {
    return D == 32 ? (r >> 1) & 3 : r & 7;
}
template <int D>
TF_ATTN_FN int tf_attn_smem(int r, int c) {
    return r * TfAttn<D>::ROW_BYTES + ((c ^ tf_attn_swizzle<D>(r)) << 4);
}

// ---- Global -> shared copies (cp.async.cg, 16 bytes each) --------------------------------------------------------
struct TfAttnCopy {
    int smem;        // byte offset inside the tile's buffer
    int64_t global;  // element (bf16) offset inside the head's [tokens, D] matrix
    uint32_t bytes;  // source bytes: 16, or 0 (zero fill) for a row at or past `tokens`
};

// Copy i of thread tid for a tile of ROWS rows starting at row0: chunk q = tid + 128 i of the tile, row
// q / CHUNKS, chunk q % CHUNKS, so consecutive threads read consecutive 16 bytes of the tile (the tile is one
// contiguous block of the head's matrix: 512 contiguous bytes per warp instruction). A row past the end reads
// nothing (src-size 0, zero-filled) from row 0 of the head, a valid address.
template <int D>
TF_ATTN_FN TfAttnCopy tf_attn_copy(int tid, int i, int64_t row0, int64_t tokens) {
    const int q = tid + i * TF_ATTN_THREADS, r = q / TfAttn<D>::CHUNKS, c = q % TfAttn<D>::CHUNKS;
    const bool inside = row0 + r < tokens;
    TfAttnCopy copy;
    copy.smem = tf_attn_smem<D>(r, c);
    copy.global = (inside ? row0 + r : 0) * D + c * 8;
    copy.bytes = inside ? 16u : 0u;
    return copy;
}

// ---- Fragments (mma.m16n8k16 .bf16; lane = 4 g + t) --------------------------------------------------------------
// Q, the A operand of S = Q K^T, k-step ks (d = 16 ks .. 16 ks + 15): ldmatrix.x4, lanes 8j..8j+7 give the rows
// of matrix j = rows 8 (j & 1) + 0..7 of the warp's 16, chunk 2 ks + (j >> 1); register j of lane (g, t) gets
// row g + 8 (j & 1), d 16 ks + 8 (j >> 1) + 2t, +1: that is a0a1, a2a3, a4a5, a6a7 of the ISA's A fragment.
template <int D>
TF_ATTN_FN int tf_attn_ldsm_q(int warp, int ks, int lane) {
    const int j = lane >> 3;
    return tf_attn_smem<D>(warp * 16 + (j & 1) * 8 + (lane & 7), 2 * ks + (j >> 1));
}

// K, the B operand (16 d x 8 keys, "col": B[k][n] = K[key n][d k]) for the n-tile pair np (keys 16 np .. +15),
// k-step ks: matrix j = keys 16 np + 8 (j >> 1) + 0..7, chunk 2 ks + (j & 1) (no .trans: lane (g, t) gets key
// g, d 2t, 2t + 1 of the matrix = b0b1 for j even, b2b3 (d + 8) for j odd). Register j is b-register
// tf_attn_b_reg(j) of n-tile tf_attn_b_tile(np, j).
template <int D>
TF_ATTN_FN int tf_attn_ldsm_k(int np, int ks, int lane) {
    const int j = lane >> 3;
    return tf_attn_smem<D>(np * 16 + (j >> 1) * 8 + (lane & 7), 2 * ks + (j & 1));
}

// V, the B operand of O += P V (16 keys x 8 d, B[k][n] = V[key k][d n]), key step kk (keys 16 kk .. +15) and
// d-tile pair dp (d 16 dp .. +15): ldmatrix.x4.trans, matrix j = keys 16 kk + 8 (j & 1) + 0..7 (the stored
// rows), chunk 2 dp + (j >> 1); with .trans lane (g, t) gets stored rows 2t, 2t + 1 of column g, i.e.
// V[key 2t (+1) (+8 for j odd)][d g] = b0b1 (j even) or b2b3 (j odd) of d-tile 2 dp + (j >> 1).
template <int D>
TF_ATTN_FN int tf_attn_ldsm_v(int kk, int dp, int lane) {
    const int j = lane >> 3;
    return tf_attn_smem<D>(kk * 16 + (j & 1) * 8 + (lane & 7), 2 * dp + (j >> 1));
}
// Which n-tile and which b-register (0: b0b1, 1: b2b3) ldmatrix register j is, for K (pair np) and V (pair dp).
TF_ATTN_FN int tf_attn_k_tile(int np, int j) { return 2 * np + (j >> 1); }
TF_ATTN_FN int tf_attn_k_breg(int j) { return j & 1; }
TF_ATTN_FN int tf_attn_v_tile(int dp, int j) { return 2 * dp + (j >> 1); }
TF_ATTN_FN int tf_attn_v_breg(int j) { return j & 1; }

// P as the A operand of key step kk: A register r (0..3) packs the S accumulators e, e + 1 of S n-tile
// tf_attn_p_tile(kk, r), e = tf_attn_p_elem(r): a0a1 = S tile 2kk c0c1 (row g, keys 2t..), a2a3 = tile 2kk
// c2c3 (row g + 8), a4a5 = tile 2kk + 1 c0c1 (keys 8 + 2t..), a6a7 = tile 2kk + 1 c2c3. Same lane, no shuffle.
TF_ATTN_FN int tf_attn_p_tile(int kk, int r) { return 2 * kk + (r >> 1); }
TF_ATTN_FN int tf_attn_p_elem(int r) { return 2 * (r & 1); }

// Accumulator i (0..3) of lane: row g (i < 2) or g + 8 of the warp's 16 (as a row of the CTA's 64), column
// 2t + (i & 1) of its n8 tile nt (a key of the S tile, or a d of O).
TF_ATTN_FN int tf_attn_c_row(int warp, int lane, int i) { return warp * 16 + (lane >> 2) + (i >> 1) * 8; }
TF_ATTN_FN int tf_attn_c_col(int nt, int lane, int i) { return nt * 8 + 2 * (lane & 3) + (i & 1); }

// O [batch, tokens, heads * D] fp32: the element of query `row`, column d of head h of batch b.
template <int D>
TF_ATTN_FN int64_t tf_attn_out(int64_t b, int64_t h, int64_t heads, int64_t tokens, int64_t row, int d) {
    return ((b * tokens + row) * heads + h) * D + d;
}

#endif
