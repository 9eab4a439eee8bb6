#ifndef DDP_CTURBOJPEG_SHIM_H
#define DDP_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
