/* run.h — one training run, start to finish: its data (cached across runs
 * that share the data keys), its corruptions, training, measurements and
 * saved weights, into one op_result. The sweep (sched.c) decides which
 * run goes where; this module decides what a run is.
 *
 * Contract: a run's result depends only on its configuration: every random
 * stream of a run is derived here, by op_run_rng, from (job seed, the
 * run's key — cfg->run_key, op_job_stream_key of its configuration, a hash
 * of its sweepable [data] [model] [train] values; the run index only for a
 * configuration built by hand — [, ensemble member]) and nothing else,
 * so the stream that trains a network is the one its saved initialization
 * is drawn from again, and a grid point keeps its numbers when the sweep
 * is extended and its run index moves. Not thread-safe; one op_run_ctx per
 * rank. */
#ifndef OVERPARAM_RUN_H
#define OVERPARAM_RUN_H

#include <stdint.h>

#include "overparam/data.h"
#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/measure.h"
#include "overparam/result.h"
#include "overparam/rng.h"
#include "overparam/train.h"

/* The per-run streams. Data streams (subset, synthetic inputs, noise)
 * depend on the job seed and the seed axis only, not the run: data.c. */
typedef enum {
    OP_RUN_STREAM_INIT,    /* network initialization, per ensemble member */
    OP_RUN_STREAM_BATCH,   /* mini-batch order */
    OP_RUN_STREAM_MEASURE  /* random probe points of [measure] */
} op_run_stream;

/* The stream `which` of run `run` (member: ensemble member for INIT, 0
 * otherwise). */
void op_run_rng(op_rng *r, const op_config *cfg, long run, op_run_stream which,
                int member);

/* The least memory (bytes) run configuration `cfg` allocates: the
 * parameters, gradients and optimizer state of each ensemble member. */
double op_run_bytes_min(const op_config *cfg);
/* OP_ERR_INPUT, naming the run, when the largest network of the job
 * cannot fit in `have` bytes (a rank's share; 0: unknown, no check).
 * Called before anything starts. */
op_status op_run_check_memory(const op_job *job, double have);

/* A rank's state between runs: the clean data of the last configuration
 * seen (reused while the runs keep the same data keys, the usual case:
 * only model/train keys are swept), the trainer and the result buffer. */
typedef struct {
    int valid;               /* train/test hold the data of `key`, `seed` */
    op_data_cfg key;
    uint64_t seed;
    op_dataset train, test;
    op_trainer *trainer;
    const op_layout *layout;
    op_result res;           /* the run being computed */
    op_measure_ctx *measure; /* [measure] hook's context, NULL when off */
} op_run_ctx;

/* Loads (or keeps) the clean data of `cfg` into ctx->train/test. */
op_status op_run_data(op_run_ctx *ctx, const op_config *cfg);
/* Creates the trainer, the [measure] context and the result buffer for
 * `layout` (aborts on no memory: sizes the program controls). */
void op_run_setup(op_run_ctx *ctx, const op_job *job, const op_layout *layout);
/* Frees everything of ctx. */
void op_run_free(op_run_ctx *ctx);

/* Computes run `run` of `job` into res. Failures that are the run's own
 * (data it cannot load, memory) become status FAILED rather than errors:
 * the sweep goes on; an abandoned run (stop) is PENDING. */
void op_run_compute(op_run_ctx *ctx, const op_job *job, long run,
                    op_result *res, int rank);

#endif
