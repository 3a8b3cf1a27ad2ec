#ifndef TERNFLUX_CTERNARYKERNELS_H
#define TERNFLUX_CTERNARYKERNELS_H
/* Umbrella header of the ternary kernel target: formats (packing, quantizer, the per-format table), GEMM, worker
 * pool, conversions, vectorised activations. */
#include "ternary_formats.h"
#include "ternary_format_traits.h"
#include "ternary_gemm.h"
#include "ternary_pool.h"
#include "ternary_convert.h"
#include "ternary_activations.h"
#endif
