/* cli.c — the command line: run, validate, info, compare, keys.
 *
 * Contract: returns the process exit code; every rank returns the same one
 * (0 ok, 1 failure, 2 bad input, 3 stopped by a signal with the archive
 * consistent). Messages go to stderr from rank 0 only. */
#include "overparam/cli.h"

#include <cblas.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/archive.h"
#include "overparam/job.h"
#include "overparam/merge.h"
#include "overparam/sched.h"

#ifndef OP_VERSION
#define OP_VERSION "dev"
#endif
#ifndef OP_GIT_REV
#define OP_GIT_REV "unknown"
#endif

static const char usage[] =
    "usage: overparam COMMAND ...\n"
    "  run JOB.ini [-o ARCHIVE.h5] [--resume|--force] [--quiet]\n"
    "              [--progress SECONDS] [--stop-margin SECONDS]\n"
    "              [--coordinator-works auto|yes|no] [--array I/N]\n"
    "      train the job's grid and compute its kernels into one archive\n"
    "      (mpirun -np N overparam run ...; rank 0 coordinates)\n"
    "  validate JOB.ini        check a job file without running it\n"
    "  info ARCHIVE.h5         summarize an archive\n"
    "  compare A.h5 B.h5 [--kernel-tol X]\n"
    "                          exit 0 when every result is identical\n"
    "  merge OUT.h5 A.h5 B.h5 ... [--force]\n"
    "                          combine the archives of a job array's tasks\n"
    "  keys                    the job-file keys, defaults and bounds\n"
    "  version\n";

static int exit_code(op_status s)
{
    switch (s) {
    case OP_OK: return OP_EXIT_OK;
    case OP_ERR_INPUT: return OP_EXIT_INPUT;
    case OP_ERR_STOPPED: return OP_EXIT_STOPPED;
    default: return OP_EXIT_FAIL;
    }
}

static int report(op_status s)
{
    if (s != OP_OK)
        fprintf(stderr, "overparam: %s\n", op_error_message());
    return exit_code(s);
}

static void on_stop_signal(int sig)
{
    (void)sig;
    op_sched_request_stop();
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void print_job(const op_job *job, FILE *out)
{
    fprintf(out, "%s: %ld run%s", job->file, job->n_runs,
            job->n_runs == 1 ? "" : "s");
    for (int a = 0; a < job->n_axes; a++) {
        fprintf(out, "%s %s (%d:", a ? "," : " over", job->axes[a].name,
                job->axes[a].n);
        for (int i = 0; i < job->axes[a].n && i < 8; i++) {
            char b[64];
            fprintf(out, " %s", op_job_axis_label(job, a,
                                                  job->axes[a].values[i], b,
                                                  sizeof b));
        }
        fprintf(out, "%s)", job->axes[a].n > 8 ? " ..." : "");
    }
    if (job->base.kernel.enabled)
        fprintf(out, "; %d kernel depth%s", job->base.kernel.n_depths,
                job->base.kernel.n_depths == 1 ? "" : "s");
    fprintf(out, "\n");
}

/* Rank 0 reads the file, everyone parses the same bytes: one read on a
 * shared file system, and every rank agrees on the outcome. */
static op_status load_job_everywhere(op_job *job, const char *path,
                                     MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    op_status s = OP_OK;
    long len = 0;
    if (rank == 0) {
        s = op_job_load(job, path);
        len = s == OP_OK ? (long)strlen(job->text) : -1;
    }
    OP_MPI_CHECK(MPI_Bcast(&len, 1, MPI_LONG, 0, comm), "sharing the job");
    if (len < 0)
        return rank == 0 ? s : op_error(OP_ERR_INPUT, "bad job file");
    if (rank == 0) {
        OP_MPI_CHECK(MPI_Bcast(job->text, (int)len + 1, MPI_CHAR, 0, comm),
                     "sharing the job");
        return OP_OK;
    }
    char *text = OP_XMALLOC((size_t)len + 1);
    OP_MPI_CHECK(MPI_Bcast(text, (int)len + 1, MPI_CHAR, 0, comm),
                 "sharing the job");
    s = op_job_load_string(job, path, text);
    free(text);
    return s;
}

/* The silent failure under Slurm: a plain srun without PMIx starts N
 * single-rank copies that would all write the same archive. */
static op_status slurm_guard(int size)
{
    const char *nt = getenv("SLURM_NTASKS");
    if (!nt || getenv("OVERPARAM_NO_SLURM_GUARD"))
        return OP_OK;
    int want = atoi(nt);
    if (want > 0 && want != size)
        return op_error(OP_ERR_INPUT, "MPI size %d differs from SLURM_NTASKS "
                        "= %d: launch with 'srun --mpi=pmix' (or mpirun) so "
                        "the ranks form one job; set "
                        "OVERPARAM_NO_SLURM_GUARD=1 to override", size, want);
    return OP_OK;
}

static int cmd_run(int argc, char **argv)
{
    const char *job_path = NULL, *out = NULL;
    op_sched_opts opts = {.mode = OP_ARCHIVE_CREATE, .progress_every = 5,
                          .stop_margin = 60, .coordinator_works = -1,
                          .task_index = 0, .task_count = 1};
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(a, "--resume"))
            opts.mode = OP_ARCHIVE_RESUME;
        else if (!strcmp(a, "--force"))
            opts.mode = OP_ARCHIVE_FORCE;
        else if (!strcmp(a, "--quiet"))
            opts.quiet = 1;
        else if (!strcmp(a, "--progress") && i + 1 < argc)
            opts.progress_every = atof(argv[++i]);
        else if (!strcmp(a, "--stop-margin") && i + 1 < argc)
            opts.stop_margin = atof(argv[++i]);
        else if (!strcmp(a, "--coordinator-works") && i + 1 < argc) {
            const char *v = argv[++i];
            opts.coordinator_works = !strcmp(v, "yes") ? 1
                                     : !strcmp(v, "no") ? 0 : -1;
        } else if (!strcmp(a, "--array") && i + 1 < argc) {
            /* I/N, or "slurm": SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT */
            const char *v = argv[++i];
            if (!strcmp(v, "slurm")) {
                const char *id = getenv("SLURM_ARRAY_TASK_ID");
                const char *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
                const char *lo = getenv("SLURM_ARRAY_TASK_MIN");
                if (id && cnt) {
                    opts.task_index = atoi(id) - (lo ? atoi(lo) : 0);
                    opts.task_count = atoi(cnt);
                }
            } else if (sscanf(v, "%d/%d", &opts.task_index,
                              &opts.task_count) != 2) {
                bad = 1;
            }
            if (opts.task_count < 1 || opts.task_index < 0 ||
                opts.task_index >= opts.task_count)
                bad = 1;
        } else if (a[0] != '-' && !job_path)
            job_path = a;
        else
            bad = 1;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (bad || !job_path) {
        if (rank == 0)
            fputs(usage, stderr);
        return OP_EXIT_INPUT;
    }
    op_status s = slurm_guard(size);
    if (s != OP_OK)
        return rank == 0 ? report(s) : exit_code(s);
    /* Ranks are the parallelism: one BLAS thread each unless the launcher
     * says otherwise (OPENBLAS_NUM_THREADS from --cpus-per-task). Results
     * are identical across rank counts at a fixed threads-per-rank. */
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    op_job job;
    s = load_job_everywhere(&job, job_path, MPI_COMM_WORLD);
    if (s != OP_OK)
        return rank == 0 ? report(s) : exit_code(s);
    opts.out_path = out ? out : job.base.output.path;
    op_sched_summary sum;
    s = op_sched_run(&job, &opts, MPI_COMM_WORLD, &sum);
    if (rank == 0) {
        if (s == OP_OK)
            fprintf(stderr, "[overparam] %s: %ld runs done (%ld resumed), %ld "
                    "diverged, %ld failed, %ld abandoned; kernels %d/%d; "
                    "%.1fs on %d rank%s%s\n", opts.out_path,
                    sum.done + sum.done_before, sum.done_before,
                    sum.diverged, sum.failed, sum.abandoned, sum.kernels_done,
                    sum.kernels_total, sum.seconds, size,
                    size == 1 ? "" : "s",
                    sum.stopped ? " (stopped early: resume with --resume)"
                                : "");
        /* The training phase alone: its makespan, how the results came
         * back, and the coordinator's time writing them. */
        long recorded = sum.done + sum.diverged + sum.failed;
        if (s == OP_OK && !opts.quiet && recorded > 0)
            fprintf(stderr, "[overparam] sweep %.4fs: %ld results in %ld "
                    "batches (%ld messages), archive writes %.4fs, "
                    "flush %.4fs\n", sum.sweep_seconds, recorded,
                    sum.batches, sum.messages, sum.archive_seconds,
                    sum.sync_seconds);
        report(s);
    }
    op_job_free(&job);
    if (s == OP_OK && sum.stopped)
        return OP_EXIT_STOPPED;
    return exit_code(s);
}

static int cmd_validate(int argc, char **argv)
{
    if (argc != 1) {
        fputs(usage, stderr);
        return OP_EXIT_INPUT;
    }
    op_job job;
    op_status s = op_job_load(&job, argv[0]);
    if (s != OP_OK)
        return report(s);
    print_job(&job, stdout);
    op_job_free(&job);
    return 0;
}

static int cmd_compare(int argc, char **argv)
{
    /* ScaLAPACK's reductions follow the process grid: float32 eigenvalues
     * move by ~1e-7 relative between grids, float64 ones by ~1e-14. */
    double ktol = 1e-6;
    const char *a = NULL, *b = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--kernel-tol") && i + 1 < argc)
            ktol = atof(argv[++i]);
        else if (!a)
            a = argv[i];
        else if (!b)
            b = argv[i];
    }
    if (!a || !b) {
        fputs(usage, stderr);
        return OP_EXIT_INPUT;
    }
    long n_diff = 0;
    op_status s = op_archive_compare(a, b, ktol, stdout, &n_diff);
    if (s != OP_OK)
        return report(s);
    return n_diff ? OP_EXIT_FAIL : OP_EXIT_OK;
}

int op_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return OP_EXIT_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) {
        /* Before MPI_Init, which can take seconds: a walltime warning that
         * arrives early must stop the sweep, not kill the process. */
        install_signals();
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        /* MPI errors come back to OP_MPI_CHECK, which prints the call and
         * its hint and then aborts every rank (MPI would abort first). */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        int code = cmd_run(argc - 2, argv + 2);
        MPI_Finalize();
        return code;
    }
    if (!strcmp(cmd, "validate"))
        return cmd_validate(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) {
        if (argc != 3) {
            fputs(usage, stderr);
            return OP_EXIT_INPUT;
        }
        return report(op_archive_info(argv[2], stdout));
    }
    if (!strcmp(cmd, "compare"))
        return cmd_compare(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge")) {
        const char *inputs[4096];
        const char *outp = NULL;
        int n = 0, force = 0;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--force"))
                force = 1;
            else if (!outp)
                outp = argv[i];
            else if (n < 4096)
                inputs[n++] = argv[i];
        }
        if (!outp || n == 0) {
            fputs(usage, stderr);
            return OP_EXIT_INPUT;
        }
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        int code = report(op_merge(outp, inputs, n, force, stderr));
        MPI_Finalize();
        return code;
    }
    if (!strcmp(cmd, "keys")) {
        op_job_print_keys(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("overparam %s (git %s)\n", OP_VERSION, OP_GIT_REV);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "overparam: unknown command '%s'\n%s", cmd, usage);
    return OP_EXIT_INPUT;
}
