/* test_readout.c — networks as neural-tangents writes them: the readout
 * layer's own variances (sigma_w2_last, sigma_b2_last), a trained bias
 * initialized at zero (bias = on) as distinct from no bias, and the
 * gradient-descent time conventions.
 *
 * The analytic kernels are checked against depth-1 ReLU closed forms
 * written out here (both parameterizations, both kernel paths), and against
 * the networks themselves: at depth 1 the first layer's pre-activations are
 * exactly Gaussian at any width, so the mean over initializations of the
 * empirical NTK (J J^T) and of f(x) f(x') equals the analytic NTK and NNGP
 * exactly, and a small net averaged over many seeds resolves terms as small
 * as the +1 a zero-initialized readout bias adds in standard
 * parameterization. Depth 2 is checked on wide nets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/job.h"
#include "overparam/kernel.h"
#include "overparam/measure.h"
#include "overparam/net.h"
#include "overparam/rng.h"
#include "testutil.h"

#define PI 3.14159265358979323846

/* A network/kernel pair: hidden (sw2, sb2), readout (wl, bl), bias mode. */
typedef struct {
    double sw2, sb2, wl, bl;
    int bias;
} arch;

static double *rand_x(uint64_t seed, int n, int d)
{
    op_rng r;
    op_rng_derive(&r, seed, OP_STREAM_DATA, 0, 0);
    double *x = malloc(sizeof(double) * (size_t)n * d);
    for (int i = 0; i < n * d; i++)
        x[i] = op_rng_normal(&r);
    return x;
}

static op_kernel_spec arch_spec(const arch *a, op_parameterization param,
                                int depth, int width, int d)
{
    op_kernel_cfg c;
    memset(&c, 0, sizeof c);
    c.activation = OP_ACT_RELU;
    c.param = param;
    c.sigma_w2 = a->sw2;
    c.sigma_b2 = a->sb2;
    c.sigma_w2_last = a->wl;
    c.sigma_b2_last = a->bl;
    c.last_set = 1;
    c.bias = a->bias;
    c.ntk = c.nngp = 1;
    op_kernel_spec s;
    ck_assert_int_eq(op_kernel_spec_init(&s, &c, depth, width, d), OP_OK);
    return s;
}

static op_model_cfg arch_model(const arch *a, op_parameterization param,
                               int depth, int width)
{
    op_model_cfg m = {.activation = OP_ACT_RELU, .param = param,
                      .width = width, .depth = depth, .sigma_w2 = a->sw2,
                      .sigma_b2 = a->sb2, .sigma_w2_last = a->wl,
                      .sigma_b2_last = a->bl, .last_set = 1, .bias = a->bias,
                      .init_scale = 1, .init_scale_first = 1,
                      .init_scale_last = 1};
    return m;
}

/* Depth-1 ReLU NNGP and NTK written out (neural-tangents' Dense rules):
 * hidden Dense (w0, b0, bias term B0), ReLU, readout Dense (wl, bl, BL). */
static void closed_depth1(const arch *a, op_parameterization param,
                          int width, int d, const double *x1,
                          const double *x2, double *nngp, double *ntk)
{
    int B0 = a->bias == OP_BIAS_ON || (a->bias == OP_BIAS_AUTO && a->sb2 > 0);
    int BL = a->bias == OP_BIAS_ON || (a->bias == OP_BIAS_AUTO && a->bl > 0);
    double b0 = B0 ? a->sb2 : 0, bl = BL ? a->bl : 0;
    double k0 = op_test_dot(x1, x2, d) / d;
    double q1 = a->sw2 * op_test_dot(x1, x1, d) / d + b0;
    double q2 = a->sw2 * op_test_dot(x2, x2, d) / d + b0;
    double c = a->sw2 * k0 + b0;
    /* a point with itself: the angle is exactly 0 (the square root's
     * singularity at cos = 1 would turn rounding into 1e-9 errors) */
    double th = x1 == x2 ? 0.0 : atan2(sqrt(fmax(q1 * q2 - c * c, 0.0)), c);
    double T = sqrt(q1 * q2) * (sin(th) + (PI - th) * cos(th)) / (2 * PI);
    double Td = (PI - th) / (2 * PI);
    *nngp = a->wl * T + bl;
    if (param == OP_PARAM_NTK)
        *ntk = (a->wl * T + bl) + a->wl * Td * c;
    else
        *ntk = width * T + a->wl * Td * (d * k0 + B0) + BL;
}

static const arch cases[] = {
    /* neural-tangents' example: Dense(W_std=sqrt 2, b_std=0.1) hidden,
     * Dense(W_std=1) readout with a zero-initialized bias (b_std = 0.) */
    {2.0, 0.01, 1.0, 0.0, OP_BIAS_ON},
    /* the same readout without a bias (b_std = None) */
    {2.0, 0.01, 1.0, 0.0, OP_BIAS_AUTO},
    {1.5, 0.2, 0.7, 0.3, OP_BIAS_AUTO},
    {2.0, 0.0, 3.0, 0.5, OP_BIAS_AUTO}, /* a readout bias only */
    {2.0, 0.0, 1.0, 0.0, OP_BIAS_ON},   /* zero-initialized biases only */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

START_TEST(closed_form_depth1)
{
    enum { N = 7, D = 5, W = 40 };
    double *x = rand_x(11, N, D);
    double worst = 0;
    for (int p = 0; p < 2; p++)
        for (int ci = 0; ci < N_CASES; ci++) {
            op_parameterization param = p ? OP_PARAM_STANDARD : OP_PARAM_NTK;
            op_kernel_spec s = arch_spec(&cases[ci], param, 1, W, D);
            double K[N * N], T[N * N];
            op_kernel_ref(&s, x, N, x, N, K, T);
            /* the vectorized path the distributed build takes */
            double q[N * 2], f[OP_KERNEL_NFACT * N], fc[OP_KERNEL_NFACT];
            op_kernel_diag(&s, x, N, D, q);
            op_kernel_factors(&s, q, N, f, N);
            for (int j = 0; j < N; j++) {
                op_kernel_factors(&s, q + j * 2, 1, fc, 1);
                double S[N], Tc[N];
                for (int i = 0; i < N; i++)
                    S[i] = op_test_dot(x + i * D, x + j * D, D) / D;
                op_kernel_column(&s, N, f, N, fc, S, Tc);
                for (int i = 0; i < N; i++) {
                    double nngp, ntk;
                    closed_depth1(&cases[ci], param, W, D, x + i * D,
                                  x + j * D, &nngp, &ntk);
                    double e[4] = {K[i * N + j] - nngp, T[i * N + j] - ntk,
                                   i == j ? 0 : S[i] - nngp,
                                   i == j ? 0 : Tc[i] - ntk};
                    for (int k = 0; k < 4; k++) {
                        double r = fabs(e[k]) / fmax(fabs(k % 2 ? ntk : nngp),
                                                     1e-300);
                        worst = fmax(worst, r);
                        if (!(r < 1e-12))
                            ck_abort_msg("case %d param %d entry %d,%d "
                                         "path %d: rel err %.3g", ci, p, i,
                                         j, k, r);
                    }
                }
            }
        }
    printf("readout closed forms (depth 1, 5 cases x 2 parameterizations, "
           "scalar and column paths): worst rel err %.2e\n", worst);
    free(x);
}
END_TEST

START_TEST(same_is_bitwise_the_old_kernel)
{
    /* "same" (-1), a zeroed spec (last_set = 0), the hidden values written
     * out, and bias = on where every variance is > 0: one kernel, to the
     * bit, in both parameterizations and at depths 1-3. */
    enum { N = 6, D = 4 };
    double *x = rand_x(12, N, D);
    for (int p = 0; p < 2; p++)
        for (int depth = 1; depth <= 3; depth++) {
            op_parameterization param = p ? OP_PARAM_STANDARD : OP_PARAM_NTK;
            arch same = {1.7, 0.2, -1, -1, OP_BIAS_AUTO};
            arch spelled = {1.7, 0.2, 1.7, 0.2, OP_BIAS_AUTO};
            arch on = {1.7, 0.2, -1, -1, OP_BIAS_ON};
            op_kernel_spec s[4] = {arch_spec(&same, param, depth, 16, D),
                                   arch_spec(&spelled, param, depth, 16, D),
                                   arch_spec(&on, param, depth, 16, D),
                                   arch_spec(&same, param, depth, 16, D)};
            s[3].last_set = 0;
            s[3].sigma_w2_last = s[3].sigma_b2_last = 0;
            double K[4][N * N], T[4][N * N];
            for (int v = 0; v < 4; v++)
                op_kernel_ref(&s[v], x, N, x, N, K[v], T[v]);
            for (int v = 1; v < 4; v++) {
                ck_assert(!memcmp(K[0], K[v], sizeof K[0]));
                ck_assert(!memcmp(T[0], T[v], sizeof T[0]));
            }
        }
    free(x);
}
END_TEST

START_TEST(net_layers_follow_the_rule)
{
    /* The network's layout and multipliers: NT's example net in standard
     * parameterization has a readout bias that starts at exactly zero, in
     * ntk parameterization one whose multiplier is zero; bias = auto with
     * sigma_b2_last = 0 has no readout bias at all. */
    arch on = cases[0], none = cases[1];
    for (int p = 0; p < 2; p++) {
        op_parameterization param = p ? OP_PARAM_STANDARD : OP_PARAM_NTK;
        op_model_cfg m1 = arch_model(&on, param, 2, 8);
        op_model_cfg m2 = arch_model(&none, param, 2, 8);
        op_net a = {0}, b = {0};
        ck_assert_int_eq(op_net_setup(&a, &m1, 3, 2, 8, 4, 0), OP_OK);
        ck_assert_int_eq(op_net_setup(&b, &m2, 3, 2, 8, 4, 0), OP_OK);
        ck_assert_int_eq(a.n_total - b.n_total, 2); /* the readout's b */
        ck_assert_int_eq(op_net_param_count(&m1, 3, 2), a.n_train);
        ck_assert(a.b_off[2] >= 0 && b.b_off[2] == -1 && b.b_off[1] >= 0);
        ck_assert(b.has_bias && a.has_bias);
        op_rng r;
        op_rng_derive(&r, 5, 6, 7, 8);
        op_net_init_params(&a, &r);
        double *pa = malloc(sizeof(double) * (size_t)a.n_total);
        op_net_params_copy(&a, pa);
        double wl = p ? 1.0 : sqrt(1.0 / 8), bl = p ? 1.0 : 0.0;
        ck_assert(fabs(a.wmul[2] - wl) < 1e-15 && a.bmul[2] == bl);
        if (param == OP_PARAM_STANDARD) {
            ck_assert(a.init_std_b[2] == 0);
            ck_assert(pa[a.b_off[2]] == 0 && pa[a.b_off[2] + 1] == 0);
            ck_assert(fabs(a.init_std_w[2] - sqrt(1.0 / 8)) < 1e-15);
            ck_assert(fabs(a.init_std_w[1] - sqrt(2.0 / 8)) < 1e-15);
            ck_assert(fabs(a.init_std_b[1] - 0.1) < 1e-15);
        }
        free(pa);
        op_net_free(&a);
        op_net_free(&b);
    }
}
END_TEST

/* Relative Frobenius distance of a from b, n x n. */
static double rel_fro(const double *a, const double *b, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n * n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

/* Means over `seeds` initializations of a depth-`depth` net of the
 * empirical NTK J J^T (output 0) and of f(x) f(x')^T (output 0). */
static void empirical_means(const arch *a, op_parameterization param,
                            int depth, int width, const double *x, int n,
                            int d, int seeds, double *ntk, double *nngp)
{
    op_model_cfg m = arch_model(a, param, depth, width);
    op_net net = {0};
    ck_assert_int_eq(op_net_setup(&net, &m, d, 1, 8, n, 0), OP_OK);
    double *jb = malloc(sizeof(double) * op_measure_ntk_work(&net, n, n));
    double *th = malloc(sizeof(double) * (size_t)n * n);
    double *f = malloc(sizeof(double) * (size_t)n);
    memset(ntk, 0, sizeof(double) * (size_t)n * n);
    memset(nngp, 0, sizeof(double) * (size_t)n * n);
    for (int s = 0; s < seeds; s++) {
        op_rng r;
        op_rng_derive(&r, 1000 + (uint64_t)s, OP_STREAM_KERNEL,
                      (uint64_t)depth, (uint64_t)width);
        op_net_init_params(&net, &r);
        op_measure_ntk(&net, x, n, 0, n, jb, th);
        op_net_predict(&net, x, n, f);
        for (int i = 0; i < n * n; i++) {
            ntk[i] += th[i] / seeds;
            nngp[i] += f[i / n] * f[i % n] / seeds;
        }
    }
    free(jb);
    free(th);
    free(f);
    op_net_free(&net);
}

START_TEST(depth1_networks_average_to_the_kernel)
{
    /* Narrow nets (width 8), many seeds: the means are unbiased at any
     * width, so what is left is Monte-Carlo error, ~1/sqrt(seeds*width)
     * for the NTK and ~sqrt(2/seeds) for the NNGP. Each check also names
     * the kernel it must NOT match: the readout variance or bias ignored. */
    enum { N = 6, D = 4, W = 8, SEEDS = 4000 };
    double *x = rand_x(13, N, D);
    static double ntk[N * N], nngp[N * N], K[N * N], T[N * N], K2[N * N],
        T2[N * N];
    for (int p = 0; p < 2; p++) {
        op_parameterization param = p ? OP_PARAM_STANDARD : OP_PARAM_NTK;
        for (int ci = 0; ci < N_CASES; ci++) {
            const arch *a = &cases[ci];
            empirical_means(a, param, 1, W, x, N, D, SEEDS, ntk, nngp);
            op_kernel_spec s = arch_spec(a, param, 1, W, D);
            op_kernel_ref(&s, x, N, x, N, K, T);
            double en = rel_fro(ntk, T, N), eg = rel_fro(nngp, K, N);
            /* the rival: readout = hidden, or the bias rule flipped */
            arch rival = *a;
            if (ci == 0 || ci == 4)
                rival.bias = OP_BIAS_AUTO; /* drop the zero-init biases */
            else
                rival.wl = rival.bl = -1;  /* "same" */
            op_kernel_spec sr = arch_spec(&rival, param, 1, W, D);
            op_kernel_ref(&sr, x, N, x, N, K2, T2);
            double rn = rel_fro(ntk, T2, N), rg = rel_fro(nngp, K2, N);
            printf("depth 1 %-8s case %d: NTK rel err %.4f (rival %.4f), "
                   "NNGP %.4f (rival %.4f)\n", p ? "standard" : "ntk", ci,
                   en, rn, eg, rg);
            ck_assert_msg(en < 0.03, "NTK case %d param %d: %g", ci, p, en);
            ck_assert_msg(eg < 0.06, "NNGP case %d param %d: %g", ci, p, eg);
            /* which rival differs: zero-init biases change the NTK in
             * standard parameterization only (in ntk their multiplier is
             * 0); the readout variances change both kernels */
            if (ci == 0 || ci == 4) {
                if (param == OP_PARAM_STANDARD)
                    ck_assert_msg(rn > 3 * en, "case %d: %g vs %g", ci, rn,
                                  en);
                else
                    ck_assert(!memcmp(T, T2, sizeof T));
            } else {
                ck_assert_msg(rn > 3 * en && rg > 3 * eg,
                              "case %d param %d: rival %g %g, own %g %g", ci,
                              p, rn, rg, en, eg);
            }
        }
    }
    free(x);
}
END_TEST

START_TEST(depth2_wide_networks_approach_the_kernel)
{
    /* NT's example net at depth 2, ntk parameterization: the empirical NTK
     * of one wide net approaches the readout-aware kernel as the width
     * grows, and stays far from the kernel that ignores the readout. */
    enum { N = 10, D = 4, SEEDS = 3 };
    double *x = rand_x(14, N, D);
    static double ntk[N * N], nngp[N * N], K[N * N], T[N * N], K2[N * N],
        T2[N * N];
    const arch *a = &cases[0];
    arch rival = *a;
    rival.wl = rival.bl = -1;
    op_kernel_spec s = arch_spec(a, OP_PARAM_NTK, 2, 0, D);
    op_kernel_spec sr = arch_spec(&rival, OP_PARAM_NTK, 2, 0, D);
    op_kernel_ref(&s, x, N, x, N, K, T);
    op_kernel_ref(&sr, x, N, x, N, K2, T2);
    int widths[2] = {32, 512};
    double err[2];
    for (int w = 0; w < 2; w++) {
        empirical_means(a, OP_PARAM_NTK, 2, widths[w], x, N, D, SEEDS, ntk,
                        nngp);
        err[w] = rel_fro(ntk, T, N);
        double rn = rel_fro(ntk, T2, N);
        printf("depth 2 width %4d: NTK rel err %.4f (readout ignored: "
               "%.4f)\n", widths[w], err[w], rn);
        if (w == 1)
            ck_assert(rn > 3 * err[w]);
    }
    ck_assert(err[1] < err[0] / 2);
    free(x);
}
END_TEST

START_TEST(time_conventions)
{
    /* neural-tangents' time t (flow on the loss averaged over n*k outputs)
     * is the per-sample predictor at t/k: checked against an explicit
     * Euler integration of df/dt = -(1/(n k)) K (f - y) from f = 0. */
    enum { N = 8, D = 3, K = 3 };
    double *x = rand_x(15, N, D);
    arch a = {2.0, 0.1, -1, -1, OP_BIAS_AUTO};
    op_kernel_spec s = arch_spec(&a, OP_PARAM_NTK, 1, 0, D);
    double Km[N * N], y[N * K];
    op_kernel_ref(&s, x, N, x, N, NULL, Km);
    op_rng r;
    op_rng_derive(&r, 3, 3, 3, 3);
    for (int i = 0; i < N * K; i++)
        y[i] = op_rng_normal(&r);
    ck_assert(op_kernel_flow_time(OP_TIME_PER_SAMPLE, 7.0, K) == 7.0);
    ck_assert(op_kernel_flow_time(OP_TIME_NEURAL_TANGENTS, 7.0, K) == 7.0 / K);
    ck_assert(isinf(op_kernel_flow_time(OP_TIME_NEURAL_TANGENTS, INFINITY, K)));
    double t_nt = 40.0;
    double tf = op_kernel_flow_time(OP_TIME_NEURAL_TANGENTS, t_nt, K);
    double pred[N * K];
    op_kernel_ref_gd(Km, N, Km, N, y, K, &tf, 1, pred);
    /* Euler with small steps (RK2 to keep the step error far below the
     * tolerance) */
    double f[N * K] = {0}, g[N * K], mid[N * K];
    int steps = 20000;
    double h = t_nt / steps, c = 1.0 / (N * K);
    for (int st = 0; st < steps; st++) {
        for (int i = 0; i < N; i++)
            for (int o = 0; o < K; o++) {
                double acc = 0;
                for (int j = 0; j < N; j++)
                    acc += Km[i * N + j] * (f[j * K + o] - y[j * K + o]);
                g[i * K + o] = -c * acc;
            }
        for (int i = 0; i < N * K; i++)
            mid[i] = f[i] + 0.5 * h * g[i];
        for (int i = 0; i < N; i++)
            for (int o = 0; o < K; o++) {
                double acc = 0;
                for (int j = 0; j < N; j++)
                    acc += Km[i * N + j] * (mid[j * K + o] - y[j * K + o]);
                f[i * K + o] += -h * c * acc;
            }
    }
    double worst = 0, scale = 0;
    for (int i = 0; i < N * K; i++) {
        worst = fmax(worst, fabs(pred[i] - f[i]));
        scale = fmax(scale, fabs(f[i]));
    }
    printf("time conventions: neural_tangents t = %g is per-sample t = %g; "
           "max |closed form - RK2| %.2e (scale %.2f)\n", t_nt, tf, worst,
           scale);
    ck_assert(worst < 1e-7 * scale);
    /* and the per-sample predictor at the same t has moved further */
    double pps[N * K];
    op_kernel_ref_gd(Km, N, Km, N, y, K, &t_nt, 1, pps);
    double diff = 0;
    for (int i = 0; i < N * K; i++)
        diff = fmax(diff, fabs(pps[i] - f[i]));
    ck_assert(diff > 1e-3 * scale);
    free(x);
}
END_TEST

static uint64_t key_of(const char *text, long run)
{
    op_job job;
    ck_assert_msg(op_job_load_string(&job, "k.ini", text) == OP_OK, "%s",
                  op_error_message());
    op_config c;
    op_job_config(&job, run, &c);
    op_job_free(&job);
    return c.run_key;
}

START_TEST(job_keys)
{
    op_job job;
    /* defaults: "same", auto; the readout resolves to the hidden layer */
    ck_assert_int_eq(op_job_load_string(&job, "k.ini", "[model]\nsigma_b2 = "
                                        "0.3\n[kernel]\n"), OP_OK);
    const op_model_cfg *m = &job.base.model;
    ck_assert(m->sigma_w2_last == -1 && m->sigma_b2_last == -1);
    ck_assert(m->last_set && m->bias == OP_BIAS_AUTO);
    double w2, b2;
    int hb;
    op_model_layer(m, m->depth, &w2, &b2, &hb);
    ck_assert(w2 == 2 && b2 == 0.3 && hb);
    ck_assert(job.base.kernel.time_convention == OP_TIME_PER_SAMPLE);
    op_job_free(&job);
    /* neural-tangents' example; the kernel inherits, or overrides */
    const char *nt = "[model]\nsigma_w2 = 2\nsigma_b2 = 0.01\n"
                     "sigma_w2_last = 1\nsigma_b2_last = 0\nbias = on\n"
                     "[kernel]\nsigma_w2_last = 3\n"
                     "time_convention = neural_tangents\n";
    ck_assert_int_eq(op_job_load_string(&job, "k.ini", nt), OP_OK);
    m = &job.base.model;
    const op_kernel_cfg *k = &job.base.kernel;
    op_model_layer(m, m->depth, &w2, &b2, &hb);
    ck_assert(w2 == 1 && b2 == 0 && hb);
    ck_assert(k->sigma_w2_last == 3 && k->sigma_b2_last == 0);
    ck_assert(k->bias == OP_BIAS_ON && k->last_set);
    ck_assert(k->time_convention == OP_TIME_NEURAL_TANGENTS);
    op_job_free(&job);
    /* swept: each run resolves its own readout ("same" included) */
    ck_assert_int_eq(op_job_load_string(&job, "k.ini", "[grid]\n"
                                        "sigma_w2_last = same, 0.5\n"),
                     OP_OK);
    op_config c;
    op_job_config(&job, 0, &c);
    op_model_layer(&c.model, c.model.depth, &w2, &b2, &hb);
    ck_assert(w2 == 2);
    op_job_config(&job, 1, &c);
    op_model_layer(&c.model, c.model.depth, &w2, &b2, &hb);
    ck_assert(w2 == 0.5);
    op_job_free(&job);
}
END_TEST

START_TEST(stream_keys)
{
    /* Jobs that leave the new keys alone draw the streams they drew before
     * the keys existed (values printed by the previous commit's library
     * for these two jobs), so their archives compare equal. */
    const char *j0 = "[data]\nsource = sphere\n[model]\nsigma_b2 = 0.1\n"
                     "parameterization = ntk\n[grid]\nwidth = 8, 32\n"
                     "seed = 0, 1\n";
    const char *j1 = "[data]\nsource = gaussian\n[model]\ndepth = 3\n"
                     "[train]\nlr = 0.3\n";
    ck_assert(key_of(j0, 0) == 12409696186469422145ULL);
    ck_assert(key_of(j0, 3) == 17508391413683963008ULL);
    ck_assert(key_of(j1, 0) == 11375151808395599296ULL);
    /* spelling the hidden values out, or bias = on where every layer has
     * a bias anyway, is the same network: the same streams */
    const char *base = "[data]\nsource = sphere\n[model]\nsigma_b2 = 0.1\n";
    uint64_t k0 = key_of(base, 0);
    char t[256];
    snprintf(t, sizeof t, "%ssigma_w2_last = 2\nsigma_b2_last = 0.1\n", base);
    ck_assert(key_of(t, 0) == k0);
    snprintf(t, sizeof t, "%sbias = on\n", base);
    ck_assert(key_of(t, 0) == k0);
    /* a different readout, or zero-initialized biases, is another net */
    snprintf(t, sizeof t, "%ssigma_w2_last = 1\n", base);
    ck_assert(key_of(t, 0) != k0);
    snprintf(t, sizeof t, "%ssigma_b2_last = 0\n", base);
    ck_assert(key_of(t, 0) != k0);
    const char *nob = "[data]\nsource = sphere\n";
    snprintf(t, sizeof t, "%s[model]\nbias = on\n", nob);
    ck_assert(key_of(t, 0) != key_of(nob, 0));
}
END_TEST

static Suite *readout_suite(void)
{
    Suite *s = suite_create("readout");
    TCase *tc = tcase_create("neural-tangents nets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, closed_form_depth1);
    tcase_add_test(tc, same_is_bitwise_the_old_kernel);
    tcase_add_test(tc, net_layers_follow_the_rule);
    tcase_add_test(tc, depth1_networks_average_to_the_kernel);
    tcase_add_test(tc, depth2_wide_networks_approach_the_kernel);
    tcase_add_test(tc, time_conventions);
    tcase_add_test(tc, job_keys);
    tcase_add_test(tc, stream_keys);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(readout_suite)
