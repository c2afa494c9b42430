/* bench_train.c — one training step of the library's network (op_net:
 * forward, MSE gradient, backward, SGD-momentum update) against the bare
 * BLAS GEMMs of the same shapes, measured interleaved in the same process.
 *
 *   bench_train [widths...]      (default 8 32 128 1024 4096)
 *
 * MLP 784 -> m -> m -> 10, ReLU, biases, batch 256, float32 and float64.
 * Flop count of a step (the GEMMs the library actually performs, "2 per
 * multiply-add"): forward 2*B*fi*fo per layer; backward 2*B*fi*fo for dW
 * of every layer plus 2*B*fi*fo for the delta of every layer but the first
 * (no input gradient is needed), i.e. 6*B*P - 2*B*784*m with P the weight
 * count. Bias GEMVs, activations and the update are not counted.
 *
 * Output: "key value" lines read by bench/table.py. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/net.h"
#include "overparam/rng.h"
#include "overparam/train.h"

#define B 256
#define DIN 784
#define DOUT 10

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    op_net net;
    double *x, *y, *f, *g;
} step_ctx;

static void do_step(step_ctx *s)
{
    op_net_forward(&s->net, s->x, NULL, B, s->f);
    op_train_loss(OP_LOSS_MSE, s->f, s->y, B, DOUT, 1.0 / B, s->g);
    /* what the trainer's mini-batch SGD step calls (src/train.c) */
    op_net_backward_sgd(&s->net, s->g, B, 1e-3, 0.9, 0.0);
}

/* The GEMMs of one step, same shapes/transposes/alpha/beta as net_impl.h,
 * on separate buffers of the same precision. */
typedef struct {
    int prec, dims[4];
    void *W[3], *A[3], *H[3], *D[3], *G[3];
} gemm_ctx;

static void *fill(size_t n, int prec, op_rng *r)
{
    void *p = malloc(n * (size_t)prec);
    for (size_t i = 0; i < n; i++) {
        double v = 0.05 * op_rng_normal(r);
        if (prec == 4)
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

static void do_gemms(gemm_ctx *c)
{
    for (int l = 0; l < 3; l++) {
        int fi = c->dims[l], fo = c->dims[l + 1];
        if (c->prec == 4)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, fo, fi,
                        0.5f, c->A[l], fi, c->W[l], fi, 1.0f, c->H[l], fo);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, fo, fi,
                        0.5, c->A[l], fi, c->W[l], fi, 1.0, c->H[l], fo);
    }
    for (int l = 2; l >= 0; l--) {
        int fi = c->dims[l], fo = c->dims[l + 1];
        if (c->prec == 4) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, B,
                        0.5f, c->D[l], fo, c->A[l], fi, 0.0f, c->G[l], fi);
            if (l > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, fi,
                            fo, 0.5f, c->D[l], fo, c->W[l], fi, 0.0f,
                            c->D[l - 1], fi);
        } else {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, B,
                        0.5, c->D[l], fo, c->A[l], fi, 0.0, c->G[l], fi);
            if (l > 0)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, fi,
                            fo, 0.5, c->D[l], fo, c->W[l], fi, 0.0,
                            c->D[l - 1], fi);
        }
    }
}

/* Seconds per call of fn(ctx): repeated until at least `tmin` seconds. */
static double time_per_call(void (*fn)(void *), void *ctx, double tmin)
{
    long reps = 0;
    double t0 = now(), t;
    do {
        fn(ctx);
        reps++;
        t = now() - t0;
    } while (t < tmin);
    return t / (double)reps;
}

static void step_fn(void *p) { do_step(p); }
static void gemm_fn(void *p) { do_gemms(p); }

int main(int argc, char **argv)
{
    int widths[16], nw = 0;
    for (int i = 1; i < argc && nw < 16; i++)
        widths[nw++] = atoi(argv[i]);
    if (nw == 0) {
        int def[] = {8, 32, 128, 1024, 4096};
        for (nw = 0; nw < 5; nw++)
            widths[nw] = def[nw];
    }
    double tmin = getenv("BENCH_TMIN") ? atof(getenv("BENCH_TMIN")) : 0.4;
    int rounds = 3;
    printf("openblas_core %s\n", openblas_get_corename());
    printf("openblas_threads %d\n", openblas_get_num_threads());
    op_rng r;
    op_rng_derive(&r, 1, 0, 0, 0);
    double *x = malloc(sizeof(double) * B * DIN);
    double *y = calloc(B * DOUT, sizeof(double));
    for (int i = 0; i < B * DIN; i++)
        x[i] = op_rng_normal(&r);
    for (int i = 0; i < B; i++)
        y[i * DOUT + i % DOUT] = 1.0;

    for (int pi = 0; pi < 2; pi++) {
        int prec = pi == 0 ? 4 : 8;
        for (int wi = 0; wi < nw; wi++) {
            int m = widths[wi];
            op_model_cfg mc = {0};
            mc.activation = OP_ACT_RELU;
            mc.param = OP_PARAM_STANDARD;
            mc.width = m;
            mc.depth = 2;
            mc.sigma_w2 = 2.0;
            mc.sigma_b2 = 0.01;
            mc.init_scale = mc.init_scale_first = mc.init_scale_last = 1.0;
            step_ctx s = {0};
            s.x = x;
            s.y = y;
            s.f = malloc(sizeof(double) * B * DOUT);
            s.g = malloc(sizeof(double) * B * DOUT);
            if (op_net_setup(&s.net, &mc, DIN, DOUT, prec, B, 1) != OP_OK) {
                fprintf(stderr, "bench_train: %s\n", op_error_message());
                return 1;
            }
            op_net_init_params(&s.net, &r);

            gemm_ctx g = {0};
            g.prec = prec;
            int dims[4] = {DIN, m, m, DOUT};
            memcpy(g.dims, dims, sizeof dims);
            for (int l = 0; l < 3; l++) {
                g.W[l] = fill((size_t)dims[l + 1] * dims[l], prec, &r);
                g.G[l] = fill((size_t)dims[l + 1] * dims[l], prec, &r);
                g.A[l] = fill((size_t)B * dims[l], prec, &r);
                g.H[l] = fill((size_t)B * dims[l + 1], prec, &r);
                g.D[l] = fill((size_t)B * dims[l + 1], prec, &r);
            }
            double flops = 0;
            for (int l = 0; l < 3; l++)
                flops += 2.0 * B * dims[l] * dims[l + 1] * (l > 0 ? 3 : 2);

            /* warm-up, then interleaved rounds; best of each */
            do_step(&s);
            do_gemms(&g);
            double ts = 1e30, tg = 1e30;
            for (int k = 0; k < rounds; k++) {
                double a = time_per_call(step_fn, &s, tmin);
                double b = time_per_call(gemm_fn, &g, tmin);
                ts = a < ts ? a : ts;
                tg = b < tg ? b : tg;
            }
            const char *pn = prec == 4 ? "f32" : "f64";
            printf("step_s %s %d %.9g\n", pn, m, ts);
            printf("gemm_s %s %d %.9g\n", pn, m, tg);
            printf("flops %s %d %.9g\n", pn, m, flops);
            fflush(stdout);
            op_net_free(&s.net);
            free(s.f);
            free(s.g);
            for (int l = 0; l < 3; l++) {
                free(g.W[l]);
                free(g.G[l]);
                free(g.A[l]);
                free(g.H[l]);
                free(g.D[l]);
            }
        }
    }
    free(x);
    free(y);
    return 0;
}
