/* The driver API entry points TernFlux calls, resolved from libcuda.so.1 by cuda_driver.c (internal header). */
#ifndef TERNFLUX_CUDA_DRIVER_H
#define TERNFLUX_CUDA_DRIVER_H
#include "ternflux_cuda.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef int tf_cu_result;               /* CUresult: 0 is CUDA_SUCCESS */
typedef int tf_cu_device;               /* CUdevice */
typedef struct tf_cu_ctx_st *tf_cu_context;
typedef struct tf_cu_mod_st *tf_cu_module;
typedef struct tf_cu_func_st *tf_cu_function;
typedef struct tf_cu_stream_st *tf_cu_stream;
typedef unsigned long long tf_cu_deviceptr; /* CUdeviceptr_v2 */

typedef struct {
    tf_cu_result (*init)(unsigned int);
    tf_cu_result (*driver_get_version)(int *);
    tf_cu_result (*get_error_string)(tf_cu_result, const char **);
    tf_cu_result (*device_get_count)(int *);
    tf_cu_result (*device_get)(tf_cu_device *, int);
    tf_cu_result (*device_get_attribute)(int *, int, tf_cu_device);
    tf_cu_result (*device_get_name)(char *, int, tf_cu_device);
    tf_cu_result (*device_total_mem)(size_t *, tf_cu_device);
    tf_cu_result (*primary_ctx_retain)(tf_cu_context *, tf_cu_device);
    tf_cu_result (*primary_ctx_release)(tf_cu_device);
    tf_cu_result (*ctx_set_current)(tf_cu_context);
    tf_cu_result (*ctx_synchronize)(void);
    tf_cu_result (*module_load_data)(tf_cu_module *, const void *);
    tf_cu_result (*module_unload)(tf_cu_module);
    tf_cu_result (*module_get_function)(tf_cu_function *, tf_cu_module, const char *);
    tf_cu_result (*mem_alloc)(tf_cu_deviceptr *, size_t);
    tf_cu_result (*mem_free)(tf_cu_deviceptr);
    tf_cu_result (*mem_get_info)(size_t *, size_t *);
    tf_cu_result (*memcpy_htod)(tf_cu_deviceptr, const void *, size_t);
    tf_cu_result (*memcpy_dtoh)(void *, tf_cu_deviceptr, size_t);
    tf_cu_result (*stream_create)(tf_cu_stream *, unsigned int);
    tf_cu_result (*stream_synchronize)(tf_cu_stream);
    tf_cu_result (*memcpy_htod_async)(tf_cu_deviceptr, const void *, size_t, tf_cu_stream);
    tf_cu_result (*memcpy_dtoh_async)(void *, tf_cu_deviceptr, size_t, tf_cu_stream);
    tf_cu_result (*launch_kernel)(tf_cu_function, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                  tf_cu_stream, void **, void **);
} tf_cuda_api;

/* The resolved entry points (cuInit already called), or NULL with *status and `message` saying why. */
const tf_cuda_api *tf_cuda_driver(char *message, size_t size, int *status);
const char *tf_cuda_error_name(int result);
void tf_cuda_set_message(char *message, size_t size, const char *format, ...);
#endif
