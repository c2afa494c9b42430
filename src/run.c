/* run.c — one training run (see run.h): data, corruption, training,
 * measurements and saved weights, and the one place a run's random
 * streams are derived. */
#include "overparam/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/net.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void op_run_rng(op_rng *r, const op_config *cfg, long run, op_run_stream which,
                int member)
{
    static const uint64_t purpose[] = {OP_STREAM_INIT, OP_STREAM_BATCH,
                                       OP_STREAM_MEASURE};
    /* A job's run: its configuration, not its place in the run order. */
    uint64_t key = cfg->run_key ? cfg->run_key : (uint64_t)run;
    op_rng_derive(r, cfg->seed, purpose[which], key, (uint64_t)member);
}

double op_run_bytes_min(const op_config *cfg)
{
    int d, k;
    op_data_shape(cfg, &d, &k);
    const op_train_cfg *tc = &cfg->train;
    double p = (double)op_net_param_count(&cfg->model, d, k);
    double es = tc->precision == 8 ? 8 : 4;
    int slots = tc->optimizer == OP_OPT_ADAM ? 2 : tc->momentum != 0 ? 1 : 0;
    int members = tc->ensemble > 1 ? tc->ensemble : 1;
    /* Parameters, gradients and optimizer state of every member: the
     * least a run allocates (activations and data come on top). */
    return members * p * es * (2 + slots);
}

op_status op_run_check_memory(const op_job *job, double have)
{
    double need = 0;
    long worst = 0;
    for (long r = 0; r < job->n_runs; r++) {
        op_config cfg;
        op_job_config(job, r, &cfg);
        double b = op_run_bytes_min(&cfg);
        if (b > need) {
            need = b;
            worst = r;
        }
    }
    if (have > 0 && need > 0.9 * have) {
        op_config cfg;
        op_job_config(job, worst, &cfg);
        return op_error(OP_ERR_INPUT, "%s: run %ld (width %d, depth %d) "
                        "needs at least %.3g GiB per rank for its network "
                        "alone, but only %.3g GiB is available per rank: "
                        "use fewer ranks per node or a smaller network",
                        job->file, worst, cfg.model.width, cfg.model.depth,
                        need / 1073741824.0, have / 1073741824.0);
    }
    return OP_OK;
}

static op_data_cfg data_key(const op_config *cfg)
{
    op_data_cfg k = cfg->data;
    k.label_noise = 0; /* applied per run, on a copy */
    k.corruption = OP_CORRUPT_NONE;
    return k;
}

op_status op_run_data(op_run_ctx *w, const op_config *cfg)
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

void op_run_setup(op_run_ctx *w, const op_job *job, const op_layout *layout)
{
    w->layout = layout;
    OP_INFO_CHECK("op_trainer_create", op_trainer_create(&w->trainer),
                  "out of memory for the trainer");
    /* [measure]: measurements at every curve point (measure.c). */
    if (op_measure_enabled(&job->base.measure)) {
        OP_INFO_CHECK("op_measure_create", op_measure_create(&w->measure),
                      "out of memory for the measurement context");
        op_trainer_set_hook(w->trainer, op_measure_hook, w->measure);
    }
    OP_INFO_CHECK("op_result_alloc", op_result_alloc(&w->res, layout),
                  "out of memory for a result");
    OP_INFO_CHECK("op_pack_create", op_pack_create(&w->pack),
                  "out of memory for the pack trainer");
}

void op_run_set_poll(op_run_ctx *w, op_train_poll poll, void *poll_ctx)
{
    op_trainer_set_poll(w->trainer, poll, poll_ctx);
    op_pack_set_poll(w->pack, poll, poll_ctx);
}

void op_run_free(op_run_ctx *w)
{
    op_trainer_destroy(w->trainer);
    op_measure_destroy(w->measure);
    op_result_free(&w->res);
    op_pack_destroy(w->pack);
    for (int j = 0; j < w->pack_cap; j++) {
        op_result_free(&w->pack_res[j]);
        if (w->pack_measure)
            op_measure_destroy(w->pack_measure[j]);
    }
    free(w->pack_res);
    free(w->pack_cfg);
    free(w->pack_measure);
    if (w->valid) {
        op_data_free(&w->train);
        op_data_free(&w->test);
    }
    memset(w, 0, sizeof *w);
}

/* /weights/final from the trained network, then /weights/init by drawing
 * the initialization again from the stream training drew it from
 * (op_run_rng, member 0: the network saved): the run is over, so the
 * network may be overwritten, and no copy is kept while training. */
static void save_weights(op_run_ctx *w, op_net *net, const op_config *cfg,
                         long run, op_result *res)
{
    int fi = op_layout_find(w->layout, "weights", "init");
    int ff = op_layout_find(w->layout, "weights", "final");
    if (!net || fi < 0 || ff < 0 || net->n_total > w->layout->f[ff].size)
        return;
    op_net_params_copy(net, op_result_field(res, w->layout, ff));
    op_rng r;
    op_run_rng(&r, cfg, run, OP_RUN_STREAM_INIT, 0);
    op_net_init_params(net, &r);
    op_net_params_copy(net, op_result_field(res, w->layout, fi));
}

void op_run_compute(op_run_ctx *w, const op_job *job, long run,
                    op_result *res, int rank)
{
    op_config cfg;
    op_job_config(job, run, &cfg);
    op_result_reset(res, w->layout, run);
    double t0 = now();
    op_status s = op_run_data(w, &cfg);
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
            save_weights(w, op_trainer_net(w->trainer, 0), &cfg, run, res);
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

long op_run_plan(const op_job *job, int cap, long *pack_of)
{
    int m = job->base.train.pack == OP_PACK_AUTO ? OP_RUN_PACK_AUTO
                                                 : job->base.train.pack;
    if (m > cap)
        m = cap;
    long *runs = malloc(sizeof(long) * (size_t)(job->n_runs > 0 ? job->n_runs
                                                                  : 1));
    if (!runs) {
        op_error(OP_ERR_NOMEM, "pack plan of %ld runs", job->n_runs);
        return -1;
    }
    for (long r = 0; r < job->n_runs; r++)
        runs[r] = r;
    long n = op_pack_plan(job, runs, job->n_runs, m, OP_RUN_PACK_BUDGET,
                          pack_of);
    free(runs);
    return n;
}

/* Grows the per-member slots of ctx to n (aborts on no memory: sizes the
 * program controls). */
static void pack_slots(op_run_ctx *w, int n)
{
    if (n <= w->pack_cap)
        return;
    op_result *r = realloc(w->pack_res, sizeof *r * (size_t)n);
    OP_INFO_CHECK("realloc", r ? OP_OK : OP_ERR_NOMEM,
                  "out of memory for a pack's results");
    w->pack_res = r;
    op_config *c = realloc(w->pack_cfg, sizeof *c * (size_t)n);
    OP_INFO_CHECK("realloc", c ? OP_OK : OP_ERR_NOMEM,
                  "out of memory for a pack's configurations");
    w->pack_cfg = c;
    if (w->measure) {
        op_measure_ctx **m = realloc(w->pack_measure, sizeof *m * (size_t)n);
        OP_INFO_CHECK("realloc", m ? OP_OK : OP_ERR_NOMEM,
                      "out of memory for a pack's measurements");
        w->pack_measure = m;
    }
    for (int j = w->pack_cap; j < n; j++) {
        memset(&w->pack_res[j], 0, sizeof w->pack_res[j]);
        OP_INFO_CHECK("op_result_alloc",
                      op_result_alloc(&w->pack_res[j], w->layout),
                      "out of memory for a result");
        if (w->measure)
            OP_INFO_CHECK("op_measure_create",
                          op_measure_create(&w->pack_measure[j]),
                          "out of memory for the measurement context");
    }
    w->pack_cap = n;
}

/* [measure] in a pack: each member measures in its own context (a context
 * follows one run from its first curve point to its last, and members
 * interleave). */
typedef struct {
    const long *runs;
    int n;
    op_measure_ctx **m;
} pack_measure;

static op_status pack_measure_hook(void *ctx, const op_config *cfg, long run,
                                   op_net *net, int epoch, int slot)
{
    pack_measure *pm = ctx;
    for (int j = 0; j < pm->n; j++)
        if (pm->runs[j] == run)
            return op_measure_hook(pm->m[j], cfg, run, net, epoch, slot);
    return op_error(OP_ERR_INTERNAL, "measurements: run %ld not in its pack",
                    run);
}

void op_run_compute_pack(op_run_ctx *w, const op_job *job, const long *runs,
                         int n, int rank)
{
    pack_slots(w, n);
    if (n == 1) {
        op_result t = w->pack_res[0];
        op_run_compute(w, job, runs[0], &t, rank);
        w->pack_res[0] = t;
        return;
    }
    double t0 = now();
    op_dataset *noisy = calloc((size_t)n, sizeof *noisy);
    op_dataset *shuffled = calloc((size_t)n, sizeof *shuffled);
    op_pack_member *mem = calloc((size_t)n, sizeof *mem);
    op_status s = noisy && shuffled && mem
                      ? OP_OK
                      : op_error(OP_ERR_NOMEM, "pack of %d runs", n);
    for (int j = 0; j < n; j++) {
        op_job_config(job, runs[j], &w->pack_cfg[j]);
        op_result_reset(&w->pack_res[j], w->layout, runs[j]);
    }
    if (s == OP_OK) /* members share their clean data (op_pack_compatible) */
        s = op_run_data(w, &w->pack_cfg[0]);
    for (int j = 0; j < n && s == OP_OK; j++) {
        const op_config *cfg = &w->pack_cfg[j];
        const op_dataset *train = &w->train, *test = &w->test;
        /* op_run_compute's corruptions, a copy per member */
        if (cfg->data.label_noise > 0 ||
            cfg->data.corruption != OP_CORRUPT_NONE) {
            s = op_data_corrupt(cfg, &w->train, &noisy[j]);
            train = &noisy[j];
        }
        if (s == OP_OK && cfg->data.corruption == OP_CORRUPT_SHUFFLED_PIXELS) {
            s = op_data_corrupt_test(cfg, &w->test, &shuffled[j]);
            if (s == OP_OK)
                test = &shuffled[j];
        }
        if (s == OP_OK && w->measure)
            op_measure_set_data(w->pack_measure[j], train, test, w->layout,
                                &w->pack_res[j]);
        mem[j] = (op_pack_member){cfg, runs[j], train, test, w->layout,
                                  &w->pack_res[j], 0};
    }
    pack_measure pm = {runs, n, w->pack_measure};
    op_pack_set_hook(w->pack, w->measure ? pack_measure_hook : NULL, &pm);
    double setup = (now() - t0) / n;
    if (s == OP_OK)
        s = op_pack_run(w->pack, mem, n);
    op_pack_set_hook(w->pack, NULL, NULL);
    for (int j = 0; j < n; j++) {
        op_result *res = &w->pack_res[j];
        int done = mem && mem[j].done;
        if (done && w->pack_cfg[j].output.save_weights)
            save_weights(w, op_pack_net(w->pack, j), &w->pack_cfg[j], runs[j],
                         res);
        if (!done && s == OP_ERR_STOPPED) {
            res->row.status = OP_RUN_PENDING; /* runs again on resume */
        } else if (!done) {
            fprintf(stderr, "overparam: rank %d: run %ld (in a pack of %d) "
                    "failed: %s\n", rank, runs[j], n, op_error_message());
            res->row.status = OP_RUN_FAILED;
        }
        res->row.run = runs[j];
        res->row.rank = rank;
        res->row.seconds = (done ? res->row.seconds : 0) + setup;
    }
    for (int j = 0; noisy && j < n; j++) {
        op_data_free(&noisy[j]);
        op_data_free(&shuffled[j]);
    }
    free(noisy);
    free(shuffled);
    free(mem);
}
