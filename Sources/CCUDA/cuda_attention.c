/* FLUX joint attention on a CUDA device from host buffers: Q, K, V (bf16) copied in, tf_flash_attention_bf16_d32 or
 * _d128 (kernels/cuda/attention.cu) launched, O (fp32) copied out. One scratch area per device (grown on demand)
 * serves every call; calls on one device are serialized by its lock. */
#include "cuda_module.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEVICES 64

typedef struct {
    pthread_mutex_t lock;
    tf_cu_deviceptr q, k, v, o;
    size_t q_bytes, k_bytes, v_bytes, o_bytes;
} attention_scratch;

static attention_scratch scratch[MAX_DEVICES];
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void init_scratch(void) {
    for (int i = 0; i < MAX_DEVICES; i++) pthread_mutex_init(&scratch[i].lock, NULL);
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

/* The shape's checks, shared by both entry points; the message names the caller. */
static int check_shape(const char *caller, const void *Q, const void *K, const void *V, const void *O, int64_t batch, int64_t heads,
                       int64_t tokens, int64_t head_dim, char *message, size_t size) {
    if (!Q || !K || !V || !O || batch < 1 || heads < 1 || tokens < 1 || tokens > TF_CUDA_ATTENTION_MAX_TOKENS ||
        (head_dim != 32 && head_dim != 128) || batch > TF_CUDA_ATTENTION_MAX_BH / heads ||
        batch * heads * tokens > ((int64_t)1 << 40) / head_dim) {
        tf_cuda_set_message(message, size,
                            "bad arguments to %s (batch=%lld heads=%lld tokens=%lld head_dim=%lld): head_dim 32 or 128, "
                            "1 <= batch * heads <= %d, 1 <= tokens <= %lld, non-NULL buffers",
                            caller, (long long)batch, (long long)heads, (long long)tokens, (long long)head_dim, TF_CUDA_ATTENTION_MAX_BH,
                            (long long)TF_CUDA_ATTENTION_MAX_TOKENS);
        return TF_CUDA_EARG;
    }
    return TF_CUDA_OK;
}

static const char *kernel_name(int64_t head_dim) {
    return head_dim == 32 ? "tf_flash_attention_bf16_d32" : "tf_flash_attention_bf16_d128";
}

/* With the device's scratch locked: grow it, copy Q, K, V in. */
static int upload(const tf_cuda_api *d, attention_scratch *s, const uint16_t *Q, const uint16_t *K, const uint16_t *V, size_t bytes_in,
                  size_t bytes_out, const char **call) {
    int r;
    if ((r = grow(d, &s->q, &s->q_bytes, bytes_in)) || (r = grow(d, &s->k, &s->k_bytes, bytes_in)) ||
        (r = grow(d, &s->v, &s->v_bytes, bytes_in)) || (r = grow(d, &s->o, &s->o_bytes, bytes_out)))
        *call = "cuMemAlloc (attention scratch)";
    else if ((r = d->memcpy_htod(s->q, Q, bytes_in)) || (r = d->memcpy_htod(s->k, K, bytes_in)) || (r = d->memcpy_htod(s->v, V, bytes_in)))
        *call = "cuMemcpyHtoD (Q, K, V)";
    return r;
}

/* With the device's scratch locked: one launch of `f` on the scratch's operands. */
static int launch(const tf_cuda_api *d, tf_cu_function f, attention_scratch *s, int64_t batch, int64_t heads, int64_t tokens) {
    tf_cu_deviceptr q = s->q, k = s->k, v = s->v, o = s->o;
    int h = (int)heads, n = (int)tokens;
    void *args[] = {&q, &k, &v, &h, &n, &o};
    const unsigned grid_x = (unsigned)((tokens + TF_CUDA_ATTENTION_BR - 1) / TF_CUDA_ATTENTION_BR), grid_y = (unsigned)(batch * heads);
    return d->launch_kernel(f, grid_x, grid_y, 1, TF_CUDA_ATTENTION_THREADS, 1, 1, 0, NULL, args, NULL);
}

int tf_cuda_attention(int ordinal, const uint16_t *Q, const uint16_t *K, const uint16_t *V, int64_t batch, int64_t heads, int64_t tokens,
                      int64_t head_dim, float *O, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if ((status = check_shape("tf_cuda_attention", Q, K, V, O, batch, heads, tokens, head_dim, message, size)) != TF_CUDA_OK) return status;
    if (ordinal < 0 || ordinal >= MAX_DEVICES) {
        tf_cuda_set_message(message, size, "CUDA device %d: the ordinal must be 0 to %d", ordinal, MAX_DEVICES - 1);
        return TF_CUDA_EARG;
    }
    const char *name = kernel_name(head_dim);
    tf_cu_function f;
    if ((status = tf_cuda_kernel(d, ordinal, name, &f, message, size)) != TF_CUDA_OK) return status;
    pthread_once(&scratch_once, init_scratch);
    attention_scratch *s = &scratch[ordinal];
    const size_t elements = (size_t)(batch * heads * tokens * head_dim);
    const size_t bytes_in = sizeof(uint16_t) * elements, bytes_out = sizeof(float) * elements;
    pthread_mutex_lock(&s->lock);
    const char *call = NULL;
    int r = upload(d, s, Q, K, V, bytes_in, bytes_out, &call);
    if (!call && (r = launch(d, f, s, batch, heads, tokens))) call = head_dim == 32 ? "cuLaunchKernel(tf_flash_attention_bf16_d32)"
                                                                                   : "cuLaunchKernel(tf_flash_attention_bf16_d128)";
    else if (!call && (r = d->memcpy_dtoh(O, s->o, bytes_out))) /* synchronous: waits for the kernel, reports its faults */
        call = "cuMemcpyDtoH (after the attention kernel)";
    pthread_mutex_unlock(&s->lock);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d (batch=%lld heads=%lld tokens=%lld head_dim=%lld): %s", call, ordinal,
                            (long long)batch, (long long)heads, (long long)tokens, (long long)head_dim, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}

int tf_cuda_attention_benchmark(int ordinal, const uint16_t *Q, const uint16_t *K, const uint16_t *V, int64_t batch, int64_t heads,
                                int64_t tokens, int64_t head_dim, int iterations, double *seconds, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if ((status = check_shape("tf_cuda_attention_benchmark", Q, K, V, Q, batch, heads, tokens, head_dim, message, size)) != TF_CUDA_OK)
        return status;
    if (iterations < 1 || ordinal < 0 || ordinal >= MAX_DEVICES) {
        tf_cuda_set_message(message, size, "bad arguments to tf_cuda_attention_benchmark (cuda:%d, %d iterations)", ordinal, iterations);
        return TF_CUDA_EARG;
    }
    const char *name = kernel_name(head_dim);
    tf_cu_function f;
    if ((status = tf_cuda_kernel(d, ordinal, name, &f, message, size)) != TF_CUDA_OK) return status;
    pthread_once(&scratch_once, init_scratch);
    attention_scratch *s = &scratch[ordinal];
    const size_t elements = (size_t)(batch * heads * tokens * head_dim);
    const size_t bytes_in = sizeof(uint16_t) * elements, bytes_out = sizeof(float) * elements;
    pthread_mutex_lock(&s->lock);
    const char *call = NULL;
    struct timespec t0, t1;
    int r = upload(d, s, Q, K, V, bytes_in, bytes_out, &call);
    if (!call && (r = launch(d, f, s, batch, heads, tokens))) call = "cuLaunchKernel (warm-up)";
    else if (!call && (r = d->ctx_synchronize())) call = "cuCtxSynchronize (after the warm-up launch)";
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; !call && i < iterations; i++)
        if ((r = launch(d, f, s, batch, heads, tokens))) call = "cuLaunchKernel";
    if (!call && (r = d->ctx_synchronize())) call = "cuCtxSynchronize (after the timed launches)";
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_mutex_unlock(&s->lock);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d running %s (batch=%lld heads=%lld tokens=%lld): %s", call, ordinal,
                            name, (long long)batch, (long long)heads, (long long)tokens, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    if (seconds) *seconds = ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9) / iterations;
    tf_cuda_set_message(message, size, "%s", name);
    return TF_CUDA_OK;
}
