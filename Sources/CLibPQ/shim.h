#ifndef TERNFLUX_CLIBPQ_SHIM_H
#define TERNFLUX_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
