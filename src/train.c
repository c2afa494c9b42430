/* train.c — one training run: losses, accuracy, the epoch loop with its
 * stops and learning-curve points, ensembles and centering, over a
 * reusable op_trainer workspace. Contract: include/overparam/train.h. */
#include "overparam/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/run.h"

/* Activation memory per network chunk: big enough for GEMMs to run at full
 * speed, small enough that full-batch training on 60k images at large
 * width does not need gigabytes of activations. */
#define TRAIN_CHUNK_BYTES ((size_t)256 << 20)
#define TRAIN_CHUNK_MIN 64

struct op_trainer {
    op_net *nets;      /* [n_nets], blocks kept between runs */
    int n_nets;        /* allocated entries (blocks kept for reuse) */
    int members;       /* networks of the last run */
    double *buf;       /* every double buffer of a run, carved per run */
    size_t buf_cap;    /* doubles */
    int *perm;         /* mini-batch order [perm_cap] */
    size_t perm_cap;
    op_train_hook hook;
    void *hook_ctx;
    op_train_poll poll; /* after every optimizer step */
    void *poll_ctx;
};

op_status op_trainer_create(op_trainer **out)
{
    op_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return op_error(OP_ERR_NOMEM, "trainer allocation refused");
    *out = t;
    return OP_OK;
}

void op_trainer_destroy(op_trainer *t)
{
    if (!t)
        return;
    for (int e = 0; e < t->n_nets; e++)
        op_net_free(&t->nets[e]);
    free(t->nets);
    free(t->buf);
    free(t->perm);
    free(t);
}

void op_trainer_set_hook(op_trainer *t, op_train_hook hook, void *ctx)
{
    t->hook = hook;
    t->hook_ctx = ctx;
}

void op_trainer_set_poll(op_trainer *t, op_train_poll poll, void *ctx)
{
    t->poll = poll;
    t->poll_ctx = ctx;
}

op_net *op_trainer_net(op_trainer *t, int e)
{
    return e >= 0 && e < t->members ? &t->nets[e] : NULL;
}

double op_train_loss(op_loss loss, const double *f, const double *y, long n,
                     int k, double scale, double *grad)
{
    double total = 0;
    for (long i = 0; i < n; i++) {
        const double *fi = f + (size_t)i * k, *yi = y + (size_t)i * k;
        double *gi = grad ? grad + (size_t)i * k : NULL;
        if (loss == OP_LOSS_MSE) {
            double s = 0;
            for (int o = 0; o < k; o++) {
                double r = fi[o] - yi[o];
                s += r * r;
                if (gi)
                    gi[o] = scale * r;
            }
            total += 0.5 * s;
        } else {
            /* log-sum-exp shifted by the max so large logits stay finite. */
            double mx = fi[0];
            for (int o = 1; o < k; o++)
                if (fi[o] > mx)
                    mx = fi[o];
            double z = 0, ysum = 0;
            for (int o = 0; o < k; o++) {
                z += exp(fi[o] - mx);
                ysum += yi[o];
            }
            double lse = mx + log(z), s = 0;
            for (int o = 0; o < k; o++) {
                s -= yi[o] * (fi[o] - lse);
                /* d/df_o = ysum * softmax_o - y_o (ysum = 1 for one-hot) */
                if (gi)
                    gi[o] = scale * (ysum * exp(fi[o] - lse) - yi[o]);
            }
            total += s;
        }
    }
    return scale * total;
}

/* Fraction of labeled samples classified right; NaN without labels. */
double op_train_accuracy(const double *f, const op_dataset *ds)
{
    long right = 0, labeled = 0;
    int k = ds->k;
    for (int i = 0; i < ds->n; i++) {
        if (ds->label[i] < 0)
            continue;
        const double *fi = f + (size_t)i * k;
        labeled++;
        if (k == 1) {
            right += (fi[0] > 0) == (ds->y[i] > 0);
        } else {
            int best = 0;
            for (int o = 1; o < k; o++)
                if (fi[o] > fi[best])
                    best = o;
            right += best == ds->label[i];
        }
    }
    return labeled ? (double)right / (double)labeled : NAN;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything one run needs besides the trainer, gathered so the passes
 * below take one argument. */
typedef struct {
    const op_config *cfg;
    const op_dataset *train, *test;
    int k, members, chunk, full;
    double *ftrain, *ftest; /* averaged (centered) predictions */
    double *fmem, *gout;    /* one member's chunk outputs, dLoss/df */
    double *f0;             /* [members][n_train + n_test][k] or NULL */
} run_ctx;

/* Member predictions for rows [s, s+c) of a set into rc->fmem, centered by
 * that member's f0 at offset f0_row. */
static void member_chunk(const run_ctx *rc, op_net *net, int e,
                         const op_dataset *ds, long s, int c, long f0_row)
{
    op_net_forward(net, ds->x + (size_t)s * ds->d, NULL, c, rc->fmem);
    if (rc->f0) {
        const double *f0 = rc->f0 +
                           ((size_t)e * (rc->train->n + (rc->test ? rc->test->n : 0)) +
                            (size_t)f0_row) * rc->k;
        for (long i = 0; i < (long)c * rc->k; i++)
            rc->fmem[i] -= f0[i];
    }
}

/* Averaged predictions of the ensemble on a whole set (train or test) into
 * favg; with grad (training set, full batch) each member's gradient of the
 * mean loss over the set is left in its grads, summed over chunks. */
static void eval_set(const run_ctx *rc, op_net *nets, const op_dataset *ds,
                     long f0_base, double *favg, int grad)
{
    int k = rc->k;
    double inv = 1.0 / rc->members;
    memset(favg, 0, (size_t)ds->n * k * sizeof(double));
    for (int e = 0; e < rc->members; e++) {
        for (long s = 0; s < ds->n; s += rc->chunk) {
            int c = (int)(ds->n - s < rc->chunk ? ds->n - s : rc->chunk);
            member_chunk(rc, &nets[e], e, ds, s, c, f0_base + s);
            for (long i = 0; i < (long)c * k; i++)
                favg[(size_t)s * k + i] += inv * rc->fmem[i];
            if (grad) {
                op_train_loss(rc->cfg->train.loss, rc->fmem,
                              ds->y + (size_t)s * k, c, k, 1.0 / ds->n,
                              rc->gout);
                op_net_backward(&nets[e], rc->gout, c, s > 0);
            }
        }
    }
}

void op_train_step_w0(op_net *net, const op_train_cfg *tc, double lr,
                      void *w0, const void *g0)
{
    if (tc->optimizer == OP_OPT_ADAM)
        op_net_adam_step_w0(net, lr, tc->beta1, tc->beta2, tc->adam_eps,
                            tc->weight_decay, w0, g0);
    else
        op_net_sgd_step_w0(net, lr, tc->momentum, tc->weight_decay, w0, g0);
}

void op_train_step(op_net *net, const op_train_cfg *tc, double lr)
{
    op_train_step_w0(net, tc, lr, NULL, NULL);
}

void op_train_batch(op_net *net, const op_train_cfg *tc,
                    const op_dataset *tr, const int *rows, int c,
                    const double *f0, double lr, double *f, double *g)
{
    int k = tr->k;
    op_net_forward(net, tr->x, rows, c, f);
    /* Batch targets (and f0) gathered by the same rows. */
    for (int i = 0; i < c; i++) {
        double *fi = f + (size_t)i * k;
        const double *yi = tr->y + (size_t)rows[i] * k;
        if (f0) {
            const double *f0i = f0 + (size_t)rows[i] * k;
            for (int o = 0; o < k; o++)
                fi[o] -= f0i[o];
        }
        op_train_loss(tc->loss, fi, yi, 1, k, 1.0 / c, g + (size_t)i * k);
    }
    if (tc->optimizer == OP_OPT_ADAM) {
        op_net_backward(net, g, c, 0);
        op_train_step(net, tc, lr);
    } else {
        /* SGD: gradient GEMMs write the velocity directly */
        op_net_backward_sgd(net, g, c, lr, tc->momentum, tc->weight_decay);
    }
}

/* One epoch of mini-batches for every member, in a fresh shuffled order. */
/* Returns nonzero when the poll callback asked to abandon the run. */
static int minibatch_epoch(const run_ctx *rc, op_trainer *t, op_rng *brng,
                           double lr)
{
    const op_dataset *tr = rc->train;
    const op_train_cfg *tc = &rc->cfg->train;
    int k = rc->k, b = tc->batch;
    op_rng_permutation(brng, t->perm, tr->n);
    for (long s = 0; s < tr->n; s += b) {
        int c = (int)(tr->n - s < b ? tr->n - s : b);
        const int *rows = t->perm + s;
        for (int e = 0; e < rc->members; e++)
            op_train_batch(&t->nets[e], tc, tr, rows, c,
                           rc->f0 ? rc->f0 + (size_t)e * (tr->n + (rc->test ? rc->test->n : 0)) * k
                                  : NULL,
                           lr, rc->fmem, rc->gout);
        if (t->poll && t->poll(t->poll_ctx))
            return 1;
    }
    return 0;
}

void op_train_log_point(const op_layout *layout, op_result *res, int slot,
                      int epoch, const double m[4])
{
    if (!layout || slot >= layout->n_log)
        return;
    op_result_field(res, layout, OP_F_EPOCH)[slot] = epoch;
    op_result_field(res, layout, OP_F_TRAIN_LOSS)[slot] = m[0];
    op_result_field(res, layout, OP_F_TEST_LOSS)[slot] = m[1];
    op_result_field(res, layout, OP_F_TRAIN_ACC)[slot] = m[2];
    op_result_field(res, layout, OP_F_TEST_ACC)[slot] = m[3];
}

int op_train_chunk(const op_config *cfg, int n_tr, int n_te, int d_in, int k,
                   int *batch_max)
{
    const op_model_cfg *m = &cfg->model;
    const op_train_cfg *tc = &cfg->train;
    int es = tc->precision == 8 ? 8 : 4;
    /* Chunk: activation rows (a, h, d per layer + input) within budget. */
    double per_row = (double)es * (2.0 * d_in + 3.0 * m->width * m->depth +
                                   2.0 * m->width + 3.0 * k);
    long chunk = (long)((double)TRAIN_CHUNK_BYTES / per_row);
    long nmax = n_tr > n_te ? n_tr : n_te;
    if (chunk < TRAIN_CHUNK_MIN)
        chunk = TRAIN_CHUNK_MIN;
    if (chunk > nmax)
        chunk = nmax;
    int full = tc->batch <= 0 || tc->batch >= n_tr;
    if (batch_max) {
        *batch_max = (int)chunk;
        if (!full && tc->batch > *batch_max)
            *batch_max = tc->batch;
    }
    return (int)chunk;
}

int op_train_opt_slots(const op_train_cfg *tc)
{
    return tc->optimizer == OP_OPT_ADAM ? 2 : tc->momentum != 0 ? 1 : 0;
}

double op_train_epoch_lr(const op_train_cfg *tc, int epoch)
{
    double lr = tc->lr;
    if (tc->lr_step > 0)
        lr *= pow(tc->lr_decay, (double)(epoch / tc->lr_step));
    return lr;
}

int op_train_stops(const op_train_cfg *tc, int epoch, const double m[4])
{
    return !isfinite(m[0]) || epoch >= tc->epochs ||
           (tc->target_loss > 0 && m[0] <= tc->target_loss) ||
           (tc->stop_at_fit && m[2] == 1.0);
}

int op_train_logs(const op_train_cfg *tc, int epoch, int stop)
{
    return stop || epoch == 0 ||
           (tc->log_every > 0 && epoch % tc->log_every == 0);
}

op_status op_train_check(const op_config *cfg, long run,
                         const op_dataset *train, const op_dataset *test)
{
    const op_train_cfg *tc = &cfg->train;
    if (!train || train->n < 1 || train->d < 1 || train->k < 1)
        return op_error(OP_ERR_INPUT, "run %ld: empty training set", run);
    if (test && test->n > 0 && (test->d != train->d || test->k != train->k))
        return op_error(OP_ERR_INPUT,
                        "run %ld: test set shape %dx%d differs from train %dx%d",
                        run, test->d, test->k, train->d, train->k);
    if (tc->loss == OP_LOSS_XENT && train->k < 2)
        return op_error(OP_ERR_INPUT,
                        "run %ld: cross-entropy needs k >= 2 outputs (k = %d)",
                        run, train->k);
    return OP_OK;
}

/* Sizes and carves the trainer's buffers and networks for this run. */
static op_status prepare(op_trainer *t, run_ctx *rc, int d_in)
{
    const op_config *cfg = rc->cfg;
    const op_model_cfg *m = &cfg->model;
    const op_train_cfg *tc = &cfg->train;
    int n_tr = rc->train->n, n_te = rc->test ? rc->test->n : 0, k = rc->k;
    int es = tc->precision == 8 ? 8 : 4;

    rc->full = tc->batch <= 0 || tc->batch >= n_tr;
    int batch_max;
    rc->chunk = op_train_chunk(cfg, n_tr, n_te, d_in, k, &batch_max);

    /* Networks: grow the array, keep existing blocks for reuse. */
    if (t->n_nets < rc->members) {
        op_net *nn = realloc(t->nets, (size_t)rc->members * sizeof *nn);
        if (!nn)
            return op_error(OP_ERR_NOMEM, "trainer network array refused");
        memset(nn + t->n_nets, 0,
               (size_t)(rc->members - t->n_nets) * sizeof *nn);
        t->nets = nn;
        t->n_nets = rc->members;
    }
    int opt_slots = op_train_opt_slots(tc);
    t->members = 0; /* no valid network until setup succeeds */
    for (int e = 0; e < rc->members; e++) {
        op_status st = op_net_setup(&t->nets[e], m, d_in, k, es, batch_max,
                                    opt_slots);
        if (st != OP_OK)
            return st;
        /* every optimizer step of the run decays by this rule (net.h) */
        op_net_set_wd_scaling(&t->nets[e],
                              (op_wd_scaling)rc->cfg->train.weight_decay_scaling);
    }
    t->members = rc->members;

    /* Double buffers: ftrain, ftest, fmem, gout, f0. */
    size_t need = (size_t)n_tr * k + (size_t)n_te * k +
                  2 * (size_t)batch_max * k +
                  (tc->center ? (size_t)rc->members * (n_tr + n_te) * k : 0);
    if (need > t->buf_cap) {
        double *b = realloc(t->buf, need * sizeof(double));
        if (!b)
            return op_error(OP_ERR_NOMEM, "trainer buffers of %zu doubles", need);
        t->buf = b;
        t->buf_cap = need;
    }
    rc->ftrain = t->buf;
    rc->ftest = rc->ftrain + (size_t)n_tr * k;
    rc->fmem = rc->ftest + (size_t)n_te * k;
    rc->gout = rc->fmem + (size_t)batch_max * k;
    rc->f0 = tc->center ? rc->gout + (size_t)batch_max * k : NULL;

    if ((size_t)n_tr > t->perm_cap) {
        int *p = realloc(t->perm, (size_t)n_tr * sizeof(int));
        if (!p)
            return op_error(OP_ERR_NOMEM, "trainer permutation refused");
        t->perm = p;
        t->perm_cap = (size_t)n_tr;
    }
    return OP_OK;
}

op_status op_train_run(op_trainer *t, const op_config *cfg, long run,
                       const op_dataset *train, const op_dataset *test,
                       const op_layout *layout, op_result *res)
{
    double t_start = now_seconds();
    const op_train_cfg *tc = &cfg->train;
    op_status st = op_train_check(cfg, run, train, test);
    if (st != OP_OK)
        return st;

    run_ctx rc = {0};
    rc.cfg = cfg;
    rc.train = train;
    rc.test = test && test->n > 0 ? test : NULL;
    rc.k = train->k;
    rc.members = tc->ensemble > 1 ? tc->ensemble : 1;
    st = prepare(t, &rc, train->d);
    if (st != OP_OK)
        return st;

    int k = rc.k, n_tr = train->n;
    for (int e = 0; e < rc.members; e++) {
        op_rng r;
        op_run_rng(&r, cfg, run, OP_RUN_STREAM_INIT, e);
        op_net_init_params(&t->nets[e], &r);
        if (rc.f0) {
            double *f0 = rc.f0 + (size_t)e * (n_tr + (rc.test ? rc.test->n : 0)) * k;
            op_net_predict(&t->nets[e], train->x, n_tr, f0);
            if (rc.test)
                op_net_predict(&t->nets[e], rc.test->x, rc.test->n,
                               f0 + (size_t)n_tr * k);
        }
    }
    op_rng brng;
    op_run_rng(&brng, cfg, run, OP_RUN_STREAM_BATCH, 0);

    int epoch = 0, slot = 0, fit_epoch = -1, diverged = 0;
    double m[4] = {NAN, NAN, NAN, NAN}; /* train/test loss, train/test acc */
    for (;;) {
        /* Metrics of the state after `epoch` epochs; in full batch the same
         * pass leaves the gradient for the next step, so evaluating the
         * training set every epoch costs nothing extra there. */
        int grad = rc.full && epoch < tc->epochs;
        eval_set(&rc, t->nets, train, 0, rc.ftrain, grad);
        m[0] = op_train_loss(tc->loss, rc.ftrain, train->y, n_tr, k,
                             1.0 / n_tr, NULL);
        m[2] = op_train_accuracy(rc.ftrain, train);
        diverged = !isfinite(m[0]);
        if (m[2] == 1.0 && fit_epoch < 0)
            fit_epoch = epoch;
        int stop = op_train_stops(tc, epoch, m);
        if (op_train_logs(tc, epoch, stop)) {
            if (rc.test) {
                eval_set(&rc, t->nets, rc.test, n_tr, rc.ftest, 0);
                m[1] = op_train_loss(tc->loss, rc.ftest, rc.test->y,
                                     rc.test->n, k, 1.0 / rc.test->n, NULL);
                m[3] = op_train_accuracy(rc.ftest, rc.test);
            }
            op_train_log_point(layout, res, slot, epoch, m);
            if (t->hook) {
                st = t->hook(t->hook_ctx, cfg, run, &t->nets[0], epoch, slot);
                if (st != OP_OK)
                    return st;
            }
            slot++;
        }
        if (stop)
            break;
        double lr = op_train_epoch_lr(tc, epoch);
        int abandon = 0;
        if (rc.full) {
            for (int e = 0; e < rc.members; e++)
                op_train_step(&t->nets[e], tc, lr);
            abandon = t->poll && t->poll(t->poll_ctx);
        } else {
            abandon = minibatch_epoch(&rc, t, &brng, lr);
        }
        if (abandon)
            return op_error(OP_ERR_STOPPED, "run %ld abandoned at epoch %d: "
                            "stop requested", run, epoch);
        epoch++;
    }

    op_row *row = &res->row;
    row->status = diverged ? OP_RUN_DIVERGED : OP_RUN_DONE;
    row->n_params = t->nets[0].n_train;
    row->train_loss = m[0];
    row->test_loss = m[1];
    row->train_acc = m[2];
    row->test_acc = m[3];
    row->epochs = epoch;
    row->fit_epoch = fit_epoch;
    row->seconds = now_seconds() - t_start;
    return OP_OK;
}
