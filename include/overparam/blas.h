/* blas.h — which OpenBLAS core overparam computes with, and why.
 *
 * Debian's OpenBLAS (DYNAMIC_ARCH) picks its kernels from the CPU at load
 * time. On a CPU it does not know (0.3.21 on newer Intel Xeons) it falls back
 * to the generic Prescott kernels, 3-5x slower, without a word; on some
 * others its pick computes wrong results. op_blas_select() runs first in a
 * process that will compute, before MPI_Init, on every rank alike (mpirun,
 * srun and `make run` start the same program):
 *  - it self-tests the core in use (GEMM in both precisions and layouts,
 *    SYRK, TRSM, GEMV, DOT against plain loops, odd sizes, ~15 ms);
 *  - when OpenBLAS fell back to a core below what the CPU's instructions
 *    allow, or its pick fails the self-test, it re-executes the program
 *    (/proc/self/exe, same arguments) with OPENBLAS_CORETYPE set to the next
 *    candidate — best first, OpenBLAS's own pick after the better ones, the
 *    lower ones last — until one passes;
 *  - a core set by the environment (OPENBLAS_CORETYPE) is kept: it is
 *    self-tested, and one that fails stops the program;
 *  - OVERPARAM_BLAS=keep turns selection and self-test off (the core is
 *    still reported).
 * The outcome is printed on the run's first line when it is not OpenBLAS's
 * own working pick, and written to the archive's root attributes (blas_core,
 * blas_core_openblas, blas_selection, blas_selftest). */
#ifndef OVERPARAM_BLAS_H
#define OVERPARAM_BLAS_H

#include <stddef.h>

#include "overparam/error.h"

typedef enum {
    OP_BLAS_KEPT = 0,     /* OVERPARAM_BLAS=keep: nothing checked */
    OP_BLAS_OPENBLAS = 1, /* OpenBLAS's own pick, self-test passed */
    OP_BLAS_ENVIRONMENT,  /* OPENBLAS_CORETYPE from the environment, passed */
    OP_BLAS_UPGRADED,     /* OpenBLAS fell back; a better core passed */
    OP_BLAS_REPLACED      /* OpenBLAS's pick failed; another core passed */
} op_blas_selection;

typedef struct {
    char in_use[32];          /* openblas_get_corename() now */
    char openblas_pick[32];   /* what OpenBLAS chose on its own */
    char best[32];            /* the best core the CPU's instructions allow */
    op_blas_selection selection;
    int selftest_passed;      /* 1 passed, 0 failed, -1 not run */
    char failed[160];         /* cores that failed the self-test, "A,B" */
} op_blas_info;

/* May replace the process image (execv) and so must run before MPI_Init and
 * before any other thread exists; `argv` is main's. Returns OP_OK with the
 * core in use recorded, or OP_ERR_INTERNAL when no core passes (or the one
 * the environment set fails), with the message naming the cores. */
op_status op_blas_select(char **argv);

/* What op_blas_select() found in this process (zeros before it ran). */
const op_blas_info *op_blas_info_get(void);

/* The self-test of the core in use: 1 when every routine agrees with the
 * reference loops, else 0 with `msg` naming the first that does not. */
int op_blas_selftest(char *msg, size_t len);

/* One line for humans: "OpenBLAS fell back to Prescott on a CPU with
 * AVX-512; using SkylakeX (self-test passed)". */
void op_blas_describe(const op_blas_info *info, char *buf, size_t len);

/* "openblas", "environment", "upgraded from Prescott", ... for the archive. */
void op_blas_selection_string(const op_blas_info *info, char *buf,
                              size_t len);

#endif
