#ifndef DDP_CZLIB_SHIM_H
#define DDP_CZLIB_SHIM_H
#include <zlib.h>
#endif
