/* Device check of the attention kernels (tf_flash_attention_bf16_d32 / _d128, kernels/cuda/attention.cu), run by
 * ops/gpu/check.sh on a machine with an NVIDIA GPU (built there with gcc, no Swift needed). For head dims 32 and
 * 128, tokens 1, 7, 64, 65, 300 and 4 608 (FLUX.1 at 1024²: 4 096 image + 512 text tokens), 3 and 24 heads, batch
 * 1 and 2: tf_cuda_attention against tf_cuda_reference_attention (exact softmax attention in double from the same
 * bf16 inputs), every output element written and finite, the error within TOLERANCE; then the device time of the
 * kernel alone at the FLUX size (batch 1, 24 heads, 4 608 tokens) with its TFLOP/s (4 B H N² D flops). One JSON
 * object per line; exit status 1 when any case fails.
 *
 * The inputs: Q and K uniform in [-a, a] with a = 1, 3 or 5 by head (scores QK^T/sqrt(D) of standard deviation
 * a²/3: 0.33, 3 and 8.3, from a nearly flat softmax to one dominated by a few keys, so the running max really
 * moves between key tiles), V uniform in [-1, 1] plus 0.5 on odd heads (a common mode).
 *
 * TOLERANCE, on max |O_gpu - O_ref| / max |O_ref| over the checked elements, is 5e-3. Why that bound:
 *   - S = Q K^T: bf16 x bf16 products are exact in fp32 and the tensor cores sum them in fp32 (relative error
 *     ~1e-6 of the terms), the reference sums in double: negligible next to the bf16 step below. exp2
 *     (ex2.approx.ftz, ~2 ulp) and the fp32 running max and rescaling: ~1e-6 relative.
 *   - P is rounded to bf16 (8 significant bits) for the P V mma: each weight p_j gets a relative error |d_j| <=
 *     u = 2^-8. The kernel's row sum adds the same rounded p_j, so O is an exact weighted mean of the rows of V
 *     with weights off by (d_j - d_mean): the error sum_j w_j (d_j - d_mean) v_j of independent roundings has
 *     the scale u / sqrt(3) * sqrt(sum_j w_j^2 v_j^2), the same sqrt(sum w^2) factor |O| itself has for
 *     zero-mean V, so relative to |O| it stays near 1e-3 whatever the number of tokens (the deterministic worst
 *     case 2u max|V|, every d_j at its bound with the sign of v_j, does not occur). A numpy model of exactly
 *     this rounding on these inputs and shapes gives at most 2.1e-3 of a head's own max |O| (a = 1, zero-mean V:
 *     a flat softmax, the smallest |O|) and at most 1.5e-3 on the other heads; the host emulation of the kernel
 *     (ops/gpu/attention_emulation) measures at most 1.6e-3 per case. Summing the unrounded p_j instead
 *     (FlashAttention-2) gives more error on the heads whose V has a mean (up to 60%, typically 40%).
 *   - So 5e-3 is 2.4 times the worst head modelled, and any indexing error (a wrong key or row, a lost tile, a
 *     missed rescale) gives errors of order 1e-1 or more.
 * The 4 608-token cases (72 whole query tiles; 72 key tiles for D = 128, 36 for D = 32) check query rows 0..127,
 * the 128 around the middle and the last 192 of every head against the reference, to keep the CPU side in
 * seconds; every row is checked for being written and finite. The ragged tiles are the 1, 7, 65 and 300-token
 * cases, checked in full. */
#include "ternflux_cuda.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOLERANCE 5e-3

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }

/* JSON string contents: quotes, backslashes and control characters escaped. */
static void json_text(const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
}

/* The reference over a list of 8-row chunks, in parallel (pthreads; the device machine has 16 cores). */
typedef struct {
    const uint16_t *q, *k, *v;
    int64_t batch, heads, tokens, head_dim;
    const int64_t *chunks; /* row_begin of each chunk; rows row_begin .. min(row_begin + 8, row_end) */
    const int64_t *ends;
    int count, next;
    pthread_mutex_t lock;
    float *o;
    int failed;
} reference_job;

static void *reference_worker(void *arg) {
    reference_job *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        const int i = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= job->count) return NULL;
        if (tf_cuda_reference_attention(job->q, job->k, job->v, job->batch, job->heads, job->tokens, job->head_dim, job->chunks[i],
                                        job->ends[i], job->o) != TF_CUDA_OK)
            job->failed = 1;
    }
}

static int check(int64_t B, int64_t H, int64_t N, int64_t D, int timed) {
    const size_t elements = (size_t)(B * H * N * D);
    uint16_t *q = malloc(2 * elements), *k = malloc(2 * elements), *v = malloc(2 * elements);
    float *gpu = malloc(4 * elements), *ref = malloc(4 * elements);
    for (int64_t bh = 0; bh < B * H; bh++) {
        const float a = 1.0f + 2.0f * (float)(bh % 3), mean = (bh % H) % 2 ? 0.5f : 0.0f;
        const size_t base = (size_t)(bh * N * D);
        for (size_t i = 0; i < (size_t)(N * D); i++) {
            q[base + i] = tf_cuda_bf16_from_float(a * uniform());
            k[base + i] = tf_cuda_bf16_from_float(a * uniform());
            v[base + i] = tf_cuda_bf16_from_float(mean + uniform());
        }
    }
    /* The rows compared with the reference: all of them, or three bands of the long sequence. */
    int64_t bands[3][2] = {{0, N}, {0, 0}, {0, 0}};
    int nbands = 1;
    if (N > 1024) {
        bands[0][1] = 128;
        bands[1][0] = N / 2 - 64, bands[1][1] = N / 2 + 64;
        bands[2][0] = N - 192, bands[2][1] = N;
        nbands = 3;
    }
    int64_t rows = 0, *chunks = malloc(sizeof(int64_t) * (size_t)(N / 8 + 8)), *ends = malloc(sizeof(int64_t) * (size_t)(N / 8 + 8));
    int count = 0;
    for (int i = 0; i < nbands; i++) {
        rows += bands[i][1] - bands[i][0];
        for (int64_t r = bands[i][0]; r < bands[i][1]; r += 8) {
            chunks[count] = r;
            ends[count++] = r + 8 < bands[i][1] ? r + 8 : bands[i][1];
        }
    }
    reference_job job = {q, k, v, B, H, N, D, chunks, ends, count, 0, PTHREAD_MUTEX_INITIALIZER, ref, 0};
    pthread_t threads[16];
    int started = 0;
    for (int i = 0; i < 16; i++) started += pthread_create(&threads[started], NULL, reference_worker, &job) == 0;
    if (started == 0) reference_worker(&job);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);

    char message[512] = "";
    memset(gpu, 0xff, 4 * elements); /* NaN: an element the kernel does not write stays non-finite */
    int status = tf_cuda_attention(0, q, k, v, B, H, N, D, gpu, message, sizeof message);
    int64_t nonfinite = 0;
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; status == TF_CUDA_OK && i < elements; i++) nonfinite += !isfinite(gpu[i]);
    for (int i = 0; status == TF_CUDA_OK && i < nbands; i++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t r = bands[i][0]; r < bands[i][1]; r++)
                for (int64_t c = 0; c < H * D; c++) {
                    const size_t at = (size_t)((b * N + r) * H * D + c);
                    const double e = fabs((double)gpu[at] - (double)ref[at]);
                    if (!(e <= max_err)) max_err = e; /* NaN propagates */
                    if (fabs((double)ref[at]) > max_ref) max_ref = fabs((double)ref[at]);
                }
    const double relative = max_ref > 0 ? max_err / max_ref : max_err;
    double seconds = 0;
    char kernel[512] = "";
    if (timed && status == TF_CUDA_OK) {
        status = tf_cuda_attention_benchmark(0, q, k, v, B, H, N, D, 20, &seconds, kernel, sizeof kernel);
        if (status != TF_CUDA_OK) snprintf(message, sizeof message, "%s", kernel), kernel[0] = 0;
    }
    const int ok = status == TF_CUDA_OK && !job.failed && nonfinite == 0 && relative <= TOLERANCE;
    printf("{\"check\":\"attention\",\"batch\":%lld,\"heads\":%lld,\"tokens\":%lld,\"head_dim\":%lld,\"status\":%d,\"message\":\"",
           (long long)B, (long long)H, (long long)N, (long long)D, status);
    json_text(message);
    printf("\",\"rows_checked\":%lld,\"nonfinite_or_unwritten\":%lld,\"max_abs_error\":%.4e,\"max_abs_reference\":%.4e,"
           "\"relative_error\":%.4e,\"tolerance\":%.1e,\"ok\":%s",
           (long long)rows, (long long)nonfinite, max_err, max_ref, relative, TOLERANCE, ok ? "true" : "false");
    if (timed)
        printf(",\"kernel\":\"%s\",\"seconds\":%.7f,\"tflops\":%.1f", kernel, seconds,
               seconds > 0 ? 4.0 * (double)B * (double)H * (double)N * (double)N * (double)D / seconds / 1e12 : 0.0);
    printf("}\n");
    fflush(stdout);
    free(q), free(k), free(v), free(gpu), free(ref), free(chunks), free(ends);
    return !ok;
}

int main(void) {
    tf_cuda_device_info info = {0};
    char message[512] = "";
    int status = tf_cuda_probe(0, &info, message, sizeof message);
    printf("{\"probe\":%d,\"message\":\"", status);
    json_text(message);
    printf("\",\"name\":\"%s\",\"compute\":\"%d.%d\",\"driver\":%d,\"memory\":%zu}\n", info.name, info.compute_major, info.compute_minor,
           info.driver_version, info.total_memory);
    fflush(stdout);
    if (status != TF_CUDA_OK) return 1;
    const int64_t dims[] = {32, 128}, tokens[] = {1, 7, 64, 65, 300, 4608}, heads[] = {3, 24}, batches[] = {1, 2};
    int failed = 0;
    for (int d = 0; d < 2; d++)
        for (int n = 0; n < 6; n++)
            for (int h = 0; h < 2; h++)
                for (int b = 0; b < 2; b++)
                    failed |= check(batches[b], heads[h], tokens[n], dims[d], tokens[n] == 4608 && heads[h] == 24 && batches[b] == 1);
    return failed;
}
