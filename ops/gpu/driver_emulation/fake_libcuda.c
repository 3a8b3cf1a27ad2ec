/* A stand-in libcuda.so.1 for testing TernFlux's host side of the CUDA backend on a machine without a GPU:
 * every driver entry point cuda_driver.c resolves, over host memory, with the W2A8 kernels "launched" as the
 * CPU reference of their arithmetic (Sources/CCUDA/w2a8_reference.c), unpacked from cuLaunchKernel's argument
 * array by the kernels' own signatures (kernels/cuda/w2a8.cu, w2a8_tiled.cu). So it checks what the real
 * driver cannot check here: the arguments' order and types, the launch grids against each kernel's tile,
 * allocation sizes against every copy and every kernel access, the scratch pool and streams under concurrent
 * callers, and the layers, the transformer placement and the commands end to end (a `--device cuda` image
 * must be the CPU int8 image). It checks nothing of the kernels themselves: those are the device check's.
 *
 * Used by CUDAHostPathTests through TERNFLUX_CUDA_DRIVER; built with cc -shared -fPIC (see the test). Every
 * misuse it finds is printed to stderr as "fake libcuda: ..." and answered CUDA_ERROR_INVALID_VALUE (1).
 * Faults on demand, for the error paths: FAKE_LIBCUDA_MEMORY=BYTES sets the device's memory (default 8 GiB);
 * FAKE_LIBCUDA_FAIL_LAUNCHES_AFTER=N makes every kernel launch after the first N fail (CUDA_ERROR_LAUNCH_FAILED). */
#include "ternflux_cuda.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
enum { OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_FOUND = 500, LAUNCH_FAILED = 719 };

static CUresult misuse(const char *what) {
    fprintf(stderr, "fake libcuda: %s\n", what);
    return INVALID_VALUE;
}

/* Device memory: host allocations, each remembered with its size so every access can be checked. */
typedef struct { char *base; size_t size; } allocation;
static allocation allocations[4096];
static int allocation_count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t allocated_bytes;
static size_t total_bytes = (size_t)8 << 30;
static long long launches, fail_after = -1;

/* Whether [p, p + bytes) lies inside one allocation. */
static int inside(CUdeviceptr p, size_t bytes) {
    pthread_mutex_lock(&lock);
    int ok = 0;
    for (int i = 0; i < allocation_count && !ok; i++) {
        uintptr_t b = (uintptr_t)allocations[i].base;
        ok = p >= b && p + bytes <= b + allocations[i].size && p + bytes >= p;
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

CUresult cuInit(unsigned flags) {
    const char *memory = getenv("FAKE_LIBCUDA_MEMORY"), *fail = getenv("FAKE_LIBCUDA_FAIL_LAUNCHES_AFTER");
    if (memory && *memory) total_bytes = strtoull(memory, NULL, 10);
    if (fail && *fail) fail_after = strtoll(fail, NULL, 10);
    return flags == 0 ? OK : misuse("cuInit flags must be 0");
}
CUresult cuDriverGetVersion(int *v) { *v = 13000; return OK; }
CUresult cuGetErrorString(CUresult r, const char **s) {
    *s = r == OK ? "CUDA_SUCCESS (fake libcuda)" : r == OUT_OF_MEMORY ? "CUDA_ERROR_OUT_OF_MEMORY (fake libcuda)"
       : r == NOT_FOUND ? "CUDA_ERROR_NOT_FOUND (fake libcuda)" : r == LAUNCH_FAILED ? "CUDA_ERROR_LAUNCH_FAILED (fake libcuda)"
       : "CUDA_ERROR_INVALID_VALUE (fake libcuda)";
    return OK;
}
CUresult cuDeviceGetCount(int *n) { *n = 1; return OK; }
CUresult cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return INVALID_VALUE; *d = 0; return OK; }
CUresult cuDeviceGetAttribute(int *v, int attribute, int device) {
    (void)device;
    *v = attribute == 75 ? 9 : 0; /* compute capability 9.0 */
    return OK;
}
CUresult cuDeviceGetName(char *name, int size, int device) { (void)device; snprintf(name, (size_t)size, "fake libcuda (host)"); return OK; }
CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) { (void)device; *bytes = total_bytes; return OK; }
static int context_token, module_token, stream_tokens[256], stream_count;
CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) { (void)device; *ctx = &context_token; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int device) { (void)device; return OK; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == &context_token ? OK : misuse("cuCtxSetCurrent: not the primary context"); }
CUresult cuCtxSynchronize(void) { return OK; }
CUresult cuModuleLoadData(void **module, const void *image) {
    /* The embedded fatbin: its container magic 0xBA55ED50. */
    if (!image || memcmp(image, "\x50\xed\x55\xba", 4) != 0) return misuse("cuModuleLoadData: not a fatbin");
    *module = &module_token;
    return OK;
}
CUresult cuModuleUnload(void *module) { (void)module; return OK; }

typedef enum { QUANTIZE, GEMM_SIMPLE, GEMM_TILED } kernel_id;
static const char *kernel_names[] = {"tf_w2a8_quantize_rows", "tf_w2a8_gemm", "tf_w2a8_gemm_tiled"};
static kernel_id kernel_ids[] = {QUANTIZE, GEMM_SIMPLE, GEMM_TILED};

CUresult cuModuleGetFunction(void **f, void *module, const char *name) {
    if (module != &module_token) return misuse("cuModuleGetFunction: unknown module");
    for (int i = 0; i < 3; i++)
        if (strcmp(name, kernel_names[i]) == 0) { *f = &kernel_ids[i]; return OK; }
    return NOT_FOUND; /* kernels this stand-in does not run (norms, attention) */
}
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
    if (bytes == 0) return misuse("cuMemAlloc of 0 bytes");
    pthread_mutex_lock(&lock);
    CUresult r = OK;
    if (allocated_bytes + bytes > total_bytes || allocation_count == 4096) r = OUT_OF_MEMORY;
    else {
        char *b = malloc(bytes);
        if (!b) r = OUT_OF_MEMORY;
        else {
            memset(b, 0xA5, bytes); /* what a kernel reads without it being written shows up */
            allocations[allocation_count++] = (allocation){b, bytes};
            allocated_bytes += bytes;
            *p = (CUdeviceptr)(uintptr_t)b;
        }
    }
    pthread_mutex_unlock(&lock);
    return r;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < allocation_count; i++) {
        if ((uintptr_t)allocations[i].base == p) {
            free(allocations[i].base);
            allocated_bytes -= allocations[i].size;
            allocations[i] = allocations[--allocation_count];
            pthread_mutex_unlock(&lock);
            return OK;
        }
    }
    pthread_mutex_unlock(&lock);
    return misuse("cuMemFree of a pointer that is not an allocation");
}
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) {
    pthread_mutex_lock(&lock);
    *f = total_bytes - allocated_bytes;
    pthread_mutex_unlock(&lock);
    *t = total_bytes;
    return OK;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
    if (!inside(dst, bytes)) return misuse("cuMemcpyHtoD outside an allocation");
    memcpy((void *)(uintptr_t)dst, src, bytes);
    return OK;
}
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) {
    if (!inside(src, bytes)) return misuse("cuMemcpyDtoH outside an allocation");
    memcpy(dst, (const void *)(uintptr_t)src, bytes);
    return OK;
}
/* Streams: work runs at once in call order, so a stream is a token and synchronizing has nothing to wait for. */
static int is_stream(void *s) { return s >= (void *)stream_tokens && s < (void *)(stream_tokens + 256); }
CUresult cuStreamCreate(void **stream, unsigned flags) {
    if (flags != 1) return misuse("cuStreamCreate: expected CU_STREAM_NON_BLOCKING");
    pthread_mutex_lock(&lock);
    CUresult r = stream_count < 256 ? OK : misuse("more than 256 streams");
    if (r == OK) *stream = &stream_tokens[stream_count++];
    pthread_mutex_unlock(&lock);
    return r;
}
CUresult cuStreamSynchronize(void *stream) { return is_stream(stream) ? OK : misuse("cuStreamSynchronize: not a stream"); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, void *stream) {
    return is_stream(stream) ? cuMemcpyHtoD_v2(dst, src, bytes) : misuse("cuMemcpyHtoDAsync: not a stream");
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, void *stream) {
    return is_stream(stream) ? cuMemcpyDtoH_v2(dst, src, bytes) : misuse("cuMemcpyDtoHAsync: not a stream");
}

/* cuLaunchKernel's arguments read by the kernels' signatures:
 *   tf_w2a8_quantize_rows(const float *X, int64_t K, int64_t KP, int8_t *XQ, float *INV), grid (M), 256 threads
 *   tf_w2a8_gemm[_tiled](const int8_t *XQ, const float *INV, int64_t M, int64_t KP, const uint8_t *W,
 *                        const float *scale, const float *bias, int64_t N, float *Y)                          */
#define ARG(type, i) (*(type *)args[i])
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void *stream, void **args, void **extra) {
    if (!f || !args || extra || shared || gz != 1 || by != 1 || bz != 1) return misuse("cuLaunchKernel: bad launch");
    if (stream && !is_stream(stream)) return misuse("cuLaunchKernel: not a stream");
    pthread_mutex_lock(&lock);
    long long n = ++launches;
    pthread_mutex_unlock(&lock);
    if (fail_after >= 0 && n > fail_after) return LAUNCH_FAILED;
    switch (*(kernel_id *)f) {
    case QUANTIZE: {
        CUdeviceptr X = ARG(CUdeviceptr, 0), XQ = ARG(CUdeviceptr, 3), INV = ARG(CUdeviceptr, 4);
        int64_t K = ARG(int64_t, 1), KP = ARG(int64_t, 2), M = gx;
        if (bx != 256 || gy != 1) return misuse("tf_w2a8_quantize_rows: expected 256 threads, grid (M, 1)");
        if (K <= 0 || KP < K || KP % 128) return misuse("tf_w2a8_quantize_rows: K / KP");
        if (!inside(X, sizeof(float) * M * K) || !inside(XQ, M * KP) || !inside(INV, sizeof(float) * M))
            return misuse("tf_w2a8_quantize_rows: a buffer is smaller than M rows");
        tf_cuda_reference_quantize_rows((const float *)(uintptr_t)X, M, K, KP, (int8_t *)(uintptr_t)XQ, (float *)(uintptr_t)INV);
        return OK;
    }
    case GEMM_SIMPLE:
    case GEMM_TILED: {
        int tiled = *(kernel_id *)f == GEMM_TILED;
        CUdeviceptr XQ = ARG(CUdeviceptr, 0), INV = ARG(CUdeviceptr, 1), W = ARG(CUdeviceptr, 4), scale = ARG(CUdeviceptr, 5),
                    bias = ARG(CUdeviceptr, 6), Y = ARG(CUdeviceptr, 8);
        int64_t M = ARG(int64_t, 2), KP = ARG(int64_t, 3), N = ARG(int64_t, 7);
        unsigned bm = tiled ? TF_CUDA_TILED_BM : 16, bn = tiled ? TF_CUDA_TILED_BN : 8, threads = tiled ? TF_CUDA_TILED_THREADS : 32;
        if (bx != threads) return misuse("W2A8 GEMM: wrong block size for the kernel");
        if ((int64_t)gx * bn < N || (int64_t)(gx - 1) * bn >= N || (int64_t)gy * bm < M || (int64_t)(gy - 1) * bm >= M)
            return misuse("W2A8 GEMM: the grid does not cover M x N with the kernel's tile");
        if (M <= 0 || N <= 0 || KP <= 0 || KP % 128) return misuse("W2A8 GEMM: M / N / KP");
        if (!inside(XQ, M * KP) || !inside(INV, sizeof(float) * M) || !inside(W, N * (KP / 4)) || !inside(scale, sizeof(float) * N) ||
            (bias && !inside(bias, sizeof(float) * N)) || !inside(Y, sizeof(float) * M * N))
            return misuse("W2A8 GEMM: a buffer is smaller than its shape");
        tf_cuda_reference_w2a8_gemm((const int8_t *)(uintptr_t)XQ, (const float *)(uintptr_t)INV, M, KP, (const uint8_t *)(uintptr_t)W,
                                    (const float *)(uintptr_t)scale, bias ? (const float *)(uintptr_t)bias : NULL, N,
                                    (float *)(uintptr_t)Y);
        return OK;
    }
    }
    return misuse("cuLaunchKernel: unknown kernel");
}
