/* test_net.c — the network (net.c) and training (train.c): gradients
 * against finite differences and the naive reference, float32 vs float64,
 * Jacobians, and training behaviour (loss decreases, mini-batches,
 * divergence, determinism, workspace reuse, fit_epoch, curves, ensembles).
 * Data sets and layouts are built by hand, by testutil.h's fixtures
 * (data.c and result.c are not this module's). */
#include <stdio.h>
#include <string.h>

#include "overparam/net.h"
#include "overparam/train.h"
#include "testutil.h"

/* ---- hand-built fixtures ------------------------------------------------ */

static op_model_cfg mk_model(op_activation act, op_parameterization par,
                             int width, int depth, double sb2, int freeze)
{
    op_model_cfg m;
    memset(&m, 0, sizeof m);
    m.activation = act;
    m.param = par;
    m.width = width;
    m.depth = depth;
    m.sigma_w2 = 1.7;
    m.sigma_b2 = sb2;
    m.init_scale = 1.0;
    m.init_scale_first = 1.1;
    m.init_scale_last = 0.9;
    m.freeze_first = freeze;
    return m;
}

static op_config mk_cfg(int width, int depth)
{
    op_config c;
    memset(&c, 0, sizeof c);
    c.seed = 42;
    c.model = mk_model(OP_ACT_RELU, OP_PARAM_STANDARD, width, depth, 0.05, 0);
    c.model.sigma_w2 = 2.0;
    c.model.init_scale_first = c.model.init_scale_last = 1.0;
    c.train.loss = OP_LOSS_MSE;
    c.train.optimizer = OP_OPT_SGD;
    c.train.lr = 0.05;
    c.train.momentum = 0.9;
    c.train.beta1 = 0.9;
    c.train.beta2 = 0.999;
    c.train.adam_eps = 1e-8;
    c.train.epochs = 100;
    c.train.lr_decay = 1.0;
    c.train.precision = 8;
    c.train.log_every = 10;
    c.train.ensemble = 1;
    return c;
}

static const char *act_name[] = {"relu", "erf", "tanh"};

/* ---- gradients ----------------------------------------------------------- */

/* Loss of net at params p (double) on ds, mean over samples. */
static double net_loss(op_net *net, const double *p, const op_dataset *ds,
                       op_loss loss, double *f)
{
    op_net_params_load(net, p);
    op_net_forward(net, ds->x, NULL, ds->n, f);
    return op_train_loss(loss, f, ds->y, ds->n, ds->k, 1.0 / ds->n, NULL);
}

START_TEST(test_grad_fd)
{
    const int n = 5, d = 4, k = 3;
    op_dataset ds = op_test_make_ds(n, d, k, OP_TEST_DS_CLASS, 7);
    double worst = 0;
    int cases = 0;
    for (int act = 0; act < 3; act++)
    for (int par = 0; par < 2; par++)
    for (int loss = 0; loss < 2; loss++)
    for (int bias = 0; bias < 2; bias++)
    for (int depth = 1; depth <= 3; depth += 2)
    for (int freeze = 0; freeze < 2; freeze++) {
        op_model_cfg m = mk_model(act, par, 6, depth, bias ? 0.3 : 0, freeze);
        op_net net = {0};
        ck_assert_int_eq(op_net_setup(&net, &m, d, k, 8, n, 2), OP_OK);
        op_rng r;
        op_rng_derive(&r, 1, OP_STREAM_INIT, (uint64_t)cases, 0);
        op_net_init_params(&net, &r);
        ck_assert_int_eq(net.n_train, op_net_param_count(&m, d, k));
        double *p = malloc((size_t)net.n_total * sizeof(double));
        double *g = malloc((size_t)net.n_train * sizeof(double));
        double f[64], gf[64];
        op_net_params_copy(&net, p);
        op_net_forward(&net, ds.x, NULL, n, f);
        op_train_loss(loss, f, ds.y, n, k, 1.0 / n, gf);
        op_net_backward(&net, gf, n, 0);
        op_net_grads_copy(&net, g);
        double num = 0, den = 0;
        const double h = 1e-6;
        for (long j = 0; j < net.n_train; j++) {
            double *pj = p + net.train_off + j, keep = *pj;
            *pj = keep + h;
            double lp = net_loss(&net, p, &ds, loss, f);
            *pj = keep - h;
            double lm = net_loss(&net, p, &ds, loss, f);
            *pj = keep;
            double fd = (lp - lm) / (2 * h);
            num += (fd - g[j]) * (fd - g[j]);
            den += fd * fd + g[j] * g[j];
        }
        double rel = sqrt(num / (den > 0 ? den : 1));
        if (rel > worst)
            worst = rel;
        ck_assert_msg(rel < 1e-5, "%s %s %s bias=%d depth=%d freeze=%d: rel %g",
                      act_name[act], par ? "ntk" : "std",
                      loss ? "xent" : "mse", bias, depth, freeze, rel);
        free(p);
        free(g);
        op_net_free(&net);
        cases++;
    }
    printf("grad vs finite differences: %d cases, worst rel err %.2e\n",
           cases, worst);
    op_test_free_ds(&ds, 1);
}
END_TEST

START_TEST(test_reference)
{
    const int n = 7, d = 5, k = 3;
    op_dataset ds = op_test_make_ds(n, d, k, OP_TEST_DS_CLASS, 8);
    double worst_f = 0, worst_g = 0;
    for (int act = 0; act < 3; act++)
    for (int par = 0; par < 2; par++)
    for (int depth = 0; depth <= 3; depth++)
    for (int freeze = 0; freeze < 2; freeze++) {
        if (depth == 0 && freeze)
            continue; /* nothing left to train */
        op_model_cfg m = mk_model(act, par, 9, depth, 0.2, freeze);
        op_net net = {0};
        ck_assert_int_eq(op_net_setup(&net, &m, d, k, 8, 16, 0), OP_OK);
        op_rng r;
        op_rng_derive(&r, 2, OP_STREAM_INIT, (uint64_t)(act * 100 + depth), par);
        op_net_init_params(&net, &r);
        double *p = malloc((size_t)net.n_total * sizeof(double));
        double *g = malloc((size_t)net.n_train * sizeof(double));
        double *gr = malloc((size_t)net.n_train * sizeof(double));
        double f[64], fr[64], gout[64];
        for (int i = 0; i < n * k; i++)
            gout[i] = op_rng_normal(&r);
        op_net_params_copy(&net, p);
        op_net_forward(&net, ds.x, NULL, n, f);
        op_net_backward(&net, gout, n, 0);
        op_net_grads_copy(&net, g);
        op_net_reference(&net, p, ds.x, n, fr, gout, gr);
        for (int i = 0; i < n * k; i++) {
            double e = fabs(f[i] - fr[i]) / (1 + fabs(fr[i]));
            worst_f = e > worst_f ? e : worst_f;
            ck_assert(op_close(f[i], fr[i], 1e-12, 1e-12));
        }
        for (long j = 0; j < net.n_train; j++) {
            double e = fabs(g[j] - gr[j]) / (1 + fabs(gr[j]));
            worst_g = e > worst_g ? e : worst_g;
            ck_assert(op_close(g[j], gr[j], 1e-11, 1e-12));
        }
        free(p);
        free(g);
        free(gr);
        op_net_free(&net);
    }
    printf("GEMM vs reference: worst forward %.2e, worst grad %.2e\n",
           worst_f, worst_g);
    op_test_free_ds(&ds, 1);
}
END_TEST

START_TEST(test_float32)
{
    const int n = 16, d = 6, k = 4;
    op_dataset ds = op_test_make_ds(n, d, k, OP_TEST_DS_CLASS, 9);
    for (int act = 0; act < 3; act++)
    for (int par = 0; par < 2; par++) {
        op_model_cfg m = mk_model(act, par, 32, 2, 0.1, 0);
        op_net n4 = {0}, n8 = {0};
        ck_assert_int_eq(op_net_setup(&n4, &m, d, k, 4, n, 0), OP_OK);
        ck_assert_int_eq(op_net_setup(&n8, &m, d, k, 8, n, 0), OP_OK);
        op_rng r4, r8;
        op_rng_derive(&r4, 3, OP_STREAM_INIT, 0, 0);
        op_rng_derive(&r8, 3, OP_STREAM_INIT, 0, 0);
        op_net_init_params(&n4, &r4);
        op_net_init_params(&n8, &r8);
        double f4[64], f8[64], gout[64];
        op_net_forward(&n4, ds.x, NULL, n, f4);
        op_net_forward(&n8, ds.x, NULL, n, f8);
        double num = 0, den = 0;
        for (int i = 0; i < n * k; i++) {
            num += (f4[i] - f8[i]) * (f4[i] - f8[i]);
            den += f8[i] * f8[i];
            gout[i] = f8[i] - ds.y[i];
        }
        ck_assert_msg(sqrt(num / den) < 1e-5, "f32 forward rel %g",
                      sqrt(num / den));
        op_net_backward(&n4, gout, n, 0);
        op_net_backward(&n8, gout, n, 0);
        double *g4 = malloc((size_t)n8.n_train * sizeof(double));
        double *g8 = malloc((size_t)n8.n_train * sizeof(double));
        op_net_grads_copy(&n4, g4);
        op_net_grads_copy(&n8, g8);
        num = den = 0;
        for (long j = 0; j < n8.n_train; j++) {
            num += (g4[j] - g8[j]) * (g4[j] - g8[j]);
            den += g8[j] * g8[j];
        }
        ck_assert_msg(sqrt(num / den) < 1e-4, "f32 grad rel %g",
                      sqrt(num / den));
        free(g4);
        free(g8);
        op_net_free(&n4);
        op_net_free(&n8);
    }
    op_test_free_ds(&ds, 1);
}
END_TEST

/* The fused mini-batch step (gradient GEMMs into the velocity) against
 * backward + sgd_step: same operations in the same order, so the
 * parameters agree to rounding after several steps, with and without
 * weight decay, bias and a frozen first layer, in both precisions. */
START_TEST(test_backward_sgd_fused)
{
    const int n = 16, d = 6, k = 3;
    op_dataset ds = op_test_make_ds(n, d, k, OP_TEST_DS_REGRESS, 5);
    for (int prec = 4; prec <= 8; prec += 4)
    for (int act = 0; act < 3; act++)
    for (int bias = 0; bias < 2; bias++)
    for (int freeze = 0; freeze < 2; freeze++)
    for (int wdi = 0; wdi < 2; wdi++) {
        op_model_cfg m = mk_model(act, OP_PARAM_NTK, 12, 2, bias ? 0.1 : 0,
                                  freeze);
        op_net a = {0}, b = {0};
        ck_assert_int_eq(op_net_setup(&a, &m, d, k, prec, n, 1), OP_OK);
        ck_assert_int_eq(op_net_setup(&b, &m, d, k, prec, n, 1), OP_OK);
        op_rng ra, rb;
        op_rng_derive(&ra, 8, OP_STREAM_INIT, 0, 0);
        op_rng_derive(&rb, 8, OP_STREAM_INIT, 0, 0);
        op_net_init_params(&a, &ra);
        op_net_init_params(&b, &rb);
        double f[64], gout[64], wd = wdi ? 1e-2 : 0;
        for (int step = 0; step < 5; step++) {
            op_net_forward(&a, ds.x, NULL, n, f);
            for (int i = 0; i < n * k; i++)
                gout[i] = (f[i] - ds.y[i]) / n;
            op_net_backward(&a, gout, n, 0);
            op_net_sgd_step(&a, 0.05, 0.9, wd);
            op_net_forward(&b, ds.x, NULL, n, f);
            for (int i = 0; i < n * k; i++)
                gout[i] = (f[i] - ds.y[i]) / n;
            op_net_backward_sgd(&b, gout, n, 0.05, 0.9, wd);
        }
        ck_assert_int_eq(a.step, b.step);
        double *pa = malloc((size_t)a.n_total * sizeof(double));
        double *pb = malloc((size_t)a.n_total * sizeof(double));
        op_net_params_copy(&a, pa);
        op_net_params_copy(&b, pb);
        double tol = prec == 4 ? 1e-5 : 1e-13;
        for (long j = 0; j < a.n_total; j++)
            ck_assert_msg(op_close(pa[j], pb[j], tol, tol),
                          "prec %d act %d bias %d freeze %d wd %g: p[%ld] "
                          "%.17g vs %.17g", prec, act, bias, freeze, wd, j,
                          pa[j], pb[j]);
        free(pa);
        free(pb);
        op_net_free(&a);
        op_net_free(&b);
    }
    op_test_free_ds(&ds, 1);
}
END_TEST

START_TEST(test_input_jacobian)
{
    const int n = 5, d = 4, k = 3;
    op_dataset ds = op_test_make_ds(n, d, k, OP_TEST_DS_CLASS, 10);
    double worst = 0;
    for (int act = 0; act < 3; act++)
    for (int par = 0; par < 2; par++) {
        op_model_cfg m = mk_model(act, par, 7, 2, 0.1, act == 1);
        op_net net = {0};
        /* batch_max 2 < n exercises the chunking */
        ck_assert_int_eq(op_net_setup(&net, &m, d, k, 8, 2, 0), OP_OK);
        op_rng r;
        op_rng_derive(&r, 4, OP_STREAM_INIT, (uint64_t)act, (uint64_t)par);
        op_net_init_params(&net, &r);
        double J[5 * 3 * 4], x[4], fp[3], fm[3];
        op_net_input_jacobian(&net, ds.x, n, J);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) {
                const double h = 1e-6;
                memcpy(x, ds.x + i * d, sizeof x);
                x[j] += h;
                op_net_predict(&net, x, 1, fp);
                x[j] -= 2 * h;
                op_net_predict(&net, x, 1, fm);
                for (int o = 0; o < k; o++) {
                    double fd = (fp[o] - fm[o]) / (2 * h);
                    double e = fabs(fd - J[(i * k + o) * d + j]) / (1 + fabs(fd));
                    worst = e > worst ? e : worst;
                    ck_assert_msg(e < 1e-6, "input jacobian %s err %g",
                                  act_name[act], e);
                }
            }
        op_net_free(&net);
    }
    printf("input Jacobian vs finite differences: worst %.2e\n", worst);
    op_test_free_ds(&ds, 1);
}
END_TEST

/* Per-sample parameter gradients equal the reference gradient of that
 * sample's output o. */
START_TEST(test_param_jacobian)
{
    const int n = 4, d = 3, k = 2;
    op_dataset ds = op_test_make_ds(n, d, k, OP_TEST_DS_CLASS, 11);
    for (int freeze = 0; freeze < 2; freeze++) {
        op_model_cfg m = mk_model(OP_ACT_TANH, OP_PARAM_NTK, 5, 2, 0.1, freeze);
        op_net net = {0};
        ck_assert_int_eq(op_net_setup(&net, &m, d, k, 8, 3, 0), OP_OK);
        op_rng r;
        op_rng_derive(&r, 5, OP_STREAM_INIT, 0, 0);
        op_net_init_params(&net, &r);
        long P = net.n_train;
        double *J = malloc((size_t)n * P * sizeof(double));
        double *p = malloc((size_t)net.n_total * sizeof(double));
        double *gr = malloc((size_t)P * sizeof(double));
        op_net_params_copy(&net, p);
        op_net_param_jacobian(&net, ds.x, n, 1, J);
        for (int i = 0; i < n; i++) {
            double gout[2] = {0, 1}, f[2];
            op_net_reference(&net, p, ds.x + i * d, 1, f, gout, gr);
            for (long j = 0; j < P; j++)
                ck_assert(op_close(J[i * P + j], gr[j], 1e-12, 1e-12));
        }
        free(J);
        free(p);
        free(gr);
        op_net_free(&net);
    }
    op_test_free_ds(&ds, 1);
}
END_TEST

START_TEST(test_param_count)
{
    op_model_cfg m = mk_model(OP_ACT_RELU, OP_PARAM_STANDARD, 10, 2, 0.1, 0);
    /* 3*10+10 + 10*10+10 + 10*2+2 */
    ck_assert_int_eq(op_net_param_count(&m, 3, 2), 40 + 110 + 22);
    m.sigma_b2 = 0;
    ck_assert_int_eq(op_net_param_count(&m, 3, 2), 30 + 100 + 20);
    m.freeze_first = 1;
    ck_assert_int_eq(op_net_param_count(&m, 3, 2), 100 + 20);
}
END_TEST

/* ---- training ------------------------------------------------------------ */

static double curve(const op_result *res, const op_layout *L, int f, int s)
{
    return op_result_field(res, L, f)[s];
}

START_TEST(test_loss_decreases)
{
    op_dataset tr = op_test_make_ds(40, 5, 3, OP_TEST_DS_CLASS, 12);
    op_dataset te = op_test_make_ds(20, 5, 3, OP_TEST_DS_CLASS, 13);
    op_layout L = op_test_make_layout(16);
    op_trainer *t;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    for (int opt = 0; opt < 2; opt++)
    for (int loss = 0; loss < 2; loss++)
    for (int prec = 4; prec <= 8; prec += 4) {
        op_config c = mk_cfg(32, 2);
        c.train.optimizer = opt;
        c.train.loss = loss;
        c.train.precision = prec;
        c.train.lr = opt == OP_OPT_ADAM ? 0.01 : 0.05;
        op_result res = op_test_make_result(&L);
        ck_assert_int_eq(op_train_run(t, &c, 0, &tr, &te, &L, &res), OP_OK);
        double l0 = curve(&res, &L, OP_F_TRAIN_LOSS, 0);
        ck_assert_int_eq(res.row.status, OP_RUN_DONE);
        ck_assert_int_eq(res.row.epochs, 100);
        ck_assert_msg(res.row.train_loss < 0.3 * l0,
                      "opt %d loss %d prec %d: %g -> %g", opt, loss, prec, l0,
                      res.row.train_loss);
        ck_assert(res.row.train_acc > 0.9);
        ck_assert(isfinite(res.row.test_loss) && isfinite(res.row.test_acc));
        printf("%s %s f%d: train loss %.4f -> %.4f, acc %.2f, test acc %.2f\n",
               opt ? "adam" : "sgd", loss ? "xent" : "mse", prec * 8, l0,
               res.row.train_loss, res.row.train_acc, res.row.test_acc);
        free(res.values);
    }
    op_trainer_destroy(t);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&te, 1);
}
END_TEST

START_TEST(test_minibatch)
{
    op_dataset tr = op_test_make_ds(50, 5, 1, OP_TEST_DS_REGRESS, 14);
    op_layout L = op_test_make_layout(16);
    op_trainer *t;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    double final[3];
    int batches[3] = {0, 8, 50};
    for (int b = 0; b < 3; b++) {
        op_config c = mk_cfg(32, 1);
        c.train.batch = batches[b];
        c.train.lr = 0.02;
        c.train.epochs = 60;
        op_result res = op_test_make_result(&L);
        ck_assert_int_eq(op_train_run(t, &c, 3, &tr, NULL, &L, &res), OP_OK);
        ck_assert_int_eq(res.row.status, OP_RUN_DONE);
        ck_assert(res.row.train_loss < 0.5 * curve(&res, &L, OP_F_TRAIN_LOSS, 0));
        /* regression: accuracy NaN; no test set: test metrics NaN */
        ck_assert(isnan(res.row.train_acc));
        ck_assert(isnan(res.row.test_loss));
        ck_assert_int_eq(res.row.fit_epoch, -1);
        final[b] = res.row.train_loss;
        free(res.values);
    }
    /* batch >= n is full batch, bit for bit */
    ck_assert(final[0] == final[2]);
    /* more steps per epoch: mini-batches get further in 60 epochs */
    ck_assert(final[1] < final[0]);
    printf("full batch loss %.4g, batch 8 loss %.4g\n", final[0], final[1]);
    op_trainer_destroy(t);
    op_test_free_ds(&tr, 1);
}
END_TEST

START_TEST(test_diverged)
{
    op_dataset tr = op_test_make_ds(20, 4, 1, OP_TEST_DS_REGRESS, 15);
    op_layout L = op_test_make_layout(8);
    op_trainer *t;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    for (int prec = 4; prec <= 8; prec += 4) {
        op_config c = mk_cfg(16, 2);
        c.model.activation = OP_ACT_TANH;
        c.train.lr = 1e6;
        c.train.momentum = 0;
        c.train.precision = prec;
        c.train.epochs = 1000;
        op_result res = op_test_make_result(&L);
        ck_assert_int_eq(op_train_run(t, &c, 0, &tr, &tr, &L, &res), OP_OK);
        ck_assert_int_eq(res.row.status, OP_RUN_DIVERGED);
        ck_assert(res.row.epochs < 1000);
        ck_assert(!isfinite(res.row.train_loss));
        printf("lr 1e6 f%d: diverged at epoch %d\n", prec * 8, res.row.epochs);
        free(res.values);
    }
    op_trainer_destroy(t);
    op_test_free_ds(&tr, 1);
}
END_TEST

static int same_result(const op_result *a, const op_result *b,
                       const op_layout *L)
{
    op_row ra = a->row, rb = b->row;
    ra.seconds = rb.seconds = 0;
    for (long i = 0; i < L->total; i++)
        if (memcmp(&a->values[i], &b->values[i], sizeof(double)) != 0)
            return 0;
    return ra.status == rb.status && ra.n_params == rb.n_params &&
           ra.epochs == rb.epochs && ra.fit_epoch == rb.fit_epoch &&
           memcmp(&ra.train_loss, &rb.train_loss, sizeof(double)) == 0 &&
           memcmp(&ra.test_loss, &rb.test_loss, sizeof(double)) == 0 &&
           memcmp(&ra.train_acc, &rb.train_acc, sizeof(double)) == 0 &&
           memcmp(&ra.test_acc, &rb.test_acc, sizeof(double)) == 0;
}

START_TEST(test_determinism_and_reuse)
{
    op_dataset tr = op_test_make_ds(30, 5, 3, OP_TEST_DS_CLASS, 16);
    op_dataset te = op_test_make_ds(10, 5, 3, OP_TEST_DS_CLASS, 17);
    op_layout L = op_test_make_layout(12);
    op_trainer *t1, *t2;
    ck_assert_int_eq(op_trainer_create(&t1), OP_OK);
    ck_assert_int_eq(op_trainer_create(&t2), OP_OK);
    op_config a = mk_cfg(24, 2);
    a.train.batch = 7;
    a.train.optimizer = OP_OPT_ADAM;
    a.train.lr = 0.01;
    a.train.precision = 4;
    op_config b = mk_cfg(64, 3);
    b.train.loss = OP_LOSS_XENT;
    b.model.activation = OP_ACT_ERF;
    b.model.param = OP_PARAM_NTK;
    op_result ra1 = op_test_make_result(&L), ra2 = op_test_make_result(&L),
              ra3 = op_test_make_result(&L), rb = op_test_make_result(&L),
              rc = op_test_make_result(&L);
    /* same run twice in fresh trainers: bitwise equal */
    ck_assert_int_eq(op_train_run(t1, &a, 5, &tr, &te, &L, &ra1), OP_OK);
    ck_assert_int_eq(op_train_run(t2, &a, 5, &tr, &te, &L, &ra2), OP_OK);
    ck_assert(same_result(&ra1, &ra2, &L));
    /* a different run index is a different init */
    ck_assert_int_eq(op_train_run(t2, &a, 6, &tr, &te, &L, &rc), OP_OK);
    ck_assert(!same_result(&ra1, &rc, &L));
    /* reuse: a bigger double net, then `a` again in the same trainer */
    ck_assert_int_eq(op_train_run(t1, &b, 5, &tr, &te, &L, &rb), OP_OK);
    ck_assert_int_eq(rb.row.status, OP_RUN_DONE);
    ck_assert_int_eq(op_train_run(t1, &a, 5, &tr, &te, &L, &ra3), OP_OK);
    ck_assert(same_result(&ra1, &ra3, &L));
    ck_assert_int_eq(rb.row.n_params, op_net_param_count(&b.model, 5, 3));
    free(ra1.values);
    free(ra2.values);
    free(ra3.values);
    free(rb.values);
    free(rc.values);
    op_trainer_destroy(t1);
    op_trainer_destroy(t2);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&te, 1);
}
END_TEST

START_TEST(test_fit_epoch_and_curves)
{
    op_dataset tr = op_test_make_ds(24, 6, 1, OP_TEST_DS_CLASS, 18);
    op_layout L = op_test_make_layout(8);
    op_trainer *t;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    op_config c = mk_cfg(64, 1);
    c.train.epochs = 45;
    c.train.log_every = 10;
    c.train.lr = 0.05;
    op_result res = op_test_make_result(&L);
    ck_assert_int_eq(op_train_run(t, &c, 0, &tr, NULL, &L, &res), OP_OK);
    int fit = res.row.fit_epoch;
    ck_assert_msg(fit >= 0 && fit < 45, "fit_epoch %d", fit);
    ck_assert_int_eq(res.row.epochs, 45);
    ck_assert(res.row.train_acc == 1.0);
    /* curves at 0, 10, 20, 30, 40, then the final 45; the rest NaN */
    double want[6] = {0, 10, 20, 30, 40, 45};
    for (int s = 0; s < 6; s++) {
        ck_assert(curve(&res, &L, OP_F_EPOCH, s) == want[s]);
        ck_assert(isfinite(curve(&res, &L, OP_F_TRAIN_LOSS, s)));
        ck_assert(isnan(curve(&res, &L, OP_F_TEST_LOSS, s)));
    }
    for (int s = 6; s < 8; s++)
        for (int f = 0; f < OP_F_CURVES_END; f++)
            ck_assert(isnan(curve(&res, &L, f, s)));
    ck_assert(curve(&res, &L, OP_F_TRAIN_LOSS, 5) == res.row.train_loss);
    printf("separable k=1: fit at epoch %d\n", fit);
    /* stop_at_fit ends the run at that epoch */
    c.train.stop_at_fit = 1;
    op_result res2 = op_test_make_result(&L);
    ck_assert_int_eq(op_train_run(t, &c, 0, &tr, NULL, &L, &res2), OP_OK);
    ck_assert_int_eq(res2.row.epochs, fit);
    ck_assert_int_eq(res2.row.fit_epoch, fit);
    /* target_loss stops too */
    c.train.stop_at_fit = 0;
    c.train.target_loss = 0.5 * res.row.train_loss + 0.5 * curve(&res, &L, OP_F_TRAIN_LOSS, 0);
    ck_assert_int_eq(op_train_run(t, &c, 0, &tr, NULL, &L, &res2), OP_OK);
    ck_assert(res2.row.epochs < 45);
    ck_assert(res2.row.train_loss <= c.train.target_loss);
    free(res.values);
    free(res2.values);
    op_trainer_destroy(t);
    op_test_free_ds(&tr, 1);
}
END_TEST

START_TEST(test_ensemble_center)
{
    op_dataset tr = op_test_make_ds(30, 4, 2, OP_TEST_DS_CLASS, 19);
    op_dataset te = op_test_make_ds(12, 4, 2, OP_TEST_DS_CLASS, 20);
    op_layout L = op_test_make_layout(12);
    op_trainer *t;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    op_config c = mk_cfg(32, 1);
    c.train.center = 1;
    c.train.ensemble = 3;
    c.train.batch = 10;
    op_result res = op_test_make_result(&L);
    ck_assert_int_eq(op_train_run(t, &c, 1, &tr, &te, &L, &res), OP_OK);
    /* centered: the initial prediction is 0, so loss = 0.5 mean ||y||^2 */
    ck_assert(op_close(curve(&res, &L, OP_F_TRAIN_LOSS, 0), 0.5, 1e-12, 0));
    ck_assert(op_close(curve(&res, &L, OP_F_TEST_LOSS, 0), 0.5, 1e-12, 0));
    ck_assert_int_eq(res.row.status, OP_RUN_DONE);
    ck_assert(res.row.train_loss < 0.25);
    ck_assert_ptr_nonnull(op_trainer_net(t, 2));
    ck_assert_ptr_null(op_trainer_net(t, 3));
    /* cross-entropy needs k >= 2 */
    op_dataset one = op_test_make_ds(10, 4, 1, OP_TEST_DS_CLASS, 21);
    c.train.loss = OP_LOSS_XENT;
    ck_assert_int_eq(op_train_run(t, &c, 1, &one, NULL, &L, &res),
                     OP_ERR_INPUT);
    free(res.values);
    op_trainer_destroy(t);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&te, 1);
    op_test_free_ds(&one, 1);
}
END_TEST

typedef struct {
    int calls, epochs[16], slots[16];
} hook_log;

static op_status record_hook(void *ctx, const op_config *cfg, long run,
                             op_net *net, int epoch, int slot)
{
    (void)cfg;
    (void)run;
    hook_log *h = ctx;
    ck_assert_ptr_nonnull(net->block);
    if (h->calls < 16) {
        h->epochs[h->calls] = epoch;
        h->slots[h->calls] = slot;
    }
    h->calls++;
    return OP_OK;
}

/* The hook sees every curve point; lr_decay 0 every epoch freezes the net
 * after its first epoch. */
START_TEST(test_hook_and_lr_decay)
{
    op_dataset tr = op_test_make_ds(20, 4, 3, OP_TEST_DS_CLASS, 22);
    op_layout L = op_test_make_layout(8);
    op_trainer *t;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    hook_log h = {0};
    op_trainer_set_hook(t, record_hook, &h);
    op_config c = mk_cfg(16, 1);
    c.train.epochs = 7;
    c.train.log_every = 3;
    c.train.momentum = 0;
    c.train.lr_step = 1;
    c.train.lr_decay = 0.0;
    op_result res = op_test_make_result(&L);
    ck_assert_int_eq(op_train_run(t, &c, 0, &tr, NULL, &L, &res), OP_OK);
    int want[4] = {0, 3, 6, 7};
    ck_assert_int_eq(h.calls, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(h.epochs[i], want[i]);
        ck_assert_int_eq(h.slots[i], i);
    }
    /* only epoch 1 had lr != 0 */
    ck_assert(curve(&res, &L, OP_F_TRAIN_LOSS, 1) == res.row.train_loss);
    ck_assert(curve(&res, &L, OP_F_TRAIN_LOSS, 0) != res.row.train_loss);
    free(res.values);
    op_trainer_destroy(t);
    op_test_free_ds(&tr, 1);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_grad_fd);
    tcase_add_test(tc, test_reference);
    tcase_add_test(tc, test_float32);
    tcase_add_test(tc, test_backward_sgd_fused);
    tcase_add_test(tc, test_input_jacobian);
    tcase_add_test(tc, test_param_jacobian);
    tcase_add_test(tc, test_param_count);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("train");
    tcase_set_timeout(tt, 120);
    tcase_add_test(tt, test_loss_decreases);
    tcase_add_test(tt, test_minibatch);
    tcase_add_test(tt, test_diverged);
    tcase_add_test(tt, test_determinism_and_reuse);
    tcase_add_test(tt, test_fit_epoch_and_curves);
    tcase_add_test(tt, test_ensemble_center);
    tcase_add_test(tt, test_hook_and_lr_decay);
    suite_add_tcase(s, tt);
    return s;
}

OP_TEST_MAIN(net_suite)
