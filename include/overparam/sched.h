/* sched.h — the sweep: rank 0 coordinates, workers ask for runs and get
 * them dynamically, largest estimated cost first; then the kernel phase.
 *
 * Contract: collective over `comm`. Results reach the archive through the
 * coordinator only (journal first), in batches: runs go out in chunks
 * sized to ~20 ms, and a finished result waits at most 50 ms on its rank
 * (sched.c). Phases are consecutive: first every
 * training run (rank 0 trains too while the job has few ranks, answering
 * requests between optimizer steps), then each [kernel] depth on all ranks
 * of one BLACS grid. A stop request (SIGUSR1/SIGTERM, op_sched_request_stop)
 * makes the coordinator hand out nothing more; runs in flight finish within
 * the stop margin or are abandoned, and the archive is closed consistent.
 * Packs ([train] pack, run.h's op_run_plan, the same on every rank): the
 * unit of hand-out is a pack's pending runs, never split over chunks; the
 * rank that gets them trains the whole pack and sends exactly the runs it
 * was given, each as an unpacked run's result. */
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
    int extended;             /* the archive was just rebuilt for a grown
                                 [grid] (op_merge_extend said what it kept) */
    int task_index, task_count; /* job arrays: this task runs the runs with
                                   index % task_count == task_index */
} op_sched_opts;

typedef struct {
    long n_runs, done_before, done, diverged, failed, abandoned;
    int kernels_done, kernels_total;
    int stopped;              /* a stop request ended the sweep early */
    double seconds;           /* the whole call */
    /* Rank 0 only: */
    double sweep_seconds;     /* training phase: first hand-out to last
                                 result (the makespan) */
    double archive_seconds;   /* writing results (journal + HDF5), the
                                 staged tail included */
    double sync_seconds;      /* the H5Fflush that ends the sweep */
    long messages;            /* result batches received from workers */
    long packs, packed_runs;  /* packs of >= 2 runs handed out, their runs */
    long batches;             /* journal writes of results */
} op_sched_summary;

op_status op_sched_run(const op_job *job, const op_sched_opts *opts,
                       MPI_Comm comm, op_sched_summary *summary);

/* Async-signal-safe: asks the sweep to stop (signal handlers call it). */
void op_sched_request_stop(void);
int op_sched_stop_requested(void);
/* Whether work in flight must be abandoned now: a stop was requested and
 * the stop margin (op_sched_opts.stop_margin) has passed since this rank
 * first saw it. */
int op_sched_stop_overdue(void);

/* Estimated relative cost of a run (parameters x samples x epochs). */
double op_sched_cost(const op_config *cfg);

/* Least-squares line seconds = a + b * cost over the runs recorded so far,
 * updated one run at a time; the coordinator sizes chunks with it. */
typedef struct {
    double n, mc, ms, m2c, ccs; /* count, means, centered sums */
} op_sched_fit;
void op_sched_fit_add(op_sched_fit *f, double cost, double seconds);
/* a, b >= 0; proportional (a = 0) when the line would go negative. */
void op_sched_fit_line(const op_sched_fit *f, double *a, double *b);

/* Seconds left, by list scheduling what is left as the sweep hands it
 * out: rank p first finishes what it holds (busy[p] seconds, >= 0), then
 * each of the n units not handed out (est[i] seconds, in hand-out order:
 * largest first) goes to the rank free first; the ETA is when the last
 * rank is done. Not work / procs: a wide run in flight on one rank is
 * the critical path early in a width sweep (that average was ~2x short).
 * busy is used as scratch (a heap); O(n log procs). */
double op_sched_eta(double *busy, int procs, const double *est, long n);

/* Runs in the next chunk: est[i] are the estimated seconds of the next
 * min(n, max_runs) runs in hand-out order, n runs are left, left_s seconds
 * of work in all, `procs` ranks compute. Takes runs while their sum stays
 * within min(target_s, left_s / (2 procs)); at least one when n > 0. */
int op_sched_chunk_runs(const double *est, long n, double left_s, int procs,
                        double target_s, int max_runs);

#endif
