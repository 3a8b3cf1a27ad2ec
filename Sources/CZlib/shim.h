#ifndef TERNFLUX_CZLIB_SHIM_H
#define TERNFLUX_CZLIB_SHIM_H
#include <zlib.h>
#endif
