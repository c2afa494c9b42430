/* sched.c — the coordinator/worker sweep and the kernel phase.
 *
 * Protocol (tags below): a worker sends REQUEST(k) once to ask for k runs,
 * then one RESULT per finished run, each of which also asks for one more;
 * the coordinator answers every request at once with ASSIGN(run) or
 * ASSIGN(-1) ("nothing left"). Workers keep two runs in hand so the round
 * trip hides behind a run. A worker leaves when it holds no run and has no
 * request outstanding. Runs go out largest estimated cost first, so the
 * long ones start early and the short ones fill the tail. */
#include "overparam/sched.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "overparam/data.h"
#include "overparam/kphase.h"
#include "overparam/measure.h"
#include "overparam/result.h"
#include "overparam/train.h"

enum { TAG_REQUEST = 11, TAG_RESULT = 12, TAG_ASSIGN = 13 };
#define PREFETCH 2

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

static int worker_poll(void *ctx)
{
    (void)ctx;
    return stop_overdue();
}

/* ---- worker side: data cache and one run ------------------------------ */

/* The clean data of the last configuration seen, reused while the runs keep
 * the same data keys (the usual case: only model/train keys are swept). */
typedef struct {
    int valid;
    op_data_cfg key;
    uint64_t seed;
    op_dataset train, test;
    op_trainer *trainer;
    const op_layout *layout;
    op_result res;
    op_measure_ctx *measure; /* [measure] hook's context, NULL when off */
} worker_ctx;

static op_data_cfg data_key(const op_config *cfg)
{
    op_data_cfg k = cfg->data;
    k.label_noise = 0; /* applied per run, on a copy */
    k.corruption = OP_CORRUPT_NONE;
    return k;
}

static op_status worker_data(worker_ctx *w, const op_config *cfg)
{
    op_data_cfg key = data_key(cfg);
    if (w->valid && w->seed == cfg->seed &&
        memcmp(&key, &w->key, sizeof key) == 0)
        return OP_OK;
    if (w->valid) {
        op_data_free(&w->train);
        op_data_free(&w->test);
        w->valid = 0;
    }
    op_status s = op_data_load(cfg, &w->train, &w->test);
    if (s == OP_OK && cfg->data.zca >= 0)
        s = op_data_zca(&w->train, &w->test, cfg->data.zca);
    if (s != OP_OK)
        return s;
    w->key = key;
    w->seed = cfg->seed;
    w->valid = 1;
    return OP_OK;
}

/* /weights/final from the trained network, then /weights/init by drawing
 * the initialization again from its stream (the run is over, so the
 * network may be overwritten): no copy is kept while training. */
static void save_weights(worker_ctx *w, const op_config *cfg, long run,
                         op_result *res)
{
    op_net *net = op_trainer_net(w->trainer, 0);
    int fi = op_layout_find(w->layout, "weights", "init");
    int ff = op_layout_find(w->layout, "weights", "final");
    if (!net || fi < 0 || ff < 0 || net->n_total > w->layout->f[ff].size)
        return;
    op_net_params_copy(net, op_result_field(res, w->layout, ff));
    op_rng r;
    op_rng_derive(&r, cfg->seed, OP_STREAM_INIT, (uint64_t)run, 0);
    op_net_init_params(net, &r);
    op_net_params_copy(net, op_result_field(res, w->layout, fi));
}

/* Computes run `run` into res. Failures that are the run's own (data it
 * cannot load, memory) become status FAILED rather than errors: the sweep
 * goes on. */
static void worker_compute(worker_ctx *w, const op_job *job, long run,
                           op_result *res, int rank)
{
    op_config cfg;
    op_job_config(job, run, &cfg);
    op_result_reset(res, w->layout, run);
    double t0 = now();
    op_status s = worker_data(w, &cfg);
    if (s == OP_OK) {
        const op_dataset *train = &w->train, *test = &w->test;
        op_dataset noisy = {0}, shuffled = {0};
        if (cfg.data.label_noise > 0 ||
            cfg.data.corruption != OP_CORRUPT_NONE) {
            s = op_data_corrupt(&cfg, &w->train, &noisy);
            train = &noisy;
        }
        /* Shuffled pixels: the test images get the same permutation. */
        if (s == OP_OK && cfg.data.corruption == OP_CORRUPT_SHUFFLED_PIXELS) {
            s = op_data_corrupt_test(&cfg, &w->test, &shuffled);
            if (s == OP_OK)
                test = &shuffled;
        }
        /* [measure]: the hook measures at every curve point and needs
         * this run's sets (the noisy copies, when there are). */
        if (s == OP_OK && w->measure)
            op_measure_set_data(w->measure, train, test, w->layout, res);
        if (s == OP_OK)
            s = op_train_run(w->trainer, &cfg, run, train, test, w->layout,
                             res);
        if (s == OP_OK && cfg.output.save_weights)
            save_weights(w, &cfg, run, res);
        if (train == &noisy)
            op_data_free(&noisy);
        if (test == &shuffled)
            op_data_free(&shuffled);
    }
    if (s == OP_ERR_STOPPED) {
        res->row.status = OP_RUN_PENDING; /* abandoned: runs again on resume */
    } else if (s != OP_OK) {
        fprintf(stderr, "overparam: rank %d: run %ld failed: %s\n", rank, run,
                op_error_message());
        res->row.status = OP_RUN_FAILED;
    }
    res->row.run = run;
    res->row.rank = rank;
    res->row.seconds = now() - t0;
}

/* ---- messages -------------------------------------------------------- */

static size_t result_bytes(const op_layout *lay)
{
    return sizeof(op_row) + sizeof(double) * (size_t)lay->total;
}

static void pack_result(const op_result *res, const op_layout *lay,
                        unsigned char *buf)
{
    memcpy(buf, &res->row, sizeof(op_row));
    memcpy(buf + sizeof(op_row), res->values,
           sizeof(double) * (size_t)lay->total);
}

static void unpack_result(op_result *res, const op_layout *lay,
                          const unsigned char *buf)
{
    memcpy(&res->row, buf, sizeof(op_row));
    memcpy(res->values, buf + sizeof(op_row),
           sizeof(double) * (size_t)lay->total);
}

/* ---- coordinator ----------------------------------------------------- */

typedef struct {
    const op_job *job;
    const op_layout *lay;
    const op_sched_opts *opts;
    op_archive *ar;
    MPI_Comm comm;
    int size, workers;    /* workers = ranks other than 0 */
    long *order;          /* pending runs, largest cost first */
    long n_order, next;   /* next = first not yet handed out */
    long in_flight;
    int hello;            /* workers heard from */
    op_result res;        /* receive buffer */
    unsigned char *buf;
    size_t buf_bytes;
    op_sched_summary *sum;
    double t_start, t_last_print;
    int tty;
    op_status status;
} coord;

static long coord_take(coord *c)
{
    if (stop_flag || c->next >= c->n_order)
        return -1;
    c->in_flight++;
    return c->order[c->next++];
}

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
    if (finished > 0 && finished < total)
        snprintf(eta, sizeof eta, "%.0fs",
                 el / (double)finished * (double)(total - finished));
    else if (finished == total)
        snprintf(eta, sizeof eta, "0s");
    fprintf(stderr, "%s[overparam] runs %ld/%ld (%ld resumed) diverged %ld "
            "failed %ld elapsed %.0fs ETA %s%s%s", c->tty ? "\r" : "",
            finished + s->done_before, s->n_runs, s->done_before,
            s->diverged, s->failed, el, eta, stop_flag ? " [stopping]" : "",
            c->tty && !final ? "   " : "\n");
    fflush(stderr);
}

static void coord_record(coord *c, const op_result *res)
{
    c->in_flight--;
    if (res->row.status == OP_RUN_PENDING) { /* abandoned after a stop */
        c->sum->abandoned++;
        return;
    }
    op_status s = op_archive_put(c->ar, res);
    if (s != OP_OK && c->status == OP_OK)
        c->status = s; /* keep going: workers must still be answered */
    switch (res->row.status) {
    case OP_RUN_DONE: c->sum->done++; break;
    case OP_RUN_DIVERGED: c->sum->diverged++; break;
    default: c->sum->failed++; break;
    }
    coord_progress(c, 0);
}

static void coord_answer(coord *c, int worker)
{
    long run = coord_take(c);
    OP_MPI_CHECK(MPI_Send(&run, 1, MPI_LONG, worker, TAG_ASSIGN, c->comm),
                 "assigning a run");
}

/* Answers every message waiting; returns how many were handled. Called
 * between runs and, when rank 0 trains too, between optimizer steps. */
static int coord_poll(coord *c)
{
    int handled = 0;
    for (;;) {
        int flag;
        MPI_Status st;
        OP_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &flag,
                                &st), "polling workers");
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
            OP_MPI_CHECK(MPI_Recv(c->buf, (int)c->buf_bytes, MPI_BYTE,
                                  st.MPI_SOURCE, TAG_RESULT, c->comm,
                                  MPI_STATUS_IGNORE), "result");
            unpack_result(&c->res, c->lay, c->buf);
            coord_record(c, &c->res);
            coord_answer(c, st.MPI_SOURCE);
        } else {
            op_abort_all(__FILE__, __LINE__, "coordinator", "unexpected tag",
                         "protocol error between ranks");
        }
    }
}

static int coord_poll_hook(void *ctx)
{
    coord_poll(ctx);
    return stop_overdue();
}

static int cmp_cost_desc(const void *a, const void *b, const double *cost)
{
    long x = *(const long *)a, y = *(const long *)b;
    if (cost[x] != cost[y])
        return cost[x] > cost[y] ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: equal costs in run order */
}

static const double *sort_cost;
static int cmp_sort(const void *a, const void *b)
{
    return cmp_cost_desc(a, b, sort_cost);
}

static void coord_order(coord *c, const unsigned char *done)
{
    const op_job *job = c->job;
    double *cost = OP_XMALLOC(sizeof(double) * (size_t)job->n_runs);
    c->order = OP_XMALLOC(sizeof(long) * (size_t)job->n_runs);
    c->n_order = 0;
    for (long r = 0; r < job->n_runs; r++) {
        op_config cfg;
        op_job_config(job, r, &cfg);
        cost[r] = op_sched_cost(&cfg);
        if (!done[r] && r % c->opts->task_count == c->opts->task_index)
            c->order[c->n_order++] = r;
    }
    sort_cost = cost;
    qsort(c->order, (size_t)c->n_order, sizeof(long), cmp_sort);
    free(cost);
}

static void sleep_briefly(void)
{
    /* Open MPI's blocking calls spin; on a core shared with a worker the
     * coordinator must yield instead. */
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
}

static void coordinator(coord *c, worker_ctx *w, int works)
{
    c->t_start = now();
    c->t_last_print = c->t_start;
    c->tty = isatty(2);
    for (;;) {
        int idle = c->hello == c->workers && c->in_flight == 0 &&
                   (c->next >= c->n_order || stop_flag);
        if (idle)
            break;
        if (works && c->hello == c->workers) {
            long run = coord_take(c);
            if (run >= 0) {
                worker_compute(w, c->job, run, &w->res, 0);
                coord_record(c, &w->res);
                continue;
            }
        }
        if (coord_poll(c) == 0)
            sleep_briefly();
    }
    coord_progress(c, 1);
}

/* ---- worker ---------------------------------------------------------- */

static void worker(const op_job *job, worker_ctx *w, MPI_Comm comm, int rank)
{
    long queue[PREFETCH];
    int nq = 0, outstanding = PREFETCH;
    size_t bytes = result_bytes(w->layout);
    unsigned char *buf = OP_XMALLOC(bytes);
    int k = PREFETCH;
    OP_MPI_CHECK(MPI_Send(&k, 1, MPI_INT, 0, TAG_REQUEST, comm),
                 "asking for runs");
    for (;;) {
        /* Take every answer already here; block only with nothing to do. */
        while (outstanding > 0) {
            int flag = 0;
            if (nq > 0)
                OP_MPI_CHECK(MPI_Iprobe(0, TAG_ASSIGN, comm, &flag,
                                        MPI_STATUS_IGNORE), "polling");
            if (nq > 0 && !flag)
                break;
            long run;
            OP_MPI_CHECK(MPI_Recv(&run, 1, MPI_LONG, 0, TAG_ASSIGN, comm,
                                  MPI_STATUS_IGNORE), "receiving a run");
            outstanding--;
            if (run >= 0)
                queue[nq++] = run;
        }
        if (nq == 0 && outstanding == 0)
            break;
        if (nq == 0)
            continue;
        long run = queue[0];
        memmove(queue, queue + 1, sizeof(long) * (size_t)(--nq));
        if (stop_flag) { /* not started: hand it back untouched */
            op_result_reset(&w->res, w->layout, run);
            w->res.row.rank = rank;
        } else {
            worker_compute(w, job, run, &w->res, rank);
        }
        pack_result(&w->res, w->layout, buf);
        OP_MPI_CHECK(MPI_Send(buf, (int)bytes, MPI_BYTE, 0, TAG_RESULT, comm),
                     "sending a result");
        outstanding++;
    }
    free(buf);
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
    if (s != OP_OK)
        return s;
    /* The job's data is loaded before anything is written: a truncated or
     * corrupted data file is bad input (exit 2, no archive), not a sweep
     * of failed runs. Every rank loads it (the kernel phase needs it on
     * all of them) and keeps it cached for the runs. */
    worker_ctx w = {0};
    op_config base = job->base;
    s = worker_data(&w, &base);
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
    /* A job-array task owns every task_count-th run. */
    sum->n_runs = 0;
    for (long r = 0; r < job->n_runs; r++)
        if (r % opts->task_count == opts->task_index) {
            sum->n_runs++;
            sum->done_before += done[r];
        }

    w.layout = &layout;
    stop_margin = opts->stop_margin;
    OP_INFO_CHECK("op_trainer_create", op_trainer_create(&w.trainer),
                  "out of memory for the trainer");
    op_trainer_set_poll(w.trainer, worker_poll, NULL);
    /* [measure]: measurements at every curve point (measure.c). */
    if (op_measure_enabled(&job->base.measure)) {
        OP_INFO_CHECK("op_measure_create", op_measure_create(&w.measure),
                      "out of memory for the measurement context");
        op_trainer_set_hook(w.trainer, op_measure_hook, w.measure);
    }
    OP_INFO_CHECK("op_result_alloc", op_result_alloc(&w.res, &layout),
                  "out of memory for a result");
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
        c.sum = sum;
        c.buf_bytes = result_bytes(&layout);
        c.buf = OP_XMALLOC(c.buf_bytes);
        OP_INFO_CHECK("op_result_alloc", op_result_alloc(&c.res, &layout),
                      "out of memory for a result");
        coord_order(&c, done);
        /* Alone (size 1), the hook still writes staged results during a
         * long run; its probe finds nothing and costs next to nothing. */
        if (works)
            op_trainer_set_poll(w.trainer, coord_poll_hook, &c);
        coordinator(&c, &w, works);
        s = c.status;
        free(c.order);
        free(c.buf);
        op_result_free(&c.res);
    } else {
        worker(job, &w, comm, rank);
    }
    /* Every result of the sweep in the HDF5 file now (collective), whether
     * it ended, stopped or failed: the kernel phase can take hours, and the
     * stop path has only its margin left. */
    op_status fs = op_archive_flush(ar);
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
        s = worker_data(&w, &cfg);
        if (s == OP_OK)
            s = op_kphase_run(job, ar, comm, &w.train, &w.test, kdone,
                              &sum->kernels_done);
        st = s;
    }
    op_archive_close(ar);
    op_trainer_destroy(w.trainer);
    op_measure_destroy(w.measure);
    op_result_free(&w.res);
    if (w.valid) {
        op_data_free(&w.train);
        op_data_free(&w.test);
    }
    free(done);
    free(kdone);
    sum->stopped = stopped;
    sum->seconds = now() - t0;
    return (op_status)st;
}
