/* cli.c — the command line: run, validate, info, compare, merge, keys.
 *
 * Contract: returns the process exit code; every rank returns the same one
 * (0 ok, 1 failure, 2 bad input, 3 stopped by a signal with the archive
 * consistent). Messages go to stderr from rank 0 only. */
#include "overparam/cli.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "overparam/archive.h"
#include "overparam/archive_read.h"
#include "overparam/blas.h"
#include "overparam/job.h"
#include "overparam/merge.h"
#include "overparam/sched.h"

#ifndef OP_VERSION
#define OP_VERSION "dev"
#endif
#ifndef OP_GIT_REV
#define OP_GIT_REV "unknown"
#endif

/* ---- usage texts: one per command, the summary lists them all ------- */

typedef struct {
    const char *name;
    const char *synopsis; /* arguments, after "overparam NAME" */
    const char *detail;   /* what it does and its options */
} op_command_help;

static const op_command_help commands[] = {
    {"run", "JOB.ini [-o ARCHIVE.h5] [--resume|--force] [OPTIONS]",
     "  train the job's grid and compute its kernels into one archive\n"
     "  (mpirun -np N overparam run ...; rank 0 coordinates)\n"
     "  -o, --output=ARCHIVE.h5     archive to write (default: [output] path)\n"
     "      --resume                continue an archive of the same job, or\n"
     "                              of one whose [grid] gained values\n"
     "      --force                 replace an existing archive\n"
     "  -q, --quiet                 no progress lines\n"
     "  -v, --verbose               also the sweep's diagnostics (makespan,\n"
     "                              batches, archive write time)\n"
     "      --progress=SECONDS      seconds between progress lines (default 5)\n"
     "      --stop-margin=SECONDS   time a run in flight may still take after\n"
     "                              a stop signal (default 60)\n"
     "      --coordinator-works=auto|yes|no\n"
     "                              whether rank 0 also trains (default auto)\n"
     "      --array=I/N|slurm       run every N-th run starting at I (task I\n"
     "                              of N); slurm: from SLURM_ARRAY_TASK_*\n"
     "      --set=SECTION.KEY=VALUE replace one job-file line (repeatable):\n"
     "                              --set train.lr=0.05\n"
     "                              --set grid.seed=range(0,5)\n"
     "                              the archive's job text records them\n"},
    {"validate", "JOB.ini [--set SECTION.KEY=VALUE ...]",
     "  check a job file without running it and print its grid\n"
     "      --set=SECTION.KEY=VALUE replace one job-file line (repeatable)\n"
     "      --print                 print the job text with the overrides\n"},
    {"info", "ARCHIVE.h5", "  summarize an archive\n"},
    {"compare", "A.h5 B.h5 [--kernel-tol X]",
     "  exit 0 when every result of the two archives is identical\n"
     "      --kernel-tol=X          relative tolerance on kernels/ datasets\n"
     "                              (default 1e-6)\n"},
    {"merge", "OUT.h5 A.h5 B.h5 ... [--force]",
     "  combine the archives of a job array's tasks into one\n"
     "      --force                 replace an existing OUT.h5\n"},
    {"keys", "", "  the job-file keys, defaults, bounds and meanings\n"},
    {"blas", "", "  the OpenBLAS core in use, its self-test, and whether OpenBLAS\n"
                 "  fell back to generic kernels (what run checks first)\n"},
    {"version", "", "  the version and git revision\n"},
    {"help", "[COMMAND]", "  this summary, or one command's usage\n"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static const op_command_help *command_find(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void print_summary(FILE *out)
{
    fputs("usage: overparam COMMAND [ARGS]; overparam COMMAND --help for "
          "one command\n", out);
    for (int i = 0; i < N_COMMANDS; i++) {
        fprintf(out, "  %s%s%s\n", commands[i].name,
                *commands[i].synopsis ? " " : "", commands[i].synopsis);
        const char *d = commands[i].detail;
        /* The summary shows each command's first line only. */
        fprintf(out, "    %.*s\n", (int)strcspn(d + 2, "\n"), d + 2);
    }
}

static void print_command(const op_command_help *c, FILE *out)
{
    fprintf(out, "usage: overparam %s%s%s\n%s", c->name,
            *c->synopsis ? " " : "", c->synopsis, c->detail);
}

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
        fprintf(out, "; %d kernel %s%s", job->base.kernel.n_depths,
                job->base.kernel.var_swept ? "architecture" : "depth",
                job->base.kernel.n_depths == 1 ? "" : "s");
    if (job->base.kernel.enabled && job->base.kernel.n_zca > 0)
        fprintf(out, " x %d ZCA regularizer%s", job->base.kernel.n_zca,
                job->base.kernel.n_zca == 1 ? "" : "s");
    if (job->base.kernel.enabled && job->base.kernel.curve)
        fprintf(out, " x %d training-set size%s", job->base.kernel.n_n_train,
                job->base.kernel.n_n_train == 1 ? "" : "s");
    fprintf(out, "\n");
}

/* Rank 0 reads the file, everyone parses the same bytes: one read on a
 * shared file system, and every rank agrees on the outcome. */
static op_status load_job_everywhere(op_job *job, const char *path,
                                     const char *const *sets, int n_sets,
                                     MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    op_status s = OP_OK;
    long len = 0;
    if (rank == 0) {
        s = op_job_load_sets(job, path, sets, n_sets);
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
                        "= %d: launch with 'srun --mpi=pmix' (the Slurm "
                        "scripts: OVERPARAM_MPI=pmix) or mpirun so the ranks "
                        "form one job; set "
                        "OVERPARAM_NO_SLURM_GUARD=1 to override", size, want);
    return OP_OK;
}

/* The run's first line when the BLAS core is not OpenBLAS's own working
 * pick (op_blas_select ran before MPI_Init on every rank), and a warning
 * when the ranks compute with different cores (nodes of different CPUs):
 * correct results, but not bit-identical across rank layouts. */
static void blas_report(int rank, int quiet)
{
    const op_blas_info *bi = op_blas_info_get();
    unsigned long h = 5381, lo, hi;
    for (const char *c = bi->in_use; *c; c++)
        h = h * 33 + (unsigned char)*c;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rank != 0)
        return;
    if (bi->selection == OP_BLAS_UPGRADED || bi->selection == OP_BLAS_REPLACED ||
        bi->failed[0] || (!quiet && bi->selftest_passed == 0)) {
        char line[400];
        op_blas_describe(bi, line, sizeof line);
        fprintf(stderr, "[overparam] BLAS: %s\n", line);
    }
    if (lo != hi)
        fprintf(stderr, "[overparam] warning: the ranks compute with different "
                "OpenBLAS cores (rank 0: %s): results are correct but not "
                "bit-identical to another rank layout\n", bi->in_use);
}

/* The archive's directory. The job's own [output] path (no -o) is part of
 * its layout: its directories are created, like results/. A directory
 * given with -o must exist: a typo there should not grow a new tree. */
static op_status prepare_output_dir(const char *path, int from_job)
{
    char dir[OP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return OP_OK;
    *slash = '\0';
    struct stat sb;
    if (stat(dir, &sb) == 0)
        return S_ISDIR(sb.st_mode)
                   ? OP_OK
                   : op_error(OP_ERR_INPUT, "%s: %s is not a directory", path,
                              dir);
    if (!from_job)
        return op_error(OP_ERR_INPUT, "-o %s: directory %s does not exist",
                        path, dir);
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return op_error(OP_ERR_IO, "[output] path = %s: cannot create "
                            "directory %s: %s", path, dir, strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    return OP_OK;
}

/* The run itself, collective over MPI_COMM_WORLD once the options parsed. */
/* Overrides from --set, in command-line order. */
typedef struct {
    const char *v[OP_SETS_MAX + 1];
    int n;
} set_list;

static int run_job(const char *job_path, const char *out, op_sched_opts *opts,
                   const set_list *sets, int verbose)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    op_status s = slurm_guard(size);
    if (s != OP_OK)
        return rank == 0 ? report(s) : exit_code(s);
    blas_report(rank, opts->quiet);
    /* Ranks are the parallelism: one BLAS thread each unless the launcher
     * says otherwise (OPENBLAS_NUM_THREADS from --cpus-per-task). Results
     * are identical across rank counts at a fixed threads-per-rank. */
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    op_job job;
    s = load_job_everywhere(&job, job_path, sets->v, sets->n,
                            MPI_COMM_WORLD);
    if (s != OP_OK)
        return rank == 0 ? report(s) : exit_code(s);
    opts->out_path = out ? out : job.base.output.path;
    int st = rank == 0 ? (int)prepare_output_dir(opts->out_path, !out) : 0;
    OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD),
                 "sharing the output directory");
    if (st != OP_OK) {
        op_job_free(&job);
        return rank == 0 ? report((op_status)st) : exit_code((op_status)st);
    }
    /* --resume with a grown [grid]: rank 0 moves the finished runs into an
     * archive of the new job first; then the resume is an ordinary one. */
    if (opts->mode == OP_ARCHIVE_RESUME) {
        long kept = -1;
        st = rank == 0 ? (int)op_merge_extend(opts->out_path, &job, stderr,
                                              &kept)
                       : 0;
        OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD),
                     "sharing the grid extension");
        if (st != OP_OK) {
            op_job_free(&job);
            return rank == 0 ? report((op_status)st)
                             : exit_code((op_status)st);
        }
        opts->extended = rank == 0 && kept >= 0;
    }
    op_sched_summary sum;
    s = op_sched_run(&job, opts, MPI_COMM_WORLD, &sum);
    if (rank == 0) {
        char packs[64] = ""; /* the packs trained (pack.h), when any */
        if (sum.packs > 0)
            snprintf(packs, sizeof packs, " (%ld runs in %ld packs)",
                     sum.packed_runs, sum.packs);
        if (s == OP_OK)
            fprintf(stderr, "[overparam] %s: %ld runs done (%ld resumed), %ld "
                    "diverged, %ld failed, %ld abandoned; kernels %d/%d; "
                    "%.1fs on %d rank%s%s%s\n", opts->out_path,
                    sum.done + sum.done_before, sum.done_before,
                    sum.diverged, sum.failed, sum.abandoned, sum.kernels_done,
                    sum.kernels_total, sum.seconds, size,
                    size == 1 ? "" : "s", packs,
                    sum.stopped ? " (stopped early: resume with --resume)"
                                : "");
        /* The training phase alone: its makespan, how the results came
         * back, and the coordinator's time writing them (for benchmarks
         * and the curious: --verbose). */
        long recorded = sum.done + sum.diverged + sum.failed;
        if (s == OP_OK && verbose && recorded > 0)
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

/* ---- option parsing ---------------------------------------------------
 *
 * Every command parses with getopt_long before MPI starts: --opt=value and
 * --opt value both work, unknown options name their closest match, numbers
 * are parsed strictly (the whole text, finite, in bounds), and the problem
 * is printed once, by the launcher's rank 0, before any rank opens a file. */

typedef struct {
    const op_command_help *cmd;
    const struct option *longopts;
    char err[600]; /* the first problem; empty when none */
    int help;
} cli_parse;

static void parse_fail(cli_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void parse_fail(cli_parse *p, const char *fmt, ...)
{
    if (p->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
}

/* Levenshtein distance, for suggesting the option a typo meant. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* The candidate nearest to word, or NULL when none is plausibly meant. */
static const char *closest(const char *word, const char *const *cands, int n)
{
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    int limit = (int)strlen(word) / 3 > 2 ? (int)strlen(word) / 3 : 2;
    return bd <= limit ? best : NULL;
}

static void unknown_option(cli_parse *p, const char *arg)
{
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg, "="), arg);
    const char *names[32];
    int n = 0;
    if (word[0] == '-' && word[1] == '-') {
        for (int i = 0; p->longopts[i].name && n < 32; i++)
            names[n++] = p->longopts[i].name;
        const char *m = closest(word + 2, names, n);
        if (m) {
            parse_fail(p, "unknown option '%s'; did you mean '--%s'?", word, m);
            return;
        }
    }
    parse_fail(p, "unknown option '%s'", word);
}

/* A number of seconds: the whole text, finite, not negative. */
static double parse_seconds(cli_parse *p, const char *opt, const char *v)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || isspace((unsigned char)*v) || *end || errno || !isfinite(x) ||
        x < 0) {
        parse_fail(p, "--%s=%s: not a number of seconds (want a number >= 0)",
                   opt, v);
        return 0;
    }
    return x;
}

/* A non-negative decimal integer: digits only, no sign, no trailing text. */
static int parse_count(const char *s, const char **end, long *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || v > 1000000000L)
        return -1;
    *out = v;
    *end = e;
    return 0;
}

static void parse_array(cli_parse *p, const char *v, op_sched_opts *o)
{
    if (!strcmp(v, "slurm")) {
        const char *id = getenv("SLURM_ARRAY_TASK_ID");
        const char *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
        const char *lo = getenv("SLURM_ARRAY_TASK_MIN");
        long i = 0, n = 0, l = 0;
        const char *e;
        if (!id || !cnt) {
            parse_fail(p, "--array=slurm: SLURM_ARRAY_TASK_ID and "
                       "SLURM_ARRAY_TASK_COUNT are not set (not a Slurm job "
                       "array; use --array=I/N)");
            return;
        }
        if (parse_count(id, &e, &i) || *e || parse_count(cnt, &e, &n) || *e ||
            (lo && (parse_count(lo, &e, &l) || *e))) {
            parse_fail(p, "--array=slurm: SLURM_ARRAY_TASK_ID=%s, "
                       "SLURM_ARRAY_TASK_COUNT=%s, SLURM_ARRAY_TASK_MIN=%s: "
                       "not integers", id, cnt, lo ? lo : "");
            return;
        }
        o->task_index = (int)(i - l);
        o->task_count = (int)n;
    } else {
        long i, n;
        const char *e;
        if (parse_count(v, &e, &i) || *e != '/' ||
            parse_count(e + 1, &e, &n) || *e) {
            parse_fail(p, "--array=%s: want I/N (task I of N, e.g. 0/4) or "
                       "slurm", v);
            return;
        }
        o->task_index = (int)i;
        o->task_count = (int)n;
    }
    if (o->task_count < 1 || o->task_index < 0 ||
        o->task_index >= o->task_count)
        parse_fail(p, "--array=%s: task %d of %d: want 0 <= I < N", v,
                   o->task_index, o->task_count);
}

/* Runs getopt_long over argv (argv[0] is the command's name); calls
 * on_opt for each option and collects positionals (in order) into pos.
 * Returns the number of positionals; p->err or p->help tell the rest. */
static int parse_args(cli_parse *p, int argc, char **argv,
                      const char *shortopts,
                      void (*on_opt)(cli_parse *, int, const char *, void *),
                      void *ctx, char **pos, int max_pos)
{
    int n_pos = 0;
    opterr = 0;
    optind = 0; /* glibc: full reinitialization, so tests may call twice */
    for (;;) {
        int idx = -1;
        int c = getopt_long(argc, argv, shortopts, p->longopts, &idx);
        if (c == -1)
            break;
        if (c == 'h') {
            p->help = 1;
        } else if (c == '?') {
            /* glibc sets optopt for a long option given a value it does
             * not take, so the argument's own text decides. */
            const char *arg = argv[optind - 1];
            if (!strncmp(arg, "--", 2) && optopt && strchr(arg, '='))
                parse_fail(p, "option '%.*s' takes no value",
                           (int)strcspn(arg, "="), arg);
            else if (!strncmp(arg, "--", 2))
                unknown_option(p, arg);
            else
                parse_fail(p, "unknown option '-%c'", optopt);
        } else if (c == ':') {
            if (optopt && optopt < 256)
                parse_fail(p, "option '-%c' needs a value", optopt);
            else
                parse_fail(p, "option '%s' needs a value", argv[optind - 1]);
        } else {
            on_opt(p, c, optarg, ctx);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (n_pos < max_pos)
            pos[n_pos] = argv[i];
        n_pos++;
    }
    return n_pos;
}

/* Rank of this process as the MPI launcher set it, before MPI_Init: only
 * rank 0 prints usage problems, once. */
static int launcher_rank0(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                                       "PMI_RANK", "SLURM_PROCID"};
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return !strcmp(v, "0");
    }
    return 1;
}

/* Prints --help or a problem; returns the exit code, or -1 to go on.
 * A problem is printed by rank 0, which exits 2; the other ranks exit 0
 * without a word. Were they to exit 2 too, mpirun would kill rank 0 as
 * soon as the first of them ended, often before it had printed (seen on
 * a loaded machine); the job's status is still 2, rank 0's. */
static int parse_outcome(const cli_parse *p)
{
    int rank0 = launcher_rank0();
    if (p->help) { /* --help wins: the user asked how to fix the line */
        if (rank0)
            print_command(p->cmd, stdout);
        return OP_EXIT_OK;
    }
    if (p->err[0]) {
        if (rank0)
            fprintf(stderr, "overparam %s: %s\nusage: overparam %s%s%s\n"
                    "(overparam %s --help: all options)\n", p->cmd->name,
                    p->err, p->cmd->name, *p->cmd->synopsis ? " " : "",
                    p->cmd->synopsis, p->cmd->name);
        return rank0 ? OP_EXIT_INPUT : OP_EXIT_OK;
    }
    return -1;
}

/* ---- commands -------------------------------------------------------- */

static void add_set(cli_parse *p, set_list *l, const char *v)
{
    if (l->n == OP_SETS_MAX)
        parse_fail(p, "more than %d --set overrides", OP_SETS_MAX);
    else
        l->v[l->n++] = v;
}


enum {
    OPT_RESUME = 256,
    OPT_FORCE,
    OPT_PROGRESS,
    OPT_STOP_MARGIN,
    OPT_COORD,
    OPT_ARRAY,
    OPT_KTOL,
    OPT_SET,
    OPT_PRINT,
};

typedef struct {
    op_sched_opts opts;
    const char *out;
    int resume, force, verbose;
    set_list sets;
} run_args;

static void run_opt(cli_parse *p, int c, const char *v, void *ctx)
{
    run_args *r = ctx;
    switch (c) {
    case 'o': r->out = v; break;
    case 'q': r->opts.quiet = 1; break;
    case 'v': r->verbose = 1; break;
    case OPT_RESUME: r->resume = 1; break;
    case OPT_FORCE: r->force = 1; break;
    case OPT_PROGRESS: r->opts.progress_every = parse_seconds(p, "progress", v); break;
    case OPT_STOP_MARGIN: r->opts.stop_margin = parse_seconds(p, "stop-margin", v); break;
    case OPT_COORD:
        if (!strcmp(v, "yes"))
            r->opts.coordinator_works = 1;
        else if (!strcmp(v, "no"))
            r->opts.coordinator_works = 0;
        else if (!strcmp(v, "auto"))
            r->opts.coordinator_works = -1;
        else
            parse_fail(p, "--coordinator-works=%s: want auto, yes or no", v);
        break;
    case OPT_ARRAY: parse_array(p, v, &r->opts); break;
    case OPT_SET: add_set(p, &r->sets, v); break;
    }
}

static const struct option run_longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"force", no_argument, NULL, OPT_FORCE},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"stop-margin", required_argument, NULL, OPT_STOP_MARGIN},
    {"coordinator-works", required_argument, NULL, OPT_COORD},
    {"array", required_argument, NULL, OPT_ARRAY},
    {"set", required_argument, NULL, OPT_SET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int cmd_run(int argc, char **argv)
{
    run_args r = {.opts = {.mode = OP_ARCHIVE_CREATE, .progress_every = 5,
                           .stop_margin = 60, .coordinator_works = -1,
                           .task_index = 0, .task_count = 1}};
    cli_parse p = {.cmd = command_find("run"), .longopts = run_longopts};
    char *pos[1];
    int n_pos = parse_args(&p, argc, argv, ":o:qvh", run_opt, &r, pos, 1);
    if (r.resume && r.force)
        parse_fail(&p, "--resume and --force together: --resume continues "
                   "the archive, --force replaces it; choose one");
    if (n_pos == 0)
        parse_fail(&p, "no job file given");
    else if (n_pos > 1)
        parse_fail(&p, "unexpected argument '%s' (run takes one job file)",
                   argv[optind + 1]);
    int code = parse_outcome(&p);
    if (code >= 0)
        return code;
    r.opts.mode = r.resume ? OP_ARCHIVE_RESUME
                  : r.force ? OP_ARCHIVE_FORCE : OP_ARCHIVE_CREATE;
    /* Before MPI_Init, which can take seconds: a walltime warning that
     * arrives early must stop the sweep, not kill the process. */
    install_signals();
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    /* MPI errors come back to OP_MPI_CHECK, which prints the call and its
     * hint and then aborts every rank (MPI would abort first). */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    code = run_job(pos[0], r.out, &r.opts, &r.sets, r.verbose);
    MPI_Finalize();
    return code;
}

static const struct option help_longopts[] = {
    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};

static void no_opt(cli_parse *p, int c, const char *v, void *ctx)
{
    (void)p, (void)c, (void)v, (void)ctx;
}

/* Commands whose only option is --help: exactly n positionals. */
static int parse_plain(const char *name, int argc, char **argv, char **pos,
                       int n, const char *what)
{
    cli_parse p = {.cmd = command_find(name), .longopts = help_longopts};
    int n_pos = parse_args(&p, argc, argv, ":h", no_opt, NULL, pos, n);
    if (n_pos < n)
        parse_fail(&p, "missing %s", what);
    else if (n_pos > n)
        parse_fail(&p, "unexpected argument '%s'", argv[optind + n]);
    return parse_outcome(&p);
}

typedef struct {
    set_list sets;
    int print;
} validate_args;

static void validate_opt(cli_parse *p, int c, const char *v, void *ctx)
{
    validate_args *a = ctx;
    if (c == OPT_SET)
        add_set(p, &a->sets, v);
    else if (c == OPT_PRINT)
        a->print = 1;
}

static int cmd_validate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"set", required_argument, NULL, OPT_SET},
        {"print", no_argument, NULL, OPT_PRINT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_parse p = {.cmd = command_find("validate"), .longopts = longopts};
    validate_args a = {.print = 0};
    char *pos[1];
    int n_pos = parse_args(&p, argc, argv, ":h", validate_opt, &a, pos, 1);
    if (n_pos == 0)
        parse_fail(&p, "missing job file");
    else if (n_pos > 1)
        parse_fail(&p, "unexpected argument '%s' (validate takes one job "
                   "file)", argv[optind + 1]);
    int code = parse_outcome(&p);
    if (code >= 0)
        return code;
    op_job job;
    op_status s = op_job_load_sets(&job, pos[0], a.sets.v, a.sets.n);
    if (s != OP_OK)
        return report(s);
    if (a.print)
        fputs(job.text, stdout);
    else
        print_job(&job, stdout);
    op_job_free(&job);
    return 0;
}

static void compare_opt(cli_parse *p, int c, const char *v, void *ctx)
{
    if (c != OPT_KTOL)
        return;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || isspace((unsigned char)*v) || *end || errno || !isfinite(x) ||
        x < 0)
        parse_fail(p, "--kernel-tol=%s: want a number >= 0", v);
    *(double *)ctx = x;
}

static int cmd_compare(int argc, char **argv)
{
    /* ScaLAPACK's reductions follow the process grid: float32 eigenvalues
     * move by ~1e-7 relative between grids, float64 ones by ~1e-14. */
    double ktol = 1e-6;
    static const struct option longopts[] = {
        {"kernel-tol", required_argument, NULL, OPT_KTOL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_parse p = {.cmd = command_find("compare"), .longopts = longopts};
    char *pos[2];
    int n_pos = parse_args(&p, argc, argv, ":h", compare_opt, &ktol, pos, 2);
    if (n_pos < 2)
        parse_fail(&p, "want two archives");
    else if (n_pos > 2)
        parse_fail(&p, "unexpected argument '%s' (compare takes two "
                   "archives)", argv[optind + 2]);
    int code = parse_outcome(&p);
    if (code >= 0)
        return code;
    long n_diff = 0;
    op_status s = op_archive_compare(pos[0], pos[1], ktol, stdout, &n_diff);
    if (s != OP_OK)
        return report(s);
    return n_diff ? OP_EXIT_FAIL : OP_EXIT_OK;
}

static void merge_opt(cli_parse *p, int c, const char *v, void *ctx)
{
    (void)p, (void)v;
    if (c == OPT_FORCE)
        *(int *)ctx = 1;
}

static int cmd_merge(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_parse p = {.cmd = command_find("merge"), .longopts = longopts};
    int force = 0;
    /* Every input is taken: the array holds as many as the command line. */
    char **pos = OP_XMALLOC(sizeof *pos * (size_t)(argc + 1));
    int n_pos = parse_args(&p, argc, argv, ":h", merge_opt, &force, pos,
                           argc);
    if (n_pos < 2)
        parse_fail(&p, "want an output and at least one input archive");
    int code = parse_outcome(&p);
    if (code < 0) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        code = report(op_merge(pos[0], (const char *const *)pos + 1,
                               n_pos - 1, force, stderr));
        MPI_Finalize();
    }
    free(pos);
    return code;
}

int op_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_summary(stderr);
        return OP_EXIT_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run") || !strcmp(cmd, "blas")) {
        /* First of all, on every rank: the BLAS core (it may restart the
         * program with OPENBLAS_CORETYPE set, which only works before
         * MPI_Init and before any thread exists). */
        op_status bs = op_blas_select(argv);
        if (bs != OP_OK) {
            if (launcher_rank0())
                fprintf(stderr, "overparam: %s\n", op_error_message());
            return exit_code(bs);
        }
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        const char *what = argc > 2 ? argv[2] : NULL;
        if (what && (!strcmp(what, "--help") || !strcmp(what, "-h")))
            what = "help";
        const op_command_help *c = what ? command_find(what) : NULL;
        if (argc > 2 && !c) {
            fprintf(stderr, "overparam help: unknown command '%s'\n", argv[2]);
            return OP_EXIT_INPUT;
        }
        if (c)
            print_command(c, stdout);
        else
            print_summary(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version"))
        cmd = "version";
    /* Sub-commands see argv[0] = their name, as getopt expects. */
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    if (!strcmp(cmd, "run"))
        return cmd_run(sub_argc, sub_argv);
    if (!strcmp(cmd, "validate"))
        return cmd_validate(sub_argc, sub_argv);
    if (!strcmp(cmd, "info")) {
        char *pos[1];
        int code = parse_plain("info", sub_argc, sub_argv, pos, 1, "archive");
        return code >= 0 ? code : report(op_archive_info(pos[0], stdout));
    }
    if (!strcmp(cmd, "compare"))
        return cmd_compare(sub_argc, sub_argv);
    if (!strcmp(cmd, "merge"))
        return cmd_merge(sub_argc, sub_argv);
    if (!strcmp(cmd, "keys")) {
        int code = parse_plain("keys", sub_argc, sub_argv, NULL, 0, "");
        if (code >= 0)
            return code;
        op_job_print_keys(stdout);
        return 0;
    }
    if (!strcmp(cmd, "blas")) {
        int code = parse_plain("blas", sub_argc, sub_argv, NULL, 0, "");
        if (code >= 0)
            return code;
        char line[400];
        op_blas_describe(op_blas_info_get(), line, sizeof line);
        printf("%s\n", line);
        return 0;
    }
    if (!strcmp(cmd, "version")) {
        int code = parse_plain("version", sub_argc, sub_argv, NULL, 0, "");
        if (code >= 0)
            return code;
        printf("overparam %s (git %s)\n", OP_VERSION, OP_GIT_REV);
        return 0;
    }
    const char *names[N_COMMANDS];
    for (int i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    const char *m = closest(cmd, names, N_COMMANDS);
    if (launcher_rank0()) {
        if (m)
            fprintf(stderr, "overparam: unknown command '%s'; did you mean "
                    "'%s'?\n", cmd, m);
        else
            fprintf(stderr, "overparam: unknown command '%s'\n", cmd);
        print_summary(stderr);
    }
    return OP_EXIT_INPUT;
}
