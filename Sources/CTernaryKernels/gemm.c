/* Packed ternary GEMM driver: argument checks, activation quantization, weight panel decoding, threading.
 *
 * Y[M,N] = X[M,K] . (Wq . diag(scale))^T + bias.
 *
 * Threads: the call is split into shares (output columns, or rows when there are few columns) that run as
 * tasks on the persistent pool (pool.c); panels and quantized activations live in per-thread scratch memory
 * reused between calls, so a call creates no thread and, in steady state, allocates nothing.
 *
 * Blocking (per share):
 *   for each column block of NC outputs, for each depth block of KC inputs:
 *     decode the packed weights of that block once into a panel (gemm_internal.h) that stays in L2;
 *     for each row block of MC rows of X, for each 16-column micro-panel, for each MR rows:
 *       micro-kernel (register-blocked, per ISA) accumulating into Y.
 * Partial sums over depth blocks accumulate in Y itself; the last depth block applies scale and bias.
 *
 * int8 mode quantizes X once per call (all threads, split over rows) before any GEMM work:
 *   s_m = 127 / max_k |x[m,k]| (a row of zeros gets s_m = 0 and inverse 0, so it yields the bias),
 *   xq = clamp(round_half_even(x * s_m), -127, 127), and per depth block the row sums of xq (the panel holds
 *   codes w + 1, so sum(code * xq) - sum(xq) = sum(w * xq)).
 *   Integer partial sums are exact in fp32 while |sum| < 2^24, i.e. for K <= 2^24 / 127 = 132104, so the
 *   whole accumulation is integer-exact for every K this checks (larger K is refused).
 */
#include "ternary_gemm.h"
#include "gemm_internal.h"
#include "ternary_format_traits.h"
#include "ternary_pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TF_MAX_SHARES 64 /* parallel shares of one call (tasks on the pool) */
#define TF_MAX_K_INT8 132104 /* 127 * K < 2^24: fp32 holds every partial sum exactly */

/* Blocking parameters (tuned on a 2-core EPYC with 512 KiB L2 per core, see docs/kernels.md). */
#ifndef KC_F32
#define KC_F32 384 /* multiple of 128 (i2 block) */
#endif
#ifndef NC_F32
#define NC_F32 256 /* multiple of 16 */
#endif
#ifndef MC_F32
#define MC_F32 48  /* multiple of every MR */
#endif
#ifndef KC_I8
#define KC_I8 1024 /* multiple of 128 */
#endif
#ifndef NC_I8
#define NC_I8 128
#endif
#ifndef MC_I8
#define MC_I8 96
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* Weight decoding through the format's decoder (ternary_format_traits.h): one call per packed row.      */

_Static_assert(KC_F32 % TF_DECODE_K_ALIGN == 0 && KC_I8 % TF_DECODE_K_ALIGN == 0,
               "depth blocks start where the decoders can start");

/* Decodes rows [n0, n0 + ncl) x depth [k0, k0 + kcl) into the int8-mode panel [units][steps][16][4] of codes.
 * Columns past ncl get code 1. Codes for k >= K inside the last step are the row's padding or 1: they meet
 * activation 0 (int8 mode) or are never read (f32). codes and tmp hold at least kcl + TF_DECODE_SLACK bytes. */
static void decode_panel_codes(const tf_format_traits *fmt, const uint8_t *W, size_t row_bytes, int64_t n0,
                               int64_t ncl, int64_t k0, int64_t kcl, uint8_t *panel, uint8_t *codes, uint8_t *tmp) {
    const int64_t units = (ncl + TF_NR - 1) / TF_NR, steps = (kcl + 3) / 4;
    for (int64_t c = 0; c < units * TF_NR; c++) {
        uint8_t *dst = panel + (c / TF_NR) * steps * 4 * TF_NR + (c % TF_NR) * 4;
        if (c >= ncl) {
            for (int64_t s = 0; s < steps; s++) memset(dst + s * 4 * TF_NR, 1, 4);
        } else {
            /* k-contiguous codes of the row (vectorized per format), then four consecutive k per 32-bit copy */
            fmt->decode_codes(W + (size_t)(n0 + c) * row_bytes, k0, kcl, codes, tmp);
            for (int64_t s = 0; s < steps; s++) memcpy(dst + s * 4 * TF_NR, codes + 4 * s, 4);
        }
    }
}

/* Codes of one whole packed row, k-contiguous, padded with code 1 up to a multiple of 32 (few-row path).
 * out and tmp hold at least small_codes_bytes(K) bytes. */
static int64_t small_codes_bytes(int64_t K) { return K + TF_DECODE_SLACK; }

static void decode_row_codes(const tf_format_traits *fmt, const uint8_t *row, int64_t K, uint8_t *out, uint8_t *tmp) {
    const int64_t k32 = (K + 31) & ~(int64_t)31;
    fmt->decode_codes(row, 0, K, out, tmp);
    for (int64_t k = K; k < k32; k++) out[k] = 1;
}

/* f32-mode panel [units][kcl][16] of w = code - 1 from the code panel. */
void tf_codes_to_f32_portable(const uint8_t *codes, int64_t units, int64_t kcl, float *panel) {
    const int64_t steps = (kcl + 3) / 4;
    for (int64_t u = 0; u < units; u++) {
        const uint8_t *src = codes + u * steps * 4 * TF_NR;
        float *dst = panel + u * kcl * TF_NR;
        const int64_t full = kcl / 4;
        for (int64_t st = 0; st < full; st++) { /* four k at once: a 4 x 16 byte transpose the compiler vectorizes */
            const uint8_t *c = src + st * 4 * TF_NR;
            float *d = dst + st * 4 * TF_NR;
            for (int t = 0; t < 4; t++)
                for (int j = 0; j < TF_NR; j++) d[t * TF_NR + j] = (float)((int)c[4 * j + t] - 1);
        }
        for (int64_t k = full * 4; k < kcl; k++) {
            const uint8_t *c = src + full * 4 * TF_NR + (k & 3);
            for (int j = 0; j < TF_NR; j++) dst[k * TF_NR + j] = (float)((int)c[4 * j] - 1);
        }
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The call's shared state and the per-thread work.                                                      */

typedef struct {
    tf_act_mode mode;
    const tf_format_traits *fmt;
    const float *X;
    int64_t M, K, N;
    const uint8_t *W;
    size_t row_bytes;
    const float *scale, *bias;
    float *Y;
    const tf_kernel_set *ks;
    int n_threads;
    int split_rows; /* 1: threads split M (few columns); 0: threads split N */
    /* int8 mode */
    int8_t *xq;
    int64_t ldq, nkb;
    float *inv_s;
    int32_t *xsum;
    int failed;
    int phase; /* 0: quantize activations (int8 mode), 1: GEMM */
    int small; /* few rows: the k-contiguous dot-product path instead of panels */
} gemm_call;

static void quantize_rows(gemm_call *c, int64_t m0, int64_t m1) {
    const int64_t K = c->K;
    for (int64_t m = m0; m < m1; m++) {
        const float *x = c->X + m * K;
        int8_t *q = c->xq + m * c->ldq;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(x[k]));
        float s = amax > 0.0f ? 127.0f / amax : 0.0f;
        c->inv_s[m] = amax > 0.0f ? 1.0f / s : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float v = x[k] * s;
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            /* round half to even: adding and subtracting 1.5 * 2^23 rounds |v| < 2^22 in the FPU's mode */
            v = (v + 12582912.0f) - 12582912.0f;
            q[k] = (int8_t)v;
        }
        for (int64_t k = K; k < c->ldq; k++) q[k] = 0;
        for (int64_t b = 0; b < c->nkb; b++) {
            int64_t k0 = b * KC_I8, k1 = k0 + KC_I8 < K ? k0 + KC_I8 : K;
            int32_t sum = 0;
            for (int64_t k = k0; k < k1; k++) sum += q[k];
            c->xsum[m * c->nkb + b] = sum;
        }
    }
}

static size_t round64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static int run_block_range(gemm_call *c, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end) {
    const int is_f32 = c->mode == TF_ACT_F32;
    const int64_t KC = is_f32 ? KC_F32 : KC_I8, NC = is_f32 ? NC_F32 : NC_I8, MC = is_f32 ? MC_F32 : MC_I8;
    const int MR = is_f32 ? c->ks->mr_f32 : c->ks->mr_i8;
    const int64_t N = c->N, K = c->K;
    /* One scratch block per share, carved into 64-byte aligned pieces. */
    /* int8 mode keeps the block's whole code panel; f32 mode decodes one 16-column unit at a time straight into
     * the fp32 panel, so only the fp32 panel and the block of X compete for L2. */
    const size_t code_bytes = round64((size_t)(is_f32 ? TF_NR : NC) * (size_t)(KC + 4));
    const size_t f32_bytes = is_f32 ? round64(sizeof(float) * (size_t)NC * (size_t)KC) : 0;
    const size_t row_bytes = round64((size_t)KC + 256), pad_bytes = round64(sizeof(float) * (size_t)NC);
    const size_t tile_bytes = round64(sizeof(float) * (size_t)MR * TF_NR);
    uint8_t *base = tf_scratch_acquire(TF_SCRATCH_SHARE, code_bytes + f32_bytes + 2 * row_bytes + 2 * pad_bytes + tile_bytes);
    if (!base) return -1;
    uint8_t *code_panel = base;
    float *f32_panel = (float *)(base + code_bytes);
    uint8_t *codes = base + code_bytes + f32_bytes, *tmp = codes + row_bytes;
    float *gpad = (float *)(tmp + row_bytes), *bpad = (float *)((uint8_t *)gpad + pad_bytes);
    float *tile = (float *)((uint8_t *)bpad + pad_bytes);
    for (int64_t nb = n_begin; nb < n_end; nb += NC) {
        int64_t ncl = n_end - nb < NC ? n_end - nb : NC;
        int64_t units = (ncl + TF_NR - 1) / TF_NR;
        for (int64_t j = 0; j < units * TF_NR; j++) {
            gpad[j] = j < ncl ? c->scale[nb + j] : 0.0f;
            bpad[j] = j < ncl && c->bias ? c->bias[nb + j] : 0.0f;
        }
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kcl = K - k0 < KC ? K - k0 : KC, steps = (kcl + 3) / 4;
            int flags = (k0 == 0 ? TF_K_FIRST : 0) | (k0 + KC >= K ? TF_K_LAST : 0);
            if (is_f32) {
                for (int64_t u = 0; u < units; u++) {
                    const int64_t ucl = ncl - u * TF_NR < TF_NR ? ncl - u * TF_NR : TF_NR;
                    decode_panel_codes(c->fmt, c->W, c->row_bytes, nb + u * TF_NR, ucl, k0, kcl, code_panel, codes, tmp);
                    c->ks->to_f32(code_panel, 1, kcl, f32_panel + u * kcl * TF_NR);
                }
            } else {
                decode_panel_codes(c->fmt, c->W, c->row_bytes, nb, ncl, k0, kcl, code_panel, codes, tmp);
            }
            for (int64_t mb = m_begin; mb < m_end; mb += MC) {
                int64_t mcl = m_end - mb < MC ? m_end - mb : MC;
                for (int64_t u = 0; u < units; u++) {
                    int64_t col0 = nb + u * TF_NR;
                    int64_t width = N - col0 < TF_NR ? N - col0 : TF_NR;
                    for (int64_t i = mb; i < mb + mcl; i += MR) {
                        int mr = (int)(mb + mcl - i < MR ? mb + mcl - i : MR);
                        float *C = c->Y + i * N + col0;
                        int64_t ldc = N;
                        if (width < TF_NR) { /* ragged right edge: work in a full-width tile */
                            if (!(flags & TF_K_FIRST))
                                for (int r = 0; r < mr; r++) memcpy(tile + r * TF_NR, C + r * N, sizeof(float) * (size_t)width);
                            C = tile;
                            ldc = TF_NR;
                        }
                        if (is_f32) {
                            c->ks->f32(mr, c->X + i * K + k0, K, f32_panel + u * kcl * TF_NR, kcl, C, ldc,
                                       flags, gpad + u * TF_NR, bpad + u * TF_NR);
                        } else {
                            c->ks->i8(mr, c->xq + i * c->ldq + k0, c->ldq,
                                      code_panel + u * steps * 4 * TF_NR, steps, C, ldc, flags,
                                      c->xsum + i * c->nkb + k0 / KC_I8, c->nkb, c->inv_s + i, gpad + u * TF_NR,
                                      bpad + u * TF_NR);
                        }
                        if (width < TF_NR)
                            for (int r = 0; r < mr; r++)
                                memcpy(c->Y + (i + r) * N + col0, tile + r * TF_NR, sizeof(float) * (size_t)width);
                    }
                }
            }
        }
    }
    tf_scratch_release(TF_SCRATCH_SHARE);
    return 0;
}

/* Few-row path over output columns [n_begin, n_end): each weight row is decoded once into k-contiguous codes
 * and dotted with every row of X (TF_SMALL_MR rows and two columns at a time). Same results as the panel path in
 * int8 mode (the integer sums are exact either way, then the same fp32 operations); a different summation order
 * in f32 mode. */
static int run_small(gemm_call *c, int64_t n_begin, int64_t n_end) {
    const int64_t M = c->M, K = c->K, N = c->N, cb = round64((size_t)small_codes_bytes(K));
    uint8_t *base = tf_scratch_acquire(TF_SCRATCH_SHARE, 3 * (size_t)cb); /* two rows of codes, decoder scratch */
    if (!base) return -1;
    const uint8_t *codes[2] = {base, base + cb};
    const int64_t k32 = (K + 31) & ~(int64_t)31;
    for (int64_t n = n_begin; n < n_end; n += 2) {
        const int nc = n_end - n < 2 ? 1 : 2;
        for (int j = 0; j < nc; j++)
            decode_row_codes(c->fmt, c->W + (size_t)(n + j) * c->row_bytes, K, base + j * cb, base + 2 * cb);
        for (int64_t m0 = 0; m0 < M; m0 += TF_SMALL_MR) {
            const int mr = (int)(M - m0 < TF_SMALL_MR ? M - m0 : TF_SMALL_MR);
            if (c->mode == TF_ACT_F32) {
                float sums[TF_SMALL_MR * 2];
                c->ks->dot_f32(mr, c->X + m0 * K, K, K, codes, nc, sums);
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nc; j++) {
                        const float b = c->bias ? c->bias[n + j] : 0.0f;
                        c->Y[(m0 + i) * N + n + j] = sums[i * 2 + j] * c->scale[n + j] + b;
                    }
            } else {
                int32_t sums[TF_SMALL_MR * 2];
                c->ks->dot_i8(mr, c->xq + m0 * c->ldq, c->ldq, k32, codes, nc, sums);
                for (int i = 0; i < mr; i++) {
                    int32_t xs = 0;
                    for (int64_t b = 0; b < c->nkb; b++) xs += c->xsum[(m0 + i) * c->nkb + b];
                    for (int j = 0; j < nc; j++) {
                        /* as the panel kernels: exact integer, then (v * (gamma * inv_s)) + bias, no FMA */
                        const float v = (float)(sums[i * 2 + j] - xs);
                        const float f = c->scale[n + j] * c->inv_s[m0 + i], p = v * f;
                        c->Y[(m0 + i) * N + n + j] = p + (c->bias ? c->bias[n + j] : 0.0f);
                    }
                }
            }
        }
    }
    tf_scratch_release(TF_SCRATCH_SHARE);
    return 0;
}

/* Share t of the current phase (tf_parallel_for task). */
static void gemm_task(void *ctx, int t) {
    gemm_call *c = ctx;
    const int nt = c->n_threads;
    if (c->phase == 0) {
        quantize_rows(c, c->M * t / nt, c->M * (t + 1) / nt);
        return;
    }
    int rc;
    if (c->split_rows) {
        rc = run_block_range(c, c->M * t / nt, c->M * (t + 1) / nt, 0, c->N);
    } else {
        int64_t units = (c->N + TF_NR - 1) / TF_NR;
        int64_t n0 = units * t / nt * TF_NR, n1 = units * (t + 1) / nt * TF_NR;
        if (n1 > c->N) n1 = c->N;
        rc = n0 >= n1 ? 0 : c->small ? run_small(c, n0, n1) : run_block_range(c, 0, c->M, n0, n1);
    }
    if (rc) __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
}

/* Runs every share of one phase on the persistent pool (pool.c); one share runs on the calling thread. */
static void run_phase(gemm_call *c, int phase) {
    c->phase = phase;
    tf_parallel_for(c->n_threads, gemm_task, c);
}

static const tf_kernel_set *kernels_for(tf_isa isa) {
#if defined(__x86_64__)
    if (isa >= TF_ISA_AVX512VNNI) return &tf_kernels_avx512vnni;
    if (isa >= TF_ISA_AVX2) return &tf_kernels_avx2;
#else
    (void)isa;
#endif
    return &tf_kernels_portable;
}

int tf_ternary_gemm(tf_act_mode mode, tf_format format, const float *X, int64_t M, int64_t K,
                    const uint8_t *Wpacked, const float *scale, const float *bias, int64_t N, float *Y,
                    int n_threads) {
    if (mode != TF_ACT_F32 && mode != TF_ACT_INT8) return TF_GEMM_EBADMODE;
    const tf_format_traits *fmt = tf_format_traits_of(format);
    if (!fmt) return TF_GEMM_EBADFORMAT;
    if (M < 0 || K < 0 || N < 0) return TF_GEMM_EBADSHAPE;
    if (mode == TF_ACT_INT8 && K > TF_MAX_K_INT8) return TF_GEMM_EBADSHAPE;
    if (M == 0 || N == 0) return 0;
    if (!Y || !scale || (K > 0 && (!X || !Wpacked))) return TF_GEMM_ENULL;
    if (K == 0) {
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) Y[m * N + n] = bias ? bias[n] : 0.0f;
        return 0;
    }
    if (fmt->prepare) fmt->prepare();

    gemm_call c;
    memset(&c, 0, sizeof c);
    c.mode = mode;
    c.fmt = fmt;
    c.X = X;
    c.M = M;
    c.K = K;
    c.N = N;
    c.W = Wpacked;
    c.row_bytes = tf_format_row_bytes(fmt, K);
    c.scale = scale;
    c.bias = bias;
    c.Y = Y;
    c.ks = kernels_for(tf_active_isa());

    int nt = n_threads > 0 ? n_threads : tf_pool_threads();
    if (nt < 1) nt = 1;
    if (nt > TF_MAX_SHARES) nt = TF_MAX_SHARES;
    if ((double)M * (double)N * (double)K < 2.0e6) nt = 1; /* thread start-up would dominate */
    int64_t units = (N + TF_NR - 1) / TF_NR;
    c.small = M <= (mode == TF_ACT_F32 ? TF_SMALL_M_F32 : TF_SMALL_M_I8);
    c.split_rows = !c.small && units < 2 * nt && M >= 2 * nt;
    if (!c.split_rows && units < nt) nt = (int)units;
    if (c.split_rows && M < nt) nt = (int)M;
    c.n_threads = nt;

    if (mode == TF_ACT_INT8) {
        c.ldq = (K + 31) & ~(int64_t)31; /* zero padding up to 32 for the few-row path's 32-byte loads */
        c.nkb = (K + KC_I8 - 1) / KC_I8;
        const size_t xq_bytes = round64((size_t)M * (size_t)c.ldq), inv_bytes = round64(sizeof(float) * (size_t)M);
        uint8_t *base = tf_scratch_acquire(TF_SCRATCH_CALL, xq_bytes + inv_bytes + sizeof(int32_t) * (size_t)M * (size_t)c.nkb);
        if (!base) return TF_GEMM_ENOMEM;
        c.xq = (int8_t *)base;
        c.inv_s = (float *)(base + xq_bytes);
        c.xsum = (int32_t *)(base + xq_bytes + inv_bytes);
        run_phase(&c, 0);
    }
    run_phase(&c, 1);
    if (mode == TF_ACT_INT8) tf_scratch_release(TF_SCRATCH_CALL);
    return c.failed ? TF_GEMM_ENOMEM : TF_GEMM_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Portable micro-kernels (plain C; the compiler vectorizes the 16-wide column loops).                   */

static void kernel_f32_portable(int mr, const float *x, int64_t ldx, const float *panel, int64_t kc, float *C,
                                int64_t ldc, int flags, const float *gamma, const float *bias) {
    for (int i = 0; i < mr; i++) {
        float acc[TF_NR] = {0};
        const float *xi = x + i * ldx;
        for (int64_t k = 0; k < kc; k++) {
            const float xv = xi[k];
            const float *w = panel + k * TF_NR;
            for (int j = 0; j < TF_NR; j++) acc[j] += xv * w[j];
        }
        float *c = C + i * ldc;
        for (int j = 0; j < TF_NR; j++) {
            float v = (flags & TF_K_FIRST) ? acc[j] : c[j] + acc[j];
            c[j] = (flags & TF_K_LAST) ? v * gamma[j] + bias[j] : v;
        }
    }
}

static void kernel_i8_portable(int mr, const int8_t *xq, int64_t ldx, const uint8_t *panel, int64_t steps,
                               float *C, int64_t ldc, int flags, const int32_t *xsum, int64_t xsum_stride,
                               const float *inv_s, const float *gamma, const float *bias) {
    for (int i = 0; i < mr; i++) {
        int32_t acc[TF_NR] = {0};
        const int8_t *xi = xq + i * ldx;
        for (int64_t s = 0; s < steps; s++) {
            const uint8_t *w = panel + s * 4 * TF_NR;
            const int32_t x0 = xi[4 * s], x1 = xi[4 * s + 1], x2 = xi[4 * s + 2], x3 = xi[4 * s + 3];
            for (int j = 0; j < TF_NR; j++)
                acc[j] += w[4 * j] * x0 + w[4 * j + 1] * x1 + w[4 * j + 2] * x2 + w[4 * j + 3] * x3;
        }
        float *c = C + i * ldc;
        const int32_t off = xsum[i * xsum_stride];
        const float is = inv_s[i];
        for (int j = 0; j < TF_NR; j++) {
            float v = (float)(acc[j] - off);
            if (!(flags & TF_K_FIRST)) v += c[j];
            if (flags & TF_K_LAST) {
                const float f = gamma[j] * is, p = v * f; /* kept apart: no FMA contraction, as in AVX2 */
                v = p + bias[j];
            }
            c[j] = v;
        }
    }
}

static void dot_f32_portable(int mr, const float *x, int64_t ldx, int64_t K, const uint8_t *const codes[2], int nc,
                             float *sums) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nc; j++) {
            const float *xi = x + i * ldx;
            const uint8_t *cj = codes[j];
            float acc[8] = {0};
            int64_t k = 0;
            for (; k + 8 <= K; k += 8)
                for (int l = 0; l < 8; l++) acc[l] += xi[k + l] * (float)((int)cj[k + l] - 1);
            float s = 0.0f;
            for (; k < K; k++) s += xi[k] * (float)((int)cj[k] - 1);
            for (int l = 0; l < 8; l++) s += acc[l];
            sums[i * 2 + j] = s;
        }
}

static void dot_i8_portable(int mr, const int8_t *xq, int64_t ldq, int64_t k32, const uint8_t *const codes[2], int nc,
                            int32_t *sums) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nc; j++) {
            int32_t acc = 0;
            for (int64_t k = 0; k < k32; k++) acc += (int32_t)xq[i * ldq + k] * (int32_t)codes[j][k];
            sums[i * 2 + j] = acc;
        }
}

const tf_kernel_set tf_kernels_portable = {
    .mr_f32 = 4,
    .mr_i8 = 4,
    .f32 = kernel_f32_portable,
    .i8 = kernel_i8_portable,
    .to_f32 = tf_codes_to_f32_portable,
    .dot_f32 = dot_f32_portable,
    .dot_i8 = dot_i8_portable,
};
