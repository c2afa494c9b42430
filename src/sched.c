/* sched.c — the coordinator/worker sweep and the kernel phase; what one
 * run computes is run.c's.
 *
 * Protocol (tags below): runs travel in chunks. A worker sends REQUEST(k)
 * once to ask for k chunks; the coordinator answers every request at once
 * with one ASSIGN per chunk (an array of run indices; an empty one means
 * "nothing left"). Finished results go back in RESULT batches (a head
 * {n, want} and n packed results); the batch that ends a chunk asks for
 * one more chunk (want = 1). Workers keep two chunks in hand so the round
 * trip hides behind a run, and leave when they hold no run, no unsent
 * result and no request outstanding.
 *
 * Why chunks: a coordinator that touches every run with its own message
 * and journal write saturates once runs are short (a 0.15 ms run against
 * ~5 us per message). A chunk is sized from the costs measured so far to
 * last about CHUNK_SECONDS, and never more than 1/(2 x ranks) of the work
 * left, so the tail still balances (guided self-scheduling); runs go out
 * largest estimated cost first, so the long ones start early and the
 * short ones fill the tail. Durability: a finished result waits on its
 * rank at most HOLD_SECONDS (plus one optimizer step of the next run)
 * before it is sent and journaled, and at once after a stop request. The
 * coordinator receives the result messages already waiting together and
 * journals them with one write before answering (coord_poll), so under
 * load the journal's system call is shared by many workers. */
#include "overparam/sched.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "overparam/data.h"
#include "overparam/kphase.h"
#include "overparam/measure.h"
#include "overparam/result.h"
#include "overparam/run.h"
#include "overparam/train.h"

enum { TAG_REQUEST = 11, TAG_RESULT = 12, TAG_ASSIGN = 13 };
#define PREFETCH 2              /* chunks a worker keeps in hand */
#define CHUNK_RUNS 64           /* most runs in a chunk */
#define CHUNK_BYTES (4 << 20)   /* most result bytes in a batch message */
#define CHUNK_SECONDS 0.02      /* a chunk's target duration */
#define HOLD_SECONDS 0.05       /* longest a result waits on its rank */
#define DRAIN_MSGS 16           /* result messages journaled together */

static volatile sig_atomic_t stop_flag = 0;
static double stop_seen;   /* when this rank first noticed stop_flag */
static double stop_margin; /* seconds a run in flight may still take */

void op_sched_request_stop(void) { stop_flag = 1; }
int op_sched_stop_requested(void) { return stop_flag != 0; }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double op_sched_cost(const op_config *cfg)
{
    int d, k;
    op_data_shape(cfg, &d, &k);
    double p = (double)op_net_param_count(&cfg->model, d, k);
    double epochs = cfg->train.epochs > 0 ? cfg->train.epochs : 1;
    return p * (double)cfg->data.n_train * epochs *
           (cfg->train.ensemble > 0 ? cfg->train.ensemble : 1);
}

/* Whether a run in flight must be abandoned now: a stop was asked for and
 * the margin the walltime warning left has passed. */
static int stop_overdue(void)
{
    if (!stop_flag)
        return 0;
    if (stop_seen == 0)
        stop_seen = now();
    return now() - stop_seen > stop_margin;
}

int op_sched_stop_overdue(void) { return stop_overdue(); }

static int worker_poll(void *ctx)
{
    (void)ctx;
    return stop_overdue();
}

/* ---- packs ----------------------------------------------------------- */

/* The job's packing (op_run_plan), the same on every rank: the unit of
 * work is a pack's runs still missing; the coordinator never splits one
 * over chunks, and the rank that gets it trains the whole pack (finished
 * members too: a member's last bits may depend on who shares its pack,
 * pack.h) and reports only the runs it was given. */
typedef struct {
    long n_packs;
    long *pack_of; /* [n_runs] */
    long *start;   /* [n_packs + 1] into members */
    long *members; /* [n_runs] each pack's runs in run order */
} plan;

static op_status plan_build(plan *pl, const op_job *job, int cap)
{
    memset(pl, 0, sizeof *pl);
    long n = job->n_runs;
    pl->pack_of = OP_XMALLOC(sizeof(long) * (size_t)n);
    pl->n_packs = op_run_plan(job, cap, pl->pack_of);
    if (pl->n_packs < 0) {
        free(pl->pack_of);
        pl->pack_of = NULL;
        return OP_ERR_NOMEM;
    }
    pl->start = OP_XCALLOC((size_t)pl->n_packs + 1, sizeof(long));
    pl->members = OP_XMALLOC(sizeof(long) * (size_t)n);
    for (long r = 0; r < n; r++)
        pl->start[pl->pack_of[r] + 1]++;
    for (long p = 0; p < pl->n_packs; p++)
        pl->start[p + 1] += pl->start[p];
    long *fill = OP_XMALLOC(sizeof(long) * (size_t)(pl->n_packs + 1));
    memcpy(fill, pl->start, sizeof(long) * (size_t)(pl->n_packs + 1));
    for (long r = 0; r < n; r++)
        pl->members[fill[pl->pack_of[r]]++] = r;
    free(fill);
    return OP_OK;
}

static void plan_free(plan *pl)
{
    free(pl->pack_of);
    free(pl->start);
    free(pl->members);
    memset(pl, 0, sizeof *pl);
}

/* Runs given[0..)'s unit: how many leading entries belong to the pack of
 * given[0] (at most n, never past a chunk's end when ends is given). */
static int unit_length(const plan *pl, const long *given,
                       const unsigned char *ends, int n)
{
    int k = 1;
    while (k < n && !(ends && ends[k - 1]) &&
           pl->pack_of[given[k]] == pl->pack_of[given[0]])
        k++;
    return k;
}

static void mark_untouched(op_result *res, const op_layout *lay, long run,
                           int rank);

/* Trains the pack of given[0..n) (all of that pack's runs) and calls
 * emit(ctx, result) for each given run in order. After a stop nothing is
 * started: the given runs go back untouched. */
static void compute_unit(const plan *pl, op_run_ctx *w, const op_job *job,
                         const long *given, int n, int rank,
                         void (*emit)(void *, op_result *), void *ctx)
{
    if (stop_flag) {
        for (int i = 0; i < n; i++) {
            mark_untouched(&w->res, w->layout, given[i], rank);
            emit(ctx, &w->res);
        }
        return;
    }
    long p = pl->pack_of[given[0]];
    const long *mem = pl->members + pl->start[p];
    int nm = (int)(pl->start[p + 1] - pl->start[p]);
    op_run_compute_pack(w, job, mem, nm, rank);
    for (int i = 0, j = 0; i < n; i++) {
        while (j < nm && mem[j] != given[i])
            j++;
        if (j == nm)
            op_abort_all(__FILE__, __LINE__, "sweep", "run outside its pack",
                         "internal error in the pack plan");
        emit(ctx, &w->pack_res[j]);
    }
}

/* ---- chunk sizing ---------------------------------------------------- */

void op_sched_fit_add(op_sched_fit *f, double cost, double seconds)
{
    /* Welford: costs span many orders of magnitude (1e3 to 1e13), where
     * raw sums of squares would cancel. */
    f->n += 1;
    double dc = cost - f->mc;
    f->mc += dc / f->n;
    f->ms += (seconds - f->ms) / f->n;
    f->m2c += dc * (cost - f->mc);
    f->ccs += dc * (seconds - f->ms);
}

void op_sched_fit_line(const op_sched_fit *f, double *a, double *b)
{
    *a = *b = 0;
    if (f->n <= 0)
        return;
    double slope = f->m2c > 0 ? f->ccs / f->m2c : 0;
    double icpt = f->ms - slope * f->mc;
    if (slope <= 0 || icpt < 0) { /* one cost, or noise: proportional */
        slope = f->mc > 0 ? f->ms / f->mc : 0;
        icpt = f->mc > 0 ? 0 : f->ms;
    }
    *a = icpt;
    *b = slope;
}

int op_sched_chunk_runs(const double *est, long n, double left_s, int procs,
                        double target_s, int max_runs)
{
    if (n <= 0)
        return 0;
    double limit = left_s / (2.0 * (procs > 0 ? procs : 1));
    if (target_s < limit)
        limit = target_s;
    double acc = est[0];
    int k = 1;
    while (k < max_runs && k < n && acc + est[k] <= limit)
        acc += est[k++];
    return k;
}

/* ---- messages -------------------------------------------------------- */

typedef struct {
    int32_t n;    /* results in the batch */
    int32_t want; /* chunks asked for with it (0 or 1) */
} batch_head;

static size_t result_bytes(const op_layout *lay)
{
    return sizeof(op_row) + sizeof(double) * (size_t)lay->total;
}

/* Results per batch: CHUNK_RUNS, fewer when results are large (saved
 * weights) so that a batch stays near CHUNK_BYTES; at least one. */
static int batch_max(const op_layout *lay)
{
    size_t n = CHUNK_BYTES / result_bytes(lay);
    return n < 1 ? 1 : n > CHUNK_RUNS ? CHUNK_RUNS : (int)n;
}

static void pack_result(const op_result *res, const op_layout *lay,
                        unsigned char *buf)
{
    memcpy(buf, &res->row, sizeof(op_row));
    memcpy(buf + sizeof(op_row), res->values,
           sizeof(double) * (size_t)lay->total);
}

/* A view of a packed result: the values stay in the message buffer
 * (malloc'd, and every packed result a multiple of 8 bytes long). */
static void view_result(op_result *res, unsigned char *buf)
{
    memcpy(&res->row, buf, sizeof(op_row));
    res->values = (double *)(void *)(buf + sizeof(op_row));
}

/* ---- coordinator ----------------------------------------------------- */

typedef struct {
    const op_job *job;
    const op_layout *lay;
    const op_sched_opts *opts;
    op_archive *ar;
    MPI_Comm comm;
    int size, workers;    /* workers = ranks other than 0 */
    int procs;            /* ranks that compute runs */
    int bmax;             /* runs per chunk and results per batch, at most */
    const plan *pl;
    long *order;          /* pending runs, grouped by pack, packs largest
                             cost first */
    long *ustart;         /* [n_units + 1] units (a pack's pending runs)
                             as positions in order */
    double *ucost;        /* [n_units] estimated cost of the whole pack */
    int *umembers;        /* [n_units] runs the pack trains */
    long n_units, next_unit;
    double *cost;         /* [n_runs] estimated cost of each run */
    double *cost_left;    /* [n_order + 1] cost of order[i..] */
    long n_order, next;   /* next = first not yet handed out */
    long in_flight;
    long *held_n;         /* [size] runs rank r holds (handed out, no
                             result yet) */
    double *held_cost;    /* [size] their cost */
    double *held_since;   /* [size] when they started: the hand-out, or
                             rank r's last result */
    double *eta_buf;      /* [size + n_units] the ETA's scratch */
    int hello;            /* workers heard from */
    op_sched_fit fit;     /* seconds against cost, of runs recorded */
    op_result *batch;     /* [drain_max * bmax] views into buf */
    int drain_max;        /* result messages buf holds */
    int answer[DRAIN_MSGS]; /* workers owed a chunk for a drained batch */
    op_result *own;       /* [bmax] rank 0's own results, when it works */
    int own_n;            /* own results not yet put */
    double own_since;     /* when the oldest of them finished */
    long *runs;           /* [bmax] a chunk being handed out */
    double *est;          /* [bmax] its estimated seconds */
    unsigned char *buf;   /* [drain_max] result messages of one drain */
    size_t buf_bytes;     /* of one message at most */
    op_sched_summary *sum;
    double t_start, t_last_print;
    int tty;
    op_status status;
} coord;

/* Takes the next chunk into c->runs; returns its length (0: none left). */
static int coord_take_chunk(coord *c)
{
    /* A journal that cannot be written (disk full) ends the hand-out:
     * the runs in flight still come back and reach /runs. */
    if (stop_flag || c->next >= c->n_order ||
        op_archive_journal_failed(c->ar))
        return 0;
    long n = c->n_order - c->next;
    /* Whole units only: the units of the next <= bmax runs (a unit never
     * holds more: op_run_plan's cap). */
    long u0 = c->next_unit;
    int m = 0;
    while (u0 + m < c->n_units &&
           c->ustart[u0 + m + 1] - c->next <= c->bmax)
        m++;
    int ku = 1;
    if (c->fit.n > 0) {
        double a, b;
        op_sched_fit_line(&c->fit, &a, &b);
        for (int i = 0; i < m; i++)
            c->est[i] = a * c->umembers[u0 + i] + b * c->ucost[u0 + i];
        double left = a * (double)n + b * c->cost_left[c->next];
        ku = op_sched_chunk_runs(c->est, m, left, c->procs, CHUNK_SECONDS, m);
    }
    int k = (int)(c->ustart[u0 + ku] - c->next);
    c->next_unit += ku;
    memcpy(c->runs, c->order + c->next, sizeof(long) * (size_t)k);
    c->next += k;
    c->in_flight += k;
    return k;
}

/* Rank r now also holds the k runs of c->runs (for the ETA). A worker
 * holds several chunks at once (it asks PREFETCH ahead); its clock runs
 * from when it had nothing, or from its last result. */
static void coord_hold(coord *c, int r, int k)
{
    if (c->held_n[r] == 0)
        c->held_since[r] = now();
    c->held_n[r] += k;
    for (int i = 0; i < k; i++)
        c->held_cost[r] += c->cost[c->runs[i]];
}

/* Min-heap of ranks' free times: sift h[i] down. */
static void heap_down(double *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < n && h[l] < h[m])
            m = l;
        if (l + 1 < n && h[l + 1] < h[m])
            m = l + 1;
        if (m == i)
            return;
        double t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

double op_sched_eta(double *busy, int procs, const double *est, long n)
{
    if (procs < 1)
        return -1;
    for (int i = procs / 2 - 1; i >= 0; i--)
        heap_down(busy, procs, i);
    for (long i = 0; i < n; i++) {
        busy[0] += est[i]; /* the rank free first takes the next unit */
        heap_down(busy, procs, 0);
    }
    double end = 0;
    for (int p = 0; p < procs; p++)
        end = busy[p] > end ? busy[p] : end;
    return end;
}

/* The ETA comes from the cost fit the chunks are sized with, not from
 * elapsed / finished: runs go out largest first, so the early average
 * overstates the rest by the cost spread (~10x on a width sweep). */
static void coord_progress(coord *c, int final)
{
    if (c->opts->quiet)
        return;
    double t = now();
    double every = c->tty ? 0.5 : c->opts->progress_every;
    if (!final && t - c->t_last_print < every)
        return;
    c->t_last_print = t;
    op_sched_summary *s = c->sum;
    long finished = s->done + s->diverged + s->failed;
    long total = s->n_runs - s->done_before;
    double el = t - c->t_start;
    char eta[32] = "-";
    if (finished > 0 && finished < total) {
        double a, b, left;
        op_sched_fit_line(&c->fit, &a, &b);
        if (c->fit.n > 0) {
            /* What each computing rank holds, less the time it has had;
             * then the units not handed out, largest first. */
            double *busy = c->eta_buf, *est = c->eta_buf + c->size;
            int p = 0;
            for (int r = c->procs > c->workers ? 0 : 1; r < c->size; r++) {
                double hold = a * (double)c->held_n[r] + b * c->held_cost[r] -
                              (t - c->held_since[r]);
                busy[p++] = c->held_n[r] > 0 && hold > 0 ? hold : 0;
            }
            long n = c->n_units - c->next_unit;
            for (long i = 0; i < n; i++)
                est[i] = a * c->umembers[c->next_unit + i] +
                         b * c->ucost[c->next_unit + i];
            left = op_sched_eta(busy, p, est, n);
        } else { /* no run timed yet */
            left = el / (double)finished * (double)(total - finished);
        }
        snprintf(eta, sizeof eta, "%.0fs", left < 0.5 && left > 0 ? 1 : left);
    } else if (finished == total) {
        snprintf(eta, sizeof eta, "0s");
    }
    fprintf(stderr, "%s[overparam] runs %ld/%ld (%ld resumed) diverged %ld "
            "failed %ld elapsed %.0fs ETA %s%s%s", c->tty ? "\r" : "",
            finished + s->done_before, s->n_runs, s->done_before,
            s->diverged, s->failed, el, eta, stop_flag ? " [stopping]" : "",
            c->tty && !final ? "   " : "\n");
    fflush(stderr);
}

/* Records a batch of n results: counts them, journals and stages the
 * finished ones with one op_archive_put_n, and feeds the cost fit. The
 * batch is reordered in place (abandoned results moved out). */
static void coord_record(coord *c, op_result *res, int n)
{
    int kept = 0;
    for (int j = 0; j < n; j++) {
        c->in_flight--;
        const op_row *r = &res[j].row;
        if (r->rank >= 0 && r->rank < c->size && c->held_n[r->rank] > 0) {
            c->held_n[r->rank]--;
            c->held_cost[r->rank] -= c->cost[r->run];
            c->held_since[r->rank] = now();
        }
        switch (r->status) {
        case OP_RUN_PENDING: c->sum->abandoned++; continue;
        case OP_RUN_DONE: c->sum->done++; break;
        case OP_RUN_DIVERGED: c->sum->diverged++; break;
        default: c->sum->failed++; break;
        }
        if (r->status != OP_RUN_FAILED)
            op_sched_fit_add(&c->fit, c->cost[r->run], r->seconds);
        if (kept != j) {
            op_result t = res[kept];
            res[kept] = res[j];
            res[j] = t;
        }
        kept++;
    }
    op_status s = op_archive_put_n(c->ar, res, kept);
    c->sum->batches += kept > 0;
    if (s != OP_OK && c->status == OP_OK)
        c->status = s; /* keep going: workers must still be answered */
    coord_progress(c, 0);
}

static void coord_answer(coord *c, int worker)
{
    int k = coord_take_chunk(c);
    coord_hold(c, worker, k);
    OP_MPI_CHECK(MPI_Send(c->runs, k, MPI_LONG, worker, TAG_ASSIGN, c->comm),
                 "assigning runs");
}

/* Rank 0's own finished results, when it works: batched like a worker's. */
static void coord_own_flush(coord *c)
{
    if (c->own_n == 0)
        return;
    int n = c->own_n;
    c->own_n = 0;
    coord_record(c, c->own, n);
}

/* Answers every message waiting; returns how many were handled. Called
 * between runs and, when rank 0 trains too, between optimizer steps.
 * Result messages that are already waiting are received together (up to
 * drain_max) and journaled with one write before their senders get their
 * next chunks: under load the journal's system call is shared by many
 * workers' batches, and a result is still durable before its worker hears
 * back. */
static int coord_poll(coord *c)
{
    int handled = 0, drained = 0, n_res = 0, n_answer = 0;
    size_t rb = result_bytes(c->lay);
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (drained < c->drain_max)
            OP_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm,
                                    &flag, &st), "polling workers");
        if (!flag && drained > 0) {
            /* The drain ends: journal it, then answer its senders. */
            coord_record(c, c->batch, n_res);
            for (int i = 0; i < n_answer; i++)
                coord_answer(c, c->answer[i]);
            drained = n_res = n_answer = 0;
            continue;
        }
        if (!flag) {
            /* Progress keeps coming while a long run holds every rank, and
             * so do the staged results' HDF5 writes (op_archive_put
             * batches them; this bounds how stale a live archive gets
             * when results stop arriving). */
            op_status s = op_archive_poll(c->ar);
            if (s != OP_OK && c->status == OP_OK)
                c->status = s;
            coord_progress(c, 0);
            return handled;
        }
        handled++;
        if (st.MPI_TAG == TAG_REQUEST) {
            int k;
            OP_MPI_CHECK(MPI_Recv(&k, 1, MPI_INT, st.MPI_SOURCE, TAG_REQUEST,
                                  c->comm, MPI_STATUS_IGNORE), "request");
            c->hello++;
            for (int i = 0; i < k; i++)
                coord_answer(c, st.MPI_SOURCE);
        } else if (st.MPI_TAG == TAG_RESULT) {
            int bytes;
            OP_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &bytes),
                         "result batch size");
            unsigned char *m = c->buf + c->buf_bytes * (size_t)drained;
            OP_MPI_CHECK(MPI_Recv(m, (int)c->buf_bytes, MPI_BYTE,
                                  st.MPI_SOURCE, TAG_RESULT, c->comm,
                                  MPI_STATUS_IGNORE), "result batch");
            batch_head h;
            memcpy(&h, m, sizeof h);
            if (h.n < 0 || h.n > c->bmax ||
                (size_t)bytes != sizeof h + rb * (size_t)h.n)
                op_abort_all(__FILE__, __LINE__, "coordinator",
                             "malformed result batch",
                             "protocol error between ranks");
            for (int j = 0; j < h.n; j++)
                view_result(&c->batch[n_res++], m + sizeof h + rb * (size_t)j);
            if (h.want)
                c->answer[n_answer++] = st.MPI_SOURCE;
            drained++;
            c->sum->messages++;
        } else {
            op_abort_all(__FILE__, __LINE__, "coordinator", "unexpected tag",
                         "protocol error between ranks");
        }
    }
}

static int coord_poll_hook(void *ctx)
{
    coord *c = ctx;
    coord_poll(c);
    /* A long run must not keep earlier results of the chunk unjournaled. */
    if (c->own_n > 0 && now() - c->own_since >= HOLD_SECONDS)
        coord_own_flush(c);
    return stop_overdue();
}

static int cmp_cost_desc(const void *a, const void *b, const double *cost)
{
    long x = *(const long *)a, y = *(const long *)b;
    if (cost[x] != cost[y])
        return cost[x] > cost[y] ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: equal costs in pack order */
}

static const double *sort_cost;
static int cmp_sort(const void *a, const void *b)
{
    return cmp_cost_desc(a, b, sort_cost);
}

/* The pending runs in hand-out order: units (a pack's pending runs, in
 * run order), the packs largest estimated cost first (the whole pack's:
 * it trains whole). */
static void coord_order(coord *c, const unsigned char *done)
{
    const op_job *job = c->job;
    const plan *pl = c->pl;
    c->cost = OP_XMALLOC(sizeof(double) * (size_t)job->n_runs);
    c->order = OP_XMALLOC(sizeof(long) * (size_t)job->n_runs);
    double *pcost = OP_XCALLOC((size_t)pl->n_packs + 1, sizeof(double));
    long *pending = OP_XCALLOC((size_t)pl->n_packs + 1, sizeof(long));
    long *packs = OP_XMALLOC(sizeof(long) * (size_t)(pl->n_packs + 1));
    long n_packs = 0;
    for (long r = 0; r < job->n_runs; r++) {
        op_config cfg;
        op_job_config(job, r, &cfg);
        c->cost[r] = op_sched_cost(&cfg);
        long p = pl->pack_of[r];
        pcost[p] += c->cost[r];
        if (!done[r] && r % c->opts->task_count == c->opts->task_index &&
            pending[p]++ == 0)
            packs[n_packs++] = p;
    }
    sort_cost = pcost;
    qsort(packs, (size_t)n_packs, sizeof(long), cmp_sort);
    c->ustart = OP_XMALLOC(sizeof(long) * (size_t)(n_packs + 1));
    c->ucost = OP_XMALLOC(sizeof(double) * (size_t)(n_packs + 1));
    c->umembers = OP_XMALLOC(sizeof(int) * (size_t)(n_packs + 1));
    c->n_units = n_packs;
    c->next_unit = 0;
    c->n_order = 0;
    for (long u = 0; u < n_packs; u++) {
        long p = packs[u];
        c->ustart[u] = c->n_order;
        c->ucost[u] = pcost[p];
        c->umembers[u] = (int)(pl->start[p + 1] - pl->start[p]);
        if (c->umembers[u] > 1) {
            c->sum->packs++;
            c->sum->packed_runs += c->umembers[u];
        }
        for (long i = pl->start[p]; i < pl->start[p + 1]; i++) {
            long r = pl->members[i];
            if (!done[r] && r % c->opts->task_count == c->opts->task_index)
                c->order[c->n_order++] = r;
        }
    }
    c->ustart[n_packs] = c->n_order;
    free(pcost);
    free(pending);
    free(packs);
    c->cost_left = OP_XMALLOC(sizeof(double) * (size_t)(c->n_order + 1));
    c->cost_left[c->n_order] = 0;
    for (long i = c->n_order - 1; i >= 0; i--)
        c->cost_left[i] = c->cost_left[i + 1] + c->cost[c->order[i]];
}

static void sleep_briefly(void)
{
    /* Open MPI's blocking calls spin; on a core shared with a worker the
     * coordinator must yield instead. */
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
}

/* Hands back a run not started (after a stop): pending, it runs again on
 * resume. */
static void mark_untouched(op_result *res, const op_layout *lay, long run,
                           int rank)
{
    op_result_reset(res, lay, run);
    res->row.rank = rank;
}

/* Rank 0's result of a run it computed: swapped into c->own (the poll
 * hook may flush c->own while a run trains, so results are computed
 * elsewhere and moved in). */
static void coord_emit(void *ctx, op_result *res)
{
    coord *c = ctx;
    if (c->own_n == c->bmax)
        coord_own_flush(c);
    op_result t = c->own[c->own_n];
    c->own[c->own_n] = *res;
    *res = t;
    if (c->own_n++ == 0)
        c->own_since = now();
    if (stop_flag || now() - c->own_since >= HOLD_SECONDS)
        coord_own_flush(c);
}

static void coordinator(coord *c, op_run_ctx *w, int works)
{
    c->t_start = now();
    c->t_last_print = c->t_start;
    c->tty = isatty(2);
    long mine[CHUNK_RUNS];
    int n_mine = 0, i_mine = 0;
    for (;;) {
        int idle = c->hello == c->workers && c->in_flight == 0 &&
                   (c->next >= c->n_order || stop_flag ||
                    op_archive_journal_failed(c->ar));
        if (idle)
            break;
        if (works && c->hello == c->workers) {
            if (i_mine == n_mine) {
                n_mine = coord_take_chunk(c);
                coord_hold(c, 0, n_mine);
                memcpy(mine, c->runs, sizeof(long) * (size_t)n_mine);
                i_mine = 0;
            }
            if (i_mine < n_mine) {
                int k = unit_length(c->pl, mine + i_mine, NULL,
                                    n_mine - i_mine);
                compute_unit(c->pl, w, c->job, mine + i_mine, k, 0,
                             coord_emit, c);
                i_mine += k;
                if (i_mine == n_mine)
                    coord_own_flush(c);
                continue;
            }
        }
        if (coord_poll(c) == 0)
            sleep_briefly();
    }
    c->sum->sweep_seconds = now() - c->t_start;
    coord_progress(c, 1);
}

/* ---- worker ---------------------------------------------------------- */

typedef struct {
    MPI_Comm comm;
    const op_layout *lay;
    size_t rb;            /* bytes of one packed result */
    int bmax;
    unsigned char *buf;   /* batch_head + [bmax] packed results */
    int n;                /* results packed, not yet sent */
    double since;         /* when the oldest of them finished */
    int outstanding;      /* chunks asked for, not yet answered */
} wbatch;

static void wbatch_send(wbatch *b, int want)
{
    batch_head h = {b->n, want};
    memcpy(b->buf, &h, sizeof h);
    OP_MPI_CHECK(MPI_Send(b->buf, (int)(sizeof h + b->rb * (size_t)b->n),
                          MPI_BYTE, 0, TAG_RESULT, b->comm),
                 "sending results");
    b->n = 0;
    b->outstanding += want;
}

/* Between optimizer steps: results held too long travel now. */
static int worker_poll_hook(void *ctx)
{
    wbatch *b = ctx;
    if (b->n > 0 && now() - b->since >= HOLD_SECONDS)
        wbatch_send(b, 0);
    return stop_overdue();
}

/* A worker's result: into the batch, which travels when full. */
static void worker_emit(void *ctx, op_result *res)
{
    wbatch *b = ctx;
    if (b->n == b->bmax)
        wbatch_send(b, 0);
    pack_result(res, b->lay, b->buf + sizeof(batch_head) + b->rb * (size_t)b->n);
    if (b->n++ == 0)
        b->since = now();
}

static void worker(const op_job *job, const plan *pl, op_run_ctx *w,
                   MPI_Comm comm, int rank)
{
    enum { QCAP = PREFETCH * CHUNK_RUNS };
    long queue[QCAP];
    unsigned char ends[QCAP]; /* ends[i]: queue[i] is its chunk's last */
    int nq = 0, exhausted = 0;
    wbatch b = {comm, w->layout, result_bytes(w->layout),
                batch_max(w->layout), NULL, 0, 0, PREFETCH};
    b.buf = OP_XMALLOC(sizeof(batch_head) + b.rb * (size_t)b.bmax);
    op_run_set_poll(w, worker_poll_hook, &b);
    int k = PREFETCH;
    OP_MPI_CHECK(MPI_Send(&k, 1, MPI_INT, 0, TAG_REQUEST, comm),
                 "asking for runs");
    for (;;) {
        /* Never block on an answer while holding results (a chunk's last
         * run sends them, so this is a guard, not a path). */
        if (nq == 0 && b.n > 0)
            wbatch_send(&b, 0);
        /* Take every answer already here; block only with nothing to do. */
        while (b.outstanding > 0) {
            int flag = 1, cnt;
            MPI_Status st;
            if (nq > 0) {
                OP_MPI_CHECK(MPI_Iprobe(0, TAG_ASSIGN, comm, &flag, &st),
                             "polling");
                if (!flag)
                    break;
            } else {
                OP_MPI_CHECK(MPI_Probe(0, TAG_ASSIGN, comm, &st), "waiting");
            }
            OP_MPI_CHECK(MPI_Get_count(&st, MPI_LONG, &cnt), "chunk size");
            if (cnt < 0 || cnt > CHUNK_RUNS || nq + cnt > QCAP)
                op_abort_all(__FILE__, __LINE__, "worker", "chunk too long",
                             "protocol error between ranks");
            OP_MPI_CHECK(MPI_Recv(queue + nq, cnt, MPI_LONG, 0, TAG_ASSIGN,
                                  comm, MPI_STATUS_IGNORE), "receiving runs");
            b.outstanding--;
            if (cnt == 0)
                exhausted = 1;
            for (int i = 0; i < cnt; i++)
                ends[nq + i] = i == cnt - 1;
            nq += cnt;
        }
        if (nq == 0 && b.outstanding == 0)
            break;
        if (nq == 0)
            continue;
        /* The next unit: the given runs of one pack (a chunk holds whole
         * units). */
        long unit[CHUNK_RUNS];
        int ku = unit_length(pl, queue, ends, nq);
        int end = ends[ku - 1];
        memcpy(unit, queue, sizeof(long) * (size_t)ku);
        nq -= ku;
        memmove(queue, queue + ku, sizeof(long) * (size_t)nq);
        memmove(ends, ends + ku, (size_t)nq);
        compute_unit(pl, w, job, unit, ku, rank, worker_emit, &b);
        if (end)
            wbatch_send(&b, !exhausted);
        else if (b.n > 0 && (stop_flag || b.n == b.bmax ||
                             now() - b.since >= HOLD_SECONDS))
            wbatch_send(&b, 0);
    }
    op_run_set_poll(w, worker_poll, NULL);
    free(b.buf);
}

/* ---- the whole job --------------------------------------------------- */

op_status op_sched_run(const op_job *job, const op_sched_opts *opts,
                       MPI_Comm comm, op_sched_summary *sum)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(sum, 0, sizeof *sum);
    sum->n_runs = job->n_runs;
    double t0 = now();

    op_layout layout;
    op_status s = op_layout_build(job, &layout);
    if (s == OP_OK)
        s = op_kphase_check_memory(job, comm);
    if (s == OP_OK) /* before the sweep, not after hours of it */
        s = op_kphase_check_grid(job, comm);
    if (s == OP_OK) { /* the largest network, before the first run */
        double have = op_kphase_rank_share(comm);
        s = op_run_check_memory(job, have);
    }
    if (s != OP_OK)
        return s;
    /* The job's data is loaded before anything is written: a truncated or
     * corrupted data file is bad input (exit 2, no archive), not a sweep
     * of failed runs. Every rank loads it (the kernel phase needs it on
     * all of them) and keeps it cached for the runs. */
    op_run_ctx w = {0};
    op_config base = job->base;
    /* The largest swept n_train/n_test too: a data set too small for one
     * grid point is bad input now, not a failed run after the sweep. */
    op_config big = base;
    const char *const sizes[] = {"n_train", "n_test"};
    int *const fields[] = {&big.data.n_train, &big.data.n_test};
    int grown = 0;
    for (int i = 0; i < 2; i++) {
        int a = op_job_axis_find(job, sizes[i]);
        for (int j = 0; a >= 0 && j < job->axes[a].n; j++)
            if (job->axes[a].values[j] > *fields[i]) {
                *fields[i] = (int)job->axes[a].values[j];
                grown = 1;
            }
    }
    /* and the largest [kernel] n_train of a learning curve */
    if (op_kphase_count(job) > 0 && op_kphase_max_n(job) > big.data.n_train) {
        big.data.n_train = op_kphase_max_n(job);
        grown = 1;
    }
    s = grown ? op_run_data(&w, &big) : OP_OK;
    if (s == OP_OK)
        s = op_run_data(&w, &base);
    int ok = s == OP_OK;
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm),
                 "checking the data on every rank");
    if (!ok) {
        if (s == OP_OK)
            s = op_error(OP_ERR_INPUT, "data of %s: see rank 0", job->file);
        if (w.valid) {
            op_data_free(&w.train);
            op_data_free(&w.test);
        }
        return s;
    }
    int n_kernels = op_kphase_count(job);
    unsigned char *done = OP_XCALLOC((size_t)job->n_runs + 1, 1);
    unsigned char *kdone = OP_XCALLOC((size_t)n_kernels + 1, 1);
    op_archive *ar = NULL;
    s = op_archive_open(&ar, opts->out_path, job, &layout, comm, opts->mode,
                        done, kdone, n_kernels);
    if (s != OP_OK) {
        op_data_free(&w.train);
        op_data_free(&w.test);
        free(done);
        free(kdone);
        return s;
    }
    if (!opts->extended)
        op_archive_report_resumed(ar, stderr);
    /* A job-array task owns every task_count-th run. */
    sum->n_runs = 0;
    for (long r = 0; r < job->n_runs; r++)
        if (r % opts->task_count == opts->task_index) {
            sum->n_runs++;
            sum->done_before += done[r];
        }

    stop_margin = opts->stop_margin;
    op_run_setup(&w, job, &layout);
    op_run_set_poll(&w, worker_poll, NULL);
    /* Every rank plans the same packs (the job's, at most a batch each). */
    plan pl;
    OP_INFO_CHECK("op_run_plan", plan_build(&pl, job, batch_max(&layout)),
                  "out of memory for the pack plan");
    int works = opts->coordinator_works < 0 ? size < 16
                                            : opts->coordinator_works;
    if (size == 1)
        works = 1;

    if (rank == 0) {
        coord c = {0};
        c.job = job;
        c.lay = &layout;
        c.opts = opts;
        c.ar = ar;
        c.comm = comm;
        c.size = size;
        c.workers = size - 1;
        c.procs = c.workers + (works != 0);
        c.bmax = batch_max(&layout);
        c.sum = sum;
        c.pl = &pl;
        c.buf_bytes = sizeof(batch_head) + result_bytes(&layout) *
                                               (size_t)c.bmax;
        /* A drain holds up to DRAIN_MSGS messages, within ~CHUNK_BYTES. */
        c.drain_max = (int)(CHUNK_BYTES / c.buf_bytes);
        c.drain_max = c.drain_max < 1 ? 1
                      : c.drain_max > DRAIN_MSGS ? DRAIN_MSGS : c.drain_max;
        c.buf = OP_XMALLOC(c.buf_bytes * (size_t)c.drain_max);
        c.batch = OP_XCALLOC((size_t)c.bmax * (size_t)c.drain_max,
                             sizeof(op_result));
        c.runs = OP_XMALLOC(sizeof(long) * (size_t)c.bmax);
        c.est = OP_XMALLOC(sizeof(double) * (size_t)c.bmax);
        if (works) {
            c.own = OP_XCALLOC((size_t)c.bmax, sizeof(op_result));
            for (int j = 0; j < c.bmax; j++)
                OP_INFO_CHECK("op_result_alloc",
                              op_result_alloc(&c.own[j], &layout),
                              "out of memory for rank 0's results");
        }
        coord_order(&c, done);
        c.held_n = OP_XCALLOC((size_t)size, sizeof(long));
        c.held_cost = OP_XCALLOC((size_t)size, sizeof(double));
        c.held_since = OP_XCALLOC((size_t)size, sizeof(double));
        c.eta_buf = OP_XMALLOC(sizeof(double) *
                               ((size_t)size + (size_t)c.n_units + 1));
        /* Alone (size 1), the hook still writes staged results during a
         * long run; its probe finds nothing and costs next to nothing. */
        if (works)
            op_run_set_poll(&w, coord_poll_hook, &c);
        coordinator(&c, &w, works);
        op_run_set_poll(&w, worker_poll, NULL);
        s = c.status;
        if (c.own)
            for (int j = 0; j < c.bmax; j++)
                op_result_free(&c.own[j]);
        free(c.own);
        free(c.batch);
        free(c.runs);
        free(c.est);
        free(c.held_n);
        free(c.held_cost);
        free(c.held_since);
        free(c.eta_buf);
        free(c.order);
        free(c.cost);
        free(c.cost_left);
        free(c.ustart);
        free(c.ucost);
        free(c.umembers);
        free(c.buf);
    } else {
        worker(job, &pl, &w, comm, rank);
    }
    plan_free(&pl);
    /* Every result of the sweep in the HDF5 file now (collective), whether
     * it ended, stopped or failed: the kernel phase can take hours, and the
     * stop path has only its margin left. */
    op_status fs = op_archive_flush(ar);
    sum->archive_seconds = op_archive_seconds(ar, &sum->sync_seconds);
    if (s == OP_OK)
        s = fs;
    int st = s;
    OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, comm), "sweep status");
    int stopped = stop_flag;
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &stopped, 1, MPI_INT, MPI_MAX,
                               comm), "stop flag");
    /* Kernel phase: every rank on one BLACS grid. Skipped after a stop:
     * it could not finish inside the margin. */
    sum->kernels_total = n_kernels;
    /* Job arrays: the first task computes the kernels, merge copies them. */
    if (st == OP_OK && !stopped && n_kernels > 0 && opts->task_index == 0) {
        op_config cfg = job->base;
        s = op_run_data(&w, &cfg);
        if (s == OP_OK)
            s = op_kphase_run(job, ar, comm, &w.train, &w.test, kdone,
                              &sum->kernels_done);
        if (s == OP_ERR_STOPPED) { /* consistent: resume computes the rest */
            stopped = 1;
            s = OP_OK;
        }
        st = s;
    }
    op_archive_close(ar);
    op_run_free(&w);
    free(done);
    free(kdone);
    sum->stopped = stopped;
    sum->seconds = now() - t0;
    return (op_status)st;
}
