/* test_kernel.c — serial tests of the NNGP/NTK recursion and the reference
 * solvers: closed forms computed independently, symmetry/PSD, Monte-Carlo
 * agreement with wide random networks, ridge and gradient-flow limits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quadmath.h>

#include "overparam/kernel.h"
#include "overparam/rng.h"
#include "testutil.h"

#define PI 3.14159265358979323846

static double *rand_x(uint64_t seed, int n, int d)
{
    op_rng r;
    op_rng_derive(&r, seed, OP_STREAM_DATA, 0, 0);
    double *x = malloc(sizeof(double) * (size_t)n * d);
    for (int i = 0; i < n * d; i++)
        x[i] = op_rng_normal(&r);
    return x;
}

static op_kernel_cfg make_cfg(op_activation act, op_parameterization param,
                              double sw2, double sb2)
{
    op_kernel_cfg c;
    memset(&c, 0, sizeof c);
    c.enabled = 1;
    c.nngp = c.ntk = 1;
    c.activation = act;
    c.param = param;
    c.sigma_w2 = sw2;
    c.sigma_b2 = sb2;
    c.block = 8;
    return c;
}

static op_kernel_spec make_spec(op_activation act, op_parameterization param,
                                double sw2, double sb2, int depth, int width,
                                int d)
{
    op_kernel_cfg c = make_cfg(act, param, sw2, sb2);
    op_kernel_spec s;
    ck_assert_int_eq(op_kernel_spec_init(&s, &c, depth, width, d), OP_OK);
    return s;
}

/* Degree-1 arc-cosine kernel written from Cho & Saul's form with the angle
 * from atan2 (independent of the implementation's acos path). */
static double arccos1(double q1, double q2, double c)
{
    double n1 = sqrt(q1), n2 = sqrt(q2);
    double th = atan2(sqrt(fmax(q1 * q2 - c * c, 0.0)), c);
    return n1 * n2 / PI * (sin(th) + (PI - th) * cos(th)) / 2.0;
}

START_TEST(relu_one_layer_closed_form)
{
    int n = 6, d = 4;
    double sw2 = 2.0, sb2 = 0.1;
    double *x = rand_x(1, n, d);
    op_kernel_spec s = make_spec(OP_ACT_RELU, OP_PARAM_NTK, sw2, sb2, 1, 0, d);
    double K[36], T[36];
    op_kernel_ref(&s, x, n, x, n, K, T);
    double maxd = 0, maxt = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double q1 = sw2 * op_test_dot(x + i * d, x + i * d, d) / d + sb2;
            double q2 = sw2 * op_test_dot(x + j * d, x + j * d, d) / d + sb2;
            double c = sw2 * op_test_dot(x + i * d, x + j * d, d) / d + sb2;
            double want = sw2 * arccos1(q1, q2, c) + sb2;
            double th = atan2(sqrt(fmax(q1 * q2 - c * c, 0.0)), c);
            double want_ntk = want + sw2 * c * (PI - th) / (2 * PI);
            maxd = fmax(maxd, fabs(K[i * n + j] - want));
            maxt = fmax(maxt, fabs(T[i * n + j] - want_ntk));
        }
    printf("relu depth-1 closed form: max |nngp diff| %.2e, |ntk diff| %.2e\n",
           maxd, maxt);
    ck_assert(maxd < 1e-12 && maxt < 1e-12);
    free(x);
}
END_TEST

START_TEST(erf_one_layer_closed_form)
{
    int n = 5, d = 3;
    double sw2 = 1.5, sb2 = 0.05;
    double *x = rand_x(2, n, d);
    op_kernel_spec s = make_spec(OP_ACT_ERF, OP_PARAM_NTK, sw2, sb2, 1, 0, d);
    double K[25], T[25], maxd = 0, maxt = 0;
    op_kernel_ref(&s, x, n, x, n, K, T);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double q1 = sw2 * op_test_dot(x + i * d, x + i * d, d) / d + sb2;
            double q2 = sw2 * op_test_dot(x + j * d, x + j * d, d) / d + sb2;
            double c = sw2 * op_test_dot(x + i * d, x + j * d, d) / d + sb2;
            double want = sw2 * 2 / PI *
                              asin(2 * c / sqrt((1 + 2 * q1) * (1 + 2 * q2))) +
                          sb2;
            double dd = 4 / PI /
                        sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c);
            double want_ntk = want + sw2 * dd * c;
            maxd = fmax(maxd, fabs(K[i * n + j] - want));
            maxt = fmax(maxt, fabs(T[i * n + j] - want_ntk));
        }
    printf("erf depth-1 closed form: max |nngp diff| %.2e, |ntk diff| %.2e\n",
           maxd, maxt);
    ck_assert(maxd < 1e-12 && maxt < 1e-12);
    free(x);
}
END_TEST

/* Standard parameterization, depth 1 (neural-tangents Dense, s = (1,1)):
 * Th1 = d*K0 + 1, Th2 = width*T + sw2*Td*Th1 + 1. */
START_TEST(standard_param_ntk_depth1)
{
    int n = 4, d = 3, width = 100;
    double sw2 = 2.0, sb2 = 0.2;
    double *x = rand_x(3, n, d);
    op_kernel_spec s =
        make_spec(OP_ACT_RELU, OP_PARAM_STANDARD, sw2, sb2, 1, width, d);
    double K[16], T[16], maxd = 0;
    op_kernel_ref(&s, x, n, x, n, K, T);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double q1 = sw2 * op_test_dot(x + i * d, x + i * d, d) / d + sb2;
            double q2 = sw2 * op_test_dot(x + j * d, x + j * d, d) / d + sb2;
            double g = op_test_dot(x + i * d, x + j * d, d);
            double c = sw2 * g / d + sb2;
            double th = atan2(sqrt(fmax(q1 * q2 - c * c, 0.0)), c);
            double t = arccos1(q1, q2, c), td = (PI - th) / (2 * PI);
            double want = width * t + sw2 * td * (g + 1.0) + 1.0;
            maxd = fmax(maxd, fabs(T[i * n + j] - want) / fabs(want));
            ck_assert(op_close(K[i * n + j], sw2 * t + sb2, 1e-12, 1e-12));
        }
    ck_assert(maxd < 1e-12);
    free(x);
}
END_TEST

START_TEST(symmetric_psd)
{
    int n = 40, d = 6;
    double *x = rand_x(4, n, d);
    double *K = malloc(sizeof(double) * n * n), *w = malloc(sizeof(double) * n);
    for (int a = 0; a < 2; a++)
        for (int kind = 0; kind < 2; kind++) {
            op_kernel_spec s = make_spec(a ? OP_ACT_ERF : OP_ACT_RELU,
                                         OP_PARAM_NTK, 1.7, 0.1, 3, 0, d);
            op_kernel_ref(&s, x, n, x, n, kind ? NULL : K, kind ? K : NULL);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < i; j++)
                    ck_assert(K[i * n + j] == K[j * n + i]);
            op_kernel_ref_eig(K, n, w);
            ck_assert(w[0] >= w[n - 1]);
            ck_assert_msg(w[n - 1] >= -1e-10 * w[0], "min eig %g max %g",
                          w[n - 1], w[0]);
        }
    free(x);
    free(K);
    free(w);
}
END_TEST

/* Monte Carlo: R random networks of width N with the finite nets'
 * standard parameterization (W ~ N(0, sw2/fan_in), b ~ N(0, sb2)). For each
 * net the covariance of the readout over its weights and bias is exactly
 * sw2 * mean_j phi(h_j(x)) phi(h_j(x')) + sb2; its mean over the hidden
 * weights is the NNGP (exactly for depth 1, up to O(1/N) for depth 2). The
 * standard error is taken across the R independent nets. */
static double act(op_activation a, double u)
{
    return a == OP_ACT_RELU ? (u > 0 ? u : 0) : erf(u);
}

static double mc_check(op_activation a, int depth, int N, int R, int P,
                       int d, const double *x)
{
    double sw2 = 1.6, sb2 = 0.1;
    op_kernel_spec s = make_spec(a, OP_PARAM_NTK, sw2, sb2, depth, 0, d);
    double *ref = malloc(sizeof(double) * P * P);
    op_kernel_ref(&s, x, P, x, P, ref, NULL);
    double *sum = calloc((size_t)P * P, sizeof(double));
    double *sum2 = calloc((size_t)P * P, sizeof(double));
    double *h = malloc(sizeof(double) * (size_t)P * N);
    double *h2 = malloc(sizeof(double) * (size_t)P * N);
    double *w = malloc(sizeof(double) * (size_t)N);
    for (int r = 0; r < R; r++) {
        op_rng rng;
        op_rng_derive(&rng, 77, OP_STREAM_INIT, (uint64_t)r,
                      (uint64_t)(depth * 2 + (int)a));
        double sdw = sqrt(sw2 / d), sdb = sqrt(sb2);
        for (int j = 0; j < N; j++) {
            for (int c = 0; c < d; c++)
                w[c] = sdw * op_rng_normal(&rng);
            double b = sdb * op_rng_normal(&rng);
            for (int p = 0; p < P; p++)
                h[(size_t)p * N + j] = act(a, op_test_dot(w, x + p * d, d) + b);
        }
        for (int l = 1; l < depth; l++) {
            double sd = sqrt(sw2 / N);
            for (int j = 0; j < N; j++) {
                for (int c = 0; c < N; c++)
                    w[c] = sd * op_rng_normal(&rng);
                double b = sdb * op_rng_normal(&rng);
                for (int p = 0; p < P; p++)
                    h2[(size_t)p * N + j] =
                        act(a, op_test_dot(w, h + (size_t)p * N, N) + b);
            }
            double *t = h;
            h = h2;
            h2 = t;
        }
        for (int p = 0; p < P; p++)
            for (int q = 0; q < P; q++) {
                double k = sw2 * op_test_dot(h + (size_t)p * N, h + (size_t)q * N, N) /
                               N + sb2;
                sum[p * P + q] += k;
                sum2[p * P + q] += k * k;
            }
    }
    double zmax = 0, relmax = 0;
    for (int i = 0; i < P * P; i++) {
        double m = sum[i] / R;
        double var = (sum2[i] / R - m * m) * R / (R - 1);
        double se = sqrt(fmax(var, 0) / R);
        double z = fabs(m - ref[i]) / (se + 1e-300);
        zmax = fmax(zmax, z);
        relmax = fmax(relmax, fabs(m - ref[i]) / fabs(ref[i]));
    }
    printf("MC %s depth %d width %d nets %d: max |z| = %.2f, max rel diff "
           "%.2e\n", a == OP_ACT_RELU ? "relu" : "erf", depth, N, R, zmax,
           relmax);
    free(ref);
    free(sum);
    free(sum2);
    free(h);
    free(h2);
    free(w);
    return zmax;
}

/* The batched column recursion (the distributed build's path) against
 * op_kernel_elem over the whole range of input cosines, both sides of the
 * polynomial's |cos| = 1/2 switch, cos = +-1, and a zero-variance point,
 * for both activations and parameterizations. Entries are compared
 * relative to the column's largest one (what the distributed tests
 * check); near |cos| = 1 the acos singularity amplifies a one-ulp
 * difference in cos, which bounds the tolerance there. */
START_TEST(column_matches_elem)
{
    enum { M = 4003, D = 16, L = 3 };
    double x[2][D];
    op_rng r;
    op_rng_derive(&r, 9, 0, 0, 0);
    for (int c = 0; c < D; c++) {
        x[0][c] = op_rng_normal(&r);
        x[1][c] = op_rng_normal(&r);
    }
    double worst = 0, worst_far = 0;
    for (int a = 0; a < 2; a++)
        for (int p = 0; p < 2; p++)
            for (int zero = 0; zero < 2; zero++) {
                op_kernel_spec spec =
                    make_spec(a ? OP_ACT_ERF : OP_ACT_RELU,
                              p ? OP_PARAM_STANDARD : OP_PARAM_NTK, 1.7,
                              zero ? 0.0 : 0.2, L, 32, D);
                /* Row points: x0 scaled by 1 or, for the zero-variance
                 * case, 0 (sb2 = 0 then keeps every layer's variance 0). */
                double xr[D], xc[D], qr[L + 1], qc[L + 1];
                for (int c = 0; c < D; c++) {
                    xr[c] = zero ? 0.0 : x[0][c];
                    xc[c] = x[1][c];
                }
                op_kernel_diag(&spec, xr, 1, D, qr);
                op_kernel_diag(&spec, xc, 1, D, qc);
                /* All rows are the same point with different Gram values
                 * k0 = cos * sqrt(g_r g_c)/d, cos in [-1, 1]. */
                double *q = malloc(sizeof(double) * M * (L + 1));
                double *f = malloc(sizeof(double) * OP_KERNEL_NFACT * L * M);
                double fc[OP_KERNEL_NFACT * L], S[M], T[M];
                for (int i = 0; i < M; i++)
                    memcpy(q + i * (L + 1), qr, sizeof qr);
                op_kernel_factors(&spec, q, M, f, M);
                op_kernel_factors(&spec, qc, 1, fc, 1);
                double norm = sqrt(op_test_dot(xr, xr, D) * op_test_dot(xc, xc, D)) / D;
                for (int i = 0; i < M; i++)
                    S[i] = (-1.0 + 2.0 * i / (M - 1)) * norm;
                double k0[M];
                memcpy(k0, S, sizeof k0);
                op_kernel_column(&spec, M, f, M, fc, S, T);
                double big = 0;
                for (int i = 0; i < M; i++)
                    big = fmax(big, fmax(fabs(S[i]), fabs(T[i])));
                for (int i = 0; i < M; i++) {
                    double en, et;
                    op_kernel_elem(&spec, k0[i], qr, qc, &en, &et);
                    double e = fmax(fabs(en - S[i]), fabs(et - T[i])) / big;
                    worst = fmax(worst, e);
                    double cs = -1.0 + 2.0 * i / (M - 1);
                    if (fabs(cs) < 0.999)
                        worst_far = fmax(worst_far, e);
                }
                free(q);
                free(f);
            }
    printf("column vs elem: max rel diff %.2e (|cos| < 0.999: %.2e)\n", worst,
           worst_far);
    ck_assert(worst_far < 1e-14);
    ck_assert(worst < 1e-12);
}
END_TEST

START_TEST(monte_carlo_nngp)
{
    int P = 4, d = 5;
    double *x = rand_x(5, P, d);
    for (int a = 0; a < 2; a++) {
        op_activation ac = a ? OP_ACT_ERF : OP_ACT_RELU;
        ck_assert(mc_check(ac, 1, 4096, 32, P, d, x) < 4.0);
        ck_assert(mc_check(ac, 2, 4096, 8, P, d, x) < 4.0);
    }
    free(x);
}
END_TEST

static void fill_y(uint64_t seed, int n, int k, double *y, int *label)
{
    op_rng r;
    op_rng_derive(&r, seed, OP_STREAM_NOISE, 0, 0);
    for (int i = 0; i < n; i++) {
        label[i] = (int)op_rng_below(&r, (uint64_t)k);
        for (int c = 0; c < k; c++)
            y[i * k + c] = c == label[i];
    }
}

START_TEST(regression_large_ridge)
{
    int n = 20, nt = 7, d = 5, k = 3;
    double *x = rand_x(6, n, d), *xt = rand_x(7, nt, d);
    op_kernel_spec s = make_spec(OP_ACT_RELU, OP_PARAM_NTK, 2, 0.1, 2, 0, d);
    double K[400], Kt[140], y[60], pred[21], base[21];
    int label[20];
    fill_y(1, n, k, y, label);
    op_kernel_ref(&s, x, n, x, n, NULL, K);
    op_kernel_ref(&s, xt, nt, x, n, NULL, Kt);
    double eps = 1e9;
    ck_assert_int_eq(op_kernel_ref_regress(K, n, Kt, nt, y, k, eps, pred), 0);
    for (int i = 0; i < nt; i++)
        for (int c = 0; c < k; c++) {
            double sacc = 0;
            for (int j = 0; j < n; j++)
                sacc += Kt[i * n + j] * y[j * k + c];
            base[i * k + c] = sacc / eps;
            ck_assert(op_close(pred[i * k + c], base[i * k + c], 1e-6, 0));
        }
    free(x);
    free(xt);
}
END_TEST

START_TEST(gd_limits)
{
    int n = 20, nt = 7, d = 30, k = 3;
    double *x = rand_x(8, n, d), *xt = rand_x(9, nt, d);
    op_kernel_spec s = make_spec(OP_ACT_ERF, OP_PARAM_NTK, 2, 0.1, 2, 0, d);
    double K[400], Kt[140], y[60], ridgeless[21], w[20];
    int label[20];
    fill_y(2, n, k, y, label);
    op_kernel_ref(&s, x, n, x, n, NULL, K);
    op_kernel_ref(&s, xt, nt, x, n, NULL, Kt);
    ck_assert_int_eq(op_kernel_ref_regress(K, n, Kt, nt, y, k, 0, ridgeless),
                     0);
    op_kernel_ref_eig(K, n, w);
    double times[3] = {0.0, 60.0 * n / w[n - 1], INFINITY};
    double pred[3 * 21];
    op_kernel_ref_gd(K, n, Kt, nt, y, k, times, 3, pred);
    double scale = 0, d0 = 0, d1 = 0, d2 = 0;
    for (int i = 0; i < nt * k; i++) {
        scale = fmax(scale, fabs(ridgeless[i]));
        d0 = fmax(d0, fabs(pred[i]));
        d1 = fmax(d1, fabs(pred[21 + i] - ridgeless[i]));
        d2 = fmax(d2, fabs(pred[42 + i] - ridgeless[i]));
    }
    printf("GD: |f_0| %.1e, |f_T - ridgeless| %.1e, |f_inf - ridgeless| "
           "%.1e (scale %.2f, cond %.1e)\n", d0, d1, d2, scale,
           w[0] / w[n - 1]);
    ck_assert(d0 == 0.0);
    ck_assert(d1 < 1e-7 * scale && d2 < 1e-7 * scale);
    double mse, acc;
    op_kernel_metrics(ridgeless, y, label, n < nt ? n : nt, k, &mse, &acc);
    ck_assert(isfinite(mse) && acc >= 0 && acc <= 1);
    free(x);
    free(xt);
}
END_TEST

START_TEST(not_positive_definite)
{
    int n = 10, d = 3, k = 2;
    double *x = rand_x(10, n, d);
    op_kernel_spec s = make_spec(OP_ACT_RELU, OP_PARAM_NTK, 2, 0.0, 1, 0, d);
    double K[100], y[20], pred[20];
    int label[10];
    fill_y(3, n, k, y, label);
    op_kernel_ref(&s, x, n, x, n, K, NULL);
    /* d = 3 < n: the depth-1 ReLU NNGP without bias is close to singular;
     * a negative shift makes it indefinite for sure. */
    ck_assert(op_kernel_ref_regress(K, n, K, n, y, k, -10.0, pred) > 0);
    ck_assert(isnan(pred[0]));
    free(x);
}
END_TEST

START_TEST(powerlaw)
{
    int n = 1000;
    double *w = malloc(sizeof(double) * n);
    float *wf = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        w[i] = 3.0 * pow(i + 1.0, -1.5);
        wf[i] = (float)w[i];
    }
    double e, p;
    int lo, hi;
    op_kernel_powerlaw_fit(w, n, &e, &p, &lo, &hi);
    ck_assert(op_close(e, 1.5, 1e-10, 0) && op_close(p, 3.0, 1e-9, 0));
    ck_assert_int_eq(lo, 10);
    ck_assert_int_eq(hi, 500);
    op_kernel_powerlaw_fit_f(wf, n, &e, &p, NULL, NULL);
    ck_assert(op_close(e, 1.5, 1e-5, 0));
    free(w);
    free(wf);
}
END_TEST

START_TEST(spec_rejects)
{
    op_kernel_cfg c = make_cfg(OP_ACT_TANH, OP_PARAM_NTK, 1, 0);
    op_kernel_spec s;
    ck_assert_int_eq(op_kernel_spec_init(&s, &c, 1, 10, 3), OP_ERR_INPUT);
    c = make_cfg(OP_ACT_RELU, OP_PARAM_STANDARD, 1, 0);
    ck_assert_int_eq(op_kernel_spec_init(&s, &c, 1, 0, 3), OP_ERR_INPUT);
}
END_TEST


/* The ReLU NNGP/NTK recursion in quad precision (libquadmath, 113-bit) from
 * the same double inputs the code gets: the Gram values k0 = x.x'/d and
 * the points' own g = x.x/d. The reference for inputs whose angle is tiny,
 * where acos(c/sqrt(q1 q2)) loses digits to the rounding of the cosine. */
static void relu_quad(const op_kernel_spec *sp, double k0, double g1,
                      double g2, double *nngp, double *ntk)
{
    __float128 sw2 = sp->sigma_w2, sb2 = sp->sigma_b2, pi = M_PIq;
    int standard = sp->param == OP_PARAM_STANDARD;
    __float128 bias = sp->sigma_b2 > 0 ? 1 : 0;
    __float128 q1 = sw2 * g1 + sb2, q2 = sw2 * g2 + sb2;
    __float128 s = sw2 * (__float128)k0 + sb2;
    __float128 th = standard ? sp->d * (__float128)k0 + bias : s;
    for (int l = 0; l < sp->depth; l++) {
        __float128 nq = sqrtq(q1 * q2), cs = s / nq;
        if (cs > 1) cs = 1;
        __float128 ang = acosq(cs), sn = sqrtq(1 - cs * cs);
        __float128 t = nq * (sn + (pi - ang) * cs) / (2 * pi);
        __float128 td = (pi - ang) / (2 * pi);
        /* the diagonals: cos = 1 */
        q1 = sw2 * (q1 / 2) + sb2;
        q2 = sw2 * (q2 / 2) + sb2;
        s = sw2 * t + sb2;
        th = standard ? sp->width * t + sw2 * td * th + bias
                      : s + sw2 * td * th;
    }
    *nngp = (double)s;
    *ntk = (double)th;
}

/* Nearly parallel inputs (x' = x + eps z, eps down to 1e-7, angles down
 * to ~1e-7 rad): the scalar (op_kernel_elem) and the vectorized
 * (op_kernel_column) ReLU kernels against the quad-precision recursion of
 * the same double inputs, depths 1-3, both parameterizations. */
START_TEST(relu_near_collinear_accuracy)
{
    enum { D = 64, L = 3, NE = 6 };
    double *x = rand_x(71, 2, D);
    double worst_elem = 0, worst_col = 0;
    for (int p = 0; p < 2; p++)
        for (int depth = 1; depth <= L; depth++) {
            op_kernel_spec spec = make_spec(OP_ACT_RELU,
                                            p ? OP_PARAM_STANDARD : OP_PARAM_NTK,
                                            2.0, 0.1, depth, 32, D);
            double xc[D], qc[L + 1], qr[NE][L + 1], k0[NE], g[NE];
            memcpy(xc, x, sizeof xc);
            op_kernel_diag(&spec, xc, 1, D, qc);
            double gc = op_test_dot(xc, xc, D) / D;
            for (int e = 0; e < NE; e++) {
                double eps = pow(10.0, -2.0 - e), xr[D];
                for (int c = 0; c < D; c++)
                    xr[c] = x[c] + eps * x[D + c];
                op_kernel_diag(&spec, xr, 1, D, qr[e]);
                k0[e] = op_test_dot(xr, xc, D) / D;
                g[e] = op_test_dot(xr, xr, D) / D;
            }
            double f[OP_KERNEL_NFACT * L * NE], fc[OP_KERNEL_NFACT * L];
            double S[NE], T[NE], q[NE * (L + 1)];
            for (int e = 0; e < NE; e++)
                memcpy(q + e * (depth + 1), qr[e], sizeof(double) * (depth + 1));
            op_kernel_factors(&spec, q, NE, f, NE);
            op_kernel_factors(&spec, qc, 1, fc, 1);
            memcpy(S, k0, sizeof S);
            op_kernel_column(&spec, NE, f, NE, fc, S, T);
            for (int e = 0; e < NE; e++) {
                double rn, rt, en, et;
                relu_quad(&spec, k0[e], g[e], gc, &rn, &rt);
                op_kernel_elem(&spec, k0[e], qr[e], qc, &en, &et);
                worst_elem = fmax(worst_elem, fmax(fabs(en - rn) / rn,
                                                   fabs(et - rt) / rt));
                worst_col = fmax(worst_col, fmax(fabs(S[e] - rn) / rn,
                                                 fabs(T[e] - rt) / rt));
            }
        }
    printf("near-collinear ReLU vs quad precision: elem max rel %.2e, "
           "column max rel %.2e\n", worst_elem, worst_col);
    ck_assert(worst_elem < 1e-14);
    ck_assert(worst_col < 1e-14);
    free(x);
}
END_TEST

static Suite *kernel_suite(void)
{
    Suite *s = suite_create("kernel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, relu_one_layer_closed_form);
    tcase_add_test(tc, erf_one_layer_closed_form);
    tcase_add_test(tc, standard_param_ntk_depth1);
    tcase_add_test(tc, symmetric_psd);
    tcase_add_test(tc, column_matches_elem);
    tcase_add_test(tc, relu_near_collinear_accuracy);
    tcase_add_test(tc, monte_carlo_nngp);
    tcase_add_test(tc, regression_large_ridge);
    tcase_add_test(tc, gd_limits);
    tcase_add_test(tc, not_positive_definite);
    tcase_add_test(tc, powerlaw);
    tcase_add_test(tc, spec_rejects);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(kernel_suite)
