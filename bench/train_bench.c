/* train_bench.c — one training step (forward + backward + SGD update)
 * through the library vs the bare BLAS GEMMs of the same step, measured
 * interleaved in the same process.
 *
 *   train_bench PRECISION WIDTH STEPS      (PRECISION 4 or 8)
 *
 * MLP 784 -> m -> m -> 10 (depth 2, ReLU, NTK parameterization, bias),
 * batch 256. Reference: exactly the GEMMs the library's step issues, same
 * shapes, transposes and BLAS (forward n x out x in NoTrans/Trans; weight
 * gradient out x in x n Trans/NoTrans; data gradient n x in x out
 * NoTrans/NoTrans for layers >= 1 — layer 0 needs no input gradient).
 * Prints one line: "prec m steps flops_step t_ours t_ref", times = median
 * seconds per step. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/net.h"

extern char *openblas_get_corename(void);
extern int openblas_get_num_threads(void);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

enum { B = 256, D_IN = 784, D_OUT = 10, DEPTH = 2 };

/* The step's GEMMs on scratch buffers of the same shapes. */
typedef struct {
    int prec, dims[DEPTH + 2];
    void *W[DEPTH + 1], *G[DEPTH + 1], *A[DEPTH + 2], *D[DEPTH + 1];
} ref_t;

static void *fill(size_t n, int prec)
{
    void *p = malloc(n * prec);
    for (size_t i = 0; i < n; i++) {
        double v = (double)rand() / RAND_MAX - 0.5;
        if (prec == 4)
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

static void ref_step(ref_t *r)
{
    int L1 = DEPTH + 1;
    for (int l = 0; l < L1; l++) {
        int fi = r->dims[l], fo = r->dims[l + 1];
        if (r->prec == 4)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, fo, fi,
                        1.0f, r->A[l], fi, r->W[l], fi, 1.0f, r->A[l + 1], fo);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, fo, fi,
                        1.0, r->A[l], fi, r->W[l], fi, 1.0, r->A[l + 1], fo);
    }
    for (int l = L1 - 1; l >= 0; l--) {
        int fi = r->dims[l], fo = r->dims[l + 1];
        if (r->prec == 4) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, B,
                        1.0f, r->D[l], fo, r->A[l], fi, 0.0f, r->G[l], fi);
            if (l > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, fi,
                            fo, 1.0f, r->D[l], fo, r->W[l], fi, 0.0f,
                            r->D[l - 1], fi);
        } else {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, B,
                        1.0, r->D[l], fo, r->A[l], fi, 0.0, r->G[l], fi);
            if (l > 0)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, fi,
                            fo, 1.0, r->D[l], fo, r->W[l], fi, 0.0,
                            r->D[l - 1], fi);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PRECISION WIDTH STEPS\n", argv[0]);
        return 2;
    }
    int prec = atoi(argv[1]), m = atoi(argv[2]), steps = atoi(argv[3]);
    if ((prec != 4 && prec != 8) || m < 1 || steps < 1)
        return 2;

    op_model_cfg mc;
    memset(&mc, 0, sizeof mc);
    mc.activation = OP_ACT_RELU;
    mc.param = OP_PARAM_NTK;
    mc.width = m;
    mc.depth = DEPTH;
    mc.sigma_w2 = 2.0;
    mc.sigma_b2 = 0.1;
    mc.init_scale = mc.init_scale_first = mc.init_scale_last = 1.0;

    op_net net;
    memset(&net, 0, sizeof net);
    if (op_net_setup(&net, &mc, D_IN, D_OUT, prec, B, 1) != OP_OK) {
        fprintf(stderr, "op_net_setup failed\n");
        return 1;
    }
    op_rng rng;
    op_rng_derive(&rng, 1, 2, 3, 4);
    op_net_init_params(&net, &rng);

    double *x = malloc(sizeof(double) * B * D_IN);
    double *out = malloc(sizeof(double) * B * D_OUT);
    double *gout = malloc(sizeof(double) * B * D_OUT);
    for (long i = 0; i < (long)B * D_IN; i++)
        x[i] = op_rng_normal(&rng) / 28.0;
    for (long i = 0; i < (long)B * D_OUT; i++)
        gout[i] = op_rng_normal(&rng) / B;

    ref_t r;
    r.prec = prec;
    int dims[DEPTH + 2] = {D_IN, m, m, D_OUT};
    memcpy(r.dims, dims, sizeof dims);
    for (int l = 0; l <= DEPTH; l++) {
        r.W[l] = fill((size_t)dims[l + 1] * dims[l], prec);
        r.G[l] = fill((size_t)dims[l + 1] * dims[l], prec);
        r.D[l] = fill((size_t)B * dims[l + 1], prec);
    }
    for (int l = 0; l <= DEPTH + 1; l++)
        r.A[l] = fill((size_t)B * dims[l], prec);

    double flops = 0;
    for (int l = 0; l <= DEPTH; l++)
        flops += 2.0 * B * dims[l] * dims[l + 1] * (l > 0 ? 3 : 2);

    /* warm-up: first touch, OpenBLAS thread start */
    op_net_forward(&net, x, NULL, B, out);
    op_net_backward(&net, gout, B, 0);
    op_net_sgd_step(&net, 1e-3, 0.9, 0.0);
    ref_step(&r);

    double *to = malloc(sizeof(double) * steps);
    double *tr = malloc(sizeof(double) * steps);
    for (int s = 0; s < steps; s++) {
        double t0 = now();
        op_net_forward(&net, x, NULL, B, out);
        op_net_backward(&net, gout, B, 0);
        op_net_sgd_step(&net, 1e-3, 0.9, 0.0);
        double t1 = now();
        ref_step(&r);
        double t2 = now();
        to[s] = t1 - t0;
        tr[s] = t2 - t1;
    }
    printf("openblas %s %d\n", openblas_get_corename(),
           openblas_get_num_threads());
    printf("train %d %d %d %.6e %.6e %.6e\n", prec, m, steps, flops,
           median(to, steps), median(tr, steps));
    op_net_free(&net);
    return 0;
}
