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
#include "overparam/pack.h"
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
    /* Packs (op_run_compute_pack): the trainer of packs (its one block is
     * kept for the next pack), and per member slot j < pack_cap: its
     * result, configuration and [measure] context. */
    op_pack *pack;
    int pack_cap;
    op_result *pack_res;     /* [pack_cap] the last pack's results */
    op_config *pack_cfg;     /* [pack_cap] */
    op_measure_ctx **pack_measure; /* [pack_cap], NULL when [measure] off */
} op_run_ctx;

/* Loads (or keeps) the clean data of `cfg` into ctx->train/test. */
op_status op_run_data(op_run_ctx *ctx, const op_config *cfg);
/* Creates the trainer, the [measure] context and the result buffer for
 * `layout` (aborts on no memory: sizes the program controls). */
void op_run_setup(op_run_ctx *ctx, const op_job *job, const op_layout *layout);
/* The poll callback of both trainers (single runs and packs). */
void op_run_set_poll(op_run_ctx *ctx, op_train_poll poll, void *poll_ctx);
/* Frees everything of ctx. */
void op_run_free(op_run_ctx *ctx);

/* Computes run `run` of `job` into res. Failures that are the run's own
 * (data it cannot load, memory) become status FAILED rather than errors:
 * the sweep goes on; an abandoned run (stop) is PENDING. */
void op_run_compute(op_run_ctx *ctx, const op_job *job, long run,
                    op_result *res, int rank);

/* Most members of a pack with [train] pack = auto (bench_pack_job on
 * double_descent.ini at d = 49 and 196: packs of 4 gained up to 1.06x,
 * packs of 16 less or lost), and the memory a
 * pack's block may take (a constant, not a rank's share: the packing must
 * not depend on where the job runs). */
#define OP_RUN_PACK_AUTO 4
#define OP_RUN_PACK_BUDGET ((size_t)256 << 20)

/* The job's packing (pack.h, op_pack_plan over every run in run order,
 * with [train] pack; at most `cap` members a pack): pack_of[r] for each
 * run r of the job. A function of the job and cap alone, so every rank
 * computes the same one. Returns the number of packs, -1 on no memory. */
long op_run_plan(const op_job *job, int cap, long *pack_of);

/* Computes runs[0..n) of `job` trained as one pack (n >= 1; n == 1 is
 * op_run_compute) into ctx->pack_res[0..n): each member's result exactly
 * as op_run_compute writes it (row, curves, measures, saved weights), its
 * seconds its share of the pack's time. A stop abandons the whole pack:
 * members not finished are PENDING (finished ones keep their rows); a
 * pack that cannot run makes its members FAILED. */
void op_run_compute_pack(op_run_ctx *ctx, const op_job *job, const long *runs,
                         int n, int rank);

#endif
