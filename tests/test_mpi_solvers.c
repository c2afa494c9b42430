/* test_mpi_solvers.c — the eigensolvers and the mixed-precision solve on 1,
 * 2 and 4 ranks over every grid shape: ELPA's two-stage eigenvalues and
 * eigenvectors against ScaLAPACK's (pdsyevd; values-only pdsyev), and
 * op_pkernel_run in mixed precision (float32 K and Cholesky, float64
 * refinement) against float64, including a ridge it cannot refine, and
 * precision = compare: a float32 solve that fails is a status, the float64
 * numbers are those of a float64 run.
 *
 * Runs under mpirun with CK_FORK=no: every rank runs every test; rank 0's
 * verdicts on gathered data are broadcast before asserting. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/kernel.h"
#include "overparam/pkernel.h"
#include "overparam/rng.h"
#include "testutil.h"

static int g_rank, g_size;

#define DIM 9
#define K_OUT 3
#define NB 16

static int grid_shapes(int shapes[][2])
{
    return op_test_grid_shapes(shapes, g_size);
}

/* n points, the last `dup` of them copies of the first ones (a singular
 * kernel when dup > 0). */
static void make_set(op_dataset *ds, uint64_t seed, int n, int dup)
{
    op_test_random_set(ds, seed, n, DIM, K_OUT, dup);
}

static void free_set(op_dataset *ds) { free(ds->block_); }

static op_kernel_cfg make_cfg(void)
{
    op_kernel_cfg c;
    memset(&c, 0, sizeof c);
    c.enabled = c.nngp = c.ntk = 1;
    c.activation = OP_ACT_RELU;
    c.param = OP_PARAM_NTK;
    c.sigma_w2 = 2.0;
    c.sigma_b2 = 0.1;
    c.block = NB;
    c.ridge_relative = 1;
    return c;
}

START_TEST(elpa_matches_scalapack)
{
    if (!op_pkernel_have_elpa()) {
        if (g_rank == 0)
            printf("np=%d ELPA not in this build: nothing to compare\n",
                   g_size);
        return;
    }
    const int n = 150;
    op_dataset tr;
    make_set(&tr, 31, n, 0);
    op_kernel_cfg cfg = make_cfg();
    op_kernel_spec spec;
    ck_assert_int_eq(op_kernel_spec_init(&spec, &cfg, 2, 0, DIM), OP_OK);
    int shapes[8][2], ns = grid_shapes(shapes);
    double dval = 0, dvec = 0, dres = 0, dvo = 0;
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB), OP_OK);
        op_pmatrix K, A, Ve, Vs;
        op_pmatrix_alloc(&g, &K, n, n);
        op_pmatrix_alloc(&g, &A, n, n);
        op_pmatrix_alloc(&g, &Ve, n, n);
        op_pmatrix_alloc(&g, &Vs, n, n);
        op_pkernel_fill_lower(&g, &spec, tr.x, n, NULL, &K);
        size_t len = (size_t)K.lld * K.nloc;
        double *we = malloc(sizeof(double) * n), *ws = malloc(sizeof(double) * n);
        double *wev = malloc(sizeof(double) * n), *wsv = malloc(sizeof(double) * n);
        memcpy(A.a, K.a, sizeof(double) * len);
        op_pkernel_eig(&g, OP_EIGEN_ELPA, &A, we, &Ve);
        memcpy(A.a, K.a, sizeof(double) * len);
        op_pkernel_eig(&g, OP_EIGEN_SCALAPACK, &A, ws, &Vs);
        memcpy(A.a, K.a, sizeof(double) * len);
        op_pkernel_eig(&g, OP_EIGEN_ELPA, &A, wev, NULL);
        memcpy(A.a, K.a, sizeof(double) * len);
        op_pkernel_eig(&g, OP_EIGEN_SCALAPACK, &A, wsv, NULL);
        op_pmatrix_symmetrize_lower(&g, &K);
        double *kf = malloc(sizeof(double) * n * n);
        double *ve = malloc(sizeof(double) * n * n);
        double *vs = malloc(sizeof(double) * n * n);
        op_pmatrix_gather(&g, &K, kf);
        op_pmatrix_gather(&g, &Ve, ve);
        op_pmatrix_gather(&g, &Vs, vs);
        if (g_rank == 0) {
            double lmax = fabs(ws[n - 1]);
            for (int i = 0; i < n; i++) {
                dval = fmax(dval, fabs(we[i] - ws[i]) / lmax);
                dvo = fmax(dvo, fabs(wev[i] - ws[i]) / lmax);
                dvo = fmax(dvo, fabs(wsv[i] - ws[i]) / lmax);
            }
            /* Residual |K v - lambda v| / lambda_max of every ELPA vector,
             * and the top 20 (well separated) against ScaLAPACK's up to
             * sign. Row-major gathers: column j of V is v[i*n + j]. */
            for (int j = 0; j < n; j++) {
                double r2 = 0;
                for (int i = 0; i < n; i++) {
                    double kv = 0;
                    for (int l = 0; l < n; l++)
                        kv += kf[(size_t)i * n + l] * ve[(size_t)l * n + j];
                    double e = kv - we[j] * ve[(size_t)i * n + j];
                    r2 += e * e;
                }
                dres = fmax(dres, sqrt(r2) / lmax);
            }
            for (int j = n - 20; j < n; j++) {
                double dot = 0;
                for (int i = 0; i < n; i++)
                    dot += ve[(size_t)i * n + j] * vs[(size_t)i * n + j];
                dvec = fmax(dvec, fabs(1.0 - fabs(dot)));
            }
        }
        free(kf);
        free(ve);
        free(vs);
        free(we);
        free(ws);
        free(wev);
        free(wsv);
        op_pmatrix_free(&K);
        op_pmatrix_free(&A);
        op_pmatrix_free(&Ve);
        op_pmatrix_free(&Vs);
        op_pkernel_grid_free(&g);
    }
    dval = op_test_from_root(dval);
    dvec = op_test_from_root(dvec);
    dres = op_test_from_root(dres);
    dvo = op_test_from_root(dvo);
    if (g_rank == 0)
        printf("np=%d ELPA vs ScaLAPACK, n=%d (%d grids): eigenvalues %.2e, "
               "values-only %.2e (rel lambda_max), ELPA residual %.2e, top-20 "
               "vectors 1-|<v_elpa, v_scalapack>| %.2e\n", g_size, n, ns,
               dval, dvo, dres, dvec);
    ck_assert(dval < 1e-12 && dvo < 1e-12 && dres < 1e-12 && dvec < 1e-10);
    free_set(&tr);
}
END_TEST

/* A matrix smaller than a block leaves process rows or columns without
 * data, which ELPA cannot take (it aborted every rank): ELPA is asked for
 * and ScaLAPACK runs, with the same eigenvalues; on one rank ELPA runs. */
START_TEST(elpa_small_matrix_falls_back)
{
    const int n = NB - 3;
    op_dataset tr;
    make_set(&tr, 37, n, 0);
    op_kernel_cfg cfg = make_cfg();
    op_kernel_spec spec;
    ck_assert_int_eq(op_kernel_spec_init(&spec, &cfg, 2, 0, DIM), OP_OK);
    int shapes[8][2], ns = grid_shapes(shapes);
    double dval = 0;
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB), OP_OK);
        int want = g.nprow * g.npcol > 1 || !op_pkernel_have_elpa()
                       ? OP_EIGEN_SCALAPACK : OP_EIGEN_ELPA;
        ck_assert_int_eq(op_pkernel_solver_for(&g, OP_EIGEN_ELPA, n), want);
        ck_assert_int_eq(op_pkernel_solver_for(&g, OP_EIGEN_SCALAPACK, n),
                         OP_EIGEN_SCALAPACK);
        op_pmatrix K, A;
        op_pmatrix_alloc(&g, &K, n, n);
        op_pmatrix_alloc(&g, &A, n, n);
        op_pkernel_fill_lower(&g, &spec, tr.x, n, NULL, &K);
        size_t len = (size_t)K.lld * K.nloc;
        double *we = malloc(sizeof(double) * n), *ws = malloc(sizeof(double) * n);
        memcpy(A.a, K.a, sizeof(double) * len);
        op_pkernel_eig(&g, OP_EIGEN_ELPA, &A, we, NULL);
        memcpy(A.a, K.a, sizeof(double) * len);
        op_pkernel_eig(&g, OP_EIGEN_SCALAPACK, &A, ws, NULL);
        for (int i = 0; i < n; i++)
            dval = fmax(dval, fabs(we[i] - ws[i]) / fabs(ws[n - 1]));
        free(we);
        free(ws);
        op_pmatrix_free(&K);
        op_pmatrix_free(&A);
        op_pkernel_grid_free(&g);
    }
    if (g_rank == 0)
        printf("np=%d n=%d below one block (%d grids): eigenvalues asked of "
               "ELPA vs ScaLAPACK %.2e (rel lambda_max)\n", g_size, n, ns, dval);
    ck_assert(dval < 1e-12);
    free_set(&tr);
}
END_TEST

/* One op_pkernel_run per precision on every grid; ridges: two the
 * refinement reaches, then (on a kernel made singular by duplicated
 * points) one whose conditioning is beyond float32. */
START_TEST(mixed_matches_float64)
{
    const int n = 160, nt = 40;
    op_dataset tr, te, trs;
    make_set(&tr, 41, n, 0);
    make_set(&te, 42, nt, 0);
    make_set(&trs, 43, n, 40);
    int shapes[8][2], ns = grid_shapes(shapes);
    double dpred = 0, berr = 0;
    int bad = 0, stalled = 0;
    const op_kernel_kind kk[2] = {OP_KERNEL_NNGP, OP_KERNEL_NTK};
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB), OP_OK);
        op_kernel_cfg c64 = make_cfg(), cmx;
        c64.n_ridge = 2;
        c64.ridge[0] = 1e-3;
        c64.ridge[1] = 1e-1;
        cmx = c64;
        cmx.precision = OP_KPREC_MIXED;
        op_kernel_spec spec;
        ck_assert_int_eq(op_kernel_spec_init(&spec, &c64, 2, 0, DIM), OP_OK);
        op_kernel_result r64[2], rmx[2];
        ck_assert_int_eq(op_pkernel_run(&g, &spec, &c64, 2, kk, &tr, &te, r64),
                         OP_OK);
        ck_assert_int_eq(op_pkernel_run(&g, &spec, &cmx, 2, kk, &tr, &te, rmx),
                         OP_OK);
        for (int q = 0; q < 2; q++) {
            for (int r = 0; r < 2; r++) {
                bad |= rmx[q].ridge_status[r] != OP_KSTATUS_OK ||
                       r64[q].ridge_status[r] != OP_KSTATUS_OK ||
                       !(rmx[q].ridge_berr[r] <= 1e-10);
                berr = fmax(berr, rmx[q].ridge_berr[r]);
            }
            if (g_rank == 0) {
                size_t len = (size_t)2 * nt * K_OUT;
                double m = 0;
                for (size_t i = 0; i < len; i++)
                    m = fmax(m, fabs(r64[q].pred_ridge[i]));
                for (size_t i = 0; i < len; i++)
                    dpred = fmax(dpred, fabs(rmx[q].pred_ridge[i] -
                                             r64[q].pred_ridge[i]) / m);
            }
            op_kernel_result_free(&r64[q]);
            op_kernel_result_free(&rmx[q]);
        }
        /* Duplicated points: K is singular; eps = 2e-7 mean(diag) puts
         * cond(K + eps I) beyond 1/eps_float32: pspotrf still succeeds
         * here, but its factor no longer contracts the error. */
        cmx.n_ridge = 1;
        cmx.ridge[0] = 2e-7;
        cmx.ntk = 0;
        ck_assert_int_eq(op_pkernel_run(&g, &spec, &cmx, 1, kk, &trs, &te,
                                        rmx), OP_OK);
        int st = rmx[0].ridge_status[0];
        bad |= st != OP_KSTATUS_NO_REFINE || !(rmx[0].ridge_berr[0] > 1e-10);
        if (g_rank == 0)
            bad |= !isfinite(rmx[0].pred_ridge[0]); /* the best iterate's */
        stalled += st == OP_KSTATUS_NO_REFINE;
        if (g_rank == 0)
            printf("np=%d mixed, singular K + 2e-7 mean(diag) I: status %d "
                   "after %d solves, backward error %.2e\n", g_size, st,
                   rmx[0].ridge_iters[0], rmx[0].ridge_berr[0]);
        op_kernel_result_free(&rmx[0]);
        op_pkernel_grid_free(&g);
    }
    dpred = op_test_from_root(dpred);
    if (g_rank == 0)
        printf("np=%d mixed vs float64, n=%d (%d grids): predictions max rel "
               "diff %.2e, worst backward error %.2e\n", g_size, n, ns, dpred,
               berr);
    bad = (int)op_test_from_root(bad);
    ck_assert(!bad && stalled == ns);
    ck_assert(dpred < 1e-8);
    free_set(&tr);
    free_set(&te);
    free_set(&trs);
}
END_TEST

/* precision = compare on every grid: twins 1e-4 apart (|x| ~ 3, angle
 * ~3e-5) make the NNGP singular in float32 only (1 - k ~ angle^2: its
 * smallest eigenvalues ~1e-9 of the largest, below float32's 6e-8): at
 * ridge 0 pspotrf fails, a status with NaN metrics, while float64 solves
 * it (relative residual ~1e-6, cond x eps64); exact duplicates fail both,
 * each with its status; a ridge of 1e-1 agrees; float64's numbers equal a
 * float64 run's. */
START_TEST(compare_float32_status)
{
    const int n = 96, nt = 30;
    op_dataset tr, te, dup;
    make_set(&tr, 51, n, 0);
    make_set(&te, 52, nt, 0);
    make_set(&dup, 53, n, 24);
    op_rng r;
    op_rng_derive(&r, 54, OP_STREAM_DATA, 1, 0);
    for (int i = n / 2; i < n; i++)
        for (int c = 0; c < DIM; c++)
            tr.x[i * DIM + c] = tr.x[(i - n / 2) * DIM + c] +
                                1e-4 * op_rng_normal(&r);
    int shapes[8][2], ns = grid_shapes(shapes);
    int bad = 0;
    double gap = 0, res64 = 0;
    const op_kernel_kind kk[1] = {OP_KERNEL_NNGP};
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB), OP_OK);
        op_kernel_cfg c64 = make_cfg(), ccmp;
        c64.ntk = 0;
        c64.n_ridge = 2;
        c64.ridge[0] = 0;
        c64.ridge[1] = 1e-1;
        ccmp = c64;
        ccmp.precision = OP_KPREC_COMPARE;
        op_kernel_spec spec;
        ck_assert_int_eq(op_kernel_spec_init(&spec, &c64, 1, 0, DIM), OP_OK);
        op_kernel_result a, b;
        ck_assert_int_eq(op_pkernel_run(&g, &spec, &c64, 1, kk, &tr, &te, &a),
                         OP_OK);
        ck_assert_int_eq(op_pkernel_run(&g, &spec, &ccmp, 1, kk, &tr, &te, &b),
                         OP_OK);
        bad |= !b.has_f32 || a.has_f32;
        bad |= b.ridge_status32[0] != OP_KSTATUS_NOT_PD ||
               !isnan(b.ridge_mse32[0]) || !isnan(b.ridge_res32[0]);
        bad |= b.ridge_status[0] != OP_KSTATUS_OK ||
               !isfinite(b.ridge_mse[0]) || !(b.ridge_res64[0] < 1e-4);
        bad |= b.ridge_status32[1] != OP_KSTATUS_OK ||
               !(b.ridge_res32[1] < 1e-4) || !(b.ridge_res64[1] < 1e-12);
        for (int q = 0; q < 2; q++) {
            bad |= a.ridge_mse[q] != b.ridge_mse[q] ||
                   a.ridge_status[q] != b.ridge_status[q];
            res64 = fmax(res64, b.ridge_res64[q]);
        }
        gap = fmax(gap, fabs(b.ridge_mse32[1] / b.ridge_mse[1] - 1));
        if (g_rank == 0)
            bad |= memcmp(a.pred_ridge, b.pred_ridge,
                          sizeof(double) * 2 * nt * K_OUT) != 0;
        op_kernel_result_free(&a);
        op_kernel_result_free(&b);
        /* exact duplicates: singular in float64 too */
        ck_assert_int_eq(op_pkernel_run(&g, &spec, &ccmp, 1, kk, &dup, &te,
                                        &b), OP_OK);
        bad |= b.ridge_status[0] != OP_KSTATUS_NOT_PD ||
               b.ridge_status32[0] != OP_KSTATUS_NOT_PD ||
               !isnan(b.ridge_res64[0]);
        op_kernel_result_free(&b);
        op_pkernel_grid_free(&g);
    }
    if (g_rank == 0)
        printf("np=%d compare (%d grids): twins 1e-4 apart, ridge 0: float32 "
               "not_positive_definite, float64 ok (residual <= %.1e); ridge "
               "1e-1 gap %.1e; float64 numbers identical to a float64 run\n",
               g_size, ns, res64, gap);
    bad = (int)op_test_from_root(bad);
    ck_assert(!bad);
    ck_assert(gap < 1e-4);
    free_set(&tr);
    free_set(&te);
    free_set(&dup);
}
END_TEST

static Suite *mpi_solvers_suite(void)
{
    Suite *s = suite_create("mpi_solvers");
    TCase *tc = tcase_create("distributed");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, elpa_matches_scalapack);
    tcase_add_test(tc, elpa_small_matrix_falls_back);
    tcase_add_test(tc, mixed_matches_float64);
    tcase_add_test(tc, compare_float32_status);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MPI_MAIN(mpi_solvers_suite, g_rank, g_size)
