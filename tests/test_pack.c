/* test_pack.c — packed training (pack.c) against the single-run trainer
 * (op_train_run) on the same runs: every activation, loss, optimizer and
 * parameterization, members that differ in learning rate, weight decay
 * and its per-layer scaling (uniform, layerwise), momentum, stopping
 * rule, targets (label noise), batch and run index, and members that
 * stop early (fit, target loss, divergence) while the rest go
 * on. Rows, curves, final parameters and the networks the measurement hook
 * sees at every curve point must agree to <= 1e-12 relative in float64. Also: one block reused by the next pack, the compatibility rule,
 * bad packs refused, the hook and the stop poll. Data sets and layouts are
 * built by hand, by testutil.h's fixtures (shared with test_net.c). */
#include <stdio.h>
#include <string.h>

#include "overparam/data.h"
#include "overparam/pack.h"
#include "testutil.h"

#define M 4 /* members per pack in the identity tests */

/* The same inputs (shared x) with a share `flip` of labels changed. */
static op_dataset noisy_copy(const op_dataset *src, double flip, uint64_t seed)
{
    op_dataset ds = *src;
    int n = src->n, k = src->k;
    ds.y = malloc((size_t)n * k * sizeof(double));
    ds.label = malloc((size_t)n * sizeof(int));
    memcpy(ds.y, src->y, (size_t)n * k * sizeof(double));
    memcpy(ds.label, src->label, (size_t)n * sizeof(int));
    op_rng r;
    op_rng_derive(&r, seed, 98, 0, 0);
    for (int i = 0; i < n; i++) {
        if (op_rng_uniform(&r) >= flip)
            continue;
        int nl = (ds.label[i] + 1) % (k > 1 ? k : 2);
        ds.label[i] = nl;
        if (k == 1) {
            ds.y[i] = nl ? 1 : -1;
        } else {
            memset(ds.y + (size_t)i * k, 0, (size_t)k * sizeof(double));
            ds.y[(size_t)i * k + nl] = 1;
        }
    }
    return ds;
}

static op_config mk_cfg(op_activation act, op_parameterization par,
                        op_loss loss, int opt, int prec)
{
    op_config c;
    memset(&c, 0, sizeof c);
    c.seed = 42;
    c.model.activation = act;
    c.model.param = par;
    c.model.width = 12;
    c.model.depth = 2;
    c.model.sigma_w2 = 1.7;
    c.model.sigma_b2 = 0.05;
    c.model.init_scale = 1.0;
    c.model.init_scale_first = 1.1;
    c.model.init_scale_last = 0.9;
    c.train.loss = loss;
    /* opt: 0 SGD with momentum, 1 plain SGD, 2 Adam */
    c.train.optimizer = opt == 2 ? OP_OPT_ADAM : OP_OPT_SGD;
    c.train.lr = opt == 2 ? 0.01 : 0.05;
    c.train.momentum = opt == 0 ? 0.9 : 0;
    c.train.beta1 = 0.9;
    c.train.beta2 = 0.999;
    c.train.adam_eps = 1e-8;
    c.train.epochs = 40;
    c.train.lr_decay = 1.0;
    c.train.precision = prec;
    c.train.log_every = 7;
    c.train.ensemble = 1;
    return c;
}

/* max |a - b| / max(|b|, 1e-300) over n values; NaN == NaN counts equal. */
static double rel_diff(const double *a, const double *b, long n)
{
    double mx = 0;
    for (long i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i]))
            continue;
        if (isnan(a[i]) != isnan(b[i]) || isinf(a[i]) || isinf(b[i])) {
            if (a[i] != b[i])
                return INFINITY;
            continue;
        }
        double den = fabs(b[i]) > 1e-300 ? fabs(b[i]) : 1e-300;
        double r = fabs(a[i] - b[i]) / den;
        if (a[i] == b[i])
            r = 0;
        if (r > mx)
            mx = r;
    }
    return mx;
}

/* What a measurement hook sees: a fingerprint of the network's parameters
 * at every curve point, per run and slot (packed [0], single [1]). */
#define FP_RUNS 64
#define FP_SLOTS 16
static double fingerprint[2][FP_RUNS][FP_SLOTS];

static op_status fp_hook(void *ctx, const op_config *cfg, long run,
                         op_net *net, int epoch, int slot)
{
    (void)cfg;
    (void)epoch;
    int which = *(int *)ctx;
    double *p = malloc((size_t)net->n_total * sizeof(double)), f = 0;
    op_net_params_copy(net, p);
    for (long i = 0; i < net->n_total; i++)
        f += p[i] * (double)(i % 7 + 1);
    free(p);
    if (run < FP_RUNS && slot < FP_SLOTS)
        fingerprint[which][run][slot] = f;
    return OP_OK;
}

/* Trains the members packed and one by one; returns the largest relative
 * difference over rows, curves and final parameters, and checks that the
 * integer results (status, epochs, fit epoch) agree exactly. */
static double pack_vs_single(op_pack *pk, op_trainer *t, op_pack_member *mem,
                             int n, const op_layout *L)
{
    op_result single[16];
    static int packed_id = 0, single_id = 1;
    for (int i = 0; i < FP_RUNS * FP_SLOTS; i++) {
        fingerprint[0][i / FP_SLOTS][i % FP_SLOTS] = NAN;
        fingerprint[1][i / FP_SLOTS][i % FP_SLOTS] = NAN;
    }
    op_pack_set_hook(pk, fp_hook, &packed_id);
    op_trainer_set_hook(t, fp_hook, &single_id);
    for (int j = 0; j < n; j++) {
        *mem[j].res = op_test_make_result(L);
        mem[j].layout = L;
    }
    ck_assert_int_eq(op_pack_run(pk, mem, n), OP_OK);
    double worst = 0;
    for (int j = 0; j < n; j++) {
        ck_assert(mem[j].done);
        single[j] = op_test_make_result(L);
        ck_assert_int_eq(op_train_run(t, mem[j].cfg, mem[j].run, mem[j].train,
                                      mem[j].test, L, &single[j]),
                         OP_OK);
        const op_row *a = &mem[j].res->row, *b = &single[j].row;
        ck_assert_int_eq(a->status, b->status);
        ck_assert_int_eq(a->epochs, b->epochs);
        ck_assert_int_eq(a->fit_epoch, b->fit_epoch);
        ck_assert_int_eq(a->n_params, b->n_params);
        double ra[4] = {a->train_loss, a->test_loss, a->train_acc, a->test_acc};
        double rb[4] = {b->train_loss, b->test_loss, b->train_acc, b->test_acc};
        double r = rel_diff(ra, rb, 4);
        double rc = rel_diff(mem[j].res->values, single[j].values, L->total);
        op_net *pn = op_pack_net(pk, j), *sn = op_trainer_net(t, 0);
        ck_assert_int_eq(pn->n_total, sn->n_total);
        double *pa = malloc((size_t)pn->n_total * sizeof(double));
        double *pb = malloc((size_t)pn->n_total * sizeof(double));
        op_net_params_copy(pn, pa);
        op_net_params_copy(sn, pb);
        double rp = rel_diff(pa, pb, pn->n_total);
        /* the hook saw the same networks at the same curve points */
        double rh = rel_diff(fingerprint[0][mem[j].run],
                             fingerprint[1][mem[j].run], FP_SLOTS);
        ck_assert(!isnan(fingerprint[0][mem[j].run][0]));
        if (rh > rp)
            rp = rh;
        free(pa);
        free(pb);
        if (r > worst)
            worst = r;
        if (rc > worst)
            worst = rc;
        if (rp > worst)
            worst = rp;
        free(single[j].values);
        free(mem[j].res->values);
    }
    op_pack_set_hook(pk, NULL, NULL);
    op_trainer_set_hook(t, NULL, NULL);
    return worst;
}

static const char *act_name[] = {"relu", "erf", "tanh"};
static const char *opt_name[] = {"sgd-momentum", "sgd", "adam"};

/* Members that differ in everything a pack lets them differ in. */
static void vary_members(op_config *c, op_pack_member *mem,
                         const op_dataset *tr, const op_dataset *noisy,
                         const op_dataset *te, op_result *res)
{
    for (int j = 0; j < M; j++) {
        c[j].train.lr *= 1.0 + 0.3 * j;
        c[j].train.weight_decay = j == 2 ? 1e-3 : j == 3 ? 1e-2 : 0;
        /* member 3 decays layer-wise (in ntk its own factor per layer,
         * W_0's applied in the pack's W_cat), member 1 too, at wd 0 */
        c[j].train.weight_decay_scaling =
            j == 3 || j == 1 ? OP_WD_LAYERWISE : OP_WD_UNIFORM;
        c[j].model.init_scale = 1.0 - 0.1 * j;
        mem[j].cfg = &c[j];
        mem[j].run = 10 + 7 * j;
        mem[j].train = j == 1 ? noisy : tr;
        mem[j].test = te;
        mem[j].res = &res[j];
    }
    c[1].train.stop_at_fit = 1;         /* may leave at 100% accuracy */
    c[2].train.target_loss = 0.05;      /* may leave at a loss target */
    c[0].train.epochs = 15;             /* leaves first: the rest move up */
    c[3].train.epochs = 25;             /* leaves earlier */
    c[3].train.lr_step = 10;            /* its own schedule */
    c[3].train.lr_decay = 0.5;
    c[3].train.log_every = 5;
    if (c[0].train.optimizer == OP_OPT_SGD)
        c[0].train.momentum = c[0].train.momentum > 0 ? 0.5 : 0;
}

START_TEST(test_identity_all_configs)
{
    op_dataset tr = op_test_make_ds(48, 6, 3, OP_TEST_DS_CLASS, 11);
    op_dataset noisy = noisy_copy(&tr, 0.2, 3);
    op_dataset te = op_test_make_ds(30, 6, 3, OP_TEST_DS_CLASS, 12);
    op_layout L = op_test_make_layout(16);
    op_trainer *t;
    op_pack *pk;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    double worst64 = 0, worst32 = 0;
    for (int prec = 8; prec >= 4; prec -= 4)
    for (int act = 0; act < 3; act++)
    for (int par = 0; par < 2; par++)
    for (int loss = 0; loss < 2; loss++)
    for (int opt = 0; opt < 3; opt++) {
        op_config c[M];
        op_pack_member mem[M];
        op_result res[M];
        memset(mem, 0, sizeof mem);
        for (int j = 0; j < M; j++)
            c[j] = mk_cfg(act, par, loss, opt, prec);
        vary_members(c, mem, &tr, &noisy, &te, res);
        double r = pack_vs_single(pk, t, mem, M, &L);
        printf("pack vs single f%d %s %s %s %s: max rel diff %.3g\n",
               prec * 8, act_name[act], par ? "ntk" : "standard",
               loss ? "xent" : "mse", opt_name[opt], r);
        if (prec == 8) {
            ck_assert_msg(r <= 1e-12, "f64 %s par %d loss %d opt %d: %g",
                          act_name[act], par, loss, opt, r);
            worst64 = r > worst64 ? r : worst64;
        } else {
            worst32 = r > worst32 ? r : worst32;
        }
    }
    /* float32: the same operations, so also equal to rounding of float */
    ck_assert_msg(worst32 <= 1e-5, "f32 worst %g", worst32);
    printf("pack vs single: worst f64 %.3g, f32 %.3g\n", worst64, worst32);
    op_pack_destroy(pk);
    op_trainer_destroy(t);
    op_test_free_ds(&noisy, 0);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&te, 1);
}
END_TEST

/* Shapes beyond the default: linear model (depth 0), one hidden layer,
 * frozen first layer, no bias, scalar output, mini-batch members (their
 * own order) beside full-batch ones, a member that diverges. */
START_TEST(test_identity_shapes_and_batches)
{
    op_dataset tr = op_test_make_ds(40, 5, 1, OP_TEST_DS_CLASS, 21);
    op_dataset noisy = noisy_copy(&tr, 0.25, 4);
    op_dataset te = op_test_make_ds(25, 5, 1, OP_TEST_DS_CLASS, 22);
    op_layout L = op_test_make_layout(16);
    op_trainer *t;
    op_pack *pk;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    for (int prec = 8; prec >= 4; prec -= 4)
    for (int v = 0; v < 5; v++) {
        op_config c[M];
        op_pack_member mem[M];
        op_result res[M];
        memset(mem, 0, sizeof mem);
        for (int j = 0; j < M; j++) {
            c[j] = mk_cfg(v % 3, v % 2, OP_LOSS_MSE, v % 3, prec);
            if (v == 0)
                c[j].model.depth = 0;
            if (v == 1)
                c[j].model.depth = 1;
            if (v == 2)
                c[j].model.freeze_first = 1;
            if (v == 3)
                c[j].model.sigma_b2 = 0;
        }
        vary_members(c, mem, &tr, &noisy, &te, res);
        c[1].train.batch = 8;  /* mini-batches in its own order */
        c[2].train.batch = 13; /* a ragged last batch */
        if (v == 4) {
            c[3].train.lr = 50; /* diverges; the others go on */
            c[3].train.momentum = 0.9;
            c[3].train.optimizer = OP_OPT_SGD;
        }
        double r = pack_vs_single(pk, t, mem, M, &L);
        printf("pack vs single f%d shape/batch variant %d: max rel diff %.3g\n",
               prec * 8, v, r);
        ck_assert_msg(r <= (prec == 8 ? 1e-12 : 1e-5), "variant %d f%d: %g", v,
                      prec * 8, r);
    }
    op_pack_destroy(pk);
    op_trainer_destroy(t);
    op_test_free_ds(&noisy, 0);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&te, 1);
}
END_TEST

/* Shapes of a real sweep (double_descent.ini: n = 200, d = 196, K = 10,
 * widths 8 and 24), where OpenBLAS may compute the pack's wider GEMMs with
 * other kernels than a single run's (its AVX-512 cores do): the members
 * must still agree to 1e-12 after 60 epochs of momentum SGD. */
START_TEST(test_identity_real_shapes)
{
    op_dataset tr = op_test_make_ds(200, 196, 10, OP_TEST_DS_CLASS, 71);
    op_dataset noisy = noisy_copy(&tr, 0.2, 5);
    op_dataset te = op_test_make_ds(100, 196, 10, OP_TEST_DS_CLASS, 72);
    op_layout L = op_test_make_layout(16);
    op_trainer *t;
    op_pack *pk;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    int widths[2] = {8, 24};
    for (int w = 0; w < 2; w++) {
        op_config c[M];
        op_pack_member mem[M];
        op_result res[M];
        memset(mem, 0, sizeof mem);
        for (int j = 0; j < M; j++) {
            c[j] = mk_cfg(OP_ACT_RELU, OP_PARAM_NTK, OP_LOSS_MSE, 0, 8);
            c[j].model.width = widths[w];
            c[j].model.depth = 1;
            c[j].model.sigma_w2 = 2;
            c[j].model.init_scale_last = 0.001;
            c[j].train.lr = 0.5;
            c[j].train.epochs = 60;
            c[j].train.log_every = 10;
        }
        vary_members(c, mem, &tr, &noisy, &te, res);
        double r = pack_vs_single(pk, t, mem, M, &L);
        printf("pack vs single f64 n=200 d=196 k=10 width %d: max rel diff "
               "%.3g\n", widths[w], r);
        ck_assert_msg(r <= 1e-12, "width %d: %g", widths[w], r);
    }
    op_pack_destroy(pk);
    op_trainer_destroy(t);
    op_test_free_ds(&noisy, 0);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&te, 1);
}
END_TEST

/* Members stop at different epochs and the rest are unaffected: checked
 * by the identity above; here the stops really happen (one fits, one
 * diverges, one runs out of epochs) and each row says so. */
START_TEST(test_members_leave)
{
    op_dataset tr = op_test_make_ds(40, 5, 3, OP_TEST_DS_CLASS, 31);
    op_layout L = op_test_make_layout(32);
    op_pack *pk;
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    op_config c[3];
    op_result res[3];
    op_pack_member mem[3];
    memset(mem, 0, sizeof mem);
    for (int j = 0; j < 3; j++) {
        c[j] = mk_cfg(OP_ACT_RELU, OP_PARAM_NTK, OP_LOSS_XENT, 0, 8);
        c[j].model.width = 64;
        c[j].train.epochs = 200;
        c[j].train.lr = 0.5;
        mem[j].cfg = &c[j];
        mem[j].run = j;
        mem[j].train = &tr;
        mem[j].layout = &L;
        res[j] = op_test_make_result(&L);
        mem[j].res = &res[j];
    }
    c[0].train.stop_at_fit = 1;
    c[1].train.loss = OP_LOSS_MSE; /* its own loss, and it diverges */
    c[1].train.lr = 1e3;
    c[2].train.epochs = 3;
    ck_assert_int_eq(op_pack_run(pk, mem, 3), OP_OK);
    ck_assert_int_eq(res[0].row.status, OP_RUN_DONE);
    ck_assert(res[0].row.train_acc == 1.0);
    ck_assert_int_eq(res[0].row.epochs, res[0].row.fit_epoch);
    ck_assert(res[0].row.epochs < 200);
    ck_assert_int_eq(res[1].row.status, OP_RUN_DIVERGED);
    ck_assert(res[1].row.epochs < 200);
    ck_assert_int_eq(res[2].row.status, OP_RUN_DONE);
    ck_assert_int_eq(res[2].row.epochs, 3);
    double sum = 0;
    for (int j = 0; j < 3; j++) {
        ck_assert(mem[j].done);
        ck_assert(res[j].row.seconds >= 0);
        sum += res[j].row.seconds;
        free(res[j].values);
    }
    ck_assert(sum > 0);
    printf("leave: fit at %d, diverged at %d, 3 epochs\n", res[0].row.epochs,
           res[1].row.epochs);
    op_pack_destroy(pk);
    op_test_free_ds(&tr, 1);
}
END_TEST

/* One block per pack, reused by the next pack of the same shape. */
START_TEST(test_block_reused)
{
    op_dataset tr = op_test_make_ds(30, 5, 2, OP_TEST_DS_CLASS, 41);
    op_layout L = op_test_make_layout(8);
    op_pack *pk;
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    op_config c[M];
    op_result res[M];
    op_pack_member mem[M];
    memset(mem, 0, sizeof mem);
    for (int j = 0; j < M; j++) {
        c[j] = mk_cfg(OP_ACT_TANH, OP_PARAM_STANDARD, OP_LOSS_MSE, 2, 8);
        c[j].train.epochs = 5;
        mem[j].cfg = &c[j];
        mem[j].run = j;
        mem[j].train = &tr;
        mem[j].layout = &L;
        mem[j].res = &res[j];
    }
    void *first_net = NULL;
    size_t cap = 0;
    for (int round = 0; round < 3; round++) {
        for (int j = 0; j < M; j++) {
            res[j] = op_test_make_result(&L);
            mem[j].run = round * M + j;
        }
        ck_assert_int_eq(op_pack_run(pk, mem, round == 2 ? M - 1 : M), OP_OK);
        if (round == 0) {
            cap = op_pack_capacity(pk);
            first_net = op_pack_net(pk, 0)->block;
            /* the size a job plans packs by is the size taken */
            ck_assert_uint_eq(cap, op_pack_bytes(&c[0], M, tr.n, 0, tr.d, tr.k));
        }
        /* same (or fewer) members: the same block, not a new one */
        ck_assert_uint_eq(op_pack_capacity(pk), cap);
        ck_assert_ptr_eq(op_pack_net(pk, 0)->block, first_net);
        /* the members' networks are consecutive regions of it */
        ck_assert((char *)op_pack_net(pk, 1)->block >
                  (char *)op_pack_net(pk, 0)->block);
        for (int j = 0; j < M; j++)
            free(res[j].values);
    }
    op_pack_destroy(pk);
    op_test_free_ds(&tr, 1);
}
END_TEST

START_TEST(test_refuses_bad_packs)
{
    op_dataset tr = op_test_make_ds(30, 5, 2, OP_TEST_DS_CLASS, 51), other = op_test_make_ds(30, 5, 2, OP_TEST_DS_CLASS, 52);
    op_layout L = op_test_make_layout(8);
    op_pack *pk;
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    op_config c[2];
    op_result res[2];
    op_pack_member mem[2];
    memset(mem, 0, sizeof mem);
    for (int j = 0; j < 2; j++) {
        c[j] = mk_cfg(OP_ACT_RELU, OP_PARAM_NTK, OP_LOSS_MSE, 0, 8);
        c[j].train.epochs = 3;
        mem[j].cfg = &c[j];
        mem[j].run = j;
        mem[j].train = &tr;
        mem[j].layout = &L;
        res[j] = op_test_make_result(&L);
        mem[j].res = &res[j];
    }
    mem[1].train = &other; /* other inputs */
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_ERR_INPUT);
    mem[1].train = &tr;
    c[1].model.width = 13; /* other first layer */
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_ERR_INPUT);
    c[1].model.width = 12;
    c[1].train.precision = 4;
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_ERR_INPUT);
    c[1].train.precision = 8;
    c[1].train.ensemble = 2;
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_ERR_INPUT);
    c[1].train.ensemble = 1;
    c[1].model.sigma_w2 = 3.0; /* ntk: another layer-0 multiplier */
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_ERR_INPUT);
    c[1].model.sigma_w2 = c[0].model.sigma_w2;
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_OK);

    /* the job-level rule */
    op_config a = c[0], b = c[0];
    ck_assert(op_pack_compatible(&a, &b));
    b.train.lr = 0.3;
    b.train.weight_decay = 0.1;
    b.train.stop_at_fit = 1;
    b.data.label_noise = 0.2;
    b.model.init_scale_last = 0.01;
    b.seed_index = 3;
    ck_assert(op_pack_compatible(&a, &b));
    b.model.width = 64;
    ck_assert(!op_pack_compatible(&a, &b));
    b = a;
    b.data.n_train = 7;
    ck_assert(!op_pack_compatible(&a, &b));
    b = a;
    b.data.corruption = a.data.corruption = OP_CORRUPT_RANDOM_PIXELS;
    b.seed_index = 1;
    ck_assert(!op_pack_compatible(&a, &b));
    a = c[0];
    b = a;
    b.train.center = 1;
    ck_assert(!op_pack_compatible(&a, &b));
    b = a;
    b.model.param = a.model.param = OP_PARAM_STANDARD;
    b.model.sigma_w2 = 5; /* standard: initial spread only */
    ck_assert(op_pack_compatible(&a, &b));
    for (int j = 0; j < 2; j++)
        free(res[j].values);
    op_pack_destroy(pk);
    op_test_free_ds(&tr, 1);
    op_test_free_ds(&other, 1);
}
END_TEST

typedef struct {
    int calls[M];
    int last_epoch[M];
    long polls, stop_after;
} cb_ctx;

static op_status hook(void *ctx, const op_config *cfg, long run, op_net *net,
                      int epoch, int slot)
{
    (void)cfg;
    (void)net;
    cb_ctx *c = ctx;
    ck_assert_int_eq(slot, c->calls[run]);
    c->calls[run]++;
    c->last_epoch[run] = epoch;
    return OP_OK;
}

static int poll(void *ctx)
{
    cb_ctx *c = ctx;
    return ++c->polls >= c->stop_after && c->stop_after > 0;
}

START_TEST(test_hook_and_stop)
{
    op_dataset tr = op_test_make_ds(30, 5, 2, OP_TEST_DS_CLASS, 61);
    op_layout L = op_test_make_layout(8);
    op_pack *pk;
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    op_config c[2];
    op_result res[2];
    op_pack_member mem[2];
    memset(mem, 0, sizeof mem);
    for (int j = 0; j < 2; j++) {
        c[j] = mk_cfg(OP_ACT_RELU, OP_PARAM_NTK, OP_LOSS_MSE, 0, 8);
        c[j].train.epochs = j ? 9 : 20;
        c[j].train.log_every = 4;
        mem[j].cfg = &c[j];
        mem[j].run = j;
        mem[j].train = &tr;
        mem[j].layout = &L;
        res[j] = op_test_make_result(&L);
        mem[j].res = &res[j];
    }
    cb_ctx cb;
    memset(&cb, 0, sizeof cb);
    op_pack_set_hook(pk, hook, &cb);
    op_pack_set_poll(pk, poll, &cb);
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_OK);
    /* epochs 0,4,8,12,16,20 and 0,4,8,9 */
    ck_assert_int_eq(cb.calls[0], 6);
    ck_assert_int_eq(cb.last_epoch[0], 20);
    ck_assert_int_eq(cb.calls[1], 4);
    ck_assert_int_eq(cb.last_epoch[1], 9);
    /* full batch: one poll per epoch for the whole pack */
    ck_assert_int_eq(cb.polls, 20);

    /* a stop request abandons the pack; finished members stay done */
    memset(&cb, 0, sizeof cb);
    cb.stop_after = 12;
    for (int j = 0; j < 2; j++) {
        free(res[j].values);
        res[j] = op_test_make_result(&L);
    }
    ck_assert_int_eq(op_pack_run(pk, mem, 2), OP_ERR_STOPPED);
    ck_assert(!mem[0].done);
    ck_assert(mem[1].done);
    ck_assert_int_eq(res[1].row.epochs, 9);
    for (int j = 0; j < 2; j++)
        free(res[j].values);
    op_pack_destroy(pk);
    op_test_free_ds(&tr, 1);
}
END_TEST

/* The job's packing: compatible runs together in list order, at most
 * max_members, never across shapes, deterministic; any sub-list packs by
 * the same rule. */
START_TEST(test_plan)
{
    const char *text = "[job]\nseed = 5\n"
                       "[data]\nsource = teacher_class\ndim = 8\nclasses = 3\n"
                       "n_train = 50\nn_test = 20\n"
                       "[model]\nactivation = relu\nparameterization = ntk\n"
                       "[train]\nepochs = 5\nprecision = float64\n"
                       "[grid]\nwidth = 4, 8, 16\nlabel_noise = 0, 0.2\n"
                       "lr = 0.1, 0.2\nseed = 0, 1\n";
    op_job job;
    ck_assert_msg(op_job_load_string(&job, "t.ini", text) == OP_OK, "%s",
                  op_error_message());
    ck_assert_int_eq(job.n_runs, 24);
    ck_assert_int_ge(OP_PACK_WIDTH_MAX, 16);
    long runs[24], pack_of[24], again[24];
    for (int i = 0; i < 24; i++)
        runs[i] = i;
    long np = op_pack_plan(&job, runs, 24, 3, 0, pack_of);
    ck_assert_int_eq(np, 9); /* 3 widths x 8 runs in packs of 3, 3, 2 */
    int size[24] = {0};
    long first[24];
    for (int i = 0; i < 24; i++) {
        long q = pack_of[i];
        ck_assert(q >= 0 && q < np);
        if (size[q]++ == 0)
            first[q] = i;
        op_config a, b;
        op_job_config(&job, runs[i], &a);
        op_job_config(&job, runs[first[q]], &b);
        ck_assert(op_pack_compatible(&a, &b));
        ck_assert_int_eq(a.model.width, b.model.width);
    }
    for (long q = 0; q < np; q++) {
        ck_assert(size[q] >= 1 && size[q] <= 3);
        if (q > 0) /* numbered in the order of their first run */
            ck_assert(first[q] > first[q - 1]);
    }
    ck_assert_int_eq(op_pack_plan(&job, runs, 24, 3, 0, again), np);
    ck_assert(memcmp(again, pack_of, sizeof again) == 0);
    /* one member per pack, or a budget below two members: packs of one */
    ck_assert_int_eq(op_pack_plan(&job, runs, 24, 1, 0, again), 24);
    op_config c0;
    op_job_config(&job, 0, &c0);
    int d, k;
    op_data_shape(&c0, &d, &k);
    size_t one = op_pack_bytes(&c0, 1, 50, 20, d, k);
    ck_assert_int_eq(op_pack_plan(&job, runs, 24, 8, one, again), 24);
    /* a sub-list (every second run) packs by the same rule */
    long missing[10];
    for (int i = 0; i < 10; i++)
        missing[i] = 2 * i + 1;
    long mp = op_pack_plan(&job, missing, 10, 64, 0, again);
    ck_assert_int_le(mp, 3);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) {
            op_config a, b;
            op_job_config(&job, missing[i], &a);
            op_job_config(&job, missing[j], &b);
            ck_assert_int_eq(again[i] == again[j], a.model.width == b.model.width);
        }
    op_job_free(&job);

    /* past OP_PACK_WIDTH_MAX every run trains alone */
    char wide[1024];
    snprintf(wide, sizeof wide,
             "[job]\nseed = 5\n[data]\nsource = gaussian\ndim = 8\n"
             "n_train = 50\n[model]\nwidth = %d\n[grid]\nlr = 0.1, 0.2, 0.3\n",
             OP_PACK_WIDTH_MAX + 1);
    ck_assert_msg(op_job_load_string(&job, "w.ini", wide) == OP_OK, "%s",
                  op_error_message());
    ck_assert_int_eq(op_pack_plan(&job, runs, 3, 8, 0, again), 3);
    op_job_free(&job);
}
END_TEST

/* Runs of a real job (configurations from op_job_config, which carry the
 * run key its streams derive from; data from op_data_load, label noise
 * from op_data_corrupt): a planned pack against op_train_run. */
START_TEST(test_job_pack)
{
    const char *text = "[job]\nseed = 9\n"
                       "[data]\nsource = teacher_class\ndim = 12\nclasses = 3\n"
                       "n_train = 60\nn_test = 30\n"
                       "[model]\nactivation = tanh\nparameterization = ntk\n"
                       "width = 6\n"
                       "[train]\nepochs = 25\nlog_every = 5\n"
                       "precision = float64\n"
                       "[grid]\nlabel_noise = 0, 0.3\nlr = 0.1, 0.2\n"
                       "seed = 0, 1\n";
    op_job job;
    ck_assert_msg(op_job_load_string(&job, "t.ini", text) == OP_OK, "%s",
                  op_error_message());
    long runs[8], pack_of[8];
    for (int i = 0; i < 8; i++)
        runs[i] = i;
    ck_assert_int_eq(op_pack_plan(&job, runs, 8, M, 0, pack_of), 2);
    op_config c[8];
    op_dataset tr, te, noisy[8];
    memset(noisy, 0, sizeof noisy);
    op_job_config(&job, 0, &c[0]);
    ck_assert_int_eq(op_data_load(&c[0], &tr, &te), OP_OK);
    op_pack_member mem[M];
    op_result res[M];
    memset(mem, 0, sizeof mem);
    op_layout L = op_test_make_layout(8);
    op_trainer *t;
    op_pack *pk;
    ck_assert_int_eq(op_trainer_create(&t), OP_OK);
    ck_assert_int_eq(op_pack_create(&pk), OP_OK);
    for (long q = 0; q < 2; q++) {
        int m = 0;
        for (int r = 0; r < 8; r++) {
            if (pack_of[r] != q)
                continue;
            op_job_config(&job, r, &c[r]);
            const op_dataset *trr = &tr;
            if (c[r].data.label_noise > 0) {
                ck_assert_int_eq(op_data_corrupt(&c[r], &tr, &noisy[r]), OP_OK);
                trr = &noisy[r];
            }
            mem[m].cfg = &c[r];
            mem[m].run = r;
            mem[m].train = trr;
            mem[m].test = &te;
            mem[m].res = &res[m];
            m++;
        }
        ck_assert_int_eq(m, M);
        double d = pack_vs_single(pk, t, mem, m, &L);
        printf("pack vs single, job runs (run keys, label noise): %.3g\n", d);
        ck_assert_msg(d <= 1e-12, "pack %ld: %g", q, d);
    }
    for (int r = 0; r < 8; r++)
        if (noisy[r].n)
            op_data_free(&noisy[r]);
    op_data_free(&tr);
    op_data_free(&te);
    op_pack_destroy(pk);
    op_trainer_destroy(t);
    op_job_free(&job);
}
END_TEST

static Suite *pack_suite(void)
{
    Suite *s = suite_create("pack");
    TCase *tc = tcase_create("pack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_identity_all_configs);
    tcase_add_test(tc, test_identity_shapes_and_batches);
    tcase_add_test(tc, test_identity_real_shapes);
    tcase_add_test(tc, test_members_leave);
    tcase_add_test(tc, test_block_reused);
    tcase_add_test(tc, test_refuses_bad_packs);
    tcase_add_test(tc, test_hook_and_stop);
    tcase_add_test(tc, test_plan);
    tcase_add_test(tc, test_job_pack);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(pack_suite)
