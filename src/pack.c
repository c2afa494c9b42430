/* pack.c — packed training of several runs that share their inputs: one
 * block per pack, the first layer of every member as one GEMM, the rest
 * of each member through the ordinary network and training code (net.c,
 * train.c), so packed and single runs do the same arithmetic.
 * Contract: include/overparam/pack.h. */
#include "overparam/pack.h"

#include "overparam/data.h"
#include "overparam/run.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PACK_ALIGN 64

/* Per-member state of a pack run (the loop of op_train_run, one each). */
typedef struct {
    int active;     /* still training */
    int full;       /* full batch (else mini-batches of its own order) */
    int grad;       /* this epoch's evaluation leaves the gradient */
    int slot, fit_epoch, diverged, stopped;
    int w0slot;     /* its W_0 in the pack's W_cat (= its place among the
                     * active members, kept compact as members leave) */
    int gslot;      /* its W_0 gradient in dW_cat this epoch */
    double m[4];    /* train/test loss, train/test accuracy */
    double seconds; /* share of the pack's wall time */
    op_rng brng;    /* mini-batch order */
    double *ftrain; /* [n_train][k] predictions of the last evaluation */
} member_state;

struct op_pack {
    void *block; /* the one allocation: see carve() */
    size_t capacity;
    op_net *nets;        /* [n_cap] member networks (views into block) */
    member_state *state; /* [n_cap] */
    int *act, *grd;      /* [n_cap] indices of active / gradient members */
    int n_cap, members;
    /* carved per pack */
    size_t net_bytes;      /* S: every member's network region */
    void *wcat, *dwcat;    /* [M w1][d] REAL: W_0 rows, their gradient;
                            * a full-batch member's W_0 lives in W_cat (its
                            * optimizer steps it there), params' copy is
                            * brought up to date where it is read (sync_w0) */
    void *hcat, *dcat;     /* [chunk][M w1] REAL: layer-0 outputs, deltas */
    void *xr;              /* [chunk][d] REAL: float32 inputs (else NULL) */
    double *ftrain;        /* [M][n_train][k]: each member's predictions */
    double *ftest;         /* [n_test][k] */
    double *fmem, *gout;   /* [batch_max][k] */
    int *perm;             /* [n_train] */
    op_train_hook hook;
    void *hook_ctx;
    op_train_poll poll;
    void *poll_ctx;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t align_up(size_t x)
{
    return (x + PACK_ALIGN - 1) & ~(size_t)(PACK_ALIGN - 1);
}

op_status op_pack_create(op_pack **out)
{
    op_pack *p = calloc(1, sizeof *p);
    if (!p)
        return op_error(OP_ERR_NOMEM, "pack allocation refused");
    *out = p;
    return OP_OK;
}

void op_pack_destroy(op_pack *p)
{
    if (!p)
        return;
    /* The networks live inside the block: never op_net_free them. */
    free(p->block);
    free(p->nets);
    free(p->state);
    free(p->act);
    free(p->grd);
    free(p);
}

void op_pack_set_hook(op_pack *p, op_train_hook hook, void *ctx)
{
    p->hook = hook;
    p->hook_ctx = ctx;
}

void op_pack_set_poll(op_pack *p, op_train_poll poll, void *ctx)
{
    p->poll = poll;
    p->poll_ctx = ctx;
}

op_net *op_pack_net(op_pack *p, int j)
{
    return j >= 0 && j < p->members ? &p->nets[j] : NULL;
}

size_t op_pack_capacity(const op_pack *p) { return p->capacity; }

int op_pack_packable(const op_config *c)
{
    return c->train.ensemble <= 1 && !c->train.center;
}

/* Corruptions that change the inputs x (per seed index). */
static int corrupts_x(op_corruption c)
{
    return c != OP_CORRUPT_NONE && c != OP_CORRUPT_RANDOM_LABELS;
}

/* The configuration with everything members may differ in set to fixed
 * values: two runs may share a pack exactly when their keys are equal. */
static void pack_key(const op_config *c, op_config *k)
{
    memset(k, 0, sizeof *k);
    k->seed = c->seed; /* the data's streams */
    k->data = c->data;
    k->data.label_noise = 0; /* targets only */
    if (corrupts_x(c->data.corruption))
        k->seed_index = c->seed_index;
    k->model = c->model;
    k->model.init_scale = k->model.init_scale_first = 1;
    k->model.init_scale_last = 1;
    if (c->model.param == OP_PARAM_STANDARD) {
        /* initial spread only; the multipliers are 1 */
        k->model.sigma_w2 = 1;
        k->model.sigma_b2 = c->model.sigma_b2 > 0;
        if (c->model.last_set) { /* "same" (-1) stays apart from a value */
            double w = c->model.sigma_w2_last, b = c->model.sigma_b2_last;
            k->model.sigma_w2_last = w < 0 ? -1 : 1;
            k->model.sigma_b2_last = b < 0 ? -1 : b > 0;
        }
    }
    k->train.precision = c->train.precision;
}

int op_pack_compatible(const op_config *a, const op_config *b)
{
    if (!op_pack_packable(a) || !op_pack_packable(b))
        return 0;
    op_config ka, kb;
    pack_key(a, &ka);
    pack_key(b, &kb);
    return memcmp(&ka.data, &kb.data, sizeof ka.data) == 0 &&
           memcmp(&ka.model, &kb.model, sizeof ka.model) == 0 &&
           ka.seed == kb.seed && ka.seed_index == kb.seed_index &&
           ka.train.precision == kb.train.precision;
}

/* Carves the pack's arrays (base NULL: sizes only, p may be a scratch
 * struct) for n members of network size S, layer-0 width w1, inputs d,
 * chunk rows, k outputs. */
static size_t carve(op_pack *p, char *base, int n, size_t S, int es, int w1,
                    int d, int chunk, int batch_max, int n_tr, int n_te,
                    int k)
{
    size_t off = 0;
#define CARVE(ptr, bytes)                                                     \
    do {                                                                      \
        ptr = base ? (void *)(base + off) : NULL;                             \
        off = align_up(off + (size_t)(bytes));                                \
    } while (0)
    void *nets; /* first: member j's network at base + j S (see prepare) */
    CARVE(nets, (size_t)n * S);
    (void)nets;
    size_t wbytes = (size_t)n * w1 * d * es;
    CARVE(p->wcat, wbytes);
    CARVE(p->dwcat, wbytes);
    CARVE(p->hcat, (size_t)chunk * n * w1 * es);
    CARVE(p->dcat, (size_t)chunk * n * w1 * es);
    CARVE(p->xr, es == 4 ? (size_t)chunk * d * es : 0);
    if (es != 4)
        p->xr = NULL;
    CARVE(p->ftrain, (size_t)n * n_tr * k * sizeof(double));
    CARVE(p->ftest, (size_t)n_te * k * sizeof(double));
    CARVE(p->fmem, (size_t)batch_max * k * sizeof(double));
    CARVE(p->gout, (size_t)batch_max * k * sizeof(double));
    CARVE(p->perm, (size_t)n_tr * sizeof(int));
#undef CARVE
    return off;
}

/* Per-member arrays of the pack's bookkeeping, grown to n entries. */
static op_status grow_members(op_pack *p, int n)
{
    if (n <= p->n_cap)
        return OP_OK;
    op_net *nets = realloc(p->nets, (size_t)n * sizeof *nets);
    if (nets)
        p->nets = nets;
    member_state *st = realloc(p->state, (size_t)n * sizeof *st);
    if (st)
        p->state = st;
    int *a = realloc(p->act, (size_t)n * sizeof *a);
    if (a)
        p->act = a;
    int *g = realloc(p->grd, (size_t)n * sizeof *g);
    if (g)
        p->grd = g;
    if (!nets || !st || !a || !g)
        return op_error(OP_ERR_NOMEM, "pack of %d members refused", n);
    p->n_cap = n;
    return OP_OK;
}

static int same_x(const op_dataset *a, const op_dataset *b)
{
    if (!a || a->n == 0)
        return !b || b->n == 0;
    if (!b || b->n == 0)
        return 0;
    return a->n == b->n && a->d == b->d &&
           (a->x == b->x ||
            memcmp(a->x, b->x, (size_t)a->n * a->d * sizeof(double)) == 0);
}

/* The member networks share layer 0's geometry and multipliers, so one
 * GEMM with one alpha computes all of them. */
static int same_layer0(const op_net *a, const op_net *b)
{
    return a->precision == b->precision && a->dims[0] == b->dims[0] &&
           a->dims[1] == b->dims[1] && a->has_bias == b->has_bias &&
           a->freeze_first == b->freeze_first && a->wmul[0] == b->wmul[0] &&
           a->bmul[0] == b->bmul[0];
}

/* Bytes of one member's W_0 and where it lies in the pack and in params. */
static size_t w0_bytes(const op_pack *p)
{
    const op_net *n0 = &p->nets[0];
    return (size_t)n0->dims[1] * n0->dims[0] * n0->precision;
}

static char *w0_slot(const op_pack *p, int j)
{
    return (char *)p->wcat + (size_t)p->state[j].w0slot * w0_bytes(p);
}

static char *w0_params(const op_pack *p, int j)
{
    const op_net *net = &p->nets[j];
    return (char *)net->params + (size_t)net->w_off[0] * net->precision;
}

static void w0_to_slot(op_pack *p, int j)
{
    memcpy(w0_slot(p, j), w0_params(p, j), w0_bytes(p));
}

/* Brings a full-batch member's params up to date with its W_0 in W_cat
 * (before anything reads its network: test set, hook, the final row). */
static void sync_w0(op_pack *p, int j)
{
    if (p->state[j].full)
        memcpy(w0_params(p, j), w0_slot(p, j), w0_bytes(p));
}

/* The network region S of each member: the largest op_net block. */
static size_t member_net_bytes(const op_config *cfg, int d, int k, int es,
                               int batch_max)
{
    size_t b = op_net_block_bytes(&cfg->model, d, k, es, batch_max,
                                  op_train_opt_slots(&cfg->train));
    return align_up(b ? b : PACK_ALIGN);
}

size_t op_pack_bytes(const op_config *cfg, int members, int n_tr, int n_te,
                     int d, int k)
{
    int es = cfg->train.precision == 8 ? 8 : 4, batch_max;
    int chunk = op_train_chunk(cfg, n_tr, n_te, d, k, &batch_max);
    int w1 = cfg->model.depth > 0 ? cfg->model.width : k;
    op_pack scratch;
    memset(&scratch, 0, sizeof scratch);
    return carve(&scratch, NULL, members,
                 member_net_bytes(cfg, d, k, es, batch_max), es, w1, d, chunk,
                 batch_max, n_tr, n_te, k);
}

/* Sizes, checks and carves the pack for these members; initializes every
 * member's network and state. */
static op_status prepare(op_pack *p, op_pack_member *mem, int n, int *chunk)
{
    op_status st = grow_members(p, n);
    if (st != OP_OK)
        return st;
    p->members = 0;
    const op_dataset *tr0 = mem[0].train;
    int d = tr0 ? tr0->d : 0, k = tr0 ? tr0->k : 0;
    int n_tr = tr0 ? tr0->n : 0, n_te = 0, batch_max = 0;
    int es = mem[0].cfg->train.precision == 8 ? 8 : 4;
    size_t S = 0;
    for (int j = 0; j < n; j++) {
        const op_config *c = mem[j].cfg;
        st = op_train_check(c, mem[j].run, mem[j].train, mem[j].test);
        if (st != OP_OK)
            return st;
        if (!op_pack_packable(c))
            return op_error(OP_ERR_INPUT,
                            "run %ld: ensemble/center runs are not packable",
                            mem[j].run);
        if ((c->train.precision == 8 ? 8 : 4) != es)
            return op_error(OP_ERR_INPUT, "run %ld: precision differs from "
                            "run %ld's in one pack", mem[j].run, mem[0].run);
        if (!same_x(mem[j].train, tr0) || mem[j].train->k != k)
            return op_error(OP_ERR_INPUT, "run %ld: training inputs differ "
                            "from run %ld's in one pack", mem[j].run,
                            mem[0].run);
        const op_dataset *te = mem[j].test;
        int nte = te && te->n > 0 ? te->n : 0;
        if (j > 0 && nte != n_te)
            return op_error(OP_ERR_INPUT, "run %ld: test set size %d differs "
                            "from %d in one pack", mem[j].run, nte, n_te);
        n_te = nte;
        int bm;
        int cj = op_train_chunk(c, n_tr, n_te, d, k, &bm);
        if (j > 0 && cj != *chunk)
            return op_error(OP_ERR_INPUT, "run %ld: evaluation chunk %d "
                            "differs from %d in one pack", mem[j].run, cj,
                            *chunk);
        *chunk = cj;
        if (bm > batch_max)
            batch_max = bm;
    }
    for (int j = 0; j < n; j++) {
        /* a bad shape sizes to PACK_ALIGN: op_net_setup below says why */
        size_t b = member_net_bytes(mem[j].cfg, d, k, es, batch_max);
        if (b > S)
            S = b;
    }
    int w1 = mem[0].cfg->model.depth > 0 ? mem[0].cfg->model.width : k;
    size_t need = carve(p, NULL, n, S, es, w1, d, *chunk, batch_max, n_tr,
                        n_te, k);
    if (need > p->capacity) {
        free(p->block);
        p->block = NULL;
        p->capacity = 0;
        void *b = NULL;
        if (posix_memalign(&b, PACK_ALIGN, need) != 0)
            return op_error(OP_ERR_NOMEM, "pack block of %zu bytes refused",
                            need);
        p->block = b;
        p->capacity = need;
    }
    carve(p, p->block, n, S, es, w1, d, *chunk, batch_max, n_tr, n_te, k);
    p->net_bytes = S;
    for (int j = 0; j < n; j++) {
        op_net *net = &p->nets[j];
        memset(net, 0, sizeof *net);
        net->block = (char *)p->block + (size_t)j * S;
        net->capacity = S;
        st = op_net_setup(net, &mem[j].cfg->model, d, k, es, batch_max,
                          op_train_opt_slots(&mem[j].cfg->train));
        if (st != OP_OK)
            return st;
        /* its own decay rule, as op_train_run's networks have (net.h) */
        op_net_set_wd_scaling(
            net, (op_wd_scaling)mem[j].cfg->train.weight_decay_scaling);
        if (!same_layer0(net, &p->nets[0]))
            return op_error(OP_ERR_INPUT, "run %ld: first layer differs from "
                            "run %ld's in one pack", mem[j].run, mem[0].run);
    }
    if (p->nets[0].dims[1] != w1)
        return op_error(OP_ERR_INTERNAL, "pack layer-0 width %d != %d",
                        p->nets[0].dims[1], w1);
    p->members = n;
    for (int j = 0; j < n; j++) {
        const op_config *c = mem[j].cfg;
        member_state *s = &p->state[j];
        memset(s, 0, sizeof *s);
        s->ftrain = p->ftrain + (size_t)j * n_tr * k;
        s->active = 1;
        s->fit_epoch = -1;
        s->full = c->train.batch <= 0 || c->train.batch >= n_tr;
        for (int i = 0; i < 4; i++)
            s->m[i] = NAN;
        /* the run's own streams, where op_train_run takes them */
        op_rng r;
        op_run_rng(&r, c, mem[j].run, OP_RUN_STREAM_INIT, 0);
        op_net_init_params(&p->nets[j], &r);
        op_run_rng(&s->brng, c, mem[j].run, OP_RUN_STREAM_BATCH, 0);
        s->w0slot = j;
        w0_to_slot(p, j);
        mem[j].done = 0;
    }
    return OP_OK;
}

/* The GEMM of either precision (alpha and beta rounded to it, as net.c's
 * (REAL) casts do). */
static void gemm(int es, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N,
                 int K, double alpha, const void *A, int lda, const void *B,
                 int ldb, double beta, void *C, int ldc)
{
    if (es == 4)
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, (float)alpha, A, lda, B,
                    ldb, (float)beta, C, ldc);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb,
                    beta, C, ldc);
}

/* Row 0..c of H[c][na w1] = bmul_0 b_0 of each member, the broadcast
 * forward makes before its GEMM adds onto it (same products). */
static void bias_rows(const op_pack *p, int na, int w1, int c)
{
    int es = p->nets[0].precision;
    size_t ld = (size_t)na * w1;
    for (int q = 0; q < na; q++) {
        const op_net *net = &p->nets[p->act[q]];
        if (es == 4) {
            const float *b = (const float *)net->params + net->b_off[0];
            float bm = (float)net->bmul[0], *h = (float *)p->hcat + q * w1;
            for (int r = 0; r < w1; r++)
                h[r] = bm * b[r];
        } else {
            const double *b = (const double *)net->params + net->b_off[0];
            double bm = net->bmul[0], *h = (double *)p->hcat + q * w1;
            for (int r = 0; r < w1; r++)
                h[r] = bm * b[r];
        }
    }
    for (int i = 1; i < c; i++)
        memcpy((char *)p->hcat + (size_t)i * ld * es, p->hcat, ld * es);
}

/* The training-set pass of every active member: predictions into their
 * ftrain and, for members with grad set, the gradient of the mean loss in
 * their grads (the evaluation op_train_run's eval_set makes, with layer 0
 * packed). */
static void pack_eval(op_pack *p, const op_pack_member *mem, int na, int ng,
                      int chunk)
{
    const op_net *n0 = &p->nets[0];
    const op_dataset *tr = mem[p->act[0]].train;
    int es = n0->precision, d = n0->d_in, w1 = n0->dims[1], k = tr->k;
    int train0 = !n0->freeze_first;
    /* Mini-batch members step W_0 in params (per member): bring it in. */
    for (int q = 0; q < na; q++)
        if (!p->state[p->act[q]].full)
            w0_to_slot(p, p->act[q]);
    long ldh = (long)na * w1, ldd = (long)ng * w1;
    for (long s = 0; s < tr->n; s += chunk) {
        int c = (int)(tr->n - s < chunk ? tr->n - s : chunk);
        const double *xs = tr->x + (size_t)s * d;
        const void *X = xs;
        if (es == 4) {
            float *xr = p->xr;
            for (long i = 0; i < (long)c * d; i++)
                xr[i] = (float)xs[i];
            X = xr;
        }
        if (n0->has_bias)
            bias_rows(p, na, w1, c);
        gemm(es, CblasNoTrans, CblasTrans, c, (int)ldh, d, n0->wmul[0], X, d,
             p->wcat, d, n0->has_bias ? 1.0 : 0.0, p->hcat, (int)ldh);
        int g = 0;
        for (int q = 0; q < na; q++) {
            int j = p->act[q];
            op_net *net = &p->nets[j];
            member_state *st = &p->state[j];
            op_net_forward_after0(net, (char *)p->hcat + (size_t)q * w1 * es,
                                  ldh, c, p->fmem);
            /* favg = 0 + (1/members) f, as eval_set sums an ensemble of 1 */
            double *ft = st->ftrain + (size_t)s * k;
            for (long i = 0; i < (long)c * k; i++)
                ft[i] = 0.0 + 1.0 * p->fmem[i];
            if (!st->grad)
                continue;
            const op_dataset *trj = mem[j].train;
            op_train_loss(mem[j].cfg->train.loss, p->fmem,
                          trj->y + (size_t)s * k, c, k, 1.0 / trj->n,
                          p->gout);
            op_net_backward_skip0(net, p->gout, c, s > 0);
            st->gslot = g;
            if (train0)
                for (int i = 0; i < c; i++)
                    memcpy((char *)p->dcat + ((size_t)i * ldd + (size_t)g * w1) * es,
                           (const char *)net->d[0] + (size_t)i * w1 * es,
                           (size_t)w1 * es);
            g++;
        }
        if (train0 && ng > 0)
            gemm(es, CblasTrans, CblasNoTrans, (int)ldd, d, c, n0->wmul[0],
                 p->dcat, (int)ldd, X, d, s > 0 ? 1.0 : 0.0, p->dwcat, d);
    }
}

/* Member predictions on its test set into p->ftest, chunk by chunk as
 * op_train_run evaluates it. */
static void member_test(op_pack *p, int j, const op_dataset *te, int chunk)
{
    op_net *net = &p->nets[j];
    int k = te->k;
    for (long s = 0; s < te->n; s += chunk) {
        int c = (int)(te->n - s < chunk ? te->n - s : chunk);
        op_net_forward(net, te->x + (size_t)s * te->d, NULL, c, p->fmem);
        double *ft = p->ftest + (size_t)s * k;
        for (long i = 0; i < (long)c * k; i++)
            ft[i] = 0.0 + 1.0 * p->fmem[i];
    }
}

/* The final row of member j, as op_train_run writes it. */
static void finish(op_pack *p, op_pack_member *mem, int j, int epoch)
{
    member_state *s = &p->state[j];
    op_row *row = &mem[j].res->row;
    sync_w0(p, j);
    row->status = s->diverged ? OP_RUN_DIVERGED : OP_RUN_DONE;
    row->n_params = p->nets[j].n_train;
    row->train_loss = s->m[0];
    row->test_loss = s->m[1];
    row->train_acc = s->m[2];
    row->test_acc = s->m[3];
    row->epochs = epoch;
    row->fit_epoch = s->fit_epoch;
    row->seconds = s->seconds;
    mem[j].done = 1;
}

op_status op_pack_run(op_pack *p, op_pack_member *mem, int n)
{
    if (n < 1 || !mem)
        return op_error(OP_ERR_INTERNAL, "empty pack");
    int chunk = 0;
    double t_prep = now_seconds();
    op_status st = prepare(p, mem, n, &chunk);
    if (st != OP_OK)
        return st;
    /* setup and initialization, shared like the epochs */
    t_prep = (now_seconds() - t_prep) / n;
    for (int j = 0; j < n; j++)
        p->state[j].seconds = t_prep;
    for (int epoch = 0;; epoch++) {
        double t0 = now_seconds();
        int na = 0, ng = 0;
        for (int j = 0; j < n; j++) {
            member_state *s = &p->state[j];
            if (!s->active)
                continue;
            p->act[na++] = j;
            s->grad = s->full && epoch < mem[j].cfg->train.epochs;
            if (s->grad)
                p->grd[ng++] = j;
        }
        if (na == 0)
            break;
        pack_eval(p, mem, na, ng, chunk);

        /* Metrics, curve points and stops: op_train_run's, per member. */
        for (int q = 0; q < na; q++) {
            int j = p->act[q];
            member_state *s = &p->state[j];
            const op_config *cfg = mem[j].cfg;
            const op_train_cfg *tc = &cfg->train;
            const op_dataset *tr = mem[j].train, *te = mem[j].test;
            s->m[0] = op_train_loss(tc->loss, s->ftrain, tr->y, tr->n, tr->k,
                                    1.0 / tr->n, NULL);
            s->m[2] = op_train_accuracy(s->ftrain, tr);
            s->diverged = !isfinite(s->m[0]);
            if (s->m[2] == 1.0 && s->fit_epoch < 0)
                s->fit_epoch = epoch;
            s->stopped = op_train_stops(tc, epoch, s->m);
            if (op_train_logs(tc, epoch, s->stopped)) {
                sync_w0(p, j);
                if (te && te->n > 0) {
                    member_test(p, j, te, chunk);
                    s->m[1] = op_train_loss(tc->loss, p->ftest, te->y, te->n,
                                            te->k, 1.0 / te->n, NULL);
                    s->m[3] = op_train_accuracy(p->ftest, te);
                }
                op_train_log_point(mem[j].layout, mem[j].res, s->slot, epoch,
                                   s->m);
                if (p->hook) {
                    st = p->hook(p->hook_ctx, cfg, mem[j].run, &p->nets[j],
                                 epoch, s->slot);
                    if (st != OP_OK)
                        return st;
                }
                s->slot++;
            }
        }

        /* Steps of the members that go on. */
        int stepped = 0, abandon = 0;
        for (int q = 0; q < na && !abandon; q++) {
            int j = p->act[q];
            member_state *s = &p->state[j];
            if (s->stopped)
                continue;
            const op_train_cfg *tc = &mem[j].cfg->train;
            double lr = op_train_epoch_lr(tc, epoch);
            if (s->full) {
                op_train_step_w0(&p->nets[j], tc, lr, w0_slot(p, j),
                                 (char *)p->dwcat +
                                     (size_t)s->gslot * w0_bytes(p));
                stepped = 1;
                continue;
            }
            const op_dataset *tr = mem[j].train;
            op_rng_permutation(&s->brng, p->perm, tr->n);
            for (long b0 = 0; b0 < tr->n; b0 += tc->batch) {
                int c = (int)(tr->n - b0 < tc->batch ? tr->n - b0 : tc->batch);
                op_train_batch(&p->nets[j], tc, tr, p->perm + b0, c, NULL, lr,
                               p->fmem, p->gout);
                if (p->poll && p->poll(p->poll_ctx)) {
                    abandon = 1;
                    break;
                }
            }
        }
        if (!abandon && stepped && p->poll && p->poll(p->poll_ctx))
            abandon = 1;

        double share = (now_seconds() - t0) / na;
        int kept = 0;
        for (int q = 0; q < na; q++) {
            int j = p->act[q];
            member_state *s = &p->state[j];
            s->seconds += share;
            if (s->stopped) {
                s->active = 0;
                finish(p, mem, j, epoch);
                continue;
            }
            /* close the gap a leaving member left in W_cat (slots only
             * move down, in order, so none is overwritten unread) */
            if (s->w0slot != kept) {
                char *from = w0_slot(p, j);
                s->w0slot = kept;
                memmove(w0_slot(p, j), from, w0_bytes(p));
            }
            kept++;
        }
        if (abandon)
            return op_error(OP_ERR_STOPPED, "pack of runs %ld.. abandoned at "
                            "epoch %d: stop requested", mem[0].run, epoch);
    }
    return OP_OK;
}

/* Most members a pack of runs like cfg may hold within `budget` bytes
 * (op_pack_bytes is affine in the member count), at least 1. */
static int members_within(const op_config *cfg, int max_members,
                          size_t budget)
{
    int d, k;
    op_data_shape(cfg, &d, &k);
    int n_tr = cfg->data.n_train > 0 ? cfg->data.n_train : 1;
    int n_te = cfg->data.n_test > 0 ? cfg->data.n_test : 0;
    if (d < 1 || k < 1 || budget == 0)
        return max_members;
    size_t b1 = op_pack_bytes(cfg, 1, n_tr, n_te, d, k);
    size_t b2 = op_pack_bytes(cfg, 2, n_tr, n_te, d, k);
    if (b2 <= b1 || b1 > budget)
        return 1;
    size_t per = b2 - b1, m = 1 + (budget - b1) / per;
    return m < (size_t)max_members ? (int)m : max_members;
}

long op_pack_plan(const op_job *job, const long *runs, long n,
                  int max_members, size_t budget, long *pack_of)
{
    typedef struct {
        op_config key;
        long id;
        int count, limit;
    } open_pack;
    open_pack *open = NULL;
    int n_open = 0, cap = 0;
    long n_packs = 0;
    for (long i = 0; i < n; i++) {
        op_config c;
        op_job_config(job, runs[i], &c);
        int w1 = c.model.depth > 0 ? c.model.width : 0;
        if (max_members <= 1 || !op_pack_packable(&c) ||
            w1 > OP_PACK_WIDTH_MAX) {
            pack_of[i] = n_packs++;
            continue;
        }
        int g = 0;
        for (; g < n_open; g++)
            if (op_pack_compatible(&open[g].key, &c))
                break;
        if (g == n_open) {
            if (n_open == cap) {
                int nc = cap ? 2 * cap : 16;
                open_pack *no = realloc(open, (size_t)nc * sizeof *no);
                if (!no) {
                    free(open);
                    op_error(OP_ERR_NOMEM, "pack plan of %ld runs", n);
                    return -1;
                }
                open = no;
                cap = nc;
            }
            open[g].key = c;
            open[g].id = n_packs++;
            open[g].count = 0;
            open[g].limit = members_within(&c, max_members, budget);
            n_open++;
        }
        pack_of[i] = open[g].id;
        if (++open[g].count >= open[g].limit)
            open[g] = open[--n_open]; /* full: the next such run opens one */
    }
    free(open);
    return n_packs;
}
