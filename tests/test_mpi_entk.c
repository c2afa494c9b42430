/* test_mpi_entk.c — the distributed empirical NTK (entk.h) on 1, 2 and 4
 * ranks over every grid shape the rank count allows (1x1; 1x2, 2x1; 1x4,
 * 2x2, 4x1), n = 23 not a multiple of nb = 4 nor of the rank count:
 *  - against J J^T averaged over the outputs, J the per-sample gradients
 *    of net.h's naive reference (triple loops, no BLAS) from the same
 *    weights, over activations, parameterizations, bias/no bias, init
 *    scales, a frozen first layer, depths 0..3 and k = 1, 3;
 *  - against central finite differences of the network's outputs (no
 *    backward code at all), which checks the wmul/bmul scalings;
 *  - its average over seeds approaching the analytic NTK as the width
 *    grows (standard and ntk parameterizations);
 *  - the linearized network's predictions (op_entk_linearized) against
 *    J J^T and the serial gradient-flow predictor, with and without
 *    centering;
 *  - float32 Grams (op_entk_build_prec 4, [kernel] empirical_precision):
 *    against J J^T and against the float64 build within F32_TOL (1e-5) of
 *    the largest entry, on every grid shape, fused and grouped; the
 *    float64 build's J J^T bound (1e-13) is unchanged.
 * Every rank runs every test; verdicts on gathered data are broadcast
 * from rank 0 (testutil.h). */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/entk.h"
#include "overparam/kernel.h"
#include "overparam/net.h"
#include "overparam/pkernel.h"
#include "overparam/rng.h"
#include "testutil.h"

static int g_rank, g_size;

#define N 23
#define DIM 5
#define NB 4

static op_model_cfg model(op_activation act, op_parameterization param,
                          int width, int depth, double sb2)
{
    op_model_cfg m = {.activation = act, .param = param, .width = width,
                      .depth = depth, .sigma_w2 = 1.7, .sigma_b2 = sb2,
                      .init_scale = 1, .init_scale_first = 1,
                      .init_scale_last = 1, .freeze_first = 0};
    return m;
}

/* Theta[n][n] with Grams in `prec` (8 or 4) on every grid shape, gathered
 * on rank 0; returns the largest |Theta - ref| / max|ref| over the shapes
 * (broadcast). */
static double grid_error_prec(op_net *net, const double *x, int n,
                              const double *ref, int prec)
{
    int shapes[8][2];
    int ns = op_test_grid_shapes(shapes, g_size);
    double worst = 0, scale = 0;
    for (int i = 0; i < n * n; i++)
        scale = fmax(scale, fabs(ref[i]));
    double *full = malloc(sizeof(double) * n * n);
    for (int s = 0; s < ns; s++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD,
                                              shapes[s][0], shapes[s][1], NB),
                         OP_OK);
        op_pmatrix T;
        ck_assert_int_eq(op_entk_build_prec(&g, net, x, n, prec, &T), OP_OK);
        op_pmatrix_gather(&g, &T, full);
        if (g_rank == 0)
            for (int i = 0; i < n * n; i++)
                worst = fmax(worst, fabs(full[i] - ref[i]) / scale);
        op_pmatrix_free(&T);
        op_pkernel_grid_free(&g);
    }
    free(full);
    return op_test_from_root(worst);
}

static double grid_error(op_net *net, const double *x, int n,
                         const double *ref)
{
    return grid_error_prec(net, x, n, ref, 8);
}

/* float32 Grams ([kernel] empirical_precision = float32) against float64
 * references: each entry within this fraction of the largest one. The
 * Grams here sum at most a few hundred float32 products (rounding ~6e-8
 * each, accumulated in float32 within a GEMM): ~1e-6 at worst; a finite
 * net's own fluctuation around its limit is O(1/sqrt(width)), 1e-2 and
 * more. */
#define F32_TOL 1e-5

/* (1/k) sum_o J_o J_o^T from op_net_reference's per-sample gradients. */
static void jjt_reference(op_net *net, const double *x, int n, double *ref)
{
    int k = net->d_out;
    long p = net->n_train;
    double *params = malloc(sizeof(double) * net->n_total);
    double *J = malloc(sizeof(double) * (size_t)n * k * p);
    double *out = malloc(sizeof(double) * k);
    double *gout = calloc((size_t)k, sizeof(double));
    op_net_params_copy(net, params);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < k; o++) {
            gout[o] = 1;
            op_net_reference(net, params, x + (size_t)i * net->d_in, 1, out,
                             gout, J + ((size_t)i * k + o) * p);
            gout[o] = 0;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int o = 0; o < k; o++) {
                const double *a = J + ((size_t)i * k + o) * p;
                const double *b = J + ((size_t)j * k + o) * p;
                for (long q = 0; q < p; q++)
                    s += a[q] * b[q];
            }
            ref[i * n + j] = s / k;
        }
    free(params);
    free(J);
    free(out);
    free(gout);
}

START_TEST(test_against_jjt)
{
    struct {
        op_activation act;
        op_parameterization param;
        int depth, k, freeze;
        double sb2, scale, first, last;
    } cases[] = {
        {OP_ACT_RELU, OP_PARAM_NTK, 2, 3, 0, 0.1, 1, 1, 1},
        {OP_ACT_RELU, OP_PARAM_STANDARD, 2, 3, 0, 0.1, 1, 1, 1},
        {OP_ACT_ERF, OP_PARAM_NTK, 3, 1, 0, 0.3, 1, 1, 1},
        {OP_ACT_TANH, OP_PARAM_STANDARD, 1, 3, 0, 0.0, 1, 1, 1},
        {OP_ACT_TANH, OP_PARAM_NTK, 2, 3, 1, 0.2, 1, 1, 1},
        {OP_ACT_ERF, OP_PARAM_STANDARD, 2, 3, 0, 0.2, 0.7, 1.3, 0.5},
        {OP_ACT_RELU, OP_PARAM_NTK, 0, 3, 0, 0.1, 1, 1, 1},
        {OP_ACT_RELU, OP_PARAM_NTK, 1, 3, 1, 0.1, 1, 1, 1},
    };
    int nc = (int)(sizeof cases / sizeof cases[0]);
    /* and two readouts of their own (net.h's per-layer biases): readout
     * variances without a readout bias; biases on at zero variance (zero
     * init, still trained: standard bmul = 1) */
    int extra = 2;
    op_dataset ds;
    op_test_random_set(&ds, 11, N, DIM, 1, 0);
    double *ref = malloc(sizeof(double) * N * N);
    for (int c = 0; c < nc + extra; c++) {
        int ci = c < nc ? c : 0;
        op_model_cfg m = model(cases[ci].act, cases[ci].param, 12,
                               cases[ci].depth, cases[ci].sb2);
        m.freeze_first = cases[ci].freeze;
        m.init_scale = cases[ci].scale;
        m.init_scale_first = cases[ci].first;
        m.init_scale_last = cases[ci].last;
        if (c == nc) {
            m.param = OP_PARAM_STANDARD; /* bmul = 1 on every layer */
            m.last_set = 1;
            m.sigma_w2_last = 0.6;
            m.sigma_b2_last = 0;
        } else if (c == nc + 1) {
            m.param = OP_PARAM_STANDARD;
            m.sigma_b2 = 0;
            m.bias = OP_BIAS_ON;
        }
        op_net net = {0};
        /* batch 5: several chunks per rank's slice */
        ck_assert_int_eq(op_net_setup(&net, &m, DIM, cases[ci].k, 8, 5, 0),
                         OP_OK);
        if (c == nc)
            ck_assert(net.b_off[0] >= 0 && net.b_off[net.depth] < 0);
        if (c == nc + 1)
            ck_assert(net.b_off[0] >= 0 && net.bmul[0] == 1);
        op_rng r;
        op_rng_derive(&r, 7, OP_STREAM_KERNEL, (uint64_t)c, 12);
        op_net_init_params(&net, &r);
        if (g_rank == 0)
            jjt_reference(&net, ds.x, N, ref);
        MPI_Bcast(ref, N * N, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        double err = grid_error(&net, ds.x, N, ref);
        /* the signals exchanged one output at a time (groups of outputs
         * summed into B) give the same Theta */
        op_entk_set_exchange_bytes(1);
        double err1 = grid_error(&net, ds.x, N, ref);
        op_entk_set_exchange_bytes(0);
        /* float32 Grams, fused and in groups of outputs */
        double e32 = grid_error_prec(&net, ds.x, N, ref, 4);
        op_entk_set_exchange_bytes(1);
        double e32g = grid_error_prec(&net, ds.x, N, ref, 4);
        op_entk_set_exchange_bytes(0);
        if (g_rank == 0 && fmax(err, err1) > 1e-13)
            fprintf(stderr, "case %d: max error %.3g / %.3g\n", c, err, err1);
        ck_assert_msg(e32 <= F32_TOL && e32g <= F32_TOL && e32 > 0,
                      "case %d: float32 J J^T error %.3g / %.3g (grouped)", c,
                      e32, e32g);
        ck_assert_msg(err <= 1e-13, "case %d: J J^T error %.3g", c, err);
        ck_assert_msg(err1 <= 1e-13, "case %d: J J^T error, one output per "
                      "exchange, %.3g", c, err1);
        op_net_free(&net);
    }
    free(ref);
    free(ds.block_);
}
END_TEST

/* Theta by central differences of f itself: for each parameter p,
 * df_o(x_i)/dp ~ (f(p + h) - f(p - h)) / 2h, then (1/k) sum_o J J^T. */
START_TEST(test_against_finite_differences)
{
    op_model_cfg m = model(OP_ACT_TANH, OP_PARAM_NTK, 9, 2, 0.4);
    m.init_scale = 0.8;
    int n = 9, k = 2;
    op_dataset ds;
    op_test_random_set(&ds, 5, n, DIM, 1, 0);
    op_net net = {0};
    ck_assert_int_eq(op_net_setup(&net, &m, DIM, k, 8, 16, 0), OP_OK);
    op_rng r;
    op_rng_derive(&r, 3, OP_STREAM_KERNEL, 2, 9);
    op_net_init_params(&net, &r);
    long p = net.n_total;
    double *params = malloc(sizeof(double) * p);
    double *J = calloc((size_t)p * n * k, sizeof(double));
    double *fp = malloc(sizeof(double) * n * k);
    double *fm = malloc(sizeof(double) * n * k);
    double *ref = calloc((size_t)n * n, sizeof(double));
    op_net_params_copy(&net, params);
    const double h = 1e-5;
    for (long q = 0; q < p; q++) {
        double v = params[q];
        params[q] = v + h;
        op_net_params_load(&net, params);
        op_net_predict(&net, ds.x, n, fp);
        params[q] = v - h;
        op_net_params_load(&net, params);
        op_net_predict(&net, ds.x, n, fm);
        params[q] = v;
        for (int i = 0; i < n * k; i++)
            J[(size_t)i * p + q] = (fp[i] - fm[i]) / (2 * h);
    }
    op_net_params_load(&net, params);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int o = 0; o < k; o++)
                for (long q = 0; q < p; q++)
                    s += J[((size_t)i * k + o) * p + q] *
                         J[((size_t)j * k + o) * p + q];
            ref[i * n + j] = s / k;
        }
    double err = grid_error(&net, ds.x, n, ref);
    ck_assert_msg(err < 1e-8, "finite differences: error %.3g", err);
    op_net_free(&net);
    free(params);
    free(J);
    free(fp);
    free(fm);
    free(ref);
    free(ds.block_);
}
END_TEST

/* The mean of Theta over `seeds` networks of width w (ntk or standard
 * parameterization) against the analytic NTK of that width: the error
 * falls as the width grows (the fluctuations shrink as 1/sqrt(width); in
 * the standard parameterization the analytic kernel is the one of that
 * width). */
static double mean_error(op_parameterization param, int w, int seeds,
                         const op_dataset *ds, int n)
{
    op_kernel_cfg kc;
    memset(&kc, 0, sizeof kc);
    kc.activation = OP_ACT_RELU;
    kc.param = param;
    kc.sigma_w2 = 1.7;
    kc.sigma_b2 = 0.1;
    op_kernel_spec spec;
    ck_assert_int_eq(op_kernel_spec_init(&spec, &kc, 2, w, DIM), OP_OK);
    op_pkernel_grid g;
    ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD, 0, 0, NB), OP_OK);
    op_pmatrix mean, ana;
    op_pmatrix_alloc(&g, &mean, n, n);
    op_pkernel_matrix(&g, &spec, OP_KERNEL_NTK, ds->x, n, ds->x, n, &ana);
    op_model_cfg m = model(OP_ACT_RELU, param, w, 2, 0.1);
    op_net net = {0};
    ck_assert_int_eq(op_net_setup(&net, &m, DIM, 2, 8, 64, 0), OP_OK);
    for (int s = 0; s < seeds; s++) {
        op_rng r;
        op_rng_derive(&r, 100 + s, OP_STREAM_KERNEL, 2, (uint64_t)w);
        op_net_init_params(&net, &r);
        op_pmatrix T;
        ck_assert_int_eq(op_entk_build(&g, &net, ds->x, n, &T), OP_OK);
        for (size_t i = 0; i < (size_t)T.lld * T.nloc; i++)
            mean.a[i] += T.a[i] / seeds;
        op_pmatrix_free(&T);
    }
    double err = op_entk_rel_diff(&g, &mean, &ana);
    op_net_free(&net);
    op_pmatrix_free(&mean);
    op_pmatrix_free(&ana);
    op_pkernel_grid_free(&g);
    return err;
}

START_TEST(test_width_limit)
{
    int n = 12;
    op_dataset ds;
    op_test_random_set(&ds, 21, n, DIM, 1, 0);
    op_parameterization params[2] = {OP_PARAM_NTK, OP_PARAM_STANDARD};
    for (int pi = 0; pi < 2; pi++) {
        double e64 = mean_error(params[pi], 64, 4, &ds, n);
        double e1k = mean_error(params[pi], 1024, 4, &ds, n);
        double e4k = mean_error(params[pi], 4096, 4, &ds, n);
        if (g_rank == 0)
            fprintf(stderr, "entk width limit (%s): 64 %.4f, 1024 %.4f, "
                    "4096 %.4f\n", pi ? "standard" : "ntk", e64, e1k, e4k);
        ck_assert_msg(e4k < e1k && e1k < e64 && e4k < 0.03,
                      "no convergence: %g %g %g", e64, e1k, e4k);
    }
    free(ds.block_);
}
END_TEST

/* op_entk_linearized against a serial reference: Theta on [X; test] from
 * J J^T (jjt_reference), f0 from the network, and the serial
 * gradient-flow predictor op_kernel_ref_gd on Y - f0(X), plus f0(test);
 * with center, the same without f0 and pred_net = f(pT) - f(p0). */
START_TEST(test_linearized)
{
    int n = 14, nt = 6, k = 2, NA = n + nt;
    op_dataset tr, te;
    op_test_random_set(&tr, 31, n, DIM, k, 0);
    op_test_random_set(&te, 32, nt, DIM, k, 0);
    op_model_cfg m = model(OP_ACT_TANH, OP_PARAM_NTK, 10, 2, 0.2);
    op_net net = {0};
    ck_assert_int_eq(op_net_setup(&net, &m, DIM, k, 8, 8, 0), OP_OK);
    op_rng r;
    op_rng_derive(&r, 9, OP_STREAM_KERNEL, 2, 10);
    op_net_init_params(&net, &r);
    long np = net.n_total;
    double *p0 = malloc(sizeof(double) * np), *pT = malloc(sizeof(double) * np);
    op_net_params_copy(&net, p0);
    for (long q = 0; q < np; q++) /* "trained": any other parameters */
        pT[q] = p0[q] * (1 + 0.05 * sin((double)q));
    double times[3] = {0.0, 7.0, INFINITY};
    double *xa = malloc(sizeof(double) * NA * DIM);
    memcpy(xa, tr.x, sizeof(double) * n * DIM);
    memcpy(xa + n * DIM, te.x, sizeof(double) * nt * DIM);
    double *TA = malloc(sizeof(double) * NA * NA);
    double *K = malloc(sizeof(double) * n * n);
    double *Kt = malloc(sizeof(double) * nt * n);
    double *f0 = malloc(sizeof(double) * NA * k), *fT = malloc(sizeof(double) * nt * k);
    double *Yr = malloc(sizeof(double) * n * k);
    double *ref = malloc(sizeof(double) * 3 * nt * k);
    double *lin = malloc(sizeof(double) * 3 * nt * k);
    double *pn = malloc(sizeof(double) * nt * k);
    jjt_reference(&net, xa, NA, TA);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            K[i * n + j] = TA[i * NA + j];
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < n; j++)
            Kt[i * n + j] = TA[(n + i) * NA + j];
    op_net_predict(&net, xa, NA, f0);
    op_net_params_load(&net, pT);
    op_net_predict(&net, te.x, nt, fT);
    op_net_params_load(&net, p0);
    for (int center = 0; center < 2; center++) {
        for (int i = 0; i < n * k; i++)
            Yr[i] = tr.y[i] - (center ? 0 : f0[i]);
        op_kernel_ref_gd(K, n, Kt, nt, Yr, k, times, 3, ref);
        for (int it = 0; it < 3; it++)
            for (int i = 0; i < nt * k; i++)
                ref[it * nt * k + i] += center ? 0 : f0[n * k + i];
        int shapes[8][2];
        int ns = op_test_grid_shapes(shapes, g_size);
        for (int sh = 0; sh < ns; sh++) {
            op_pkernel_grid g;
            ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD,
                                                  shapes[sh][0],
                                                  shapes[sh][1], NB), OP_OK);
            ck_assert_int_eq(op_entk_linearized(&g, &net, p0, pT, &tr, &te,
                                                center, OP_EIGEN_SCALAPACK,
                                                8, 3, times, lin, pn), OP_OK);
            double el = 0, en = 0, scale = 0;
            if (g_rank == 0) {
                for (int i = 0; i < 3 * nt * k; i++) {
                    el = fmax(el, fabs(lin[i] - ref[i]));
                    scale = fmax(scale, fabs(ref[i]));
                }
                for (int i = 0; i < nt * k; i++)
                    en = fmax(en, fabs(pn[i] - (fT[i] -
                                               (center ? f0[n * k + i] : 0))));
            }
            el = op_test_from_root(el / scale);
            en = op_test_from_root(en);
            ck_assert_msg(el < 1e-10, "center %d grid %dx%d: f_lin error %.3g",
                          center, shapes[sh][0], shapes[sh][1], el);
            ck_assert_msg(en == 0, "pred_net differs by %.3g", en);
            /* float32 Grams: the linearized predictions move by about
             * the kernel's relative error (the eigenbasis is float64) */
            ck_assert_int_eq(op_entk_linearized(&g, &net, p0, pT, &tr, &te,
                                                center, OP_EIGEN_SCALAPACK,
                                                4, 3, times, lin, pn), OP_OK);
            el = 0;
            if (g_rank == 0)
                for (int i = 0; i < 3 * nt * k; i++)
                    el = fmax(el, fabs(lin[i] - ref[i]));
            el = op_test_from_root(el / scale);
            ck_assert_msg(el < 1e-4, "center %d grid %dx%d: float32 f_lin "
                          "error %.3g", center, shapes[sh][0], shapes[sh][1],
                          el);
            op_pkernel_grid_free(&g);
        }
    }
    op_net_free(&net);
    free(p0); free(pT); free(xa); free(TA); free(K); free(Kt); free(f0);
    free(fT); free(Yr); free(ref); free(lin); free(pn);
    free(tr.block_);
    free(te.block_);
}
END_TEST

/* float32 Grams on a net wide enough for the Grams to sum thousands of
 * products (width 512, depth 3, k = 3, n = 600: several of entk.c's
 * float32 panels of 256 local columns on most grids): against
 * the float64 build within F32_TOL of the largest entry and in Frobenius
 * norm, on every grid shape, fused and in groups of outputs; not bitwise
 * equal (the option does something); a precision other than 4 or 8 is
 * refused on every rank. */
START_TEST(test_float32_vs_float64)
{
    int n = 600, w = 512;
    op_dataset ds;
    op_test_random_set(&ds, 41, n, DIM, 1, 0);
    op_model_cfg m = model(OP_ACT_RELU, OP_PARAM_NTK, w, 3, 0.1);
    op_net net = {0};
    ck_assert_int_eq(op_net_setup(&net, &m, DIM, 3, 8, 16, 0), OP_OK);
    op_rng r;
    op_rng_derive(&r, 13, OP_STREAM_KERNEL, 3, (uint64_t)w);
    op_net_init_params(&net, &r);
    int shapes[8][2];
    int ns = op_test_grid_shapes(shapes, g_size);
    double *f64 = malloc(sizeof(double) * n * n);
    for (int sh = 0; sh < ns; sh++) {
        op_pkernel_grid g;
        ck_assert_int_eq(op_pkernel_grid_init(&g, MPI_COMM_WORLD,
                                              shapes[sh][0], shapes[sh][1],
                                              NB), OP_OK);
        op_pmatrix T64;
        ck_assert_int_eq(op_entk_build_prec(&g, &net, ds.x, n, 8, &T64),
                         OP_OK);
        op_pmatrix_gather(&g, &T64, f64);
        MPI_Bcast(f64, n * n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        for (int grouped = 0; grouped < 2; grouped++) {
            op_entk_set_exchange_bytes(grouped ? 1 : 0);
            op_pmatrix T32;
            ck_assert_int_eq(op_entk_build_prec(&g, &net, ds.x, n, 4, &T32),
                             OP_OK);
            double fro = op_entk_rel_diff(&g, &T32, &T64);
            op_pmatrix_free(&T32);
            double worst = grid_error_prec(&net, ds.x, n, f64, 4);
            if (g_rank == 0 && sh == 0 && !grouped)
                fprintf(stderr, "entk float32 vs float64 (width %d): max "
                        "%.3g of the largest entry, Frobenius %.3g\n", w,
                        worst, fro);
            ck_assert_msg(fro < F32_TOL && worst < F32_TOL && fro > 0,
                          "grid %dx%d grouped %d: float32 vs float64 %.3g "
                          "(max %.3g)", shapes[sh][0], shapes[sh][1],
                          grouped, fro, worst);
        }
        op_entk_set_exchange_bytes(0);
        op_pmatrix T;
        ck_assert_int_eq(op_entk_build_prec(&g, &net, ds.x, n, 2, &T),
                         OP_ERR_INPUT);
        op_pmatrix_free(&T64);
        op_pkernel_grid_free(&g);
    }
    free(f64);
    op_net_free(&net);
    free(ds.block_);
}
END_TEST

static Suite *entk_suite(void)
{
    Suite *s = suite_create("entk");
    TCase *tc = tcase_create("entk");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_against_jjt);
    tcase_add_test(tc, test_against_finite_differences);
    tcase_add_test(tc, test_width_limit);
    tcase_add_test(tc, test_linearized);
    tcase_add_test(tc, test_float32_vs_float64);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MPI_MAIN(entk_suite, g_rank, g_size)
