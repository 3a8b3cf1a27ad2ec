/* Host side of the W2A8 kernels: module loading into the primary context and one GEMM call from host buffers. */
#include "cuda_driver.h"
#include "ternflux_cuda_fatbin.h"
#include <pthread.h>
#include <string.h>

const unsigned char *tf_cuda_fatbin(size_t *size) {
    if (size) *size = sizeof ternflux_cuda_fatbin;
    return ternflux_cuda_fatbin;
}

#define MAX_DEVICES 64

typedef struct {
    tf_cu_context context;
    tf_cu_module module;
    tf_cu_function quantize, gemm;
} device_module;

static device_module modules[MAX_DEVICES];
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;

/* The kernels of device `ordinal`, loaded on first use (the primary context stays retained: one per process). */
static int device_kernels(const tf_cuda_api *d, int ordinal, device_module *out, char *message, size_t size) {
    tf_cuda_device_info info;
    int status = tf_cuda_probe(ordinal, &info, message, size);
    if (status != TF_CUDA_OK) return status;
    if (ordinal >= MAX_DEVICES) {
        tf_cuda_set_message(message, size, "CUDA device %d: at most %d devices are supported", ordinal, MAX_DEVICES);
        return TF_CUDA_EARG;
    }
    pthread_mutex_lock(&modules_lock);
    device_module *m = &modules[ordinal];
    int r = 0;
    const char *call = NULL;
    if (!m->module) {
        tf_cu_device device;
        if ((r = d->device_get(&device, ordinal)) != 0) call = "cuDeviceGet";
        else if ((r = d->primary_ctx_retain(&m->context, device)) != 0) call = "cuDevicePrimaryCtxRetain";
        else if ((r = d->ctx_set_current(m->context)) != 0) call = "cuCtxSetCurrent";
        else if ((r = d->module_load_data(&m->module, ternflux_cuda_fatbin)) != 0) call = "cuModuleLoadData (the embedded fatbin)";
        else if ((r = d->module_get_function(&m->quantize, m->module, "tf_w2a8_quantize_rows")) != 0) call = "cuModuleGetFunction(tf_w2a8_quantize_rows)";
        else if ((r = d->module_get_function(&m->gemm, m->module, "tf_w2a8_gemm")) != 0) call = "cuModuleGetFunction(tf_w2a8_gemm)";
        if (call) m->module = NULL;
    }
    *out = *m;
    pthread_mutex_unlock(&modules_lock);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d: %s", call, ordinal, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}

int tf_cuda_w2a8_gemm(int ordinal, const float *X, int64_t M, int64_t K, const uint8_t *Wpacked, const float *scale,
                      const float *bias, int64_t N, float *Y, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if (!X || !Wpacked || !scale || !Y || M <= 0 || K <= 0 || N <= 0 || M > (1 << 30) / 16 || N > (1 << 30) / 8) {
        tf_cuda_set_message(message, size, "bad arguments to tf_cuda_w2a8_gemm (M=%lld K=%lld N=%lld)", (long long)M, (long long)K, (long long)N);
        return TF_CUDA_EARG;
    }
    device_module k;
    if ((status = device_kernels(d, ordinal, &k, message, size)) != TF_CUDA_OK) return status;
    int r = d->ctx_set_current(k.context);
    if (r != 0) {
        tf_cuda_set_message(message, size, "cuCtxSetCurrent failed: %s", tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    int64_t KP = (K + 127) / 128 * 128;
    const size_t bytes_x = sizeof(float) * (size_t)(M * K), bytes_xq = (size_t)(M * KP), bytes_inv = sizeof(float) * (size_t)M,
                 bytes_w = (size_t)(N * (KP / 4)), bytes_n = sizeof(float) * (size_t)N, bytes_y = sizeof(float) * (size_t)(M * N);
    tf_cu_deviceptr dx = 0, dxq = 0, dinv = 0, dw = 0, dscale = 0, dbias = 0, dy = 0;
    const char *call = NULL;
    if ((r = d->mem_alloc(&dx, bytes_x)) || (r = d->mem_alloc(&dxq, bytes_xq)) || (r = d->mem_alloc(&dinv, bytes_inv)) ||
        (r = d->mem_alloc(&dw, bytes_w)) || (r = d->mem_alloc(&dscale, bytes_n)) || (bias && (r = d->mem_alloc(&dbias, bytes_n))) ||
        (r = d->mem_alloc(&dy, bytes_y)))
        call = "cuMemAlloc";
    else if ((r = d->memcpy_htod(dx, X, bytes_x)) || (r = d->memcpy_htod(dw, Wpacked, bytes_w)) ||
             (r = d->memcpy_htod(dscale, scale, bytes_n)) || (bias && (r = d->memcpy_htod(dbias, bias, bytes_n))))
        call = "cuMemcpyHtoD";
    else {
        void *qargs[] = {&dx, &K, &KP, &dxq, &dinv};
        tf_cu_deviceptr no_bias = 0;
        void *gargs[] = {&dxq, &dinv, &M, &KP, &dw, &dscale, bias ? &dbias : &no_bias, &N, &dy};
        if ((r = d->launch_kernel(k.quantize, (unsigned)M, 1, 1, 256, 1, 1, 0, NULL, qargs, NULL)))
            call = "cuLaunchKernel(tf_w2a8_quantize_rows)";
        else if ((r = d->launch_kernel(k.gemm, (unsigned)((N + 7) / 8), (unsigned)((M + 15) / 16), 1, 32, 1, 1, 0, NULL, gargs, NULL)))
            call = "cuLaunchKernel(tf_w2a8_gemm)";
        else if ((r = d->ctx_synchronize()))
            call = "cuCtxSynchronize (a kernel failed)";
        else if ((r = d->memcpy_dtoh(Y, dy, bytes_y)))
            call = "cuMemcpyDtoH";
    }
    tf_cu_deviceptr all[] = {dx, dxq, dinv, dw, dscale, dbias, dy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) d->mem_free(all[i]);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed: %s", call, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}
