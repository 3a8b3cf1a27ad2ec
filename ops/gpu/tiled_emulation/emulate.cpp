// A host emulation of tf_w2a8_gemm_tiled (kernels/cuda/w2a8_tiled.cu), CTA by CTA, thread by thread, phase by
// phase between barriers, using the kernel's own index arithmetic (kernels/cuda/w2a8_tiled_layout.cuh) and the
// PTX ISA's semantics of the instructions the kernel issues (cp.async with src-size, ldmatrix .x4 .b16,
// ld.shared.b32, mma.sync m16n8k32 .s8 x .u8, dp4a, shfl.bfly). The control flow below mirrors the kernel
// step for step. What it checks, on every CTA of every case:
//   - copies: 16-byte aligned source and destination, the source inside XQ / W even when zero-filling, the
//     destination inside the stage's buffer; the k-block only shifts the source (kb * 128 / kb * 32);
//   - each stage: every byte of both buffers written exactly once, by one thread, and holding what the read
//     side expects: XQ[m0 + r][128 kb + k] at tf_tiled_a_smem(r, k / 16) + k % 16 (0 past M) and the W block
//     (0 past N); no shared read while a copy into it is in flight, no write into bytes read in the same
//     barrier interval (the pipeline's hazards);
//   - fragments: every ldmatrix / 32-bit load address aligned, inside the stage, bank-conflict free; each
//     lane's A registers hold exactly the A elements of the m16n8k32 layout (rows g, g + 8; k 4t.., 16 + 4t..)
//     and its B codes exactly the W codes of column g (k 4t.., 16 + 4t..), both derived here from the PTX
//     ISA's formulas, not from the layout header;
//   - results: the mma is emulated from the fragment registers by the ISA's layout; every Y element inside
//     [M, N] is written exactly once, nothing outside, and its bits equal tf_cuda_reference_w2a8_gemm's
//     (Sources/CCUDA/w2a8_reference.c, the arithmetic tf_w2a8_gemm is tested against).
// Exits 1 on any mismatch.
#ifndef TF_TILED_LAYOUT  // run.sh --mutants substitutes broken copies to show the checks catch them
#define TF_TILED_LAYOUT "../../../kernels/cuda/w2a8_tiled_layout.cuh"
#endif
#include TF_TILED_LAYOUT
#include "ternflux_cuda.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

static long failures = 0;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            if (failures++ < 20) {                                        \
                std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
                std::fprintf(stderr, __VA_ARGS__);                        \
                std::fprintf(stderr, "\n");                               \
            }                                                             \
        }                                                                 \
    } while (0)

// The PTX ISA, mma.m16n8k32 with 8-bit integer operands (lane = 4 groupID + threadID_in_group), written out
// independently of the layout header. A register j (bytes 4j..4j+3 of a0..a15), byte b:
static int ptx_a_row(int lane, int j) { return (lane >> 2) + ((j & 1) ? 8 : 0); }             // a4..a7, a12..a15: +8
static int ptx_a_col(int lane, int j, int b) { return 4 * (lane & 3) + b + ((j >> 1) ? 16 : 0); } // a8..a15: +16
// B register j (b0..b3, b4..b7), byte b: row (k) and column.
static int ptx_b_row(int lane, int j, int b) { return 4 * (lane & 3) + b + (j ? 16 : 0); }
static int ptx_b_col(int lane) { return lane >> 2; }
// C register i: row and column.
static int ptx_c_row(int lane, int i) { return (lane >> 2) + (i >= 2 ? 8 : 0); }
static int ptx_c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }

static uint32_t pack4(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }
static int sbyte(uint32_t w, int b) { return (int8_t)(w >> (8 * b)); }
static int ubyte(uint32_t w, int b) { return (uint8_t)(w >> (8 * b)); }

struct Problem {
    int64_t M, N, K, KP;
    std::vector<int8_t> XQ;
    std::vector<float> INV, scale, bias;
    std::vector<uint8_t> W;
    bool has_bias;
};

// The code of weight k of column n, straight from TF_FORMAT_I2: byte (k mod 128) mod 32 of block k / 128, bits
// [2s, 2s + 2) with s = (k mod 128) / 32.
static int w_code(const Problem& p, int64_t n, int64_t k) {
    const int64_t within = k & 127;
    return (p.W[n * (p.KP / 4) + (k / 128) * 32 + (within & 31)] >> (2 * (within >> 5))) & 3;
}

struct Copy {  // one cp.async in flight
    int dst;
    uint8_t data[16];
};

struct Cta {
    const Problem& p;
    int64_t m0, n0, nk;
    std::vector<uint8_t> smem = std::vector<uint8_t>(TF_TILED_SMEM_BYTES, 0xCD);
    std::vector<int> writes = std::vector<int>(TF_TILED_SMEM_BYTES, 0);       // landed copies per byte, per fill
    std::vector<int> writer = std::vector<int>(TF_TILED_SMEM_BYTES, -1);
    std::vector<int> in_flight = std::vector<int>(TF_TILED_SMEM_BYTES, 0);
    std::vector<long> last_read = std::vector<long>(TF_TILED_SMEM_BYTES, -1);  // barrier interval of the last read
    std::vector<long> last_write = std::vector<long>(TF_TILED_SMEM_BYTES, -1); // ... and of the last copy issue
    long interval = 0;
    // Per-thread state, as in the kernel.
    int64_t a_src[TF_TILED_THREADS][TF_TILED_A_COPIES], w_src[TF_TILED_THREADS][TF_TILED_W_COPIES];
    int a_dst[TF_TILED_THREADS][TF_TILED_A_COPIES], w_dst[TF_TILED_THREADS][TF_TILED_W_COPIES];
    uint32_t a_bytes[TF_TILED_THREADS][TF_TILED_A_COPIES], w_bytes[TF_TILED_THREADS][TF_TILED_W_COPIES];
    std::vector<Copy> pending[TF_TILED_THREADS];
    int32_t acc[TF_TILED_THREADS][TF_TILED_MT][TF_TILED_NT][4];
    int32_t rowsum[TF_TILED_THREADS][TF_TILED_MT][2];

    Cta(const Problem& problem, int64_t bx, int64_t by) : p(problem) {
        m0 = by * TF_TILED_BM;
        n0 = bx * TF_TILED_BN;
        nk = p.KP / TF_TILED_BK;
        std::memset(acc, 0, sizeof acc);
        std::memset(rowsum, 0, sizeof rowsum);
    }

    // ---- the copy plan (kernel: the loops before load_stage) ----
    void setup() {
        for (int tid = 0; tid < TF_TILED_THREADS; tid++) {
            for (int i = 0; i < TF_TILED_A_COPIES; i++) {
                const TfTiledCopy c = tf_tiled_a_copy(tid, i, m0, p.M, p.KP, 0);
                a_src[tid][i] = c.global;
                a_dst[tid][i] = c.smem;
                a_bytes[tid][i] = c.bytes;
                // The kernel adds kb * TF_TILED_BK to the k-block-0 source: that must be tf_tiled_a_copy at kb.
                for (int64_t kb : {(int64_t)1, nk - 1}) {
                    const TfTiledCopy d = tf_tiled_a_copy(tid, i, m0, p.M, p.KP, kb);
                    CHECK(d.global == c.global + kb * TF_TILED_BK && d.smem == c.smem && d.bytes == c.bytes,
                          "A copy %d of thread %d is not affine in kb", i, tid);
                }
            }
            for (int i = 0; i < TF_TILED_W_COPIES; i++) {
                const TfTiledCopy c = tf_tiled_w_copy(tid, i, n0, p.N, p.KP, 0);
                w_src[tid][i] = c.global;
                w_dst[tid][i] = TF_TILED_A_BYTES + c.smem;
                w_bytes[tid][i] = c.bytes;
                for (int64_t kb : {(int64_t)1, nk - 1}) {
                    const TfTiledCopy d = tf_tiled_w_copy(tid, i, n0, p.N, p.KP, kb);
                    CHECK(d.global == c.global + kb * 32 && d.smem == c.smem && d.bytes == c.bytes,
                          "W copy %d of thread %d is not affine in kb", i, tid);
                }
            }
        }
    }

    // cp.async.cg.shared.global [dst], [src], 16, bytes: reads `bytes` (16 or 0) from src, zero-fills the rest.
    void cp_async(int tid, int dst, int region_lo, int region_hi, const uint8_t* base, int64_t base_size, int64_t src,
                  uint32_t bytes) {
        CHECK(dst % 16 == 0 && src % 16 == 0, "thread %d: unaligned cp.async dst %d src %" PRId64, tid, dst, src);
        CHECK(dst >= region_lo && dst + 16 <= region_hi, "thread %d: cp.async dst %d outside [%d, %d)", tid, dst, region_lo, region_hi);
        CHECK(src >= 0 && src + 16 <= base_size, "thread %d: cp.async source %" PRId64 " outside [0, %" PRId64 ")", tid, src, base_size);
        CHECK(bytes == 16 || bytes == 0, "thread %d: src-size %u", tid, bytes);
        Copy c;
        c.dst = dst;
        for (int b = 0; b < 16; b++) c.data[b] = (b < (int)bytes && src + b < base_size) ? base[src + b] : 0;
        for (int b = 0; b < 16; b++) {
            if (dst + b < 0 || dst + b >= TF_TILED_SMEM_BYTES) continue;
            CHECK(last_read[dst + b] != interval, "thread %d: copy into shared byte %d read in the same barrier interval", tid, dst + b);
            in_flight[dst + b]++;
            last_write[dst + b] = interval;
        }
        pending[tid].push_back(c);
    }

    // kernel: load_stage(stage, kb)
    void load_stage(int tid, int stage, int64_t kb) {
        const int a_lo = stage * TF_TILED_A_STAGE_BYTES, w_lo = TF_TILED_A_BYTES + stage * TF_TILED_W_STAGE_BYTES;
        for (int i = 0; i < TF_TILED_A_COPIES; i++)
            cp_async(tid, a_dst[tid][i] + stage * TF_TILED_A_STAGE_BYTES, a_lo, a_lo + TF_TILED_A_STAGE_BYTES,
                     (const uint8_t*)p.XQ.data(), (int64_t)p.XQ.size(), a_src[tid][i] + kb * TF_TILED_BK, a_bytes[tid][i]);
        for (int i = 0; i < TF_TILED_W_COPIES; i++)
            cp_async(tid, w_dst[tid][i] + stage * TF_TILED_W_STAGE_BYTES, w_lo, w_lo + TF_TILED_W_STAGE_BYTES, p.W.data(),
                     (int64_t)p.W.size(), w_src[tid][i] + kb * 32, w_bytes[tid][i]);
    }

    // cp.async.wait_group 0: all of this thread's copies land.
    void wait_all(int tid) {
        for (const Copy& c : pending[tid])
            for (int b = 0; b < 16; b++) {
                const int at = c.dst + b;
                if (at < 0 || at >= TF_TILED_SMEM_BYTES) continue;
                smem[at] = c.data[b];
                writes[at]++;
                writer[at] = tid;
                in_flight[at]--;
            }
        pending[tid].clear();
    }

    void barrier() { interval++; }

    uint8_t read8(int at, const char* what) {
        CHECK(at >= 0 && at < TF_TILED_SMEM_BYTES, "%s: shared read at %d outside the buffer", what, at);
        if (at < 0 || at >= TF_TILED_SMEM_BYTES) return 0;
        CHECK(in_flight[at] == 0, "%s: shared byte %d read while a copy into it is in flight", what, at);
        CHECK(last_write[at] != interval, "%s: shared byte %d read in the barrier interval its copy was issued", what, at);
        last_read[at] = interval;
        return smem[at];
    }

    // After the barrier of k-block kb: buffer `stage` must hold exactly k-block kb, each byte written once.
    void check_stage(int stage, int64_t kb) {
        const int a_lo = stage * TF_TILED_A_STAGE_BYTES, w_lo = TF_TILED_A_BYTES + stage * TF_TILED_W_STAGE_BYTES;
        for (int at = a_lo; at < a_lo + TF_TILED_A_STAGE_BYTES; at++)
            CHECK(writes[at] == 1, "k-block %" PRId64 ": A byte %d written %d times", kb, at - a_lo, writes[at]);
        for (int at = w_lo; at < w_lo + TF_TILED_W_STAGE_BYTES; at++)
            CHECK(writes[at] == 1, "k-block %" PRId64 ": W byte %d written %d times", kb, at - w_lo, writes[at]);
        for (int r = 0; r < TF_TILED_BM; r++)
            for (int k = 0; k < TF_TILED_BK; k++) {
                const int64_t row = m0 + r;
                const int8_t want = row < p.M ? p.XQ[row * p.KP + kb * TF_TILED_BK + k] : 0;
                CHECK((int8_t)smem[a_lo + tf_tiled_a_smem(r, k / 16) + k % 16] == want, "k-block %" PRId64 ": A row %d k %d", kb, r, k);
            }
        for (int n = 0; n < TF_TILED_BN; n++)
            for (int j = 0; j < 32; j++) {
                const int64_t col = n0 + n;
                const uint8_t want = col < p.N ? p.W[col * (p.KP / 4) + kb * 32 + j] : 0;
                CHECK(smem[w_lo + tf_tiled_w_smem(n, j / 16) + j % 16] == want, "k-block %" PRId64 ": W column %d byte %d", kb, n, j);
            }
        // The next fill of this buffer starts counting afresh.
        for (int at = a_lo; at < a_lo + TF_TILED_A_STAGE_BYTES; at++) writes[at] = 0;
        for (int at = w_lo; at < w_lo + TF_TILED_W_STAGE_BYTES; at++) writes[at] = 0;
    }

    // ld.shared.b32 across a warp: each lane's address; aligned, conflict free (distinct words in distinct banks).
    void lds32_warp(const int (&addr)[32], uint32_t (&out)[32], const char* what) {
        for (int l = 0; l < 32; l++) {
            CHECK(addr[l] % 4 == 0, "%s: unaligned 32-bit shared load at %d", what, addr[l]);
            for (int o = 0; o < l; o++)
                CHECK(addr[o] / 4 == addr[l] / 4 || (addr[o] / 4) % 32 != (addr[l] / 4) % 32,
                      "%s: bank conflict between lanes %d and %d", what, o, l);
            uint8_t b[4];
            for (int i = 0; i < 4; i++) b[i] = read8(addr[l] + i, what);
            out[l] = pack4(b);
        }
    }

    // ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8j..8j+7 give the addresses of rows 0..7 of matrix j (16
    // bytes each, 16-byte aligned); lane 4g + t receives bytes 4t..4t+3 of row g of matrix j in register j.
    // Each matrix is one shared-memory wavefront when its 8 rows fall in distinct 16-byte bank groups.
    void ldsm_x4_warp(const int (&addr)[32], uint32_t (&out)[32][4], const char* what) {
        for (int l = 0; l < 32; l++) CHECK(addr[l] % 16 == 0, "%s: unaligned ldmatrix row address %d", what, addr[l]);
        for (int j = 0; j < 4; j++)
            for (int r = 0; r < 8; r++)
                for (int o = 0; o < r; o++)
                    CHECK((addr[8 * j + o] / 16) % 8 != (addr[8 * j + r] / 16) % 8, "%s: ldmatrix bank conflict, matrix %d rows %d, %d",
                          what, j, o, r);
        for (int l = 0; l < 32; l++)
            for (int j = 0; j < 4; j++) {
                const int row_addr = addr[8 * j + (l >> 2)];
                uint8_t b[4];
                for (int i = 0; i < 4; i++) b[i] = read8(row_addr + 4 * (l & 3) + i, what);
                out[l][j] = pack4(b);
            }
    }

    // mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32, d = a b + c, from the 32 lanes' registers.
    static void mma_warp(const uint32_t (&a)[32][4], const uint32_t (&b)[32][2], int32_t* const (&c)[32]) {
        int A[16][32], B[32][8];
        int64_t C[16][8];
        for (int l = 0; l < 32; l++) {
            for (int j = 0; j < 4; j++)
                for (int x = 0; x < 4; x++) A[ptx_a_row(l, j)][ptx_a_col(l, j, x)] = sbyte(a[l][j], x);
            for (int j = 0; j < 2; j++)
                for (int x = 0; x < 4; x++) B[ptx_b_row(l, j, x)][ptx_b_col(l)] = ubyte(b[l][j], x);
            for (int i = 0; i < 4; i++) C[ptx_c_row(l, i)][ptx_c_col(l, i)] = c[l][i];
        }
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++)
                for (int k = 0; k < 32; k++) C[m][n] += A[m][k] * B[k][n];
        for (int l = 0; l < 32; l++)
            for (int i = 0; i < 4; i++) c[l][i] = (int32_t)(uint32_t)(uint64_t)C[ptx_c_row(l, i)][ptx_c_col(l, i)];
    }

    static int32_t dp4a(uint32_t a, uint32_t b, int32_t c) {
        int64_t s = c;
        for (int x = 0; x < 4; x++) s += sbyte(a, x) * sbyte(b, x);
        return (int32_t)(uint32_t)(uint64_t)s;
    }

    // The kernel's stage body, for warp `warp` (all 32 lanes together where the kernel uses warp instructions).
    void compute(int warp, int stage, int64_t kb) {
        const int a_stage = stage * TF_TILED_A_STAGE_BYTES, w_stage = TF_TILED_A_BYTES + stage * TF_TILED_W_STAGE_BYTES;
        const int warp_row = tf_tiled_warp_row(warp), warp_col = tf_tiled_warp_col(warp);
        uint32_t wword[TF_TILED_NT][2][32];
        for (int nt = 0; nt < TF_TILED_NT; nt++)
            for (int h = 0; h < 2; h++) {
                int addr[32];
                for (int l = 0; l < 32; l++) addr[l] = w_stage + tf_tiled_lds_w(warp, nt, h, l);
                for (int l = 0; l < 32; l++)
                    CHECK(addr[l] >= w_stage && addr[l] + 4 <= w_stage + TF_TILED_W_STAGE_BYTES, "W load outside the stage");
                lds32_warp(addr, wword[nt][h], "W fragment");
            }
        for (int ks = 0; ks < TF_TILED_KS; ks++) {
            uint32_t a[TF_TILED_MT][32][4];
            for (int mt = 0; mt < TF_TILED_MT; mt++) {
                int addr[32];
                for (int l = 0; l < 32; l++) addr[l] = a_stage + tf_tiled_ldsm_a(warp, mt, ks, l);
                for (int l = 0; l < 32; l++)
                    CHECK(addr[l] >= a_stage && addr[l] + 16 <= a_stage + TF_TILED_A_STAGE_BYTES, "A ldmatrix row outside the stage");
                ldsm_x4_warp(addr, a[mt], "A fragment");
                for (int l = 0; l < 32; l++) {
                    const int tid = 32 * warp + l;
                    // The fragment must be the m16n8k32 A layout over this warp's rows and this k-step's k.
                    for (int j = 0; j < 4; j++)
                        for (int x = 0; x < 4; x++) {
                            const int64_t row = m0 + warp_row + mt * 16 + ptx_a_row(l, j);
                            const int64_t k = kb * TF_TILED_BK + ks * 32 + ptx_a_col(l, j, x);
                            const int want = row < p.M ? p.XQ[row * p.KP + k] : 0;
                            CHECK(sbyte(a[mt][l][j], x) == want, "A fragment: warp %d lane %d mt %d ks %d reg %d byte %d", warp, l, mt, ks, j, x);
                        }
                    rowsum[tid][mt][0] = dp4a(a[mt][l][0], 0x01010101u, rowsum[tid][mt][0]);
                    rowsum[tid][mt][0] = dp4a(a[mt][l][2], 0x01010101u, rowsum[tid][mt][0]);
                    rowsum[tid][mt][1] = dp4a(a[mt][l][1], 0x01010101u, rowsum[tid][mt][1]);
                    rowsum[tid][mt][1] = dp4a(a[mt][l][3], 0x01010101u, rowsum[tid][mt][1]);
                }
            }
            for (int nt = 0; nt < TF_TILED_NT; nt++) {
                uint32_t b[32][2];
                for (int l = 0; l < 32; l++) {
                    b[l][0] = tf_tiled_codes(wword[nt][0][l], ks);
                    b[l][1] = tf_tiled_codes(wword[nt][1][l], ks);
                    for (int j = 0; j < 2; j++)
                        for (int x = 0; x < 4; x++) {
                            const int64_t col = n0 + warp_col + nt * 8 + ptx_b_col(l);
                            const int64_t k = kb * TF_TILED_BK + ks * 32 + ptx_b_row(l, j, x);
                            const int want = col < p.N ? w_code(p, col, k) : 0;
                            CHECK(ubyte(b[l][j], x) == want, "B fragment: warp %d lane %d nt %d ks %d reg %d byte %d", warp, l, nt, ks, j, x);
                        }
                }
                for (int mt = 0; mt < TF_TILED_MT; mt++) {
                    int32_t* c[32];
                    for (int l = 0; l < 32; l++) c[l] = acc[32 * warp + l][mt][nt];
                    mma_warp(a[mt], b, c);
                }
            }
        }
    }

    // The kernel's epilogue for warp `warp`: shfl.bfly 1 and 2 over the row sums, then the guarded stores.
    void epilogue(int warp, std::vector<float>& Y, std::vector<int>& y_writes) {
        for (int mt = 0; mt < TF_TILED_MT; mt++)
            for (int half = 0; half < 2; half++)
                for (int mask : {1, 2}) {
                    int32_t v[32];
                    for (int l = 0; l < 32; l++) v[l] = rowsum[32 * warp + l][mt][half];
                    for (int l = 0; l < 32; l++) rowsum[32 * warp + l][mt][half] = (int32_t)((uint32_t)v[l] + (uint32_t)v[l ^ mask]);
                }
        const int rows_left = (int)(p.M - m0 < TF_TILED_BM ? p.M - m0 : TF_TILED_BM);
        const int cols_left = (int)(p.N - n0 < TF_TILED_BN ? p.N - n0 : TF_TILED_BN);
        for (int lane = 0; lane < 32; lane++) {
            const int tid = 32 * warp + lane;
            float inv[TF_TILED_MT][2];
            int64_t yrow[TF_TILED_MT][2];
            for (int mt = 0; mt < TF_TILED_MT; mt++)
                for (int half = 0; half < 2; half++) {
                    const int r = tf_tiled_c_row(warp, mt, lane, 2 * half);
                    inv[mt][half] = r < rows_left ? p.INV[m0 + r] : 0.0f;
                    yrow[mt][half] = r < rows_left ? (m0 + r) * p.N + n0 : 0;
                    // The accumulator coordinates must be the ISA's C layout of the same tile the mma saw.
                    for (int i = 2 * half; i < 2 * half + 2; i++)
                        CHECK(r == tf_tiled_warp_row(warp) + mt * 16 + ptx_c_row(lane, i), "C row of lane %d mt %d i %d", lane, mt, i);
                }
            for (int nt = 0; nt < TF_TILED_NT; nt++)
                for (int e = 0; e < 2; e++) {
                    const int c = tf_tiled_c_col(warp, nt, lane, e);
                    CHECK(c == tf_tiled_warp_col(warp) + nt * 8 + ptx_c_col(lane, e) &&
                              tf_tiled_c_col(warp, nt, lane, e + 2) == c,
                          "C column of lane %d nt %d e %d", lane, nt, e);
                    if (c >= cols_left) continue;
                    const float s = p.scale[n0 + c], b = p.has_bias ? p.bias[n0 + c] : 0.0f;
                    for (int mt = 0; mt < TF_TILED_MT; mt++)
                        for (int half = 0; half < 2; half++) {
                            if (tf_tiled_c_row(warp, mt, lane, 2 * half) >= rows_left) continue;
                            const float f = s * inv[mt][half];
                            const float q = (float)(int32_t)((uint32_t)acc[tid][mt][nt][2 * half + e] - (uint32_t)rowsum[tid][mt][half]) * f;
                            const int64_t at = yrow[mt][half] + c;
                            const int64_t row = at / p.N, col = at % p.N;
                            CHECK(at >= 0 && at < p.M * p.N && row >= m0 && row < m0 + TF_TILED_BM && col >= n0 && col < n0 + TF_TILED_BN,
                                  "store outside Y or the tile: row %" PRId64 " col %" PRId64, row, col);
                            if (at < 0 || at >= p.M * p.N) continue;
                            Y[at] = q + b;
                            y_writes[at]++;
                        }
                }
        }
    }

    // The kernel, in order.
    void run(std::vector<float>& Y, std::vector<int>& y_writes) {
        setup();
        for (int tid = 0; tid < TF_TILED_THREADS; tid++) load_stage(tid, 0, 0);
        for (int64_t kb = 0; kb < nk; kb++) {
            const int stage = (int)(kb & 1);
            for (int tid = 0; tid < TF_TILED_THREADS; tid++) wait_all(tid);
            barrier();
            check_stage(stage, kb);
            if (kb + 1 < nk)
                for (int tid = 0; tid < TF_TILED_THREADS; tid++) load_stage(tid, stage ^ 1, kb + 1);
            for (int warp = 0; warp < TF_TILED_THREADS / 32; warp++) compute(warp, stage, kb);
        }
        for (int warp = 0; warp < TF_TILED_THREADS / 32; warp++) epilogue(warp, Y, y_writes);
        for (int tid = 0; tid < TF_TILED_THREADS; tid++) CHECK(pending[tid].empty(), "thread %d ends with copies in flight", tid);
    }
};

struct Case {
    int64_t M, N, K;
    bool bias;
    int max_code;  // codes drawn from 0..max_code (TF_FORMAT_I2 writes 0..2; 3 checks the decode is exact anyway)
};

static bool run_case(const Case& cs, uint32_t seed) {
    const long before = failures;
    Problem p;
    p.M = cs.M, p.N = cs.N, p.K = cs.K, p.KP = (cs.K + 127) / 128 * 128, p.has_bias = cs.bias;
    std::mt19937 rng(seed);
    p.XQ.assign(p.M * p.KP, 0);
    p.INV.resize(p.M);
    for (int64_t m = 0; m < p.M; m++) {
        const bool zero_row = p.M > 2 && m % 17 == 3;
        for (int64_t k = 0; k < p.K; k++) {
            const int v = zero_row ? 0 : (int)(rng() % 255) - 127;
            p.XQ[m * p.KP + k] = (int8_t)(m % 11 == 5 ? (v < 0 ? -127 : 127) : v);  // some rows at the extremes
        }
        p.INV[m] = zero_row ? 0.0f : std::ldexp((float)(rng() % 100000 + 1) / 100000.0f, -(int)(rng() % 12));
    }
    p.W.resize(p.N * (p.KP / 4));
    for (int64_t n = 0; n < p.N; n++)
        for (int64_t blk = 0; blk < p.KP / 128; blk++)
            for (int j = 0; j < 32; j++) {
                uint8_t byte = 0;
                for (int s = 0; s < 4; s++) {
                    const int64_t k = blk * 128 + 32 * s + j;
                    const int code = k < p.K ? (int)(rng() % (cs.max_code + 1)) : 1;  // padding: weight 0
                    byte |= (uint8_t)(code << (2 * s));
                }
                p.W[n * (p.KP / 4) + blk * 32 + j] = byte;
            }
    p.scale.resize(p.N);
    p.bias.resize(p.N);
    for (int64_t n = 0; n < p.N; n++) {
        p.scale[n] = ((float)(rng() % 200001) - 100000.0f) / 37000.0f;
        p.bias[n] = ((float)(rng() % 200001) - 100000.0f) / 3100.0f;
    }
    std::vector<float> want(p.M * p.N), Y(p.M * p.N, std::nanf(""));
    std::vector<int> y_writes(p.M * p.N, 0);
    tf_cuda_reference_w2a8_gemm(p.XQ.data(), p.INV.data(), p.M, p.KP, p.W.data(), p.scale.data(), p.has_bias ? p.bias.data() : nullptr,
                                p.N, want.data());
    const int64_t gx = (p.N + TF_TILED_BN - 1) / TF_TILED_BN, gy = (p.M + TF_TILED_BM - 1) / TF_TILED_BM;
    for (int64_t by = 0; by < gy; by++)
        for (int64_t bx = 0; bx < gx; bx++) {
            Cta* cta = new Cta(p, bx, by);
            cta->run(Y, y_writes);
            delete cta;
        }
    int64_t wrong = 0;
    for (int64_t i = 0; i < p.M * p.N; i++) {
        CHECK(y_writes[i] == 1, "Y[%" PRId64 "][%" PRId64 "] written %d times", i / p.N, i % p.N, y_writes[i]);
        uint32_t a, b;
        std::memcpy(&a, &Y[i], 4);
        std::memcpy(&b, &want[i], 4);
        if (a != b) {
            wrong++;
            CHECK(false, "Y[%" PRId64 "][%" PRId64 "] = %.9g (0x%08x), the reference gives %.9g (0x%08x)", i / p.N, i % p.N, Y[i], a, want[i], b);
        }
    }
    const bool ok = failures == before;
    std::printf("%s M=%" PRId64 " N=%" PRId64 " K=%" PRId64 " KP=%" PRId64 " bias=%d codes 0..%d: grid %" PRId64 "x%" PRId64
                ", %" PRId64 " k-blocks, %" PRId64 " Y elements, %" PRId64 " differing bits\n",
                ok ? "ok  " : "FAIL", p.M, p.N, p.K, p.KP, (int)cs.bias, cs.max_code, gx, gy, p.KP / 128, p.M * p.N, wrong);
    return ok;
}

int main() {
    const Case cases[] = {
        {1, 1, 100, true, 2},        // one row, one column, K < 128
        {1, 300, 128, false, 2},     // one row, columns past one tile
        {300, 1, 256, true, 2},      // one column, rows past two tiles
        {128, 256, 128, true, 2},    // exactly one tile
        {129, 257, 384, true, 2},    // one past the tile in both directions
        {127, 255, 3072, false, 2},  // one short in both, K = 3072
        {200, 600, 3000, true, 3},   // K padded to 3072, codes 0..3
        {257, 513, 520, false, 2},   // three tiles each way, K padded to 640
        {64, 1000, 640, true, 2},    // a partial row tile across four column tiles
        {2, 3, 12288, true, 2},      // K = 12 288: 96 k-blocks through the two buffers
    };
    bool ok = true;
    uint32_t seed = 20240611;
    for (const Case& c : cases) ok = run_case(c, seed++) && ok;
    if (!ok || failures) {
        std::printf("tiled emulation: %ld failed checks\n", failures);
        return 1;
    }
    std::printf("tiled emulation: all checks passed\n");
    return 0;
}
