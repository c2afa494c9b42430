/* error.c — the per-process error message and the all-rank abort used by
 * the checking macros in error.h. */
#include "overparam/error.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static char error_buf[4096];

op_status op_error(op_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_buf, sizeof error_buf, fmt, ap);
    va_end(ap);
    return status;
}

const char *op_error_message(void) { return error_buf; }

void op_error_clear(void) { error_buf[0] = '\0'; }

void op_abort_all(const char *file, int line, const char *call,
                  const char *detail, const char *hint)
{
    int initialized = 0, finalized = 0, rank = -1;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized)
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "overparam: rank %d: %s:%d: %s failed (%s)%s%s\n", rank,
            file, line, call, detail ? detail : "", hint ? ": " : "",
            hint ? hint : "");
    fflush(stderr);
    if (initialized && !finalized)
        MPI_Abort(MPI_COMM_WORLD, 1);
    abort();
}

void *op_xmalloc(size_t bytes, const char *file, int line)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        char detail[64];
        snprintf(detail, sizeof detail, "%zu bytes", bytes);
        op_abort_all(file, line, "malloc", detail, "out of memory");
    }
    return p;
}

void *op_xcalloc(size_t count, size_t size, const char *file, int line)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        char detail[64];
        snprintf(detail, sizeof detail, "%zu x %zu bytes", count, size);
        op_abort_all(file, line, "calloc", detail, "out of memory");
    }
    return p;
}
