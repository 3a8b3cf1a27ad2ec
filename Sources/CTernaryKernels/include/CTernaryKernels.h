#ifndef TERNFLUX_CTERNARYKERNELS_H
#define TERNFLUX_CTERNARYKERNELS_H
/* Umbrella header of the ternary kernel target: formats (packing, quantizer) and GEMM. */
#include "ternary_formats.h"
#include "ternary_gemm.h"
#include "ternary_convert.h"
#endif
