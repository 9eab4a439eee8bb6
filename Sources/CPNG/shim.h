#ifndef DDP_CPNG_SHIM_H
#define DDP_CPNG_SHIM_H
#include <png.h>
#endif
