/* libcuda.so.1 opened at run time: the entry points TernFlux uses, resolved once, and the device probe. No CUDA
 * header or library is needed to build this; the types below are the driver API's (cuda.h) as the ABI has them. */
#include "cuda_driver.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static tf_cuda_api api;
static int api_status = TF_CUDA_ENODRIVER;
static char api_message[512];
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

void tf_cuda_set_message(char *message, size_t size, const char *format, ...) {
    if (!message || size == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, size, format, args);
    va_end(args);
}

static void load_api(void) {
    /* TERNFLUX_CUDA_DRIVER names another library (tests point it at a file that is not a driver). */
    const char *path = getenv("TERNFLUX_CUDA_DRIVER");
    if (!path || !*path) path = "libcuda.so.1";
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(api_message, sizeof api_message, "no NVIDIA driver: cannot open %s (%s)", path, why ? why : "not found");
        return;
    }
#define RESOLVE(field, symbol)                                                                                 \
    do {                                                                                                       \
        *(void **)&api.field = dlsym(lib, symbol);                                                             \
        if (!api.field) {                                                                                      \
            snprintf(api_message, sizeof api_message, "the NVIDIA driver %s lacks %s (too old for CUDA 12+?)", path, \
                     symbol);                                                                                  \
            return;                                                                                            \
        }                                                                                                      \
    } while (0)
    RESOLVE(init, "cuInit");
    RESOLVE(driver_get_version, "cuDriverGetVersion");
    RESOLVE(get_error_string, "cuGetErrorString");
    RESOLVE(device_get_count, "cuDeviceGetCount");
    RESOLVE(device_get, "cuDeviceGet");
    RESOLVE(device_get_attribute, "cuDeviceGetAttribute");
    RESOLVE(device_get_name, "cuDeviceGetName");
    RESOLVE(device_total_mem, "cuDeviceTotalMem_v2");
    RESOLVE(primary_ctx_retain, "cuDevicePrimaryCtxRetain");
    RESOLVE(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2");
    RESOLVE(ctx_set_current, "cuCtxSetCurrent");
    RESOLVE(ctx_synchronize, "cuCtxSynchronize");
    RESOLVE(module_load_data, "cuModuleLoadData");
    RESOLVE(module_unload, "cuModuleUnload");
    RESOLVE(module_get_function, "cuModuleGetFunction");
    RESOLVE(mem_alloc, "cuMemAlloc_v2");
    RESOLVE(mem_free, "cuMemFree_v2");
    RESOLVE(mem_get_info, "cuMemGetInfo_v2");
    RESOLVE(memcpy_htod, "cuMemcpyHtoD_v2");
    RESOLVE(memcpy_dtoh, "cuMemcpyDtoH_v2");
    RESOLVE(stream_create, "cuStreamCreate");
    RESOLVE(stream_synchronize, "cuStreamSynchronize");
    RESOLVE(memcpy_htod_async, "cuMemcpyHtoDAsync_v2");
    RESOLVE(memcpy_dtoh_async, "cuMemcpyDtoHAsync_v2");
    RESOLVE(launch_kernel, "cuLaunchKernel");
#undef RESOLVE
    int r = api.init(0);
    if (r != 0) {
        snprintf(api_message, sizeof api_message, "cuInit failed: %s", tf_cuda_error_name(r));
        api_status = TF_CUDA_EINIT;
        return;
    }
    api_status = TF_CUDA_OK;
}

const tf_cuda_api *tf_cuda_driver(char *message, size_t size, int *status) {
    pthread_once(&api_once, load_api);
    *status = api_status;
    if (api_status != TF_CUDA_OK) {
        tf_cuda_set_message(message, size, "%s", api_message);
        return NULL;
    }
    return &api;
}

const char *tf_cuda_error_name(int result) {
    const char *s = NULL;
    if (api.get_error_string && api.get_error_string(result, &s) == 0 && s) return s;
    static __thread char fallback[32];
    snprintf(fallback, sizeof fallback, "CUDA error %d", result);
    return fallback;
}

int tf_cuda_device_count(char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return 0;
    int count = 0;
    int r = d->device_get_count(&count);
    if (r != 0) {
        tf_cuda_set_message(message, size, "cuDeviceGetCount failed: %s", tf_cuda_error_name(r));
        return 0;
    }
    return count;
}

int tf_cuda_probe(int ordinal, tf_cuda_device_info *info, char *message, size_t size) {
    int status;
    const tf_cuda_api *d = tf_cuda_driver(message, size, &status);
    if (!d) return status;
    if (!info || ordinal < 0) {
        tf_cuda_set_message(message, size, "bad arguments to tf_cuda_probe");
        return TF_CUDA_EARG;
    }
    int count = 0, r = d->device_get_count(&count);
    if (r != 0 || count == 0) {
        tf_cuda_set_message(message, size, "the NVIDIA driver sees no CUDA device%s%s", r ? ": " : "", r ? tf_cuda_error_name(r) : "");
        return TF_CUDA_ENODEVICE;
    }
    if (ordinal >= count) {
        tf_cuda_set_message(message, size, "no CUDA device %d: the driver sees %d (cuda:0 to cuda:%d)", ordinal, count, count - 1);
        return TF_CUDA_ENODEVICE;
    }
    int device = 0;
    if ((r = d->device_get(&device, ordinal)) != 0) {
        tf_cuda_set_message(message, size, "cuDeviceGet(%d) failed: %s", ordinal, tf_cuda_error_name(r));
        return TF_CUDA_ECALL;
    }
    memset(info, 0, sizeof *info);
    info->ordinal = ordinal;
    d->device_get_attribute(&info->compute_major, 75 /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */, device);
    d->device_get_attribute(&info->compute_minor, 76 /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR */, device);
    d->device_get_name(info->name, (int)sizeof info->name, device);
    d->device_total_mem(&info->total_memory, device);
    d->driver_get_version(&info->driver_version);
    if (info->compute_major * 10 + info->compute_minor < TF_CUDA_MIN_COMPUTE) {
        tf_cuda_set_message(message, size, "CUDA device %d (%s) has compute capability %d.%d; TernFlux's kernels need 8.0 or newer",
                            ordinal, info->name, info->compute_major, info->compute_minor);
        return TF_CUDA_ETOOOLD;
    }
    return TF_CUDA_OK;
}
