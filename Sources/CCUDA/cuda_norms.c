/* The norm kernels of kernels/cuda/norms.cu run from host buffers: device buffers allocated for the call, the
 * inputs copied in, one launch (and, when asked, more for timing), the outputs copied out, the buffers freed.
 * For the checks and the benchmarks; the GPU pipeline will keep its activations resident instead. */
#include "cuda_module.h"
#include <string.h>
#include <time.h>

#define MAX_BUFFERS 12

/* The call's device buffers, freed together. */
typedef struct {
    const tf_cuda_api *d;
    tf_cu_deviceptr ptr[MAX_BUFFERS];
    int count;
} buffers;

static int upload(buffers *b, tf_cu_deviceptr *out, const void *host, size_t bytes, const char **call) {
    int r = b->d->mem_alloc(out, bytes);
    if (r) {
        *out = 0;
        *call = "cuMemAlloc";
        return r;
    }
    b->ptr[b->count++] = *out;
    if (host && (r = b->d->memcpy_htod(*out, host, bytes))) *call = "cuMemcpyHtoD";
    return r;
}

static void release(buffers *b) {
    for (int i = 0; i < b->count; i++) b->d->mem_free(b->ptr[i]);
    b->count = 0;
}

static double seconds_between(struct timespec a, struct timespec b) {
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
}

/* One launch, then `iterations` timed ones (the mean into *seconds). */
static int launch(const tf_cuda_api *d, tf_cu_function f, unsigned grid, void **args, int iterations, double *seconds,
                  const char **call) {
    int r = d->launch_kernel(f, grid, 1, 1, TF_CUDA_NORMS_THREADS, 1, 1, 0, NULL, args, NULL);
    if (r) {
        *call = "cuLaunchKernel";
        return r;
    }
    if (iterations <= 0) return 0;
    if ((r = d->ctx_synchronize())) {
        *call = "cuCtxSynchronize (after the first launch)";
        return r;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < iterations; i++)
        if ((r = d->launch_kernel(f, grid, 1, 1, TF_CUDA_NORMS_THREADS, 1, 1, 0, NULL, args, NULL))) {
            *call = "cuLaunchKernel (timed)";
            return r;
        }
    if ((r = d->ctx_synchronize())) {
        *call = "cuCtxSynchronize (timed launches)";
        return r;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (seconds) *seconds = seconds_between(t0, t1) / iterations;
    return 0;
}

int tf_cuda_layernorm_modulate_quantize(int ordinal, const float *H, int64_t ldh, int64_t M, int64_t D, const float *shift,
                                        const float *scale, int64_t mod_stride, int64_t rows_per_batch, int8_t *XQ, float *INV,
                                        float *Y, int iterations, double *seconds, char *message, size_t size) {
    static const char name[] = "tf_layernorm_modulate_quantize";
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if (!H || !shift || !scale || !XQ || !INV || M < 1 || M > 0x7fffffff || D < 1 || D > (1 << 24) || ldh < D ||
        rows_per_batch < 1 || mod_stride < 0 || iterations < 0 || (M - 1) * ldh + D > ((int64_t)1 << 38)) {
        tf_cuda_set_message(message, size, "bad arguments to %s (M=%lld D=%lld ldh=%lld rows_per_batch=%lld mod_stride=%lld)", name,
                            (long long)M, (long long)D, (long long)ldh, (long long)rows_per_batch, (long long)mod_stride);
        return TF_CUDA_EARG;
    }
    tf_cu_function f;
    if ((status = tf_cuda_kernel(d, ordinal, name, &f, message, size)) != TF_CUDA_OK) return status;
    int64_t KP = (D + 127) / 128 * 128, ldy = D;
    const int64_t groups = (M - 1) / rows_per_batch + 1;
    const size_t bytes_h = sizeof(float) * (size_t)((M - 1) * ldh + D), bytes_mod = sizeof(float) * (size_t)((groups - 1) * mod_stride + D),
                 bytes_xq = (size_t)(M * KP), bytes_inv = sizeof(float) * (size_t)M, bytes_y = sizeof(float) * (size_t)(M * D);
    buffers b = {.d = d};
    tf_cu_deviceptr h = 0, sh = 0, sc = 0, xq = 0, inv = 0, y = 0;
    const char *call = NULL;
    int r = upload(&b, &h, H, bytes_h, &call);
    if (!r) r = upload(&b, &sh, shift, bytes_mod, &call);
    if (!r) r = upload(&b, &sc, scale, bytes_mod, &call);
    if (!r) r = upload(&b, &xq, NULL, bytes_xq, &call);
    if (!r) r = upload(&b, &inv, NULL, bytes_inv, &call);
    if (!r && Y) r = upload(&b, &y, NULL, bytes_y, &call);
    if (!r) {
        void *args[] = {&h, &ldh, &M, &D, &sh, &sc, &mod_stride, &rows_per_batch, &KP, &xq, &inv, &y, &ldy};
        r = launch(d, f, (unsigned)M, args, iterations, seconds, &call);
    }
    /* Synchronous copies: they wait for the kernel and report its faults. */
    if (!r && (r = d->memcpy_dtoh(XQ, xq, bytes_xq))) call = "cuMemcpyDtoH (XQ)";
    if (!r && (r = d->memcpy_dtoh(INV, inv, bytes_inv))) call = "cuMemcpyDtoH (INV)";
    if (!r && Y && (r = d->memcpy_dtoh(Y, y, bytes_y))) call = "cuMemcpyDtoH (Y)";
    release(&b);
    if (r) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d (%s, M=%lld D=%lld): %s", call, ordinal, name, (long long)M,
                            (long long)D, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}

int tf_cuda_qk_rmsnorm_rope(int ordinal, const float *Q, int64_t ldq, const float *K, int64_t ldk, const float *V, int64_t ldv,
                            int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, int64_t text_tokens,
                            const float *q_weight, const float *k_weight, const float *q_weight_text, const float *k_weight_text,
                            const float *rope_cos, const float *rope_sin, uint16_t *Qo, uint16_t *Ko, uint16_t *Vo, int iterations,
                            double *seconds, char *message, size_t size) {
    static const char name[] = "tf_qk_rmsnorm_rope";
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    const int64_t width = heads * head_dim, rows = batch * tokens;
    if (!Q || !K || !V || !q_weight || !k_weight || !rope_cos || !rope_sin || !Qo || !Ko || !Vo || batch < 1 || tokens < 1 ||
        heads < 1 || head_dim < 2 || head_dim > TF_CUDA_NORMS_MAX_HEAD_DIM || head_dim % 2 || heads > (1 << 20) ||
        batch > (1 << 20) || tokens > (1 << 24) || rows * heads > (int64_t)0x7fffffff * (TF_CUDA_NORMS_THREADS / 32) || ldq < width ||
        ldk < width || ldv < width || text_tokens < 0 || text_tokens > tokens || (text_tokens > 0 && (!q_weight_text || !k_weight_text)) ||
        iterations < 0 || (rows - 1) * (ldq > ldk ? (ldq > ldv ? ldq : ldv) : (ldk > ldv ? ldk : ldv)) + width > ((int64_t)1 << 38)) {
        tf_cuda_set_message(message, size,
                            "bad arguments to %s (batch=%lld tokens=%lld heads=%lld head_dim=%lld text_tokens=%lld ldq=%lld ldk=%lld "
                            "ldv=%lld; head_dim even, 2 to %d)",
                            name, (long long)batch, (long long)tokens, (long long)heads, (long long)head_dim, (long long)text_tokens,
                            (long long)ldq, (long long)ldk, (long long)ldv, TF_CUDA_NORMS_MAX_HEAD_DIM);
        return TF_CUDA_EARG;
    }
    tf_cu_function f;
    if ((status = tf_cuda_kernel(d, ordinal, name, &f, message, size)) != TF_CUDA_OK) return status;
    const size_t bytes_w = sizeof(float) * (size_t)head_dim, bytes_table = sizeof(float) * (size_t)(tokens * head_dim),
                 bytes_out = sizeof(uint16_t) * (size_t)(rows * width);
    buffers b = {.d = d};
    tf_cu_deviceptr q = 0, k = 0, v = 0, wq = 0, wk = 0, wqt = 0, wkt = 0, cs = 0, sn = 0, qo = 0, ko = 0, vo = 0;
    const char *call = NULL;
    int r = upload(&b, &q, Q, sizeof(float) * (size_t)((rows - 1) * ldq + width), &call);
    if (!r) r = upload(&b, &k, K, sizeof(float) * (size_t)((rows - 1) * ldk + width), &call);
    if (!r) r = upload(&b, &v, V, sizeof(float) * (size_t)((rows - 1) * ldv + width), &call);
    if (!r) r = upload(&b, &wq, q_weight, bytes_w, &call);
    if (!r) r = upload(&b, &wk, k_weight, bytes_w, &call);
    if (!r && text_tokens > 0) r = upload(&b, &wqt, q_weight_text, bytes_w, &call);
    if (!r && text_tokens > 0) r = upload(&b, &wkt, k_weight_text, bytes_w, &call);
    if (!r) r = upload(&b, &cs, rope_cos, bytes_table, &call);
    if (!r) r = upload(&b, &sn, rope_sin, bytes_table, &call);
    if (!r) r = upload(&b, &qo, NULL, bytes_out, &call);
    if (!r) r = upload(&b, &ko, NULL, bytes_out, &call);
    if (!r) r = upload(&b, &vo, NULL, bytes_out, &call);
    if (!r) {
        void *args[] = {&q, &ldq, &k, &ldk, &v, &ldv, &batch, &tokens, &heads, &head_dim, &text_tokens, &wq, &wk, &wqt, &wkt, &cs, &sn,
                        &qo, &ko, &vo};
        const int64_t warps = TF_CUDA_NORMS_THREADS / 32;
        r = launch(d, f, (unsigned)((rows * heads + warps - 1) / warps), args, iterations, seconds, &call);
    }
    if (!r && (r = d->memcpy_dtoh(Qo, qo, bytes_out))) call = "cuMemcpyDtoH (Q)";
    if (!r && (r = d->memcpy_dtoh(Ko, ko, bytes_out))) call = "cuMemcpyDtoH (K)";
    if (!r && (r = d->memcpy_dtoh(Vo, vo, bytes_out))) call = "cuMemcpyDtoH (V)";
    release(&b);
    if (r) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d (%s, batch=%lld tokens=%lld heads=%lld head_dim=%lld): %s", call,
                            ordinal, name, (long long)batch, (long long)tokens, (long long)heads, (long long)head_dim,
                            tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}
