/* testutil.h — shared helpers for the Check unit tests: a main() that runs
 * one suite (OP_TEST_MAIN; OP_TEST_MPI_MAIN for the test_mpi_* binaries
 * that run_tests.sh starts under mpirun), and tolerances. Included once
 * per test binary. */
#ifndef OVERPARAM_TESTUTIL_H
#define OVERPARAM_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/data.h"
#include "overparam/rng.h"

#define OP_TEST_MAIN(suite_fn)                                                \
    int main(void)                                                            \
    {                                                                         \
        SRunner *sr = srunner_create(suite_fn());                             \
        srunner_run_all(sr, CK_NORMAL);                                       \
        int failed = srunner_ntests_failed(sr);                               \
        srunner_free(sr);                                                     \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                          \
    }

/* The test_mpi_* runner: every rank runs every test in-process (forked
 * tests would each need their own MPI), only rank 0 prints, and the binary
 * fails on every rank when a test failed on any. *rank and *size are set
 * before the suite is built, for the tests to read. */
static inline int op_test_mpi_run(int *argc, char ***argv,
                                  Suite *(*suite_fn)(void), int *rank,
                                  int *size)
{
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    SRunner *sr = srunner_create(suite_fn());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, *rank == 0 ? CK_NORMAL : CK_SILENT);
    int failed = srunner_ntests_failed(sr), any = 0;
    srunner_free(sr);
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define OP_TEST_MPI_MAIN(suite_fn, rank, size)                                \
    int main(int argc, char **argv)                                           \
    {                                                                         \
        return op_test_mpi_run(&argc, &argv, suite_fn, &(rank), &(size));     \
    }

/* Broadcasts rank 0's value: MPI tests decide on data only rank 0 gathered,
 * and every rank must assert the same verdict (no collective left waiting). */
static inline double op_test_from_root(double v)
{
    MPI_Bcast(&v, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return v;
}

/* The process grids (rows x cols) `size` ranks can form: every divisor
 * pair, rows ascending. Returns how many were written. */
static inline int op_test_grid_shapes(int shapes[][2], int size)
{
    int m = 0;
    for (int r = 1; r <= size; r++)
        if (size % r == 0) {
            shapes[m][0] = r;
            shapes[m][1] = size / r;
            m++;
        }
    return m;
}

/* n points x ~ N(0,1)^d (row-major n x d), the last `dup` rows copies of
 * the first ones (a singular kernel when dup > 0); labels uniform in
 * [0, k), y one-hot (n x k). Built by hand: data.c belongs to another
 * module. One allocation (ds->block_, freed with free()), as op_dataset's
 * contract says. */
static inline void op_test_random_set(op_dataset *ds, uint64_t seed, int n,
                                      int d, int k, int dup)
{
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->d = d;
    ds->k = k;
    size_t bytes = sizeof(double) * (size_t)n * (d + k) +
                   sizeof(int) * (size_t)n;
    ds->block_ = malloc(bytes);
    ds->x = ds->block_;
    ds->y = ds->x + (size_t)n * d;
    ds->label = (int *)(ds->y + (size_t)n * k);
    op_rng r;
    op_rng_derive(&r, seed, OP_STREAM_DATA, 0, 0);
    for (int i = 0; i < n * d; i++)
        ds->x[i] = op_rng_normal(&r);
    for (int i = n - dup; i < n; i++)
        memcpy(ds->x + (size_t)i * d, ds->x + (size_t)(i - (n - dup)) * d,
               sizeof(double) * d);
    for (int i = 0; i < n; i++) {
        ds->label[i] = (int)op_rng_below(&r, k);
        for (int c = 0; c < k; c++)
            ds->y[i * k + c] = c == ds->label[i];
    }
}

/* |a - b| <= atol + rtol*|b| */
static inline int op_close(double a, double b, double rtol, double atol)
{
    return fabs(a - b) <= atol + rtol * fabs(b);
}

#endif
