#ifndef DDP_CBLAS_SHIM_H
#define DDP_CBLAS_SHIM_H
/* Debian's libopenblas-dev puts cblas.h under an include dir that pkg-config names;
   openblas_get_corename / openblas_set_num_threads are declared there too. */
#include <cblas.h>
#endif
