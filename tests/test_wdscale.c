/* test_wdscale.c — [train] weight_decay_scaling (net.h, "Weight decay"):
 * the optimizer paths (plain SGD, momentum, the fused momentum step, Adam)
 * against the naive reference (op_net_reference's gradient plus
 * op_net_reference_decay, stepped here in double) for both
 * parameterizations and both rules; the layer-wise coefficients against
 * their closed form sigma_w2/fan_in, sigma_b2 (readout variances
 * included); an ntk net with layer-wise decay against a standard net with
 * plain L2 at a per-layer learning rate lr*wmul^2 (the equivalence the
 * rule is for); standard parameterization and weight_decay = 0 unchanged
 * bit for bit; and the job key (parsed, swept, not in the stream key).
 * Networks are built by hand (testutil.h's data fixtures). */
#include <stdio.h>
#include <string.h>

#include "overparam/job.h"
#include "overparam/net.h"
#include "testutil.h"

enum { N = 9, D = 5, K = 3, WIDTH = 7 };

static op_model_cfg mk_model(op_parameterization par, int depth, int bias,
                             int freeze)
{
    op_model_cfg m;
    memset(&m, 0, sizeof m);
    m.activation = OP_ACT_TANH;
    m.param = par;
    m.width = WIDTH;
    m.depth = depth;
    m.sigma_w2 = 1.7;
    m.sigma_b2 = bias ? 0.2 : 0;
    /* a readout with its own variances, so its factor differs */
    m.last_set = 1;
    m.sigma_w2_last = 0.6;
    m.sigma_b2_last = bias ? 0.45 : 0;
    m.init_scale = 1.0;
    m.init_scale_first = 1.0;
    m.init_scale_last = 1.0;
    m.freeze_first = freeze;
    return m;
}

static void setup(op_net *net, const op_model_cfg *m, int prec, int slots,
                  op_wd_scaling s)
{
    ck_assert_int_eq(op_net_setup(net, m, D, K, prec, N, slots), OP_OK);
    op_net_set_wd_scaling(net, s);
    op_rng r;
    op_rng_derive(&r, 5, OP_STREAM_INIT, (uint64_t)m->depth, m->param);
    op_net_init_params(net, &r);
}

/* The MSE gradient dLoss/df = (f - y)/n at the network's own forward. */
static void mse_gout(const double *f, const op_dataset *ds, double *g)
{
    for (int i = 0; i < N * K; i++)
        g[i] = (f[i] - ds->y[i]) / N;
}

/* opt: 0 plain SGD, 1 momentum (backward + step), 2 momentum fused
 * (op_net_backward_sgd), 3 Adam. Three steps of the fast path against the
 * same three steps in double from the reference gradient and decay. */
static double steps_vs_reference(int opt, op_parameterization par, int bias,
                                 int freeze, op_wd_scaling s, double wd)
{
    const double lr = 0.07, mu = 0.9, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    op_dataset ds = op_test_make_ds(N, D, K, OP_TEST_DS_REGRESS, 3);
    op_model_cfg m = mk_model(par, 2, bias, freeze);
    op_net net = {0};
    setup(&net, &m, 8, opt == 3 ? 2 : opt ? 1 : 0, s);
    long nt = net.n_total, ntr = net.n_train, off = net.train_off;
    double *p = malloc((size_t)nt * sizeof(double));
    double *g = malloc((size_t)ntr * sizeof(double));
    double *v1 = calloc((size_t)ntr, sizeof(double));
    double *v2 = calloc((size_t)ntr, sizeof(double));
    double *got = malloc((size_t)nt * sizeof(double));
    double f[N * K], gout[N * K];
    op_net_params_copy(&net, p);
    for (int t = 1; t <= 3; t++) {
        /* fast path */
        op_net_forward(&net, ds.x, NULL, N, f);
        mse_gout(f, &ds, gout);
        if (opt == 2) {
            op_net_backward_sgd(&net, gout, N, lr, mu, wd);
        } else {
            op_net_backward(&net, gout, N, 0);
            if (opt == 3)
                op_net_adam_step(&net, lr, b1, b2, eps, wd);
            else
                op_net_sgd_step(&net, lr, opt ? mu : 0, wd);
        }
        /* reference, in double */
        op_net_reference(&net, p, ds.x, N, f, NULL, NULL);
        mse_gout(f, &ds, gout);
        op_net_reference(&net, p, ds.x, N, f, gout, g);
        op_net_reference_decay(&net, p, wd, g);
        for (long i = 0; i < ntr; i++) {
            double *pi = p + off + i;
            if (opt == 3) {
                v1[i] = b1 * v1[i] + (1 - b1) * g[i];
                v2[i] = b2 * v2[i] + (1 - b2) * g[i] * g[i];
                double mh = v1[i] / (1 - pow(b1, t));
                double vh = v2[i] / (1 - pow(b2, t));
                *pi -= lr * mh / (sqrt(vh) + eps);
            } else if (opt) {
                v1[i] = mu * v1[i] + g[i];
                *pi -= lr * v1[i];
            } else {
                *pi -= lr * g[i];
            }
        }
    }
    op_net_params_copy(&net, got);
    double worst = 0;
    for (long i = 0; i < nt; i++) {
        double e = fabs(got[i] - p[i]) / (1e-3 + fabs(p[i]));
        worst = e > worst ? e : worst;
    }
    free(p);
    free(g);
    free(v1);
    free(v2);
    free(got);
    op_net_free(&net);
    op_test_free_ds(&ds, 1);
    return worst;
}

START_TEST(test_paths_vs_reference)
{
    static const char *opt_name[] = {"sgd", "momentum", "momentum fused",
                                     "adam"};
    double worst = 0;
    for (int opt = 0; opt < 4; opt++)
    for (int par = 0; par < 2; par++)
    for (int bias = 0; bias < 2; bias++)
    for (int freeze = 0; freeze < 2; freeze++)
    for (int s = 0; s < 2; s++) {
        double e = steps_vs_reference(opt, par, bias, freeze, s, 0.3);
        ck_assert_msg(e <= 1e-10, "%s %s bias %d freeze %d %s: %g",
                      opt_name[opt], par ? "ntk" : "standard", bias, freeze,
                      s ? "layerwise" : "uniform", e);
        worst = e > worst ? e : worst;
    }
    printf("decay paths vs reference (3 steps, wd 0.3): worst rel %.2e\n",
           worst);
}
END_TEST

/* The reference decay against the closed form: layer l of an ntk net is
 * decayed by wd * sigma_w2/fan_in_l on W (sigma_w2_last on the readout)
 * and wd * sigma_b2 on b; a standard net, and uniform decay, by wd. */
START_TEST(test_closed_form)
{
    const double wd = 0.25;
    for (int par = 0; par < 2; par++)
    for (int s = 0; s < 2; s++) {
        op_model_cfg m = mk_model(par, 2, 1, 0);
        op_net net = {0};
        setup(&net, &m, 8, 0, s);
        double *p = malloc((size_t)net.n_total * sizeof(double));
        double *g = calloc((size_t)net.n_train, sizeof(double));
        op_net_params_copy(&net, p);
        double pen = op_net_reference_decay(&net, p, wd, g), want_pen = 0;
        int fan_in[3] = {D, WIDTH, WIDTH};
        for (int l = 0; l < 3; l++) {
            double w2 = l == 2 ? m.sigma_w2_last : m.sigma_w2;
            double b2 = l == 2 ? m.sigma_b2_last : m.sigma_b2;
            int lw = s == OP_WD_LAYERWISE && par == OP_PARAM_NTK;
            double cw = lw ? wd * w2 / fan_in[l] : wd;
            double cb = lw ? wd * b2 : wd;
            long nw = (long)net.dims[l + 1] * net.dims[l];
            for (long i = 0; i < nw; i++) {
                long j = net.w_off[l] + i;
                ck_assert(op_close(g[j], cw * p[j], 1e-14, 0));
                want_pen += 0.5 * cw * p[j] * p[j];
            }
            for (int r = 0; r < net.dims[l + 1]; r++) {
                long j = net.b_off[l] + r;
                ck_assert(op_close(g[j], cb * p[j], 1e-14, 0));
                want_pen += 0.5 * cb * p[j] * p[j];
            }
        }
        ck_assert(op_close(pen, want_pen, 1e-13, 0));
        /* and the step: zero loss gradient, p' = p (1 - lr c) */
        memset(net.grads, 0, (size_t)net.n_train * sizeof(double));
        op_net_sgd_step(&net, 0.5, 0, wd);
        double *q = malloc((size_t)net.n_total * sizeof(double));
        op_net_params_copy(&net, q);
        for (long j = 0; j < net.n_train; j++)
            ck_assert(op_close(q[j], p[j] - 0.5 * g[j], 1e-14, 1e-300));
        free(q);
        free(p);
        free(g);
        op_net_free(&net);
    }
}
END_TEST

/* What the rule is for: an ntk net with layer-wise decay takes the step a
 * standard net with plain L2 takes on the same effective weights
 * (W = wmul W_ntk, b = bmul b_ntk) at the per-layer learning rate
 * lr * wmul_l^2 (bmul_l^2 for b_l). Uniform decay on the ntk net does not. */
START_TEST(test_ntk_layerwise_is_standard_l2)
{
    const double lr = 0.2, wd = 0.3;
    op_dataset ds = op_test_make_ds(N, D, K, OP_TEST_DS_REGRESS, 4);
    double worst[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        op_model_cfg mn = mk_model(OP_PARAM_NTK, 2, 1, 0);
        op_model_cfg ms = mk_model(OP_PARAM_STANDARD, 2, 1, 0);
        op_net ntk = {0}, std = {0};
        setup(&ntk, &mn, 8, 0, s);
        setup(&std, &ms, 8, 0, OP_WD_UNIFORM);
        long nt = ntk.n_total;
        ck_assert_int_eq(nt, std.n_total);
        double *pn = malloc((size_t)nt * sizeof(double));
        double *ps = malloc((size_t)nt * sizeof(double));
        double *gs = malloc((size_t)nt * sizeof(double));
        double f[N * K], fs[N * K], gout[N * K];
        op_net_params_copy(&ntk, pn);
        /* the standard net's parameters: the ntk net's effective ones */
        for (int l = 0; l < ntk.n_layers; l++) {
            for (long i = 0; i < (long)ntk.dims[l + 1] * ntk.dims[l]; i++)
                ps[ntk.w_off[l] + i] = ntk.wmul[l] * pn[ntk.w_off[l] + i];
            for (int r = 0; r < ntk.dims[l + 1]; r++)
                ps[ntk.b_off[l] + r] = ntk.bmul[l] * pn[ntk.b_off[l] + r];
        }
        /* one step of the ntk net, fast path */
        op_net_forward(&ntk, ds.x, NULL, N, f);
        op_net_reference(&std, ps, ds.x, N, fs, NULL, NULL);
        for (int i = 0; i < N * K; i++)
            ck_assert(op_close(f[i], fs[i], 1e-12, 1e-12)); /* same function */
        mse_gout(f, &ds, gout);
        op_net_backward(&ntk, gout, N, 0);
        op_net_sgd_step(&ntk, lr, 0, wd);
        /* one step of the standard net with plain L2, per-layer lr */
        op_net_reference(&std, ps, ds.x, N, fs, gout, gs);
        op_net_reference_decay(&std, ps, wd, gs);
        double *qn = malloc((size_t)nt * sizeof(double));
        op_net_params_copy(&ntk, qn);
        for (int l = 0; l < ntk.n_layers; l++) {
            double aw = ntk.wmul[l] * ntk.wmul[l], ab = ntk.bmul[l] * ntk.bmul[l];
            for (long i = 0; i < (long)ntk.dims[l + 1] * ntk.dims[l]; i++) {
                long j = ntk.w_off[l] + i;
                double want = ps[j] - lr * aw * gs[j];
                double e = fabs(ntk.wmul[l] * qn[j] - want) / (1e-3 + fabs(want));
                worst[s] = e > worst[s] ? e : worst[s];
            }
            for (int r = 0; r < ntk.dims[l + 1]; r++) {
                long j = ntk.b_off[l] + r;
                double want = ps[j] - lr * ab * gs[j];
                double e = fabs(ntk.bmul[l] * qn[j] - want) / (1e-3 + fabs(want));
                worst[s] = e > worst[s] ? e : worst[s];
            }
        }
        free(pn);
        free(ps);
        free(gs);
        free(qn);
        op_net_free(&ntk);
        op_net_free(&std);
    }
    printf("ntk + decay vs standard + L2 at lr*wmul^2: layerwise %.2e, "
           "uniform %.2e\n", worst[1], worst[0]);
    ck_assert_msg(worst[1] <= 1e-12, "layerwise: %g", worst[1]);
    ck_assert_msg(worst[0] > 1e-3, "uniform should differ: %g", worst[0]);
    op_test_free_ds(&ds, 1);
}
END_TEST

/* Where the rule cannot matter it changes nothing, bit for bit: standard
 * parameterization (factors 1) and weight_decay = 0, every optimizer,
 * float32 and float64, 4 steps (pack-free path: op_net_* directly). */
START_TEST(test_bitwise_where_equal)
{
    op_dataset ds = op_test_make_ds(N, D, K, OP_TEST_DS_REGRESS, 6);
    for (int prec = 4; prec <= 8; prec += 4)
    for (int opt = 0; opt < 4; opt++)
    for (int c = 0; c < 3; c++) {
        /* c: 0 standard wd 0.3, 1 ntk wd 0, 2 ntk wd 0.3 (must differ) */
        op_parameterization par = c ? OP_PARAM_NTK : OP_PARAM_STANDARD;
        double wd = c == 1 ? 0 : 0.3;
        op_model_cfg m = mk_model(par, 2, 1, 0);
        op_net a = {0}, b = {0};
        int slots = opt == 3 ? 2 : opt ? 1 : 0;
        setup(&a, &m, prec, slots, OP_WD_UNIFORM);
        setup(&b, &m, prec, slots, OP_WD_LAYERWISE);
        double f[N * K], gout[N * K];
        for (int t = 0; t < 4; t++) {
            op_net *nets[2] = {&a, &b};
            for (int w = 0; w < 2; w++) {
                op_net_forward(nets[w], ds.x, NULL, N, f);
                mse_gout(f, &ds, gout);
                if (opt == 2) {
                    op_net_backward_sgd(nets[w], gout, N, 0.05, 0.9, wd);
                    continue;
                }
                op_net_backward(nets[w], gout, N, 0);
                if (opt == 3)
                    op_net_adam_step(nets[w], 0.01, 0.9, 0.999, 1e-8, wd);
                else
                    op_net_sgd_step(nets[w], 0.05, opt ? 0.9 : 0, wd);
            }
        }
        size_t bytes = (size_t)a.n_total * (size_t)prec;
        int same = memcmp(a.params, b.params, bytes) == 0;
        ck_assert_msg(same == (c != 2), "prec %d opt %d case %d: same %d",
                      prec, opt, c, same);
        op_net_free(&a);
        op_net_free(&b);
    }
    op_test_free_ds(&ds, 1);
}
END_TEST

/* The job key: parsed, swept, recorded in each run's configuration, and
 * left out of the stream key so uniform and layerwise runs start alike. */
START_TEST(test_job_key)
{
    const char *text = "[data]\nsource = gaussian\nn_train = 8\nn_test = 4\n"
                       "[train]\nweight_decay = 1e-3\n"
                       "[grid]\nweight_decay_scaling = uniform, layerwise\n";
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", text), OP_OK);
    ck_assert_int_eq(job.n_runs, 2);
    op_config c0, c1;
    op_job_config(&job, 0, &c0);
    op_job_config(&job, 1, &c1);
    ck_assert_int_eq(c0.train.weight_decay_scaling, OP_WD_UNIFORM);
    ck_assert_int_eq(c1.train.weight_decay_scaling, OP_WD_LAYERWISE);
    ck_assert(c0.run_key == c1.run_key);
    op_job_free(&job);
    /* the default is uniform; a bad word is refused with its line */
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", "[train]\nlr = 0.1\n"),
                     OP_OK);
    op_job_config(&job, 0, &c0);
    ck_assert_int_eq(c0.train.weight_decay_scaling, OP_WD_UNIFORM);
    op_job_free(&job);
    ck_assert_int_eq(op_job_load_string(&job, "t.ini",
                                         "[train]\nweight_decay_scaling = "
                                         "perlayer\n"),
                     OP_ERR_INPUT);
    ck_assert(strstr(op_error_message(), "t.ini:2") != NULL);
    ck_assert(strstr(op_error_message(), "perlayer") != NULL);
}
END_TEST

static Suite *wdscale_suite(void)
{
    Suite *s = suite_create("wdscale");
    TCase *tc = tcase_create("wdscale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_paths_vs_reference);
    tcase_add_test(tc, test_closed_form);
    tcase_add_test(tc, test_ntk_layerwise_is_standard_l2);
    tcase_add_test(tc, test_bitwise_where_equal);
    tcase_add_test(tc, test_job_key);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(wdscale_suite)
