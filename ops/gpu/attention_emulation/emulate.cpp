// A host emulation of tf_flash_attention_bf16_d32 / _d128 (kernels/cuda/attention.cu), CTA by CTA, thread by
// thread, phase by phase between barriers, using the kernel's own index arithmetic (kernels/cuda/attention_layout.cuh)
// and the PTX ISA's semantics of the instructions the kernel issues (cp.async with src-size, ldmatrix .x4 .b16 with
// and without .trans, mma.sync m16n8k16 .bf16 -> .f32, cvt.rn.bf16x2.f32, shfl.bfly, float2 stores). The control
// flow below mirrors the kernel's step for step. What it checks, on every CTA of every case:
//   - copies: 16-byte aligned source (in the whole tensor) and destination, the source inside the head's
//     [tokens, D] matrix even when zero-filling, the destination inside the tile's buffer, src-size 16 exactly
//     for rows before `tokens`; a warp's 32 copies of one instruction bank-conflict free per 8-thread phase;
//   - each fill of the Q, K and V buffers: every byte written exactly once, holding what the read side
//     expects (row r, d at tf_attn_smem(r, d / 8) + 2 (d % 8): the tensor's element, 0 past `tokens`);
//     no shared read while a copy into it is in flight or was issued in the same barrier interval, no copy
//     into bytes read in the same barrier interval (the pipeline's hazards);
//   - fragments: every ldmatrix row address 16-byte aligned, inside its buffer, each 8-address phase
//     bank-conflict free; every element of every A (Q, P) and B (K, V) fragment register is exactly the
//     element the ISA's m16n8k16 layout says (derived here from the PTX ISA's formulas and the tensors, not
//     from the layout header), P's elements being the bf16 roundings of the exp2 values the S accumulators of
//     the ISA's C layout give;
//   - the online softmax: the row max over the four lanes of a group (shfl.bfly), the rescale factors, masked
//     keys (past `tokens`) giving P = 0 exactly;
//   - results: every O element of the emulated CTAs' rows written exactly once at the [batch, tokens,
//     heads * D] index the ISA's C layout gives, nothing else, float2-aligned, all finite, and within the
//     device check's tolerance of tf_cuda_reference_attention (Sources/CCUDA/attention_reference.c); the
//     measured error is printed per case.
// The mma sums its products in double and rounds once to fp32 (the tensor cores' fp32 accumulation order is
// not specified); ex2.approx.ftz is the host's exp2f with subnormal results flushed (the SFU's approximation is
// within 2 ulp of it). Exits 1 on any mismatch.
#ifndef TF_ATTN_LAYOUT  // run.sh --mutants substitutes broken copies to show the checks catch them
#define TF_ATTN_LAYOUT "../../../kernels/cuda/attention_layout.cuh"
#endif
#include TF_ATTN_LAYOUT
#include "ternflux_cuda.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <set>
#include <vector>

// The device check's bound (ops/gpu/attention_check.c, TOLERANCE): max |O - O_ref| / max |O_ref|.
static const double kTolerance = 5e-3;

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

// ---- The PTX ISA, mma.m16n8k16 with .bf16 A/B and .f32 C/D (lane = 4 groupID + threadID_in_group), written out
// independently of the layout header. Element i of a fragment is half (i & 1) of register i >> 1.
static int ptx_a_row(int lane, int i) { return (lane >> 2) + (((i >> 1) & 1) ? 8 : 0); }   // a2, a3, a6, a7: +8
static int ptx_a_col(int lane, int i) { return 2 * (lane & 3) + (i & 1) + (i >= 4 ? 8 : 0); } // a4..a7: +8
static int ptx_b_row(int lane, int i) { return 2 * (lane & 3) + (i & 1) + (i >= 2 ? 8 : 0); } // b2, b3: +8
static int ptx_b_col(int lane) { return lane >> 2; }
static int ptx_c_row(int lane, int i) { return (lane >> 2) + (i >= 2 ? 8 : 0); }
static int ptx_c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }

static uint16_t half_of(uint32_t reg, int h) { return (uint16_t)(h ? reg >> 16 : reg & 0xffff); }
static float bf(uint16_t h) { return tf_cuda_bf16_to_float(h); }
// cvt.rn.bf16x2.f32 d, hi, lo: d = {bf16(hi) << 16 | bf16(lo)}, round to nearest even.
static uint32_t cvt_bf16x2(float lo, float hi) {
    return (uint32_t)tf_cuda_bf16_from_float(lo) | ((uint32_t)tf_cuda_bf16_from_float(hi) << 16);
}
// ex2.approx.ftz.f32: 2^x with subnormal results flushed to +0 (the host's exp2f in place of the SFU's
// approximation, which is within 2 ulp of it).
static float ex2_ftz(float x) {
    const float y = std::exp2f(x);
    return std::fpclassify(y) == FP_SUBNORMAL ? 0.0f : y;
}
static float as_float(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

struct Problem {
    int64_t B, H, N, D;
    std::vector<uint16_t> Q, K, V;
    std::vector<float> O;
    std::vector<int> writes;
};

template <int D>
struct Cta {
    using T = TfAttn<D>;
    static constexpr int W = TF_ATTN_WARPS;
    Problem& p;
    int64_t bx, bh, q0, head;  // head: the head's first element in Q, K, V
    std::vector<uint8_t> smem = std::vector<uint8_t>(T::SMEM_BYTES, 0xCD);
    std::vector<int> landed = std::vector<int>(T::SMEM_BYTES, 0);  // landed copies per byte since the last fill check
    std::vector<int> in_flight = std::vector<int>(T::SMEM_BYTES, 0);
    std::vector<long> last_read = std::vector<long>(T::SMEM_BYTES, -1);   // barrier interval of the last read
    std::vector<long> last_write = std::vector<long>(T::SMEM_BYTES, -1);  // ... and of the last copy issue
    long interval = 0;
    struct Copy {
        int dst;
        uint8_t data[16];
    };
    std::vector<Copy> pending[TF_ATTN_THREADS];
    // Per-lane registers, [warp][lane], as in the kernel.
    uint32_t qf[W][32][T::KS][4];
    float o[W][32][T::NT_O][4], m[W][32][2], l[W][32][2];
    float s[W][32][T::NT_S][4];
    uint32_t pf[W][32][T::KS_PV][4];

    Cta(Problem& problem, int64_t x, int64_t y) : p(problem), bx(x), bh(y) {
        q0 = bx * TF_ATTN_BR;
        head = bh * p.N * D;
    }

    // ---- shared memory with hazard tracking ----
    uint8_t read8(int at, const char* what) {
        CHECK(at >= 0 && at < T::SMEM_BYTES, "%s: shared read at %d outside the buffer", what, at);
        if (at < 0 || at >= T::SMEM_BYTES) return 0;
        CHECK(in_flight[at] == 0, "%s: shared byte %d read while a copy into it is in flight", what, at);
        CHECK(last_write[at] != interval, "%s: shared byte %d read in the barrier interval its copy was issued", what, at);
        last_read[at] = interval;
        return smem[at];
    }
    void barrier() { interval++; }

    // cp.async.cg.shared.global [dst], [src], 16, bytes: reads `bytes` (16 or 0) from src, zero-fills the rest.
    void cp_async(int tid, int dst, int lo, int hi, const std::vector<uint16_t>& tensor, int64_t global, uint32_t bytes,
                  int64_t row0, int64_t row_of_copy) {
        CHECK(dst % 16 == 0 && (head + global) * 2 % 16 == 0, "thread %d: unaligned cp.async dst %d src element %" PRId64, tid, dst,
              head + global);
        CHECK(dst >= lo && dst + 16 <= hi, "thread %d: cp.async dst %d outside [%d, %d)", tid, dst, lo, hi);
        CHECK(global >= 0 && global + 8 <= p.N * D, "thread %d: cp.async source %" PRId64 " outside the head's [0, %" PRId64 ")", tid,
              global, p.N * D);
        CHECK(bytes == 16 || bytes == 0, "thread %d: src-size %u", tid, bytes);
        CHECK((bytes == 16) == (row0 + row_of_copy < p.N), "thread %d: src-size %u for tile row %" PRId64 " (tokens %" PRId64 ")", tid,
              bytes, row0 + row_of_copy, p.N);
        Copy c;
        c.dst = dst;
        for (int e = 0; e < 8; e++) {
            const int64_t at = head + global + e;
            const uint16_t v = (bytes == 16 && at >= 0 && at < (int64_t)tensor.size()) ? tensor[at] : 0;
            c.data[2 * e] = (uint8_t)(v & 0xff);
            c.data[2 * e + 1] = (uint8_t)(v >> 8);
        }
        for (int b = 0; b < 16; b++) {
            if (dst + b < 0 || dst + b >= T::SMEM_BYTES) continue;
            CHECK(last_read[dst + b] != interval, "thread %d: copy into shared byte %d read in the same barrier interval", tid, dst + b);
            in_flight[dst + b]++;
            last_write[dst + b] = interval;
        }
        pending[tid].push_back(c);
    }

    // A warp's 32 copies of one instruction: each 8-thread phase writes 8 distinct 16-byte bank groups.
    void check_copy_banks(const int* dst) {
        for (int ph = 0; ph < 4; ph++) {
            std::set<int> groups;
            for (int k = 0; k < 8; k++) groups.insert((dst[8 * ph + k] / 16) % 8);
            CHECK(groups.size() == 8, "cp.async phase %d of a warp: %zu distinct bank groups of 8", ph, groups.size());
        }
    }

    // The copies of a tile of `rows` rows from row0 into the buffer at `offset` (kernel: the Q loop, load_kv).
    void load_tile(int tid, int offset, int rows, int copies, const std::vector<uint16_t>& tensor, int64_t row0) {
        for (int i = 0; i < copies; i++) {
            const TfAttnCopy c = tf_attn_copy<D>(tid, i, row0, p.N);
            const int q = tid + i * TF_ATTN_THREADS;
            cp_async(tid, offset + c.smem, offset, offset + rows * T::ROW_BYTES, tensor, c.global, c.bytes, row0, q / T::CHUNKS);
        }
    }
    void load_all(int offset, int rows, int copies, const std::vector<uint16_t>& tensor, int64_t row0) {
        for (int tid = 0; tid < TF_ATTN_THREADS; tid++) load_tile(tid, offset, rows, copies, tensor, row0);
        for (int warp = 0; warp < W; warp++)
            for (int i = 0; i < copies; i++) {
                int dst[32];
                for (int lane = 0; lane < 32; lane++) dst[lane] = tf_attn_copy<D>(warp * 32 + lane, i, row0, p.N).smem;
                check_copy_banks(dst);
            }
    }

    // cp.async.wait_group 0 (every thread), then the barrier.
    void wait_all(int tid) {
        for (const Copy& c : pending[tid])
            for (int b = 0; b < 16; b++) {
                const int at = c.dst + b;
                if (at < 0 || at >= T::SMEM_BYTES) continue;
                smem[at] = c.data[b];
                landed[at]++;
                in_flight[at]--;
            }
        pending[tid].clear();
    }

    // After a fill has landed and been published: every byte of the buffer written once, with the expected value.
    void check_fill(const char* what, int offset, int rows, const std::vector<uint16_t>& tensor, int64_t row0) {
        for (int b = offset; b < offset + rows * T::ROW_BYTES; b++) {
            CHECK(landed[b] == 1, "%s tile at row %" PRId64 ": shared byte %d written %d times", what, row0, b, landed[b]);
            landed[b] = 0;
        }
        for (int r = 0; r < rows; r++)
            for (int d = 0; d < D; d++) {
                const int at = offset + tf_attn_smem<D>(r, d / 8) + 2 * (d % 8);
                const uint16_t got = (uint16_t)(smem[at] | (smem[at + 1] << 8));
                const uint16_t want = row0 + r < p.N ? tensor[head + (row0 + r) * D + d] : 0;
                CHECK(got == want, "%s tile at row %" PRId64 ": row %d d %d holds 0x%04x, want 0x%04x", what, row0, r, d, got, want);
            }
    }

    // ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16 for one warp: addr[lane] (absolute shared offsets).
    void ldsm_x4(const int* addr, bool trans, int lo, int hi, uint32_t (*regs)[4], const char* what) {
        for (int lane = 0; lane < 32; lane++)
            CHECK(addr[lane] % 16 == 0 && addr[lane] >= lo && addr[lane] + 16 <= hi, "%s: ldmatrix row address %d of lane %d (buffer [%d, %d))",
                  what, addr[lane], lane, lo, hi);
        for (int j = 0; j < 4; j++) {
            std::set<int> banks;
            for (int r = 0; r < 8; r++)
                for (int w = 0; w < 4; w++) banks.insert((addr[8 * j + r] / 4 + w) % 32);
            CHECK(banks.size() == 32, "%s: ldmatrix matrix %d is not bank-conflict free (%zu banks)", what, j, banks.size());
        }
        uint8_t rows[4][8][16];
        for (int j = 0; j < 4; j++)
            for (int r = 0; r < 8; r++)
                for (int b = 0; b < 16; b++) rows[j][r][b] = read8(addr[8 * j + r] + b, what);
        auto elem = [&](int j, int r, int c) { return (uint32_t)(rows[j][r][2 * c] | (rows[j][r][2 * c + 1] << 8)); };
        for (int lane = 0; lane < 32; lane++) {
            const int g = lane >> 2, t = lane & 3;
            for (int j = 0; j < 4; j++)
                regs[lane][j] = trans ? elem(j, 2 * t, g) | (elem(j, 2 * t + 1, g) << 16) : elem(j, g, 2 * t) | (elem(j, g, 2 * t + 1) << 16);
        }
    }

    // mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 for one warp, by the ISA's layout.
    static void mma(float (*c)[4], const uint32_t (*a)[4], const uint32_t (*b)[2]) {
        float A[16][16], Bm[16][8];
        for (int lane = 0; lane < 32; lane++) {
            for (int i = 0; i < 8; i++) A[ptx_a_row(lane, i)][ptx_a_col(lane, i)] = bf(half_of(a[lane][i >> 1], i & 1));
            for (int i = 0; i < 4; i++) Bm[ptx_b_row(lane, i)][ptx_b_col(lane)] = bf(half_of(b[lane][i >> 1], i & 1));
        }
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++) {
                double acc = c[lane][i];
                for (int k = 0; k < 16; k++) acc += (double)A[ptx_c_row(lane, i)][k] * (double)Bm[k][ptx_c_col(lane, i)];
                c[lane][i] = (float)acc;
            }
    }

    uint16_t tensor_at(const std::vector<uint16_t>& t, int64_t row, int d) const { return row < p.N ? t[head + row * D + d] : 0; }

    void run() {
        constexpr float c = T::SCALE_LOG2;
        // Prologue: Q tile and key tile 0, wait, barrier, Q fragments.
        load_all(T::Q_OFFSET, TF_ATTN_BR, T::Q_COPIES, p.Q, q0);
        load_all(T::K_OFFSET, T::BC, T::KV_COPIES, p.K, 0);
        for (int tid = 0; tid < TF_ATTN_THREADS; tid++) wait_all(tid);
        barrier();
        check_fill("Q", T::Q_OFFSET, TF_ATTN_BR, p.Q, q0);
        check_fill("K", T::K_OFFSET, T::BC, p.K, 0);
        for (int warp = 0; warp < W; warp++)
            for (int ks = 0; ks < T::KS; ks++) {
                int addr[32];
                uint32_t regs[32][4];
                for (int lane = 0; lane < 32; lane++) addr[lane] = T::Q_OFFSET + tf_attn_ldsm_q<D>(warp, ks, lane);
                ldsm_x4(addr, false, T::Q_OFFSET, T::Q_OFFSET + T::Q_BYTES, regs, "Q fragment");
                for (int lane = 0; lane < 32; lane++) {
                    for (int r = 0; r < 4; r++) qf[warp][lane][ks][r] = regs[lane][r];
                    for (int i = 0; i < 8; i++) {
                        const uint16_t got = half_of(regs[lane][i >> 1], i & 1);
                        const uint16_t want = tensor_at(p.Q, q0 + warp * 16 + ptx_a_row(lane, i), 16 * ks + ptx_a_col(lane, i));
                        CHECK(got == want, "Q A fragment warp %d ks %d lane %d a%d: 0x%04x, want 0x%04x", warp, ks, lane, i, got, want);
                    }
                }
            }
        for (int warp = 0; warp < W; warp++)
            for (int lane = 0; lane < 32; lane++) {
                for (int nt = 0; nt < T::NT_O; nt++)
                    for (int i = 0; i < 4; i++) o[warp][lane][nt][i] = 0.0f;
                m[warp][lane][0] = m[warp][lane][1] = -INFINITY;
                l[warp][lane][0] = l[warp][lane][1] = 0.0f;
            }

        const int ntiles = (int)((p.N + T::BC - 1) / T::BC);
        for (int j = 0; j < ntiles; j++) {
            const int64_t k0 = (int64_t)j * T::BC;
            if (j > 0) {
                for (int tid = 0; tid < TF_ATTN_THREADS; tid++) wait_all(tid);
                barrier();
                check_fill("K", T::K_OFFSET, T::BC, p.K, k0);
            }
            load_all(T::V_OFFSET, T::BC, T::KV_COPIES, p.V, k0);

            for (int warp = 0; warp < W; warp++) {
                // S = Q K_j^T
                for (int lane = 0; lane < 32; lane++)
                    for (int nt = 0; nt < T::NT_S; nt++)
                        for (int i = 0; i < 4; i++) s[warp][lane][nt][i] = 0.0f;
                for (int ks = 0; ks < T::KS; ks++)
                    for (int np = 0; np < T::NT_S / 2; np++) {
                        int addr[32];
                        uint32_t regs[32][4], bt[2][32][2];
                        for (int lane = 0; lane < 32; lane++) addr[lane] = T::K_OFFSET + tf_attn_ldsm_k<D>(np, ks, lane);
                        ldsm_x4(addr, false, T::K_OFFSET, T::K_OFFSET + T::KV_BYTES, regs, "K fragment");
                        int assigned[2][2] = {{0, 0}, {0, 0}};
                        for (int r = 0; r < 4; r++) {
                            const int u = tf_attn_k_tile(np, r) - 2 * np, br = tf_attn_k_breg(r);
                            CHECK(u >= 0 && u < 2 && br >= 0 && br < 2, "K register %d of pair %d goes to tile %d breg %d", r, np, u, br);
                            if (u < 0 || u > 1 || br < 0 || br > 1) continue;
                            assigned[u][br]++;
                            for (int lane = 0; lane < 32; lane++) bt[u][lane][br] = regs[lane][r];
                        }
                        for (int u = 0; u < 2; u++)
                            for (int br = 0; br < 2; br++) CHECK(assigned[u][br] == 1, "K pair %d: tile %d breg %d assigned %d times", np, u, br, assigned[u][br]);
                        for (int u = 0; u < 2; u++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) {
                                    const uint16_t got = half_of(bt[u][lane][i >> 1], i & 1);
                                    const uint16_t want = tensor_at(p.K, k0 + 8 * (2 * np + u) + ptx_b_col(lane), 16 * ks + ptx_b_row(lane, i));
                                    CHECK(got == want, "K B fragment j %d ks %d n-tile %d lane %d b%d: 0x%04x, want 0x%04x", j, ks, 2 * np + u, lane, i,
                                          got, want);
                                }
                        for (int u = 0; u < 2; u++) {
                            float acc[32][4];
                            uint32_t a[32][4];
                            for (int lane = 0; lane < 32; lane++) {
                                for (int i = 0; i < 4; i++) acc[lane][i] = s[warp][lane][2 * np + u][i], a[lane][i] = qf[warp][lane][ks][i];
                            }
                            mma(acc, a, bt[u]);
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) s[warp][lane][2 * np + u][i] = acc[lane][i];
                        }
                    }
                // Mask keys at or past tokens.
                if (k0 + T::BC > p.N)
                    for (int lane = 0; lane < 32; lane++)
                        for (int nt = 0; nt < T::NT_S; nt++)
                            for (int i = 0; i < 4; i++)
                                if (k0 + tf_attn_c_col(nt, lane, i) >= p.N) s[warp][lane][nt][i] = -INFINITY;
                // Online softmax.
                float mx[32][2], ms[32][2], alpha[32][2], m_old[32][2];
                for (int lane = 0; lane < 32; lane++) {
                    m_old[lane][0] = m[warp][lane][0], m_old[lane][1] = m[warp][lane][1];
                    mx[lane][0] = m[warp][lane][0], mx[lane][1] = m[warp][lane][1];
                    for (int nt = 0; nt < T::NT_S; nt++) {
                        mx[lane][0] = std::fmax(mx[lane][0], std::fmax(s[warp][lane][nt][0], s[warp][lane][nt][1]));
                        mx[lane][1] = std::fmax(mx[lane][1], std::fmax(s[warp][lane][nt][2], s[warp][lane][nt][3]));
                    }
                }
                for (int h = 0; h < 2; h++)
                    for (int mask : {1, 2}) {  // shfl.sync.bfly: every lane reads its partner's value from before the step
                        float before[32];
                        for (int lane = 0; lane < 32; lane++) before[lane] = mx[lane][h];
                        for (int lane = 0; lane < 32; lane++) mx[lane][h] = std::fmax(before[lane], before[lane ^ mask]);
                    }
                for (int lane = 0; lane < 32; lane++)
                    for (int h = 0; h < 2; h++) {
                        ms[lane][h] = mx[lane][h] == -INFINITY ? 0.0f : mx[lane][h] * c;
                        alpha[lane][h] = ex2_ftz(std::fmaf(m[warp][lane][h], c, -ms[lane][h]));
                        m[warp][lane][h] = mx[lane][h];
                        l[warp][lane][h] *= alpha[lane][h];
                    }
                // Independent check of the reduction: the max of each row over all its BC keys (the ISA's C layout).
                for (int lane = 0; lane < 32; lane++)
                    for (int h = 0; h < 2; h++) {
                        const int row = (lane >> 2) + 8 * h;
                        float want = -INFINITY;
                        for (int key = 0; key < T::BC; key++) {
                            const int holder = 4 * (row & 7) + (key & 7) / 2, nt = key / 8, i = (row >= 8 ? 2 : 0) + (key & 1);
                            want = std::fmax(want, s[warp][holder][nt][i]);
                        }
                        CHECK(mx[lane][h] == std::fmax(m_old[lane][h], want) && std::isfinite(mx[lane][h]),
                              "row max of warp %d lane %d row %d, key tile %d: %g, want max(%g, the tile's %g)", warp, lane, row, j, mx[lane][h],
                              m_old[lane][h], want);
                    }
                // P, packed as the kernel does, and the row sums of the rounded values.
                for (int lane = 0; lane < 32; lane++)
                    for (int kk = 0; kk < T::KS_PV; kk++)
                        for (int r = 0; r < 4; r++) {
                            const int nt = tf_attn_p_tile(kk, r), e = tf_attn_p_elem(r), h = e >> 1;
                            CHECK(nt >= 0 && nt < T::NT_S && e >= 0 && e + 1 < 4, "P register %d of step %d: tile %d element %d", r, kk, nt, e);
                            if (nt < 0 || nt >= T::NT_S || e < 0 || e + 1 >= 4) continue;
                            const float p0 = ex2_ftz(std::fmaf(s[warp][lane][nt][e], c, -ms[lane][h]));
                            const float p1 = ex2_ftz(std::fmaf(s[warp][lane][nt][e + 1], c, -ms[lane][h]));
                            pf[warp][lane][kk][r] = cvt_bf16x2(p0, p1);
                            l[warp][lane][h] += as_float(pf[warp][lane][kk][r] << 16) + as_float(pf[warp][lane][kk][r] & 0xffff0000u);
                        }
                // Every P element is the bf16 of exp2(S c - max c) of the S accumulator the ISA's C layout puts at its
                // (row, key); masked keys give exactly 0.
                for (int lane = 0; lane < 32; lane++)
                    for (int kk = 0; kk < T::KS_PV; kk++)
                        for (int i = 0; i < 8; i++) {
                            const int row = ptx_a_row(lane, i), key = 16 * kk + ptx_a_col(lane, i);
                            const int holder = 4 * (row & 7) + (key & 7) / 2, nt = key / 8, ci = (row >= 8 ? 2 : 0) + (key & 1);
                            CHECK(ptx_c_row(holder, ci) == row && 8 * nt + ptx_c_col(holder, ci) == key, "C layout inverse");
                            const float pv = ex2_ftz(std::fmaf(s[warp][holder][nt][ci], c, -ms[holder][row >= 8]));
                            const uint16_t got = half_of(pf[warp][lane][kk][i >> 1], i & 1), want = tf_cuda_bf16_from_float(pv);
                            CHECK(got == want, "P A fragment warp %d step %d lane %d a%d (row %d key %d): 0x%04x, want 0x%04x", warp, kk, lane, i,
                                  row, key, got, want);
                            if (k0 + key >= p.N) CHECK(got == 0, "masked key %" PRId64 " has P 0x%04x", k0 + key, got);
                        }
                for (int lane = 0; lane < 32; lane++)
                    for (int nt = 0; nt < T::NT_O; nt++) {
                        o[warp][lane][nt][0] *= alpha[lane][0];
                        o[warp][lane][nt][1] *= alpha[lane][0];
                        o[warp][lane][nt][2] *= alpha[lane][1];
                        o[warp][lane][nt][3] *= alpha[lane][1];
                    }
            }

            for (int tid = 0; tid < TF_ATTN_THREADS; tid++) wait_all(tid);
            barrier();
            check_fill("V", T::V_OFFSET, T::BC, p.V, k0);
            if (j + 1 < ntiles) load_all(T::K_OFFSET, T::BC, T::KV_COPIES, p.K, k0 + T::BC);

            for (int warp = 0; warp < W; warp++)
                for (int kk = 0; kk < T::KS_PV; kk++)
                    for (int dp = 0; dp < T::NT_O / 2; dp++) {
                        int addr[32];
                        uint32_t regs[32][4], bt[2][32][2];
                        for (int lane = 0; lane < 32; lane++) addr[lane] = T::V_OFFSET + tf_attn_ldsm_v<D>(kk, dp, lane);
                        ldsm_x4(addr, true, T::V_OFFSET, T::V_OFFSET + T::KV_BYTES, regs, "V fragment");
                        int assigned[2][2] = {{0, 0}, {0, 0}};
                        for (int r = 0; r < 4; r++) {
                            const int u = tf_attn_v_tile(dp, r) - 2 * dp, br = tf_attn_v_breg(r);
                            CHECK(u >= 0 && u < 2 && br >= 0 && br < 2, "V register %d of pair %d goes to tile %d breg %d", r, dp, u, br);
                            if (u < 0 || u > 1 || br < 0 || br > 1) continue;
                            assigned[u][br]++;
                            for (int lane = 0; lane < 32; lane++) bt[u][lane][br] = regs[lane][r];
                        }
                        for (int u = 0; u < 2; u++)
                            for (int br = 0; br < 2; br++) CHECK(assigned[u][br] == 1, "V pair %d: tile %d breg %d assigned %d times", dp, u, br, assigned[u][br]);
                        for (int u = 0; u < 2; u++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) {
                                    const uint16_t got = half_of(bt[u][lane][i >> 1], i & 1);
                                    const uint16_t want = tensor_at(p.V, k0 + 16 * kk + ptx_b_row(lane, i), 8 * (2 * dp + u) + ptx_b_col(lane));
                                    CHECK(got == want, "V B fragment j %d step %d d-tile %d lane %d b%d: 0x%04x, want 0x%04x", j, kk, 2 * dp + u, lane,
                                          i, got, want);
                                }
                        for (int u = 0; u < 2; u++) {
                            float acc[32][4];
                            uint32_t a[32][4];
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) acc[lane][i] = o[warp][lane][2 * dp + u][i], a[lane][i] = pf[warp][lane][kk][i];
                            mma(acc, a, bt[u]);
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) o[warp][lane][2 * dp + u][i] = acc[lane][i];
                        }
                    }
        }
        for (int tid = 0; tid < TF_ATTN_THREADS; tid++) CHECK(pending[tid].empty(), "thread %d ends with copies in flight", tid);

        // Epilogue: the row sums over the group's four lanes, O / l, float2 stores.
        const int64_t b = bh / p.H, hd = bh % p.H;
        std::vector<float>& O = p.O;
        std::vector<int>& writes = p.writes;
        for (int warp = 0; warp < W; warp++) {
            float inv[32][2];
            for (int h = 0; h < 2; h++) {
                for (int mask : {1, 2}) {
                    float before[32];
                    for (int lane = 0; lane < 32; lane++) before[lane] = l[warp][lane][h];
                    for (int lane = 0; lane < 32; lane++) l[warp][lane][h] = before[lane] + before[lane ^ mask];
                }
                for (int lane = 0; lane < 32; lane++) inv[lane][h] = 1.0f / l[warp][lane][h];
            }
            for (int lane = 0; lane < 32; lane++)
                for (int h = 0; h < 2; h++) {
                    const int64_t row = q0 + tf_attn_c_row(warp, lane, 2 * h);
                    CHECK(row == q0 + warp * 16 + ptx_c_row(lane, 2 * h) && row == q0 + warp * 16 + ptx_c_row(lane, 2 * h + 1),
                          "accumulator row of warp %d lane %d half %d", warp, lane, h);
                    if (row >= p.N) continue;
                    const int64_t out = tf_attn_out<D>(b, hd, p.H, p.N, row, 0);
                    for (int nt = 0; nt < T::NT_O; nt++) {
                        const int col = tf_attn_c_col(nt, lane, 0);
                        CHECK(col == 8 * nt + ptx_c_col(lane, 2 * h) && tf_attn_c_col(nt, lane, 1) == col + 1 && col + 1 == 8 * nt + ptx_c_col(lane, 2 * h + 1),
                              "accumulator columns of tile %d lane %d", nt, lane);
                        const int64_t at = out + col;
                        const int64_t want = ((b * p.N + row) * p.H + hd) * D + 8 * nt + ptx_c_col(lane, 2 * h);
                        CHECK(at == want && at % 2 == 0, "O store of warp %d lane %d tile %d at %" PRId64 ", want %" PRId64 " (float2-aligned)", warp,
                              lane, nt, at, want);
                        if (at < 0 || at + 1 >= (int64_t)O.size()) continue;
                        O[at] = o[warp][lane][nt][2 * h] * inv[lane][h];
                        O[at + 1] = o[warp][lane][nt][2 * h + 1] * inv[lane][h];
                        writes[at]++;
                        writes[at + 1]++;
                    }
                }
        }
    }
};

// The layout's fixed facts, lane by lane: accumulator coordinates against the ISA, the scale constant.
template <int D>
static void check_static() {
    using T = TfAttn<D>;
    for (int warp = 0; warp < TF_ATTN_WARPS; warp++)
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++) {
                CHECK(tf_attn_c_row(warp, lane, i) == warp * 16 + ptx_c_row(lane, i), "c_row(%d, %d, %d)", warp, lane, i);
                for (int nt = 0; nt < T::NT_S; nt++) CHECK(tf_attn_c_col(nt, lane, i) == 8 * nt + ptx_c_col(lane, i), "c_col(%d, %d, %d)", nt, lane, i);
            }
    const double want = 1.4426950408889634 / std::sqrt((double)D);
    CHECK(std::fabs((double)T::SCALE_LOG2 - want) <= want * 1.2e-7, "SCALE_LOG2 for D = %d is %.9g, want %.12g", D, (double)T::SCALE_LOG2, want);
    // Every copy of a tile hits a distinct 16-byte chunk of the buffer (with the fill check, full coverage).
    std::set<int> chunks;
    for (int tid = 0; tid < TF_ATTN_THREADS; tid++)
        for (int i = 0; i < T::KV_COPIES; i++) chunks.insert(tf_attn_copy<D>(tid, i, 0, 1 << 30).smem);
    CHECK((int)chunks.size() == T::BC * T::CHUNKS, "K/V copies: %zu distinct chunks of %d", chunks.size(), T::BC * T::CHUNKS);
}

struct Case {
    int D;
    int64_t B, H, N;
    std::vector<int64_t> ctas;  // query tiles to emulate (empty: all)
};

template <int D>
static bool run_case(const Case& cs, uint64_t seed) {
    const long before = failures;
    Problem p;
    p.B = cs.B, p.H = cs.H, p.N = cs.N, p.D = D;
    const size_t elements = (size_t)(p.B * p.H * p.N * D);
    p.Q.resize(elements), p.K.resize(elements), p.V.resize(elements);
    uint64_t state = seed;
    auto next = [&]() { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; };
    auto uniform = [&]() { return (float)(next() % 2000001) / 1000000.0f - 1.0f; };
    // The device check's inputs (ops/gpu/attention_check.c): amplitude 1, 3, 5 by head, a common mode on odd heads.
    for (int64_t bh = 0; bh < p.B * p.H; bh++) {
        const float a = 1.0f + 2.0f * (float)(bh % 3), mean = (bh % p.H) % 2 ? 0.5f : 0.0f;
        for (int64_t i = 0; i < p.N * D; i++) {
            const size_t at = (size_t)(bh * p.N * D + i);
            p.Q[at] = tf_cuda_bf16_from_float(a * uniform());
            p.K[at] = tf_cuda_bf16_from_float(a * uniform());
            p.V[at] = tf_cuda_bf16_from_float(mean + uniform());
        }
    }
    p.O.assign(elements, std::nanf(""));
    p.writes.assign(elements, 0);
    const int64_t gx = (p.N + TF_ATTN_BR - 1) / TF_ATTN_BR, gy = p.B * p.H;
    std::vector<int64_t> xs = cs.ctas;
    if (xs.empty())
        for (int64_t x = 0; x < gx; x++) xs.push_back(x);
    std::vector<char> row_done(p.N, 0);
    for (int64_t x : xs) {
        for (int64_t r = x * TF_ATTN_BR; r < std::min(p.N, (x + 1) * TF_ATTN_BR); r++) row_done[r] = 1;
        for (int64_t y = 0; y < gy; y++) {
            Cta<D>* cta = new Cta<D>(p, x, y);
            cta->run();
            delete cta;
        }
    }
    std::vector<float> want(elements, 0.0f);
    for (int64_t x : xs) {
        const int64_t r0 = x * TF_ATTN_BR, r1 = std::min(p.N, r0 + TF_ATTN_BR);
        CHECK(tf_cuda_reference_attention(p.Q.data(), p.K.data(), p.V.data(), p.B, p.H, p.N, D, r0, r1, want.data()) == TF_CUDA_OK, "reference");
    }
    double max_err = 0, max_ref = 0;
    int64_t checked = 0;
    for (int64_t b = 0; b < p.B; b++)
        for (int64_t r = 0; r < p.N; r++)
            for (int64_t col = 0; col < p.H * D; col++) {
                const size_t at = (size_t)((b * p.N + r) * p.H * D + col);
                CHECK(p.writes[at] == (row_done[r] ? 1 : 0), "O[%" PRId64 "][%" PRId64 "][%" PRId64 "] written %d times", b, r, col, p.writes[at]);
                if (!row_done[r]) continue;
                checked++;
                CHECK(std::isfinite(p.O[at]), "O[%" PRId64 "][%" PRId64 "][%" PRId64 "] = %g", b, r, col, p.O[at]);
                const double e = std::fabs((double)p.O[at] - (double)want[at]);
                if (!(e <= max_err)) max_err = e;
                max_ref = std::max(max_ref, std::fabs((double)want[at]));
            }
    const double relative = max_ref > 0 ? max_err / max_ref : max_err;
    CHECK(relative <= kTolerance, "D=%d B=%" PRId64 " H=%" PRId64 " N=%" PRId64 ": max |O - ref| / max |ref| = %.3e > %.1e", D, p.B, p.H, p.N,
          relative, kTolerance);
    const bool ok = failures == before;
    std::printf("%s D=%-3d B=%" PRId64 " H=%-2" PRId64 " N=%-5" PRId64 ": %zu of %" PRId64 " query tiles x %" PRId64
                " heads, %" PRId64 " key tiles, %" PRId64 " O elements checked, max |O - ref| / max |ref| = %.3e (max |ref| %.3f)\n",
                ok ? "ok  " : "FAIL", D, p.B, p.H, p.N, xs.size(), gx, gy, (p.N + TfAttn<D>::BC - 1) / TfAttn<D>::BC, checked, relative, max_ref);
    return ok;
}

int main() {
    check_static<32>();
    check_static<128>();
    const Case cases[] = {
        {32, 1, 1, 1, {}},      // one token: one query, one key, everything else padding
        {32, 1, 3, 7, {}},      // a ragged single tile
        {32, 2, 3, 64, {}},     // exactly one query tile, half a key tile; batch 2
        {32, 1, 3, 65, {}},     // one past a query tile
        {32, 1, 1, 129, {}},    // one past a key tile (BC = 128): a last tile of one key
        {32, 2, 2, 300, {}},    // several of each, ragged; batch 2 x 2 heads
        {128, 1, 1, 1, {}},
        {128, 1, 3, 7, {}},
        {128, 2, 3, 64, {}},    // exactly one query and one key tile (BC = 64)
        {128, 1, 3, 65, {}},    // one past both
        {128, 2, 2, 130, {}},
        {128, 1, 3, 300, {}},
        {128, 1, 3, 4608, {0, 36, 71}},  // FLUX.1 at 1024²: the first, a middle and the last query tile, all 72 key tiles
        {32, 1, 3, 4608, {0, 71}},
    };
    bool ok = true;
    uint64_t seed = 88172645463325252ull;
    for (const Case& c : cases) {
#ifdef TF_ATTN_QUICK  // run.sh --mutants: the short cases only
        if (c.N > 1000) continue;
#endif
        ok = (c.D == 32 ? run_case<32>(c, seed) : run_case<128>(c, seed)) && ok;
        seed += 0x9E3779B97F4A7C15ull;
    }
    if (!ok || failures) {
        std::printf("attention emulation: %ld failed checks\n", failures);
        return 1;
    }
    std::printf("attention emulation: all checks passed\n");
    return 0;
}
