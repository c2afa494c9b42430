/* error.h — status codes, the per-process error message, and the checking
 * macros every MPI, HDF5 and ScaLAPACK call goes through.
 *
 * Contract: library functions return an op_status and leave a human message
 * in op_error_message(); only the command-line layer turns a status into an
 * exit code (bad input -> 2). Failures of MPI/HDF5/ScaLAPACK themselves are
 * not recoverable inside a collective program, so the OP_*_CHECK macros
 * report rank, file:line, the call and a hint, then abort every rank with
 * MPI_Abort (never exit() on one rank, which would hang the others). */
#ifndef OVERPARAM_ERROR_H
#define OVERPARAM_ERROR_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    OP_OK = 0,
    OP_ERR_INPUT = 2,    /* bad job file, data file or archive: exit code 2 */
    OP_ERR_IO = 3,       /* a file could not be read or written */
    OP_ERR_NOMEM = 4,    /* allocation refused */
    OP_ERR_INTERNAL = 5, /* a bug: an invariant did not hold */
    OP_ERR_STOPPED = 6   /* a signal asked the sweep to stop early */
} op_status;

/* Process exit codes the Slurm scripts recognize. */
enum {
    OP_EXIT_OK = 0,
    OP_EXIT_FAIL = 1,
    OP_EXIT_INPUT = 2,
    OP_EXIT_STOPPED = 3 /* stopped by USR1/TERM, archive consistent: requeue */
};

/* Sets the message (printf-style) and returns `status`, so callers write
 * `return op_error(OP_ERR_INPUT, "%s:%d: ...", file, line)`. */
op_status op_error(op_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *op_error_message(void);
void op_error_clear(void);

/* Prints "overparam: rank R: file:line: CALL failed (detail): hint" on stderr
 * and calls MPI_Abort(MPI_COMM_WORLD, 1). Falls back to abort() before
 * MPI_Init. Never returns. */
void op_abort_all(const char *file, int line, const char *call,
                  const char *detail, const char *hint)
    __attribute__((noreturn));

/* Allocation that aborts all ranks when refused: use only for sizes the
 * program controls; sizes a job file controls go through op_error. */
void *op_xmalloc(size_t bytes, const char *file, int line);
void *op_xcalloc(size_t count, size_t size, const char *file, int line);
#define OP_XMALLOC(n) op_xmalloc((n), __FILE__, __LINE__)
#define OP_XCALLOC(n, s) op_xcalloc((n), (s), __FILE__, __LINE__)

/* MPI: any return other than MPI_SUCCESS aborts all ranks. */
#define OP_MPI_CHECK(call, hint)                                              \
    do {                                                                      \
        int op_mpi_rc_ = (call);                                              \
        if (op_mpi_rc_ != 0) {                                                \
            char op_mpi_msg_[64];                                             \
            snprintf(op_mpi_msg_, sizeof op_mpi_msg_, "MPI error %d",         \
                     op_mpi_rc_);                                             \
            op_abort_all(__FILE__, __LINE__, #call, op_mpi_msg_, (hint));     \
        }                                                                     \
    } while (0)

/* HDF5: negative ids and herr_t values are failures. */
#define OP_H5_CHECK(call, hint)                                               \
    do {                                                                      \
        if ((long long)(call) < 0)                                            \
            op_abort_all(__FILE__, __LINE__, #call, "HDF5 returned < 0",      \
                         (hint));                                             \
    } while (0)

/* ScaLAPACK/LAPACK: a non-zero info after the call. Not-positive-definite
 * (info > 0 from a Cholesky) is a result, and must be tested before this. */
#define OP_INFO_CHECK(name, info, hint)                                       \
    do {                                                                      \
        if ((info) != 0) {                                                    \
            char op_info_msg_[64];                                            \
            snprintf(op_info_msg_, sizeof op_info_msg_, "info = %d",          \
                     (int)(info));                                            \
            op_abort_all(__FILE__, __LINE__, (name), op_info_msg_, (hint));   \
        }                                                                     \
    } while (0)

#endif
