/* Device check of the CUDA kernels (run by ops/gpu/check.sh on a machine with an NVIDIA GPU; built there with
 * gcc, no Swift needed): for each shape, the GPU's W2A8 GEMM against the CPU reference of its arithmetic and
 * against the CPU int8 GEMM, bit for bit, and the GPU time per call. Prints one JSON object per line. */
#include "ternflux_cuda.h"
#include "ternary_gemm.h"
#include "ternary_formats.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static int check(int64_t M, int64_t K, int64_t N, int timed) {
    const int64_t KP = (K + 127) / 128 * 128;
    float *x = malloc(sizeof(float) * M * K), *scale = malloc(sizeof(float) * N), *bias = malloc(sizeof(float) * N);
    int8_t *q = malloc(N * K), *xq = malloc(M * KP);
    uint8_t *w = malloc(N * tf_packed_row_bytes(TF_FORMAT_I2, K));
    float *inv = malloc(sizeof(float) * M), *ref = malloc(sizeof(float) * M * N), *cpu = malloc(sizeof(float) * M * N),
          *gpu = malloc(sizeof(float) * M * N);
    for (int64_t i = 0; i < M * K; i++) x[i] = 3.0f * uniform();
    for (int64_t i = 0; i < N * K; i++) q[i] = (int8_t)((int)(next() % 3) - 1);
    for (int64_t n = 0; n < N; n++) { scale[n] = 0.01f + 0.1f * (uniform() + 1.0f); bias[n] = uniform(); }
    tf_pack(TF_FORMAT_I2, q, N, K, w);
    tf_cuda_reference_quantize_rows(x, M, K, KP, xq, inv);
    tf_cuda_reference_w2a8_gemm(xq, inv, M, KP, w, scale, bias, N, ref);
    tf_ternary_gemm(TF_ACT_INT8, TF_FORMAT_I2, x, M, K, w, scale, bias, N, cpu, 0);
    char message[512] = "";
    int status = tf_cuda_w2a8_gemm(0, x, M, K, w, scale, bias, N, gpu, message, sizeof message);
    int64_t diff_ref = 0, diff_cpu = 0;
    for (int64_t i = 0; status == TF_CUDA_OK && i < M * N; i++) {
        diff_ref += memcmp(&gpu[i], &ref[i], 4) != 0;
        diff_cpu += memcmp(&gpu[i], &cpu[i], 4) != 0;
    }
    double seconds = 0;
    if (timed && status == TF_CUDA_OK) {
        double t0 = now();
        for (int r = 0; r < 3; r++) tf_cuda_w2a8_gemm(0, x, M, K, w, scale, bias, N, gpu, message, sizeof message);
        seconds = (now() - t0) / 3;
    }
    printf("{\"M\":%lld,\"K\":%lld,\"N\":%lld,\"status\":%d,\"message\":\"%s\",\"differ_from_reference\":%lld,"
           "\"differ_from_cpu_int8\":%lld,\"seconds_per_call_with_copies\":%.6f}\n",
           (long long)M, (long long)K, (long long)N, status, message, (long long)diff_ref, (long long)diff_cpu, seconds);
    free(x); free(scale); free(bias); free(q); free(xq); free(w); free(inv); free(ref); free(cpu); free(gpu);
    return status == TF_CUDA_OK && diff_ref == 0 && diff_cpu == 0 ? 0 : 1;
}

int main(void) {
    tf_cuda_device_info info = {0};
    char message[512] = "";
    int status = tf_cuda_probe(0, &info, message, sizeof message);
    printf("{\"probe\":%d,\"message\":\"%s\",\"name\":\"%s\",\"compute\":\"%d.%d\",\"driver\":%d,\"memory\":%zu}\n", status, message,
           info.name, info.compute_major, info.compute_minor, info.driver_version, info.total_memory);
    if (status != TF_CUDA_OK) return 1;
    int failed = 0;
    const int64_t small[][3] = {{1, 32, 8}, {17, 200, 13}, {64, 3072, 24}, {5, 129, 40}, {333, 1000, 77}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) failed |= check(small[i][0], small[i][1], small[i][2], 0);
    const int64_t flux[][2] = {{3072, 3072}, {3072, 12288}, {12288, 3072}, {15360, 3072}};
    for (size_t i = 0; i < sizeof flux / sizeof flux[0]; i++) failed |= check(4608, flux[i][0], flux[i][1], 1);
    return failed;
}
