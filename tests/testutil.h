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
#include "overparam/result.h"
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

/* a . b over d entries (the closed-form kernels' inner products). */
static inline double op_test_dot(const double *a, const double *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
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

/* ---- hand-built fixtures of the training tests (test_net, test_pack):
 * data.c and result.c are not those modules' ------------------------ */

enum { OP_TEST_DS_CLASS, OP_TEST_DS_REGRESS };

/* n points x ~ N(0,1)^d (row-major n x d), each an allocation of its own
 * (x, y, label: freed by op_test_free_ds). OP_TEST_DS_CLASS: labels from a
 * random linear teacher (so the set is separable), one-hot y (n x k, k >=
 * 2) or +-1 (k == 1); OP_TEST_DS_REGRESS: y = sin(teacher . x + output),
 * label -1. */
static inline op_dataset op_test_make_ds(int n, int d, int k, int kind,
                                         uint64_t seed)
{
    op_dataset ds = {0};
    ds.n = n;
    ds.d = d;
    ds.k = k;
    ds.x = malloc((size_t)n * d * sizeof(double));
    ds.y = calloc((size_t)n * k, sizeof(double));
    ds.label = malloc((size_t)n * sizeof(int));
    op_rng r;
    op_rng_derive(&r, seed, 99, 0, 0);
    int nt = k > 1 ? k : 1; /* teacher outputs */
    double *T = malloc((size_t)d * nt * sizeof(double));
    for (int i = 0; i < d * nt; i++)
        T[i] = op_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        double *x = ds.x + (size_t)i * d;
        for (int j = 0; j < d; j++)
            x[j] = op_rng_normal(&r);
        if (kind == OP_TEST_DS_REGRESS) {
            double s = 0;
            for (int j = 0; j < d; j++)
                s += T[j] * x[j];
            for (int o = 0; o < k; o++)
                ds.y[(size_t)i * k + o] = sin(s + o);
            ds.label[i] = -1;
            continue;
        }
        int best = 0;
        double bv = -1e300;
        for (int o = 0; o < nt; o++) {
            double s = 0;
            for (int j = 0; j < d; j++)
                s += T[o * d + j] * x[j];
            if (k == 1) {
                best = s > 0;
                break;
            }
            if (s > bv) {
                bv = s;
                best = o;
            }
        }
        if (k == 1)
            ds.y[i] = best ? 1 : -1;
        else
            ds.y[(size_t)i * k + best] = 1;
        ds.label[i] = best;
    }
    free(T);
    return ds;
}

/* own_x == 0: a copy that shares another set's x (relabelled targets). */
static inline void op_test_free_ds(op_dataset *ds, int own_x)
{
    if (own_x)
        free(ds->x);
    free(ds->y);
    free(ds->label);
}

/* Layout with just the five curves, n_log points each. */
static inline op_layout op_test_make_layout(int n_log)
{
    op_layout L;
    memset(&L, 0, sizeof L);
    L.n_log = n_log;
    L.n = OP_F_CURVES_END;
    for (int i = 0; i < L.n; i++) {
        L.f[i].ndim = 1;
        L.f[i].dims[0] = n_log;
        L.f[i].size = n_log;
        L.f[i].offset = (long)i * n_log;
    }
    L.total = (long)L.n * n_log;
    return L;
}

/* A result for layout L, every value NaN (not written). */
static inline op_result op_test_make_result(const op_layout *L)
{
    op_result res;
    memset(&res, 0, sizeof res);
    res.values = malloc((size_t)L->total * sizeof(double));
    for (long i = 0; i < L->total; i++)
        res.values[i] = NAN;
    return res;
}

/* |a - b| <= atol + rtol*|b| */
static inline int op_close(double a, double b, double rtol, double atol)
{
    return fabs(a - b) <= atol + rtol * fabs(b);
}

#endif
