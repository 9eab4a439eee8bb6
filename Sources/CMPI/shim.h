#ifndef DDP_CMPI_SHIM_H
#define DDP_CMPI_SHIM_H
#include <mpi.h>

/* OpenMPI's handles are macros over addresses of globals, which Swift cannot import.
   These getters only expose them; no logic lives here. */
static inline MPI_Comm ddp_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm ddp_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype ddp_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ddp_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ddp_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype ddp_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op ddp_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op ddp_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op ddp_mpi_min(void) { return MPI_MIN; }
static inline void *ddp_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *ddp_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Request ddp_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Errhandler ddp_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int ddp_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Info ddp_mpi_info_null(void) { return MPI_INFO_NULL; }
#endif
