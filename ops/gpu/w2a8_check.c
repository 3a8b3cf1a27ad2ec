/* Device check of the CUDA kernels (run by ops/gpu/check.sh on a machine with an NVIDIA GPU; built there with
 * gcc, no Swift needed). For each shape and each GEMM kernel (the tiled one and the correctness-first one,
 * TERNFLUX_CUDA_GEMM): the GPU's W2A8 linear against the CPU int8 GEMM bit for bit, and on the small shapes
 * against the CPU reference of the kernels' arithmetic too; on the FLUX.1-dev shapes the device time of the
 * GEMM alone (resident weights and activations, back-to-back launches). Prints one JSON object per line. */
#include "ternflux_cuda.h"
#include "ternary_gemm.h"
#include "ternary_formats.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }

static const char *kernels[] = {"tiled", "simple"};

static int check(int64_t M, int64_t K, int64_t N, int with_reference, int timed) {
    const int64_t KP = (K + 127) / 128 * 128;
    float *x = malloc(sizeof(float) * M * K), *scale = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
    int8_t *q = malloc(N * K), *xq = malloc(M * KP);
    uint8_t *w = malloc(N * tf_packed_row_bytes(TF_FORMAT_I2, K));
    float *inv = malloc(sizeof(float) * M), *ref = malloc(sizeof(float) * M * N), *cpu = malloc(sizeof(float) * M * N),
          *gpu = malloc(sizeof(float) * M * N);
    for (int64_t i = 0; i < M * K; i++) x[i] = 3.0f * uniform();
    if (M > 2) memset(x + K, 0, sizeof(float) * K); /* an all-zero row */
    for (int64_t i = 0; i < N * K; i++) q[i] = (int8_t)((int)(next() % 3) - 1);
    for (int64_t n = 0; n < N; n++) { scale[n] = 0.01f + 0.1f * (uniform() + 1.0f); bias[n] = uniform(); }
    tf_pack(TF_FORMAT_I2, q, N, K, w);
    if (with_reference) {
        tf_cuda_reference_quantize_rows(x, M, K, KP, xq, inv);
        tf_cuda_reference_w2a8_gemm(xq, inv, M, KP, w, scale, bias, N, ref);
    }
    tf_ternary_gemm(TF_ACT_INT8, TF_FORMAT_I2, x, M, K, w, scale, bias, N, cpu, 0);
    int failed = 0;
    for (size_t g = 0; g < sizeof kernels / sizeof kernels[0]; g++) {
        setenv("TERNFLUX_CUDA_GEMM", kernels[g], 1);
        char message[512] = "";
        tf_cuda_linear *layer = NULL;
        memset(gpu, 0xff, sizeof(float) * M * N);
        int status = tf_cuda_linear_create(0, w, N, K, scale, bias, &layer, message, sizeof message);
        if (status == TF_CUDA_OK) status = tf_cuda_linear_apply(layer, x, M, gpu, message, sizeof message);
        int64_t diff_ref = 0, diff_cpu = 0, first = -1;
        for (int64_t i = 0; status == TF_CUDA_OK && i < M * N; i++) {
            int c = memcmp(&gpu[i], &cpu[i], 4) != 0;
            diff_cpu += c;
            if (c && first < 0) first = i;
            if (with_reference) diff_ref += memcmp(&gpu[i], &ref[i], 4) != 0;
        }
        double qs = 0, gs = 0;
        char kernel[512] = "";
        if (timed && status == TF_CUDA_OK) {
            status = tf_cuda_linear_benchmark(layer, x, M, 20, &qs, &gs, kernel, sizeof kernel);
            if (status != TF_CUDA_OK) snprintf(message, sizeof message, "%s", kernel), kernel[0] = 0;
        }
        tf_cuda_linear_destroy(layer);
        printf("{\"kernel\":\"%s\",\"ran\":\"%s\",\"M\":%lld,\"K\":%lld,\"N\":%lld,\"status\":%d,\"message\":\"%s\","
               "\"differ_from_cpu_int8\":%lld,\"first_difference\":%lld,\"gpu_first\":%.9g,\"cpu_first\":%.9g",
               kernels[g], kernel, (long long)M, (long long)K, (long long)N, status, message, (long long)diff_cpu, (long long)first,
               first >= 0 ? gpu[first] : 0.0, first >= 0 ? cpu[first] : 0.0);
        if (with_reference) printf(",\"differ_from_reference\":%lld", (long long)diff_ref);
        if (timed) printf(",\"quantize_seconds\":%.7f,\"gemm_seconds\":%.7f,\"gemm_tops\":%.1f", qs, gs, gs > 0 ? 2.0 * M * N * K / gs / 1e12 : 0.0);
        printf("}\n");
        fflush(stdout);
        failed |= status != TF_CUDA_OK || diff_cpu != 0 || diff_ref != 0;
    }
    free(x); free(scale); free(bias); free(q); free(xq); free(w); free(inv); free(ref); free(cpu); free(gpu);
    return failed;
}

int main(void) {
    tf_cuda_device_info info = {0};
    char message[512] = "";
    int status = tf_cuda_probe(0, &info, message, sizeof message);
    printf("{\"probe\":%d,\"message\":\"%s\",\"name\":\"%s\",\"compute\":\"%d.%d\",\"driver\":%d,\"memory\":%zu}\n", status, message,
           info.name, info.compute_major, info.compute_minor, info.driver_version, info.total_memory);
    fflush(stdout);
    if (status != TF_CUDA_OK) return 1;
    int failed = 0;
    /* Edges of both kernels' tiles: one row, one column, sizes just past a tile, K not a multiple of 128. */
    const int64_t small[][3] = {{1, 32, 8},     {17, 200, 13},  {64, 3072, 24},  {5, 129, 40},   {333, 1000, 77},
                                {1, 3072, 1},   {129, 256, 129}, {128, 128, 128}, {255, 384, 257}, {300, 96, 288}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) failed |= check(small[i][0], small[i][1], small[i][2], 1, 0);
    const int64_t flux[][2] = {{3072, 3072}, {3072, 12288}, {12288, 3072}, {15360, 3072}, {3072, 15360}};
    for (size_t i = 0; i < sizeof flux / sizeof flux[0]; i++) failed |= check(4608, flux[i][0], flux[i][1], 0, 1);
    return failed;
}
