/* The embedded kernels on each device (internal header; cuda_module.c). */
#ifndef TERNFLUX_CUDA_MODULE_H
#define TERNFLUX_CUDA_MODULE_H
#include "cuda_driver.h"

/* Makes device `ordinal`'s primary context current on this thread, loading the fatbin on first use. */
int tf_cuda_context(const tf_cuda_api *d, int ordinal, tf_cu_context *context, char *message, size_t size);

/* Kernel `name` (a string literal: the pointer is kept) of device `ordinal`'s module; the context is made
 * current on this thread. */
int tf_cuda_kernel(const tf_cuda_api *d, int ordinal, const char *name, tf_cu_function *function, char *message,
                   size_t size);
#endif
