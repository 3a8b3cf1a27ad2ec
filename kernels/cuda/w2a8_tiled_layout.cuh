// The index arithmetic of tf_w2a8_gemm_tiled (kernels/cuda/w2a8_tiled.cu): tile sizes, the cp.async copy plan,
// the shared-memory swizzles, the per-lane fragment addresses and the accumulator coordinates. It is shared,
// unchanged, by the kernel and by the host emulation test (ops/gpu/tiled_emulation), which compiles it with g++
// and checks every index against the PTX ISA's layouts; nothing here may depend on CUDA beyond the qualifier.
#ifndef TERNFLUX_W2A8_TILED_LAYOUT_CUH
#define TERNFLUX_W2A8_TILED_LAYOUT_CUH
#include <cstdint>

#if defined(__CUDACC__)
#define TF_TILED_FN __host__ __device__ __forceinline__
#else
#define TF_TILED_FN inline
#endif

// The launch contract (see w2a8_tiled.cu): blockDim = (TF_TILED_THREADS, 1, 1),
// gridDim = (ceil(N / TF_TILED_BN), ceil(M / TF_TILED_BM), 1), 0 bytes of dynamic shared memory.
#define TF_TILED_BM 128        // rows of Y per CTA
#define TF_TILED_BN 256        // columns of Y per CTA
#define TF_TILED_BK 128        // k per pipeline stage: one TF_FORMAT_I2 block (32 bytes) per column
#define TF_TILED_STAGES 2      // shared-memory buffers (load of stage kb + 1 overlaps the mma of stage kb)
#define TF_TILED_THREADS 256   // 8 warps
#define TF_TILED_WARPS_N 4     // warps side by side along N; 2 along M
#define TF_TILED_WM 64         // warp tile: 64 rows x 64 columns
#define TF_TILED_WN 64
#define TF_TILED_MT 4          // m16 tiles per warp (TF_TILED_WM / 16)
#define TF_TILED_NT 8          // n8 tiles per warp (TF_TILED_WN / 8)
#define TF_TILED_KS 4          // k32 mma steps per stage (TF_TILED_BK / 32)
#define TF_TILED_A_STAGE_BYTES (TF_TILED_BM * TF_TILED_BK)   // 16 384: 128 rows x 128 int8
#define TF_TILED_W_STAGE_BYTES (TF_TILED_BN * 32)            //  8 192: 256 columns x one 32-byte block
#define TF_TILED_A_BYTES (TF_TILED_STAGES * TF_TILED_A_STAGE_BYTES)
#define TF_TILED_SMEM_BYTES (TF_TILED_STAGES * (TF_TILED_A_STAGE_BYTES + TF_TILED_W_STAGE_BYTES))  // 49 152
#define TF_TILED_A_COPIES (TF_TILED_A_STAGE_BYTES / 16 / TF_TILED_THREADS)  // 4 cp.async of 16 bytes per thread
#define TF_TILED_W_COPIES (TF_TILED_W_STAGE_BYTES / 16 / TF_TILED_THREADS)  // 2

static_assert(TF_TILED_SMEM_BYTES <= 48 * 1024, "static shared memory is limited to 48 KB");
static_assert(TF_TILED_A_COPIES * 16 * TF_TILED_THREADS == TF_TILED_A_STAGE_BYTES, "A copies must tile the stage");
static_assert(TF_TILED_W_COPIES * 16 * TF_TILED_THREADS == TF_TILED_W_STAGE_BYTES, "W copies must tile the stage");
static_assert(TF_TILED_WM * 2 == TF_TILED_BM && TF_TILED_WN * TF_TILED_WARPS_N == TF_TILED_BN, "8 warps, 2 x 4");

// ---- Shared memory -------------------------------------------------------------------------------------------
// A stage: row r (0..127) is 128 bytes, k = 16c..16c+15 of the stage in 16-byte chunk c (0..7) stored at chunk
// c ^ (r & 7). An ldmatrix phase reads one chunk of 8 consecutive rows: with the XOR those are 8 distinct
// chunks, i.e. all 32 banks once (no conflict); cp.async writes whole chunks, so the swizzle costs nothing.
TF_TILED_FN int tf_tiled_a_smem(int r, int c) { return r * TF_TILED_BK + ((c ^ (r & 7)) << 4); }

// W stage: column n (0..255) is its 32-byte I2 block; half h (bytes 16h..16h+15) stored at half h ^ ((n >> 2) & 1).
// A B-fragment load has lane (g, t) read word t of half h of column base + g: unswizzled, columns g and g + 4
// would hit the same bank (32-byte rows: bank = 8n + 4h + t mod 32); the XOR moves g = 4..7 to the other half.
TF_TILED_FN int tf_tiled_w_smem(int n, int h) { return n * 32 + ((h ^ ((n >> 2) & 1)) << 4); }

// ---- Global -> shared copies (cp.async.cg, 16 bytes each) --------------------------------------------------------
struct TfTiledCopy {
    int smem;        // byte offset inside the stage's A (or W) buffer
    int64_t global;  // byte offset inside XQ (or W)
    uint32_t bytes;  // source bytes: 16, or 0 (zero fill) for a row past M / a column past N
};

// Copy i (0..3) of thread tid: A row r = tid / 8 + 32 i, chunk c = tid % 8, so 8 consecutive threads read one
// row's 128 contiguous bytes (a 128-byte coalesced segment). A row past M reads nothing (src-size 0, the 16
// bytes are zero-filled) from row 0, a valid address; the stage covers k = 128 kb .. 128 kb + 127 < KP.
TF_TILED_FN TfTiledCopy tf_tiled_a_copy(int tid, int i, int64_t m0, int64_t M, int64_t KP, int64_t kb) {
    const int r = (tid >> 3) + i * (TF_TILED_THREADS / 8), c = tid & 7;
    const bool inside = m0 + r < M;
    TfTiledCopy copy;
    copy.smem = tf_tiled_a_smem(r, c);
    copy.global = (inside ? m0 + r : 0) * KP + kb * TF_TILED_BK + c * 16;
    copy.bytes = inside ? 16u : 0u;
    return copy;
}

// Copy i (0..1) of thread tid: W column n = tid / 2 + 128 i, half h = tid % 2: block kb of the column (its rows
// are KP / 4 bytes, block kb at 32 kb). A column past N is zero-filled from column 0.
TF_TILED_FN TfTiledCopy tf_tiled_w_copy(int tid, int i, int64_t n0, int64_t N, int64_t KP, int64_t kb) {
    const int n = (tid >> 1) + i * (TF_TILED_THREADS / 2), h = tid & 1;
    const bool inside = n0 + n < N;
    TfTiledCopy copy;
    copy.smem = tf_tiled_w_smem(n, h);
    copy.global = (inside ? n0 + n : 0) * (KP / 4) + kb * 32 + h * 16;
    copy.bytes = inside ? 16u : 0u;
    return copy;
}

// ---- Warp tiles and fragments -----------------------------------------------------------------------------------
// Warp w (0..7) owns rows 64 (w / 4) .. +63 and columns 64 (w % 4) .. +63 of the CTA tile.
TF_TILED_FN int tf_tiled_warp_row(int warp) { return (warp / TF_TILED_WARPS_N) * TF_TILED_WM; }
TF_TILED_FN int tf_tiled_warp_col(int warp) { return (warp % TF_TILED_WARPS_N) * TF_TILED_WN; }

// The row address lane supplies to ldmatrix.x4 for m-tile mt, k-step ks (k = 32 ks .. 32 ks + 31 of the stage).
// Lanes 8j..8j+7 give rows 0..7 of matrix j; matrix j is rows 8 (j & 1) .. +7 of the m-tile, bytes 16 (j >> 1)
// .. +15 of the k-step, so register j of lane (g, t) receives row g + 8 (j & 1), k 16 (j >> 1) + 4t .. +3: that
// is a0 (row g, k 4t), a1 (row g + 8, k 4t), a2 (row g, k 16 + 4t), a3 (row g + 8, k 16 + 4t), the m16n8k32 A.
TF_TILED_FN int tf_tiled_ldsm_a(int warp, int mt, int ks, int lane) {
    const int j = lane >> 3;
    const int r = tf_tiled_warp_row(warp) + mt * 16 + (j & 1) * 8 + (lane & 7);
    return tf_tiled_a_smem(r, ks * 2 + (j >> 1));
}

// The W word lane (g, t) loads for n-tile nt: bytes 16h + 4t .. +3 of column base + g's block. Bits [2s, 2s + 2)
// of those bytes are the codes of k = 32s + 16h + 4t .. +3, which is b0 (h = 0) and b1 (h = 1) of k-step s.
TF_TILED_FN int tf_tiled_lds_w(int warp, int nt, int h, int lane) {
    const int n = tf_tiled_warp_col(warp) + nt * 8 + (lane >> 2);
    return tf_tiled_w_smem(n, h) + 4 * (lane & 3);
}

// The four codes (0..3, one per byte, unsigned) of k-step ks in a loaded W word.
TF_TILED_FN uint32_t tf_tiled_codes(uint32_t word, int ks) { return (word >> (2 * ks)) & 0x03030303u; }

// Accumulator i (0..3) of lane for m-tile mt / n-tile nt: c0, c1 at row g, columns 2t, 2t + 1; c2, c3 at row
// g + 8. Coordinates inside the CTA tile.
TF_TILED_FN int tf_tiled_c_row(int warp, int mt, int lane, int i) {
    return tf_tiled_warp_row(warp) + mt * 16 + (lane >> 2) + (i >> 1) * 8;
}
TF_TILED_FN int tf_tiled_c_col(int warp, int nt, int lane, int i) {
    return tf_tiled_warp_col(warp) + nt * 8 + 2 * (lane & 3) + (i & 1);
}

#endif
