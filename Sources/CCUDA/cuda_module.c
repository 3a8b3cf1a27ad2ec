/* The embedded kernels of each device: the fatbin loaded once into the device's primary context (retained for
 * the life of the process) and kernel handles looked up by name and cached. */
#include "cuda_module.h"
#include "ternflux_cuda_fatbin.h"
#include <pthread.h>
#include <string.h>

const unsigned char *tf_cuda_fatbin(size_t *size) {
    if (size) *size = sizeof ternflux_cuda_fatbin;
    return ternflux_cuda_fatbin;
}

#define MAX_DEVICES 64
#define MAX_KERNELS 32

typedef struct {
    tf_cu_context context;
    tf_cu_module module;
    const char *names[MAX_KERNELS]; /* string literals: the kernels' names */
    tf_cu_function functions[MAX_KERNELS];
    int count;
} device_module;

static device_module modules[MAX_DEVICES];
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;

int tf_cuda_context(const tf_cuda_api *d, int ordinal, tf_cu_context *context, char *message, size_t size) {
    if (ordinal < 0 || ordinal >= MAX_DEVICES) {
        tf_cuda_set_message(message, size, "CUDA device %d: the ordinal must be 0 to %d", ordinal, MAX_DEVICES - 1);
        return TF_CUDA_EARG;
    }
    pthread_mutex_lock(&modules_lock);
    device_module *m = &modules[ordinal];
    int r = 0, status = TF_CUDA_OK;
    const char *call = NULL;
    if (!m->module) {
        /* First use: the device must exist and be new enough, then its primary context takes the module. */
        tf_cuda_device_info info;
        tf_cu_device device;
        if ((status = tf_cuda_probe(ordinal, &info, message, size)) != TF_CUDA_OK) {
            pthread_mutex_unlock(&modules_lock);
            return status;
        }
        if ((r = d->device_get(&device, ordinal)) != 0) call = "cuDeviceGet";
        else if (!m->context && (r = d->primary_ctx_retain(&m->context, device)) != 0) call = "cuDevicePrimaryCtxRetain";
        else if ((r = d->ctx_set_current(m->context)) != 0) call = "cuCtxSetCurrent";
        else if ((r = d->module_load_data(&m->module, ternflux_cuda_fatbin)) != 0) call = "cuModuleLoadData (the embedded fatbin)";
        if (call) m->module = NULL;
    } else if ((r = d->ctx_set_current(m->context)) != 0) {
        call = "cuCtxSetCurrent";
    }
    *context = m->context;
    pthread_mutex_unlock(&modules_lock);
    if (call) {
        tf_cuda_set_message(message, size, "%s failed on CUDA device %d: %s", call, ordinal, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}

int tf_cuda_kernel(const tf_cuda_api *d, int ordinal, const char *name, tf_cu_function *function, char *message,
                   size_t size) {
    tf_cu_context context;
    int status = tf_cuda_context(d, ordinal, &context, message, size);
    if (status != TF_CUDA_OK) return status;
    pthread_mutex_lock(&modules_lock);
    device_module *m = &modules[ordinal];
    for (int i = 0; i < m->count; i++) {
        if (strcmp(m->names[i], name) == 0) {
            *function = m->functions[i];
            pthread_mutex_unlock(&modules_lock);
            return TF_CUDA_OK;
        }
    }
    int r = d->module_get_function(function, m->module, name);
    if (r == 0 && m->count < MAX_KERNELS) {
        m->names[m->count] = name;
        m->functions[m->count++] = *function;
    }
    pthread_mutex_unlock(&modules_lock);
    if (r != 0) {
        tf_cuda_set_message(message, size, "cuModuleGetFunction(%s) failed on CUDA device %d: %s (is the fatbin current?)", name,
                            ordinal, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    return TF_CUDA_OK;
}

int tf_cuda_memory_info(int ordinal, size_t *free_bytes, size_t *total_bytes, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    tf_cu_context context;
    if ((status = tf_cuda_context(d, ordinal, &context, message, size)) != TF_CUDA_OK) return status;
    size_t f = 0, t = 0;
    int r = d->mem_get_info(&f, &t);
    if (r != 0) {
        tf_cuda_set_message(message, size, "cuMemGetInfo failed on CUDA device %d: %s", ordinal, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
    return TF_CUDA_OK;
}
