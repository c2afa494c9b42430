/* bench_pack.c — packed training (pack.c) of M networks that share their
 * inputs against the same runs trained one by one (op_train_run), and the
 * pack's GEMM rate against a large GEMM, in the same process.
 *
 *   bench_pack [M [widths...]]      (default M = 32, widths 8 32 64 128)
 *
 * The step is bench_train's and torch_step.py's: MLP 784 -> m -> m -> 10,
 * ReLU, biases (standard parameterization), MSE, SGD lr 1e-3 momentum 0.9,
 * 256 samples (x ~ N(0,1), one-hot labels i % 10) — here as what the
 * trainer really runs: full-batch epochs over the 256 samples, each with
 * the training-set metrics op_train_run computes. Time per step and run is
 * marginal: (t(E2 epochs) - t(E1 epochs)) / ((E2 - E1) M), so
 * initialization is not counted (torch_pack.py does not count it either);
 * best of 3 rounds; times are the process's CPU time (BENCH_CLOCK=wall:
 * wall time), as torch_pack.py's. Flops per step and run: bench_train's count,
 * 6 B P - 2 B 784 m (forward and dW of every layer, deltas of all but the
 * first). The large GEMM: square n = 2048 (sgemm/dgemm), same threads.
 *
 * Output: "key value" lines read by bench/table.py:
 *   pack_step_s PREC M WIDTH s        packed, per step and run
 *   single_step_s PREC WIDTH s        op_train_run one by one, per step
 *   pack_flops PREC WIDTH flops       per step and run
 *   big_gemm_gflops PREC rate */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/pack.h"
#include "overparam/rng.h"

#define N 256
#define DIN 784
#define DOUT 10

/* The machine is shared: the process's CPU time (what the computation
 * costs) is far steadier than wall time under other users' load.
 * BENCH_CLOCK=wall measures wall time instead. */
static clockid_t bench_clock = CLOCK_PROCESS_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static op_config step_cfg(int width, int prec, int epochs)
{
    op_config c;
    memset(&c, 0, sizeof c);
    c.seed = 1;
    c.model.activation = OP_ACT_RELU;
    c.model.param = OP_PARAM_STANDARD;
    c.model.width = width;
    c.model.depth = 2;
    c.model.sigma_w2 = 2.0;
    c.model.sigma_b2 = 0.01;
    c.model.init_scale = c.model.init_scale_first = c.model.init_scale_last = 1;
    c.train.loss = OP_LOSS_MSE;
    c.train.optimizer = OP_OPT_SGD;
    c.train.lr = 1e-3;
    c.train.momentum = 0.9;
    c.train.beta1 = 0.9;
    c.train.beta2 = 0.999;
    c.train.adam_eps = 1e-8;
    c.train.lr_decay = 1;
    c.train.batch = 0;
    c.train.epochs = epochs;
    c.train.precision = prec;
    c.train.ensemble = 1;
    return c;
}

typedef struct {
    op_pack *pack;
    op_trainer *trainer;
    op_dataset *ds;
    int width, prec, members;
    op_config cfg[1024];
    op_result res[1024];
    op_pack_member mem[1024];
} ctx;

/* Seconds of a pack of c->members runs of `epochs` epochs. */
static double time_pack(ctx *c, int epochs)
{
    for (int j = 0; j < c->members; j++) {
        c->cfg[j] = step_cfg(c->width, c->prec, epochs);
        memset(&c->res[j], 0, sizeof c->res[j]);
        c->mem[j] = (op_pack_member){&c->cfg[j], j, c->ds, NULL, NULL,
                                     &c->res[j], 0};
    }
    double t0 = now();
    if (op_pack_run(c->pack, c->mem, c->members) != OP_OK) {
        fprintf(stderr, "bench_pack: %s\n", op_error_message());
        exit(1);
    }
    return now() - t0;
}

/* Seconds of one op_train_run of `epochs` epochs. */
static double time_single(ctx *c, int epochs)
{
    op_config cfg = step_cfg(c->width, c->prec, epochs);
    op_result res;
    memset(&res, 0, sizeof res);
    double t0 = now();
    if (op_train_run(c->trainer, &cfg, 0, c->ds, NULL, NULL, &res) != OP_OK) {
        fprintf(stderr, "bench_pack: %s\n", op_error_message());
        exit(1);
    }
    return now() - t0;
}

/* Marginal seconds per epoch of fn: E2 chosen so one call lasts ~tmin. */
static double per_epoch(double (*fn)(ctx *, int), ctx *c, double tmin)
{
    int e1 = 2;
    double t1 = fn(c, e1), t2 = fn(c, 2 * e1);
    double est = (t2 - t1) / e1;
    if (est <= 0)
        est = t2 / (2 * e1);
    int e2 = e1 + (int)(tmin / est);
    if (e2 < e1 + 4)
        e2 = e1 + 4;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double a = fn(c, e1), b = fn(c, e2);
        double v = (b - a) / (e2 - e1);
        if (v < best && v > 0)
            best = v;
    }
    return best;
}

static double big_gemm_gflops(int prec, double tmin)
{
    int n = 2048;
    size_t es = (size_t)prec, nn = (size_t)n * n;
    void *A = malloc(nn * es), *B = malloc(nn * es), *C = malloc(nn * es);
    op_rng r;
    op_rng_derive(&r, 2, 0, 0, 0);
    for (size_t i = 0; i < nn; i++) {
        double a = op_rng_normal(&r), b = op_rng_normal(&r);
        if (prec == 4) {
            ((float *)A)[i] = (float)a;
            ((float *)B)[i] = (float)b;
            ((float *)C)[i] = 0;
        } else {
            ((double *)A)[i] = a;
            ((double *)B)[i] = b;
            ((double *)C)[i] = 0;
        }
    }
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        long calls = 0;
        double t0 = now(), t;
        do {
            if (prec == 4)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n,
                            1.0f, A, n, B, n, 0.0f, C, n);
            else
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n,
                            1.0, A, n, B, n, 0.0, C, n);
            calls++;
            t = now() - t0;
        } while (t < tmin);
        if (t / calls < best)
            best = t / calls;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * n * (double)n * n / best / 1e9;
}

int main(int argc, char **argv)
{
    int members = argc > 1 ? atoi(argv[1]) : 32;
    int widths[16], nw = 0;
    for (int i = 2; i < argc && nw < 16; i++)
        widths[nw++] = atoi(argv[i]);
    if (nw == 0) {
        int def[] = {8, 32, 64, 128};
        for (nw = 0; nw < 4; nw++)
            widths[nw] = def[nw];
    }
    if (members < 1 || members > 1024) {
        fprintf(stderr, "bench_pack: members %d not in [1, 1024]\n", members);
        return 2;
    }
    double tmin = getenv("BENCH_TMIN") ? atof(getenv("BENCH_TMIN")) : 0.4;
    const char *clk = getenv("BENCH_CLOCK");
    if (clk && strcmp(clk, "wall") == 0)
        bench_clock = CLOCK_MONOTONIC;
    printf("clock %s\n", bench_clock == CLOCK_MONOTONIC ? "wall" : "cpu");
    printf("openblas_core %s\n", openblas_get_corename());
    printf("openblas_threads %d\n", openblas_get_num_threads());
    printf("members %d\n", members);

    op_dataset ds = {0};
    ds.n = N;
    ds.d = DIN;
    ds.k = DOUT;
    ds.x = malloc(sizeof(double) * N * DIN);
    ds.y = calloc(N * DOUT, sizeof(double));
    ds.label = malloc(sizeof(int) * N);
    op_rng r;
    op_rng_derive(&r, 1, 0, 0, 0);
    for (int i = 0; i < N * DIN; i++)
        ds.x[i] = op_rng_normal(&r);
    for (int i = 0; i < N; i++) {
        ds.y[i * DOUT + i % DOUT] = 1.0;
        ds.label[i] = i % DOUT;
    }

    static ctx c;
    if (op_pack_create(&c.pack) != OP_OK ||
        op_trainer_create(&c.trainer) != OP_OK)
        return 1;
    c.ds = &ds;
    c.members = members;
    for (int pi = 0; pi < 2; pi++) {
        int prec = pi == 0 ? 4 : 8;
        const char *pn = prec == 4 ? "f32" : "f64";
        printf("big_gemm_gflops %s %.6g\n", pn, big_gemm_gflops(prec, tmin));
        fflush(stdout);
        for (int wi = 0; wi < nw; wi++) {
            int m = widths[wi];
            c.width = m;
            c.prec = prec;
            double tp = per_epoch(time_pack, &c, tmin) / members;
            /* BENCH_PACK_ONLY=1: the pack alone (for profiling) */
            double ts = getenv("BENCH_PACK_ONLY")
                            ? NAN
                            : per_epoch(time_single, &c, tmin);
            int dims[4] = {DIN, m, m, DOUT};
            double flops = 0;
            for (int l = 0; l < 3; l++)
                flops += 2.0 * N * dims[l] * dims[l + 1] * (l > 0 ? 3 : 2);
            printf("pack_step_s %s %d %d %.9g\n", pn, members, m, tp);
            if (!isnan(ts))
                printf("single_step_s %s %d %.9g\n", pn, m, ts);
            printf("pack_flops %s %d %.9g\n", pn, m, flops);
            fflush(stdout);
        }
    }
    op_pack_destroy(c.pack);
    op_trainer_destroy(c.trainer);
    free(ds.x);
    free(ds.y);
    free(ds.label);
    return 0;
}
