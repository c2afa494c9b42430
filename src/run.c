/* run.c — one training run (see run.h): data, corruption, training,
 * measurements and saved weights, and the one place a run's random
 * streams are derived. */
#include "overparam/run.h"

#include <stdio.h>
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
}

void op_run_free(op_run_ctx *w)
{
    op_trainer_destroy(w->trainer);
    op_measure_destroy(w->measure);
    op_result_free(&w->res);
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
static void save_weights(op_run_ctx *w, const op_config *cfg, long run,
                         op_result *res)
{
    op_net *net = op_trainer_net(w->trainer, 0);
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
