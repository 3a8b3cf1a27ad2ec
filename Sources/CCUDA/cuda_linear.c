/* A ternary linear layer resident on a CUDA device: the packed I2 weights, scales and bias uploaded once; each
 * call copies the activations in, quantizes them per token on the device, runs the W2A8 GEMM and copies the
 * result out. Calls take a scratch area of their device's pool (activation buffers grown on demand and a
 * stream of their own) for their duration, so the slots of one worker (`--slots N`, one thread each) run
 * their layers concurrently, each in its own stream and memory, over one copy of the weights. */
#include "cuda_module.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tf_cuda_linear {
    int ordinal;
    int64_t N, K, KP;
    tf_cu_deviceptr w, scale, bias; /* bias 0 when the layer has none */
    size_t device_bytes;
};

#define MAX_DEVICES 64

#define MAX_SCRATCH 64 /* concurrent calls per device: at least the largest --slots */

typedef struct {
    int in_use;
    tf_cu_stream stream;
    tf_cu_deviceptr x, xq, inv, y;
    size_t x_bytes, xq_bytes, inv_bytes, y_bytes;
} scratch_area;

static scratch_area scratch[MAX_DEVICES][MAX_SCRATCH];
static pthread_mutex_t scratch_lock = PTHREAD_MUTEX_INITIALIZER;

/* A free scratch area of device `ordinal` (its context current), with its stream made on first use; NULL when
 * all are taken or the stream cannot be made (`*r` the driver's error, 0 for "all taken"). */
static scratch_area *acquire_scratch(const tf_cuda_api *d, int ordinal, int *r) {
    *r = 0;
    pthread_mutex_lock(&scratch_lock);
    scratch_area *found = NULL;
    for (int i = 0; i < MAX_SCRATCH && !found; i++)
        if (!scratch[ordinal][i].in_use) found = &scratch[ordinal][i];
    if (found && !found->stream && (*r = d->stream_create(&found->stream, 1 /* CU_STREAM_NON_BLOCKING */)) != 0) found = NULL;
    if (found) found->in_use = 1;
    pthread_mutex_unlock(&scratch_lock);
    return found;
}

static void release_scratch(scratch_area *area) {
    pthread_mutex_lock(&scratch_lock);
    area->in_use = 0;
    pthread_mutex_unlock(&scratch_lock);
}

/* Which GEMM kernel runs: the tiled one unless TERNFLUX_CUDA_GEMM=simple asks for the correctness-first one
 * (the device check runs both), or the fatbin has no tiled kernel. */
static const char *gemm_kernel_name(void) {
    const char *choice = getenv("TERNFLUX_CUDA_GEMM");
    return choice && strcmp(choice, "simple") == 0 ? "tf_w2a8_gemm" : "tf_w2a8_gemm_tiled";
}

static int grow(const tf_cuda_api *d, tf_cu_deviceptr *ptr, size_t *have, size_t need) {
    if (*have >= need) return 0;
    if (*ptr) d->mem_free(*ptr);
    *ptr = 0;
    *have = 0;
    int r = d->mem_alloc(ptr, need);
    if (r == 0) *have = need;
    return r;
}

int tf_cuda_linear_create(int ordinal, const uint8_t *Wpacked, int64_t N, int64_t K, const float *scale, const float *bias,
                          tf_cuda_linear **out, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if (!out || !Wpacked || !scale || N <= 0 || K <= 0 || N > (1 << 30) / 8 || K > (1 << 30)) {
        tf_cuda_set_message(message, size, "bad arguments to tf_cuda_linear_create (N=%lld K=%lld)", (long long)N, (long long)K);
        return TF_CUDA_EARG;
    }
    tf_cu_context context;
    if ((status = tf_cuda_context(d, ordinal, &context, message, size)) != TF_CUDA_OK) return status;
    tf_cuda_linear *l = calloc(1, sizeof *l);
    if (!l) {
        tf_cuda_set_message(message, size, "out of host memory");
        return TF_CUDA_EARG;
    }
    l->ordinal = ordinal;
    l->N = N;
    l->K = K;
    l->KP = (K + 127) / 128 * 128;
    const size_t bytes_w = (size_t)(N * (l->KP / 4)), bytes_n = sizeof(float) * (size_t)N;
    int r = 0;
    const char *call = NULL;
    if ((r = d->mem_alloc(&l->w, bytes_w)) || (r = d->mem_alloc(&l->scale, bytes_n)) || (bias && (r = d->mem_alloc(&l->bias, bytes_n))))
        call = "cuMemAlloc";
    else if ((r = d->memcpy_htod(l->w, Wpacked, bytes_w)) || (r = d->memcpy_htod(l->scale, scale, bytes_n)) ||
             (bias && (r = d->memcpy_htod(l->bias, bias, bytes_n))))
        call = "cuMemcpyHtoD";
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d uploading a [%lld, %lld] ternary weight (%zu bytes): %s", call,
                            ordinal, (long long)N, (long long)K, bytes_w, tf_cuda_error_name(r));
        tf_cuda_linear_destroy(l);
        return TF_CUDA_ECALL;
    }
    l->device_bytes = bytes_w + bytes_n * (bias ? 2 : 1);
    *out = l;
    return TF_CUDA_OK;
}

void tf_cuda_linear_destroy(tf_cuda_linear *l) {
    if (!l) return;
    int status;
    const tf_cuda_api *d = tf_cuda_driver(NULL, 0, &status);
    if (d) {
        tf_cu_context context;
        if (tf_cuda_context(d, l->ordinal, &context, NULL, 0) == TF_CUDA_OK) {
            if (l->w) d->mem_free(l->w);
            if (l->scale) d->mem_free(l->scale);
            if (l->bias) d->mem_free(l->bias);
        }
    }
    free(l);
}

size_t tf_cuda_linear_device_bytes(const tf_cuda_linear *l) { return l ? l->device_bytes : 0; }

/* One call's kernels, scratch area and launch arguments (for M rows of X); the quantization reads s->x. */
typedef struct {
    const tf_cuda_api *d;
    tf_cuda_linear *l;
    scratch_area *s;
    tf_cu_function quantize, gemm;
    int tiled;
    int64_t M;
    tf_cu_deviceptr x, xq, inv, y, w, scale, bias; /* the kernels' pointer arguments, by address in qargs/gargs */
    void *qargs[5], *gargs[9];
} layer_call;

/* Loads the kernels (the tiled GEMM unless asked or missing), takes a scratch area sized for M rows and queues
 * the copy of X into it. On failure the area is released and `message` says why. */
static int begin_call(const tf_cuda_api *d, tf_cuda_linear *l, const float *X, int64_t M, layer_call *c, char *message,
                      size_t size) {
    memset(c, 0, sizeof *c);
    c->d = d;
    c->l = l;
    c->M = M;
    int status;
    const char *gemm_name = gemm_kernel_name();
    if ((status = tf_cuda_kernel(d, l->ordinal, "tf_w2a8_quantize_rows", &c->quantize, message, size)) != TF_CUDA_OK) return status;
    if (tf_cuda_kernel(d, l->ordinal, gemm_name, &c->gemm, message, size) != TF_CUDA_OK) {
        gemm_name = "tf_w2a8_gemm";
        if ((status = tf_cuda_kernel(d, l->ordinal, gemm_name, &c->gemm, message, size)) != TF_CUDA_OK) return status;
    }
    c->tiled = strcmp(gemm_name, "tf_w2a8_gemm_tiled") == 0;
    scratch_area *s = acquire_scratch(d, l->ordinal, &status);
    if (!s) {
        tf_cuda_set_message(message, size, status ? "cuStreamCreate failed on CUDA device %d: %s" : "CUDA device %d: more than %d layer calls at once",
                            l->ordinal, status ? tf_cuda_error_name(status) : "", MAX_SCRATCH);
        return TF_CUDA_ECALL;
    }
    c->s = s;
    const size_t bytes_x = sizeof(float) * (size_t)(M * l->K);
    int r = 0;
    const char *call = NULL;
    if ((r = grow(d, &s->x, &s->x_bytes, bytes_x)) || (r = grow(d, &s->xq, &s->xq_bytes, (size_t)(M * l->KP))) ||
        (r = grow(d, &s->inv, &s->inv_bytes, sizeof(float) * (size_t)M)) ||
        (r = grow(d, &s->y, &s->y_bytes, sizeof(float) * (size_t)(M * l->N))))
        call = "cuMemAlloc (activation scratch)";
    else if ((r = d->memcpy_htod_async(s->x, X, bytes_x, s->stream)))
        call = "cuMemcpyHtoDAsync";
    if (call) {
        release_scratch(s);
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d (M=%lld K=%lld N=%lld): %s", call, l->ordinal, (long long)M,
                            (long long)l->K, (long long)l->N, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    c->x = s->x, c->xq = s->xq, c->inv = s->inv, c->y = s->y, c->w = l->w, c->scale = l->scale, c->bias = l->bias;
    void *qargs[] = {&c->x, &l->K, &l->KP, &c->xq, &c->inv};
    void *gargs[] = {&c->xq, &c->inv, &c->M, &l->KP, &c->w, &c->scale, &c->bias, &l->N, &c->y};
    memcpy(c->qargs, qargs, sizeof qargs);
    memcpy(c->gargs, gargs, sizeof gargs);
    return TF_CUDA_OK;
}

static int launch_quantize(const layer_call *c) {
    return c->d->launch_kernel(c->quantize, (unsigned)c->M, 1, 1, 256, 1, 1, 0, c->s->stream, (void **)c->qargs, NULL);
}

/* The GEMM on the grid of its kernel's tile: 128 × 256 tiled, 16 × 8 (one warp) simple. */
static int launch_gemm(const layer_call *c) {
    const int64_t M = c->M, N = c->l->N;
    unsigned grid_x = c->tiled ? (unsigned)((N + TF_CUDA_TILED_BN - 1) / TF_CUDA_TILED_BN) : (unsigned)((N + 7) / 8);
    unsigned grid_y = c->tiled ? (unsigned)((M + TF_CUDA_TILED_BM - 1) / TF_CUDA_TILED_BM) : (unsigned)((M + 15) / 16);
    unsigned threads = c->tiled ? TF_CUDA_TILED_THREADS : 32;
    return c->d->launch_kernel(c->gemm, grid_x, grid_y, 1, threads, 1, 1, 0, c->s->stream, (void **)c->gargs, NULL);
}

static const char *gemm_launch_name(const layer_call *c) {
    return c->tiled ? "cuLaunchKernel(tf_w2a8_gemm_tiled)" : "cuLaunchKernel(tf_w2a8_gemm)";
}

int tf_cuda_linear_apply(tf_cuda_linear *l, const float *X, int64_t M, float *Y, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if (!l || !X || !Y || M <= 0 || M > TF_CUDA_MAX_ROWS || M * l->KP > ((int64_t)1 << 40)) {
        tf_cuda_set_message(message, size, "bad arguments to tf_cuda_linear_apply (M=%lld; 1 to %lld rows)", (long long)M,
                            (long long)TF_CUDA_MAX_ROWS);
        return TF_CUDA_EARG;
    }
    layer_call c;
    if ((status = begin_call(d, l, X, M, &c, message, size)) != TF_CUDA_OK) return status;
    int r = 0;
    const char *call = NULL;
    if ((r = launch_quantize(&c)))
        call = "cuLaunchKernel(tf_w2a8_quantize_rows)";
    else if ((r = launch_gemm(&c)))
        call = gemm_launch_name(&c);
    else if ((r = d->memcpy_dtoh_async(Y, c.y, sizeof(float) * (size_t)(M * l->N), c.s->stream)))
        call = "cuMemcpyDtoHAsync";
    else if ((r = d->stream_synchronize(c.s->stream))) /* reports the kernels' faults */
        call = "cuStreamSynchronize (after the W2A8 kernels)";
    release_scratch(c.s);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d (M=%lld K=%lld N=%lld): %s", call, l->ordinal, (long long)M,
                            (long long)l->K, (long long)l->N, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}

int tf_cuda_linear_benchmark(tf_cuda_linear *l, const float *X, int64_t M, int iterations, double *quantize_seconds,
                             double *gemm_seconds, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if (!l || !X || M <= 0 || M > TF_CUDA_MAX_ROWS || iterations < 1) {
        tf_cuda_set_message(message, size, "bad arguments to tf_cuda_linear_benchmark (M=%lld, %d iterations)", (long long)M, iterations);
        return TF_CUDA_EARG;
    }
    /* One ordinary call first: the layer checked end to end and its kernels loaded. */
    float *y = malloc(sizeof(float) * (size_t)(M * l->N));
    if (!y) {
        tf_cuda_set_message(message, size, "out of host memory");
        return TF_CUDA_EARG;
    }
    status = tf_cuda_linear_apply(l, X, M, y, message, size);
    free(y);
    if (status != TF_CUDA_OK) return status;
    /* Then the kernels alone on a scratch area of their own, X copied in once. */
    layer_call c;
    if ((status = begin_call(d, l, X, M, &c, message, size)) != TF_CUDA_OK) return status;
    int r = 0;
    const char *call = NULL;
    if ((r = d->stream_synchronize(c.s->stream))) call = "cuStreamSynchronize (the copy of X)";
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; !call && i < iterations; i++)
        if ((r = launch_quantize(&c))) call = "cuLaunchKernel(tf_w2a8_quantize_rows)";
    if (!call && (r = d->stream_synchronize(c.s->stream))) call = "cuStreamSynchronize (quantize)";
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; !call && i < iterations; i++)
        if ((r = launch_gemm(&c))) call = gemm_launch_name(&c);
    if (!call && (r = d->stream_synchronize(c.s->stream))) call = "cuStreamSynchronize (GEMM)";
    clock_gettime(CLOCK_MONOTONIC, &t2);
    release_scratch(c.s);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d: %s", call, l->ordinal, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    double a = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double b = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) * 1e-9;
    if (quantize_seconds) *quantize_seconds = a / iterations;
    if (gemm_seconds) *gemm_seconds = b / iterations;
    tf_cuda_set_message(message, size, "%s", c.tiled ? "tf_w2a8_gemm_tiled" : "tf_w2a8_gemm");
    return TF_CUDA_OK;
}

int tf_cuda_w2a8_gemm(int ordinal, const float *X, int64_t M, int64_t K, const uint8_t *Wpacked, const float *scale,
                      const float *bias, int64_t N, float *Y, char *message, size_t size) {
    tf_cuda_linear *l = NULL;
    int status = tf_cuda_linear_create(ordinal, Wpacked, N, K, scale, bias, &l, message, size);
    if (status != TF_CUDA_OK) return status;
    status = tf_cuda_linear_apply(l, X, M, Y, message, size);
    tf_cuda_linear_destroy(l);
    return status;
}
