/* bench_pack_job.c — a job's training phase in one process, run by run
 * (op_train_run) and in the job's packs (op_pack_plan + op_pack_run): the
 * wall time of each, and whether every run's row and curves are the same.
 * What the scheduler can expect from packing a job (before it packs:
 * src/sched.c still trains run by run), and the packed = unpacked identity
 * on a real job's data.
 *
 *   bench_pack_job JOB [epochs [max_members]]
 *
 * epochs > 0 overrides [train] epochs (a shorter measurement; both sides
 * alike); BENCH_PRECISION=4|8 overrides [train] precision. Data as the worker prepares it: op_data_load (+ ZCA) once per
 * data key, a label-noise/corruption copy per run. No [measure] hook.
 * Output "key value" lines: runs, packs, single_s, packed_s, speedup,
 * identical (1/0), max_rel_diff. Exit 1 on a difference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/data.h"
#include "overparam/pack.h"
#include "overparam/result.h"

/* Process CPU time, as bench_pack.c (BENCH_CLOCK=wall: wall time). */
static clockid_t bench_clock = CLOCK_PROCESS_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_pack_job: %s: %s\n", what, op_error_message());
    exit(2);
}

static double rel(double a, double b)
{
    if (a == b || (isnan(a) && isnan(b)))
        return 0;
    return fabs(a - b) / (fabs(b) > 1e-300 ? fabs(b) : 1e-300);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_pack_job JOB [epochs [max_members]]\n");
        return 2;
    }
    int epochs = argc > 2 ? atoi(argv[2]) : 0;
    int max_members = argc > 3 ? atoi(argv[3]) : 32;
    const char *clk = getenv("BENCH_CLOCK");
    if (clk && strcmp(clk, "wall") == 0)
        bench_clock = CLOCK_MONOTONIC;
    op_job job;
    if (op_job_load(&job, argv[1]) != OP_OK)
        die("job");
    op_layout layout;
    if (op_layout_build(&job, &layout) != OP_OK)
        die("layout");
    long n = job.n_runs;
    op_config *cfg = malloc((size_t)n * sizeof *cfg);
    op_dataset *train = calloc((size_t)n, sizeof *train);
    op_result *single = calloc((size_t)n, sizeof *single);
    op_result *packed = calloc((size_t)n, sizeof *packed);
    long *runs = malloc((size_t)n * sizeof *runs);
    long *pack_of = malloc((size_t)n * sizeof *pack_of);
    /* data: loaded once (every run of the jobs this serves shares it; a
     * different data key is refused), a noisy copy per run */
    op_dataset base_tr = {0}, base_te = {0};
    for (long r = 0; r < n; r++) {
        op_job_config(&job, r, &cfg[r]);
        if (epochs > 0)
            cfg[r].train.epochs = epochs;
        if (getenv("BENCH_PRECISION")) /* 4 or 8: override [train] */
            cfg[r].train.precision = atoi(getenv("BENCH_PRECISION"));
        runs[r] = r;
        if (r == 0) {
            if (op_data_load(&cfg[0], &base_tr, &base_te) != OP_OK)
                die("data");
            if (cfg[0].data.zca >= 0 &&
                op_data_zca(&base_tr, &base_te, cfg[0].data.zca) != OP_OK)
                die("zca");
        }
        op_data_cfg a = cfg[r].data, b = cfg[0].data;
        a.label_noise = b.label_noise = 0;
        if (memcmp(&a, &b, sizeof a) != 0 ||
            cfg[r].data.corruption != OP_CORRUPT_NONE) {
            fprintf(stderr, "bench_pack_job: run %ld: data other than run "
                            "0's plus label noise: not supported here\n", r);
            return 2;
        }
        if (cfg[r].data.label_noise > 0) {
            if (op_data_corrupt(&cfg[r], &base_tr, &train[r]) != OP_OK)
                die("label noise");
        }
        if (op_result_alloc(&single[r], &layout) != OP_OK ||
            op_result_alloc(&packed[r], &layout) != OP_OK)
            die("results");
        op_result_reset(&single[r], &layout, r);
        op_result_reset(&packed[r], &layout, r);
    }
#define TRAIN(r) (cfg[r].data.label_noise > 0 ? &train[r] : &base_tr)

    op_trainer *t;
    op_pack *p;
    if (op_trainer_create(&t) != OP_OK || op_pack_create(&p) != OP_OK)
        die("workspace");
    /* per width: seconds run by run and packed */
    enum { NW = 64 };
    int wval[NW], nwid = 0;
    double wsingle[NW] = {0}, wpacked[NW] = {0};
#define WIDX(w, out)                                                          \
    do {                                                                      \
        int i_ = 0;                                                           \
        while (i_ < nwid && wval[i_] != (w))                                  \
            i_++;                                                             \
        if (i_ == nwid && nwid < NW)                                          \
            wval[nwid++] = (w);                                               \
        out = i_ < NW ? i_ : NW - 1;                                          \
    } while (0)
    long np = op_pack_plan(&job, runs, n, max_members, 0, pack_of);
    if (np < 0)
        die("plan");
    op_pack_member *mem = calloc((size_t)n, sizeof *mem);
    /* interleaved pack by pack (its runs one by one, then the pack), so a
     * change in the machine's load hits both sides alike */
    double ts = 0, tp = 0;
    for (long q = 0; q < np; q++) {
        int m = 0, wi;
        for (long r = 0; r < n; r++)
            if (pack_of[r] == q)
                mem[m++] = (op_pack_member){&cfg[r], r, TRAIN(r), &base_te,
                                            &layout, &packed[r], 0};
        WIDX(mem[0].cfg->model.width, wi);
        double t0 = now();
        for (int j = 0; j < m; j++)
            if (op_train_run(t, mem[j].cfg, mem[j].run, mem[j].train,
                             &base_te, &layout, &single[mem[j].run]) != OP_OK)
                die("op_train_run");
        double t1 = now();
        /* a pack of one trains as a single run, as a job would run it */
        if (m == 1 ? op_train_run(t, mem[0].cfg, mem[0].run, mem[0].train,
                                  &base_te, &layout, mem[0].res) != OP_OK
                   : op_pack_run(p, mem, m) != OP_OK)
            die("op_pack_run");
        double t2 = now();
        ts += t1 - t0;
        tp += t2 - t1;
        wsingle[wi] += t1 - t0;
        wpacked[wi] += t2 - t1;
    }

    double worst = 0;
    int same = 1;
    for (long r = 0; r < n; r++) {
        const op_row *a = &packed[r].row, *b = &single[r].row;
        if (a->status != b->status || a->epochs != b->epochs ||
            a->fit_epoch != b->fit_epoch)
            same = 0;
        double v[4][2] = {{a->train_loss, b->train_loss},
                          {a->test_loss, b->test_loss},
                          {a->train_acc, b->train_acc},
                          {a->test_acc, b->test_acc}};
        for (int i = 0; i < 4; i++)
            worst = fmax(worst, rel(v[i][0], v[i][1]));
        for (long i = 0; i < layout.total; i++)
            worst = fmax(worst, rel(packed[r].values[i], single[r].values[i]));
    }
    printf("runs %ld\npacks %ld\nmax_members %d\nepochs %s\n", n, np,
           max_members, epochs > 0 ? argv[2] : "job");
    printf("single_s %.6f\npacked_s %.6f\nspeedup %.4f\n", ts, tp, ts / tp);
    for (int i = 0; i < nwid; i++)
        printf("width %d single_s %.6f packed_s %.6f\n", wval[i], wsingle[i],
               wpacked[i]);
    printf("identical %d\nmax_rel_diff %.3g\n", same && worst == 0, worst);
    return same && worst <= 1e-12 ? 0 : 1;
}
