#ifndef TERNFLUX_COPENBLAS_SHIM_H
#define TERNFLUX_COPENBLAS_SHIM_H
#include <cblas.h>
/* Thread control (OpenBLAS extension): benchmarks pin OpenBLAS and our kernels to the same core count. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
