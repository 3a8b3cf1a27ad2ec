/* Device check of the norm kernels (kernels/cuda/norms.cu; run by ops/gpu/check.sh with the other harnesses there
 * on a machine with an NVIDIA GPU, built there with gcc): for each shape, tf_layernorm_modulate_quantize's XQ,
 * INV and modulated rows and tf_qk_rmsnorm_rope's bf16 Q, K, V against the CPU reference of their arithmetic
 * (Sources/CCUDA/norms_reference.c) bit for bit, and the XQ / INV once more against tf_cuda_reference_quantize_rows
 * of the reference's own rows (what tf_w2a8_quantize_rows would give); the FLUX.1-dev-size cases timed. One JSON
 * object per line; exit status 1 on any mismatch or failed call. */
#include "ternflux_cuda.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }

static int64_t differ(const void *a, const void *b, int64_t count, size_t width, int64_t *first) {
    int64_t n = 0;
    *first = -1;
    for (int64_t i = 0; i < count; i++)
        if (memcmp((const char *)a + i * width, (const char *)b + i * width, width) != 0) {
            if (*first < 0) *first = i;
            n++;
        }
    return n;
}

static int layernorm_case(int64_t M, int64_t D, int64_t ldh, int64_t rows_per_batch, int with_y, int timed) {
    const int64_t KP = (D + 127) / 128 * 128, groups = (M - 1) / rows_per_batch + 1, mod_stride = 6 * D;
    float *h = malloc(sizeof(float) * (size_t)(M * ldh)), *mod = malloc(sizeof(float) * (size_t)(groups * mod_stride));
    int8_t *xq_ref = malloc((size_t)(M * KP)), *xq_gpu = malloc((size_t)(M * KP)), *xq_rows = malloc((size_t)(M * KP));
    float *inv_ref = malloc(sizeof(float) * (size_t)M), *inv_gpu = malloc(sizeof(float) * (size_t)M), *inv_rows = malloc(sizeof(float) * (size_t)M);
    float *y_ref = malloc(sizeof(float) * (size_t)(M * D)), *y_gpu = malloc(sizeof(float) * (size_t)(M * D));
    /* Rows of different character: plain, offset (mean 40), wide (×300), constant (variance 0), one huge value. */
    for (int64_t m = 0; m < M; m++) {
        const int kind = (int)(m % 5);
        for (int64_t k = 0; k < ldh; k++) {
            float v = 2.0f * uniform();
            if (kind == 1) v += 40.0f;
            if (kind == 2) v *= 300.0f;
            if (kind == 3) v = 0.75f;
            h[m * ldh + k] = v;
        }
        if (kind == 4) h[m * ldh + (m * 7) % D] = 1e6f;
    }
    for (int64_t i = 0; i < groups * mod_stride; i++) mod[i] = 0.5f * uniform();
    const float *shift = mod, *scale = mod + D;
    tf_cuda_reference_layernorm_modulate_quantize(h, ldh, M, D, shift, scale, mod_stride, rows_per_batch, KP, xq_ref, inv_ref, y_ref, D);
    tf_cuda_reference_quantize_rows(y_ref, M, D, KP, xq_rows, inv_rows);
    memset(xq_gpu, 0x5a, (size_t)(M * KP));
    memset(inv_gpu, 0xff, sizeof(float) * (size_t)M);
    memset(y_gpu, 0xff, sizeof(float) * (size_t)(M * D));
    char message[512] = "";
    double seconds = 0;
    int status = tf_cuda_layernorm_modulate_quantize(0, h, ldh, M, D, shift, scale, mod_stride, rows_per_batch, xq_gpu, inv_gpu,
                                                     with_y ? y_gpu : NULL, timed ? 50 : 0, &seconds, message, sizeof message);
    int64_t fx = -1, fi = -1, fy = -1, fr = -1, dx = 0, di = 0, dy = 0, dr = 0;
    if (status == TF_CUDA_OK) {
        dx = differ(xq_gpu, xq_ref, M * KP, 1, &fx);
        di = differ(inv_gpu, inv_ref, M, 4, &fi);
        if (with_y) dy = differ(y_gpu, y_ref, M * D, 4, &fy);
    }
    dr = differ(xq_ref, xq_rows, M * KP, 1, &fr) + differ(inv_ref, inv_rows, M, 4, &fr);
    printf("{\"kernel\":\"tf_layernorm_modulate_quantize\",\"M\":%lld,\"D\":%lld,\"ldh\":%lld,\"rows_per_batch\":%lld,\"y\":%d,"
           "\"status\":%d,\"message\":\"%s\",\"xq_differ\":%lld,\"first_xq_difference\":%lld,\"inv_differ\":%lld,\"y_differ\":%lld,"
           "\"first_y_difference\":%lld,\"reference_vs_quantize_rows_differ\":%lld",
           (long long)M, (long long)D, (long long)ldh, (long long)rows_per_batch, with_y, status, message, (long long)dx, (long long)fx,
           (long long)di, (long long)dy, (long long)fy, (long long)dr);
    if (fy >= 0) printf(",\"gpu_y\":%.9g,\"ref_y\":%.9g", y_gpu[fy], y_ref[fy]);
    if (timed) printf(",\"seconds\":%.7f,\"gb_per_s\":%.1f", seconds,
                      seconds > 0 ? (double)(M * D * 4 * (with_y ? 2 : 1) + M * KP) / seconds / 1e9 : 0.0);
    printf("}\n");
    fflush(stdout);
    free(h); free(mod); free(xq_ref); free(xq_gpu); free(xq_rows); free(inv_ref); free(inv_gpu); free(inv_rows); free(y_ref); free(y_gpu);
    return status != TF_CUDA_OK || dx || di || dy || dr;
}

/* FluxRotaryTable's construction (θ = 10 000; frequencies and angles in double, cos/sin repeated on each pair),
 * for ids (0, n, n) on three axes splitting head_dim as 1/8, 7/16, 7/16 (FLUX.1: 16, 56, 56; the shipped model:
 * 8, 12, 12 of 32 — here 4, 14, 14: any even split serves the check). */
static void rope_table(int64_t tokens, int64_t head_dim, float *cs, float *sn) {
    int64_t axes[3];
    axes[0] = head_dim / 8 / 2 * 2;
    axes[1] = (head_dim - axes[0]) / 2 / 2 * 2;
    axes[2] = head_dim - axes[0] - axes[1];
    for (int64_t n = 0; n < tokens; n++) {
        int64_t offset = 0;
        for (int a = 0; a < 3; a++) {
            const double pos = a == 0 ? 0.0 : (double)(a == 1 ? n / 64 : n % 64);
            for (int64_t i = 0; i < axes[a] / 2; i++) {
                const double angle = pos * (1.0 / pow(10000.0, (double)(2 * i) / (double)axes[a]));
                const int64_t j = n * head_dim + offset + 2 * i;
                cs[j] = cs[j + 1] = (float)cos(angle);
                sn[j] = sn[j + 1] = (float)sin(angle);
            }
            offset += axes[a];
        }
    }
}

static int rope_case(int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t text_tokens, int64_t pad, int timed) {
    const int64_t width = heads * head_dim, ld = width + pad, rows = batch * tokens, out = rows * width;
    float *q = malloc(sizeof(float) * (size_t)(rows * ld)), *k = malloc(sizeof(float) * (size_t)(rows * ld)),
          *v = malloc(sizeof(float) * (size_t)(rows * ld)), *w = malloc(sizeof(float) * (size_t)(4 * head_dim)),
          *cs = malloc(sizeof(float) * (size_t)(tokens * head_dim)), *sn = malloc(sizeof(float) * (size_t)(tokens * head_dim));
    uint16_t *ref = malloc(sizeof(uint16_t) * (size_t)(3 * out)), *gpu = malloc(sizeof(uint16_t) * (size_t)(3 * out));
    for (int64_t i = 0; i < rows * ld; i++) {
        q[i] = 4.0f * uniform();
        k[i] = 4.0f * uniform() + 0.5f;
        v[i] = 8.0f * uniform();
    }
    /* A zero head vector (RMSNorm of 0: inv = 1 / sqrt(eps)), a huge one (its square overflows), a NaN in v. */
    memset(q, 0, sizeof(float) * (size_t)head_dim);
    if (rows > 1) k[ld + head_dim - 1] = 3e30f;
    const uint32_t nan_bits = 0x7f800001u; /* a NaN whose payload would round to infinity: it must come out as 0x7FC0 */
    memcpy(&v[width - 1], &nan_bits, sizeof nan_bits);
    for (int64_t i = 0; i < 4 * head_dim; i++) w[i] = 1.0f + 0.25f * uniform();
    rope_table(tokens, head_dim, cs, sn);
    tf_cuda_reference_qk_rmsnorm_rope(q, ld, k, ld, v, ld, batch, tokens, heads, head_dim, text_tokens, w, w + head_dim, w + 2 * head_dim,
                                      w + 3 * head_dim, cs, sn, ref, ref + out, ref + 2 * out, NULL, NULL);
    memset(gpu, 0xff, sizeof(uint16_t) * (size_t)(3 * out));
    char message[512] = "";
    double seconds = 0;
    int status = tf_cuda_qk_rmsnorm_rope(0, q, ld, k, ld, v, ld, batch, tokens, heads, head_dim, text_tokens, w, w + head_dim,
                                         w + 2 * head_dim, w + 3 * head_dim, cs, sn, gpu, gpu + out, gpu + 2 * out, timed ? 50 : 0,
                                         &seconds, message, sizeof message);
    int64_t fq = -1, fk = -1, fv = -1, dq = 0, dk = 0, dv = 0;
    if (status == TF_CUDA_OK) {
        dq = differ(gpu, ref, out, 2, &fq);
        dk = differ(gpu + out, ref + out, out, 2, &fk);
        dv = differ(gpu + 2 * out, ref + 2 * out, out, 2, &fv);
    }
    printf("{\"kernel\":\"tf_qk_rmsnorm_rope\",\"batch\":%lld,\"tokens\":%lld,\"heads\":%lld,\"head_dim\":%lld,\"text_tokens\":%lld,"
           "\"row_stride\":%lld,\"status\":%d,\"message\":\"%s\",\"q_differ\":%lld,\"first_q_difference\":%lld,\"k_differ\":%lld,"
           "\"first_k_difference\":%lld,\"v_differ\":%lld",
           (long long)batch, (long long)tokens, (long long)heads, (long long)head_dim, (long long)text_tokens, (long long)ld, status,
           message, (long long)dq, (long long)fq, (long long)dk, (long long)fk, (long long)dv);
    if (fq >= 0) printf(",\"gpu_q\":%u,\"ref_q\":%u", gpu[fq], ref[fq]);
    if (timed) printf(",\"seconds\":%.7f,\"gb_per_s\":%.1f", seconds, seconds > 0 ? (double)(out * (3 * 4 + 3 * 2)) / seconds / 1e9 : 0.0);
    printf("}\n");
    fflush(stdout);
    free(q); free(k); free(v); free(w); free(cs); free(sn); free(ref); free(gpu);
    return status != TF_CUDA_OK || dq || dk || dv;
}

/* --small: only the untimed cases (what ops/gpu/norms_emulation/run.sh runs on the host emulation). */
int main(int argc, char **argv) {
    const int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    tf_cuda_device_info info = {0};
    char message[512] = "";
    int status = tf_cuda_probe(0, &info, message, sizeof message);
    printf("{\"probe\":%d,\"message\":\"%s\",\"name\":\"%s\",\"compute\":\"%d.%d\"}\n", status, message, info.name, info.compute_major,
           info.compute_minor);
    fflush(stdout);
    if (status != TF_CUDA_OK) return 1;
    int failed = 0;
    /* M, D, ldh, rows_per_batch, Y, timed: the shipped model's width (96), FLUX's (3 072, registers), one past a
     * thread's stride (257), K not a multiple of 128 (200), the uncached path (D > 3 072: 3 073, 5 120), batches. */
    const int64_t ln[][6] = {{1, 96, 96, 1, 1, 0},       {5, 96, 100, 2, 1, 0},     {5, 3072, 3072, 5, 1, 0},
                             {7, 257, 300, 3, 0, 0},     {33, 200, 200, 11, 1, 0},  {3, 3073, 3080, 1, 1, 0},
                             {9, 5120, 5120, 4, 1, 0},   {4608, 3072, 3072, 4096, 0, 1}, {4608, 3072, 3072, 4608, 1, 1}};
    for (size_t i = 0; i < sizeof ln / sizeof ln[0]; i++)
        if (!small || !ln[i][5]) failed |= layernorm_case(ln[i][0], ln[i][1], ln[i][2], ln[i][3], (int)ln[i][4], (int)ln[i][5]);
    /* batch, tokens, heads, head_dim, text_tokens, row padding, timed: the shipped model (3 × 32), FLUX.1 (24 × 128)
     * at 1024² (4 096 image + 512 text tokens), tokens not a multiple of the 8 warps of a CTA, heads of 64, 256 and 512 (the largest). */
    const int64_t qk[][7] = {{1, 37, 3, 32, 7, 0, 0},  {2, 77, 3, 32, 0, 5, 0},  {2, 45, 24, 128, 13, 8, 0}, {1, 5, 1, 128, 0, 0, 0},
                             {3, 1, 2, 64, 1, 0, 0},   {1, 19, 5, 256, 19, 2, 0}, {1, 3, 1, 512, 1, 0, 0},
                             {1, 4608, 24, 128, 512, 0, 1}};
    for (size_t i = 0; i < sizeof qk / sizeof qk[0]; i++)
        if (!small || !qk[i][6]) failed |= rope_case(qk[i][0], qk[i][1], qk[i][2], qk[i][3], qk[i][4], qk[i][5], (int)qk[i][6]);
    return failed;
}
