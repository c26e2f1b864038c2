#ifndef AST_CMPI_SHIM_H
#define AST_CMPI_SHIM_H
#include <mpi.h>

/* Open MPI's predefined handles are macros over addresses of globals, which Swift does not
 * import: one getter each for those ast-distill-mpi uses. */
static inline MPI_Comm ast_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype ast_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ast_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype ast_mpi_int(void) { return MPI_INT; }
static inline MPI_Op ast_mpi_op_max(void) { return MPI_MAX; }

#endif
