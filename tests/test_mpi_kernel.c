/* test_mpi_kernel.c — the distributed kernels against the serial reference
 * on 1, 2 and 4 ranks, over every grid shape the rank count allows
 * (1x1; 1x2, 2x1; 1x4, 2x2, 4x1), with n = 37 not a multiple of nb = 8:
 * matrices, regression predictions and metrics, gradient-flow predictions,
 * float64/float32 spectra, the not-positive-definite status, and the HDF5
 * archive of one kernel read back.
 *
 * Runs under mpirun with CK_FORK=no (forced here too): every rank runs
 * every test, decisions that only rank 0 can make (it holds the gathered
 * matrices) are broadcast before asserting, so all ranks fail together and
 * no collective is left waiting. Only rank 0 prints. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "overparam/kernel.h"
#include "overparam/kernel_io.h"
#include "overparam/pkernel.h"
#include "overparam/rng.h"
#include "testutil.h"

static int g_rank, g_size;

#define N_TRAIN 37
#define N_TEST 13
#define DIM 7
#define K_OUT 3
#define NB 8

/* Every grid shape for the current rank count, then the automatic one
 * (0 x 0). */
static int grid_shapes(int shapes[][2])
{
    int m = op_test_grid_shapes(shapes, g_size);
    shapes[m][0] = shapes[m][1] = 0;
    return m + 1;
}

static void make_set(op_dataset *ds, uint64_t seed, int n)
{
    op_test_random_set(ds, seed, n, DIM, K_OUT, 0);
}

static void free_set(op_dataset *ds) { free(ds->block_); }

static op_kernel_cfg make_cfg(op_activation act, op_parameterization param)
{
    op_kernel_cfg c;
    memset(&c, 0, sizeof c);
    c.enabled = c.nngp = c.ntk = 1;
    c.activation = act;
    c.param = param;
    c.sigma_w2 = 2.0;
    c.sigma_b2 = 0.1;
    c.block = NB;
    c.n_ridge = 3;
    c.ridge[0] = 1e-4;
    c.ridge[1] = 1e-1;
    c.ridge[2] = -5.0; /* K - 5*mean(diag) I: indefinite, status NOT_PD */
    c.ridge_relative = 1;
    c.n_time = 4;
    c.time[0] = 0.0;
    c.time[1] = 10.0;
    c.time[2] = 1000.0;
    c.time[3] = INFINITY;
    c.eig32 = c.eig64 = 1;
    return c;
}

static double maxabs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static double maxdiff(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

START_TEST(matrices_match_reference)
{
    op_dataset tr, te;
    make_set(&tr, 11, N_TRAIN);
    make_set(&te, 12, N_TEST);
    int shapes[8][2], ns = grid_shapes(shapes);
    double worst = 0;
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB),
                         OP_OK);
        for (int a = 0; a < 2; a++)
            for (int p = 0; p < 2; p++)
                for (int kind = 0; kind < 2; kind++) {
                    op_kernel_cfg cfg = make_cfg(a ? OP_ACT_ERF : OP_ACT_RELU,
                                                 p ? OP_PARAM_STANDARD
                                                   : OP_PARAM_NTK);
                    op_kernel_spec spec;
                    ck_assert_int_eq(
                        op_kernel_spec_init(&spec, &cfg, 2, 64, DIM), OP_OK);
                    op_pmatrix K, Kt;
                    op_pkernel_matrix(&g, &spec, kind, tr.x, N_TRAIN, tr.x,
                                      N_TRAIN, &K);
                    op_pkernel_matrix(&g, &spec, kind, te.x, N_TEST, tr.x,
                                      N_TRAIN, &Kt);
                    double *full = malloc(sizeof(double) * N_TRAIN * N_TRAIN);
                    double *ref = malloc(sizeof(double) * N_TRAIN * N_TRAIN);
                    double rel = 0;
                    op_pmatrix_gather(&g, &K, full);
                    if (g_rank == 0) {
                        op_kernel_ref(&spec, tr.x, N_TRAIN, tr.x, N_TRAIN,
                                      kind ? NULL : ref, kind ? ref : NULL);
                        rel = maxdiff(full, ref, N_TRAIN * N_TRAIN) /
                              maxabs(ref, N_TRAIN * N_TRAIN);
                    }
                    op_pmatrix_gather(&g, &Kt, full);
                    if (g_rank == 0) {
                        op_kernel_ref(&spec, te.x, N_TEST, tr.x, N_TRAIN,
                                      kind ? NULL : ref, kind ? ref : NULL);
                        rel = fmax(rel, maxdiff(full, ref, N_TEST * N_TRAIN) /
                                            maxabs(ref, N_TEST * N_TRAIN));
                    }
                    rel = op_test_from_root(rel);
                    worst = fmax(worst, rel);
                    free(full);
                    free(ref);
                    op_pmatrix_free(&K);
                    op_pmatrix_free(&Kt);
                }
        op_pkernel_grid_free(&g);
    }
    if (g_rank == 0)
        printf("np=%d matrices (relu/erf x ntk/standard x nngp/ntk, %d "
               "grids): max rel |dist - ref| = %.2e\n", g_size, ns, worst);
    ck_assert(worst < 1e-13);
    free_set(&tr);
    free_set(&te);
}
END_TEST

/* The lower-triangle build equals the full one on every block on or below
 * the diagonal, leaves the blocks above untouched (the sentinel), and
 * mirrored equals the full matrix everywhere; both kinds from one pass and
 * each alone, on every grid, in one panel and in panels of one and two
 * blocks (the staircase of GEMMs cut at each panel). n = 37 with nb = 8
 * leaves a partial last block. */
START_TEST(lower_build_matches_full)
{
    op_dataset tr;
    make_set(&tr, 31, N_TRAIN);
    int shapes[8][2], ns = grid_shapes(shapes);
    double worst = 0, worst_mirror = 0;
    long touched = 0, lower_entries = 0;
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB),
                         OP_OK);
        for (int a = 0; a < 2; a++)
            for (int both = 0; both < 2; both++) {
                op_kernel_cfg cfg = make_cfg(a ? OP_ACT_ERF : OP_ACT_RELU,
                                             OP_PARAM_NTK);
                op_kernel_spec spec;
                ck_assert_int_eq(op_kernel_spec_init(&spec, &cfg, 3, 64, DIM),
                                 OP_OK);
                op_pmatrix Fn, Ft, Ln, Lt;
                op_pmatrix_alloc(&g, &Fn, N_TRAIN, N_TRAIN);
                op_pmatrix_alloc(&g, &Ft, N_TRAIN, N_TRAIN);
                op_pmatrix_alloc(&g, &Ln, N_TRAIN, N_TRAIN);
                op_pmatrix_alloc(&g, &Lt, N_TRAIN, N_TRAIN);
                size_t len = (size_t)Ln.lld * Ln.nloc;
                for (size_t i = 0; i < len; i++)
                    Ln.a[i] = Lt.a[i] = -12345.0;
                op_pkernel_fill(&g, &spec, tr.x, N_TRAIN, tr.x, N_TRAIN, &Fn,
                                &Ft);
                /* The lower build in panels of 1 or 2 blocks (one GEMM
                 * staircase each) or in one panel of all columns. */
                op_pkernel_set_panel_bytes(
                    a ? sizeof(double) * DIM * NB * (both + 1) : 0);
                op_pkernel_fill_lower(&g, &spec, tr.x, N_TRAIN,
                                      both ? &Ln : NULL, &Lt);
                if (!both)
                    op_pkernel_fill_lower(&g, &spec, tr.x, N_TRAIN, &Ln, NULL);
                op_pkernel_set_panel_bytes(0);
                for (int lj = 0; lj < Ln.nloc; lj++)
                    for (int li = 0; li < Ln.mloc; li++) {
                        int bi = op_pmatrix_grow(&g, li) / NB;
                        int bj = op_pmatrix_gcol(&g, lj) / NB;
                        size_t o = li + (size_t)lj * Ln.lld;
                        if (bi >= bj) {
                            lower_entries++;
                            worst = fmax(worst, fabs(Ln.a[o] - Fn.a[o]) /
                                                    fabs(Fn.a[o]));
                            worst = fmax(worst, fabs(Lt.a[o] - Ft.a[o]) /
                                                    fabs(Ft.a[o]));
                        } else {
                            touched += Ln.a[o] != -12345.0 ||
                                       Lt.a[o] != -12345.0;
                        }
                    }
                op_pmatrix_symmetrize_lower(&g, &Lt);
                for (size_t i = 0; i < len; i++)
                    worst_mirror = fmax(worst_mirror,
                                        fabs(Lt.a[i] - Ft.a[i]) /
                                            fabs(Ft.a[i]));
                op_pmatrix_free(&Fn);
                op_pmatrix_free(&Ft);
                op_pmatrix_free(&Ln);
                op_pmatrix_free(&Lt);
            }
        op_pkernel_grid_free(&g);
    }
    double w[3] = {worst, worst_mirror, (double)touched}, wmax[3];
    MPI_Allreduce(w, wmax, 3, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    long all_lower = 0;
    MPI_Allreduce(&lower_entries, &all_lower, 1, MPI_LONG, MPI_SUM,
                  MPI_COMM_WORLD);
    if (g_rank == 0)
        printf("np=%d lower-triangle build (%d grids): max rel |lower - "
               "full| = %.2e on %ld entries, mirrored %.2e, %g entries above "
               "the diagonal blocks touched\n", g_size, ns, wmax[0],
               all_lower, wmax[1], wmax[2]);
    ck_assert(wmax[0] < 1e-14 && wmax[1] < 1e-14 && wmax[2] == 0);
    ck_assert(all_lower > 0);
    free_set(&tr);
}
END_TEST

START_TEST(pipeline_matches_reference)
{
    op_dataset tr, te;
    make_set(&tr, 21, N_TRAIN);
    make_set(&te, 22, N_TEST);
    int shapes[8][2], ns = grid_shapes(shapes);
    double dr = 0, dt = 0, de = 0, df = 0, dm = 0;
    int bad_status = 0;
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB),
                         OP_OK);
        /* Both kinds from one build, as the kernel phase runs them (the
         * single-kind path is the save_matrix test's). */
        op_kernel_result both[2];
        const op_kernel_kind kk[2] = {OP_KERNEL_NNGP, OP_KERNEL_NTK};
        for (int kind = 0; kind < 2; kind++) {
            op_kernel_cfg cfg = make_cfg(s % 2 ? OP_ACT_ERF : OP_ACT_RELU,
                                         OP_PARAM_NTK);
            op_kernel_spec spec;
            ck_assert_int_eq(op_kernel_spec_init(&spec, &cfg, 2, 0, DIM),
                             OP_OK);
            if (kind == 0)
                ck_assert_int_eq(op_pkernel_run(&g, &spec, &cfg, 2, kk, &tr,
                                                &te, both),
                                 OP_OK);
            op_kernel_result res = both[kind];
            ck_assert_int_eq(res.kind, kind);
            bad_status |= res.ridge_status[0] != OP_KSTATUS_OK ||
                          res.ridge_status[1] != OP_KSTATUS_OK ||
                          res.ridge_status[2] != OP_KSTATUS_NOT_PD ||
                          !isnan(res.ridge_mse[2]);
            for (int i = 0; i < cfg.n_time; i++)
                bad_status |= res.time_status[i] != OP_KSTATUS_OK;
            if (g_rank == 0) {
                int n = N_TRAIN, nt = N_TEST, k = K_OUT;
                double *K = malloc(sizeof(double) * n * n);
                double *Kt = malloc(sizeof(double) * nt * n);
                double *pred = malloc(sizeof(double) * 4 * nt * k);
                double *w = malloc(sizeof(double) * n);
                op_kernel_ref(&spec, tr.x, n, tr.x, n, kind ? NULL : K,
                              kind ? K : NULL);
                op_kernel_ref(&spec, te.x, nt, tr.x, n, kind ? NULL : Kt,
                              kind ? Kt : NULL);
                double md = 0;
                for (int i = 0; i < n; i++)
                    md += K[i * n + i] / n;
                for (int r = 0; r < 2; r++) {
                    op_kernel_ref_regress(K, n, Kt, nt, tr.y, k,
                                          cfg.ridge[r] * md, pred);
                    double sc = maxabs(pred, nt * k);
                    dr = fmax(dr, maxdiff(pred, res.pred_ridge + r * nt * k,
                                          nt * k) / sc);
                    double mse, acc;
                    op_kernel_metrics(pred, te.y, te.label, nt, k, &mse, &acc);
                    dm = fmax(dm, fabs(mse - res.ridge_mse[r]) / mse);
                    dm = fmax(dm, fabs(acc - res.ridge_acc[r]));
                }
                op_kernel_ref_gd(K, n, Kt, nt, tr.y, k, cfg.time, 4, pred);
                double sc = maxabs(pred, 4 * nt * k);
                dt = fmax(dt, maxdiff(pred, res.pred_time, 4 * nt * k) / sc);
                op_kernel_ref_eig(K, n, w);
                for (int i = 0; i < n; i++) {
                    de = fmax(de, fabs(w[i] - res.eig64[i]) / w[0]);
                    df = fmax(df, fabs(w[i] - res.eig32[i]) / w[0]);
                }
                free(K);
                free(Kt);
                free(pred);
                free(w);
            }
            op_kernel_result_free(&res);
        }
        op_pkernel_grid_free(&g);
    }
    dr = op_test_from_root(dr);
    dt = op_test_from_root(dt);
    de = op_test_from_root(de);
    df = op_test_from_root(df);
    dm = op_test_from_root(dm);
    if (g_rank == 0)
        printf("np=%d pipeline (%d grids, nngp+ntk): rel max diff ridge pred "
               "%.2e, gd pred %.2e, metrics %.2e, eig64 %.2e, eig32 %.2e "
               "(relative to lambda_max)\n",
               g_size, ns, dr, dt, dm, de, df);
    ck_assert(!bad_status);
    ck_assert(dr < 1e-10 && dt < 1e-10 && dm < 1e-10);
    ck_assert(de < 1e-12 && df < 1e-5);
    free_set(&tr);
    free_set(&te);
}
END_TEST

START_TEST(grid_rejects_mismatch)
{
    op_pkernel_grid g;
    ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, g_size + 1, 1,
                                          NB),
                     OP_ERR_INPUT);
}
END_TEST

START_TEST(archive_round_trip)
{
    op_dataset tr, te;
    make_set(&tr, 31, N_TRAIN);
    make_set(&te, 32, N_TEST);
    int shapes[8][2], ns = grid_shapes(shapes);
    char path[256];
    long pid = (long)getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "/tmp/op_test_kernel_%ld.h5", pid);
    double worst = 0, eigd = 0;
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, shapes[s][0],
                                              shapes[s][1], NB),
                         OP_OK);
        op_kernel_cfg cfg = make_cfg(OP_ACT_RELU, OP_PARAM_NTK);
        cfg.save_matrix = 1;
        op_kernel_spec spec;
        ck_assert_int_eq(op_kernel_spec_init(&spec, &cfg, 1, 0, DIM), OP_OK);
        op_kernel_result res;
        ck_assert_int_eq(
            op_pkernel_run(&g, &spec, &cfg, 1,
                           (const op_kernel_kind[]){OP_KERNEL_NTK}, &tr, &te,
                           &res),
            OP_OK);
        ck_assert(res.has_matrix);

        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        ck_assert(f >= 0);
        H5Pclose(fapl);
        ck_assert_int_eq(op_kernel_io_write(f, "d1_ntk", &cfg, &spec, &res),
                         OP_OK);
        /* A second group under the same /kernels, and a duplicate. */
        ck_assert_int_eq(op_kernel_io_write(f, "again", &cfg, &spec, &res),
                         OP_OK);
        ck_assert_int_eq(op_kernel_io_write(f, "again", &cfg, &spec, &res),
                         OP_ERR_IO);
        H5Fclose(f);
        MPI_Barrier(MPI_COMM_WORLD);

        double diff = 0;
        if (g_rank == 0) {
            int n = N_TRAIN;
            double *ref = malloc(sizeof(double) * n * n);
            double *got = malloc(sizeof(double) * n * n);
            double *w = malloc(sizeof(double) * n);
            op_kernel_ref(&spec, tr.x, n, tr.x, n, NULL, ref);
            hid_t rf = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
            hid_t ds = H5Dopen2(rf, "/kernels/d1_ntk/matrix", H5P_DEFAULT);
            H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
            H5Dclose(ds);
            diff = maxdiff(got, ref, (size_t)n * n) / maxabs(ref, (size_t)n * n);
            ds = H5Dopen2(rf, "/kernels/d1_ntk/eigenvalues64", H5P_DEFAULT);
            H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, w);
            H5Dclose(ds);
            eigd = fmax(eigd, maxdiff(w, res.eig64, n));
            double *pr = malloc(sizeof(double) * 3 * N_TEST * K_OUT);
            ds = H5Dopen2(rf, "/kernels/again/pred_ridge", H5P_DEFAULT);
            H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, pr);
            H5Dclose(ds);
            /* Entries 0 and 1 are finite, entry 2 (not PD) is NaN. */
            eigd = fmax(eigd, maxdiff(pr, res.pred_ridge, 2 * N_TEST * K_OUT));
            if (!isnan(pr[2 * N_TEST * K_OUT]))
                eigd = INFINITY;
            free(pr);
            H5Fclose(rf);
            free(ref);
            free(got);
            free(w);
        }
        diff = op_test_from_root(diff);
        worst = fmax(worst, diff);
        op_kernel_result_free(&res);
        op_pkernel_grid_free(&g);
    }
    eigd = op_test_from_root(eigd);
    if (g_rank == 0) {
        printf("np=%d archive: matrix read back vs reference, max rel diff "
               "%.2e (%d grids); eig/pred round trip %.1e\n",
               g_size, worst, ns, eigd);
        if (getenv("OP_TEST_KEEP")) /* keep the archive for h5dump */
            printf("kept %s\n", path);
        else
            unlink(path);
    }
    ck_assert(worst < 1e-13 && eigd == 0.0);
    free_set(&tr);
    free_set(&te);
}
END_TEST

static Suite *mpi_kernel_suite(void)
{
    Suite *s = suite_create("mpi_kernel");
    TCase *tc = tcase_create("distributed");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, matrices_match_reference);
    tcase_add_test(tc, lower_build_matches_full);
    tcase_add_test(tc, pipeline_matches_reference);
    tcase_add_test(tc, grid_rejects_mismatch);
    tcase_add_test(tc, archive_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MPI_MAIN(mpi_kernel_suite, g_rank, g_size)
