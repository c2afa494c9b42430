/* sched.h — the sweep: rank 0 coordinates, workers ask for runs and get
 * them dynamically, largest estimated cost first; then the kernel phase.
 *
 * Contract: collective over `comm`. Results reach the archive through the
 * coordinator only (journal first). Phases are consecutive: first every
 * training run (rank 0 trains too while the job has few ranks, answering
 * requests between optimizer steps), then each [kernel] depth on all ranks
 * of one BLACS grid. A stop request (SIGUSR1/SIGTERM, op_sched_request_stop)
 * makes the coordinator hand out nothing more; runs in flight finish within
 * the stop margin or are abandoned, and the archive is closed consistent. */
#ifndef OVERPARAM_SCHED_H
#define OVERPARAM_SCHED_H

#include <mpi.h>

#include "overparam/archive.h"
#include "overparam/error.h"
#include "overparam/job.h"

typedef struct {
    const char *out_path;     /* archive */
    op_archive_mode mode;
    double progress_every;    /* seconds between progress lines (non-tty) */
    double stop_margin;       /* seconds runs in flight may still take */
    int coordinator_works;    /* -1 auto (when < 16 ranks), 0 no, 1 yes */
    int quiet;
    int task_index, task_count; /* job arrays: this task runs the runs with
                                   index % task_count == task_index */
} op_sched_opts;

typedef struct {
    long n_runs, done_before, done, diverged, failed, abandoned;
    int kernels_done, kernels_total;
    int stopped;              /* a stop request ended the sweep early */
    double seconds;
} op_sched_summary;

op_status op_sched_run(const op_job *job, const op_sched_opts *opts,
                       MPI_Comm comm, op_sched_summary *summary);

/* Async-signal-safe: asks the sweep to stop (signal handlers call it). */
void op_sched_request_stop(void);
int op_sched_stop_requested(void);

/* Estimated relative cost of a run (parameters x samples x epochs). */
double op_sched_cost(const op_config *cfg);

#endif
