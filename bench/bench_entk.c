/* bench_entk.c — the distributed empirical NTK (entk.h) against the
 * analytic NNGP+NTK build on the same ranks and grid (run it on 2 ranks):
 *
 *   bench_entk N K [ROUNDS]
 *
 * A ReLU network of width 1024, depth 3, d = 784 inputs and K outputs
 * (ntk parameterization, sigma_w2 = 2, sigma_b2 = 0.1, float64) at its
 * initialization; Theta [N][N] by op_entk_build_prec with float64 Grams
 * and with float32 ones (forward/backward by row slices, per-layer local
 * Gram GEMMs of exchanged rows, both triangles) vs the analytic NNGP + NTK
 * of the same architecture by op_pkernel_fill (both kinds in one pass into
 * matrices allocated once, as bench_kernel's row 2 measures it), all three
 * in each round, each the best of ROUNDS (default 2) after a first,
 * page-faulting round that is reported apart, max over ranks; with rank
 * 0's breakdown of its best round (op_entk_last_timing), the 1-minute
 * load average at the end, and the best CPU seconds of each build (max
 * over ranks; on a shared machine wall times stretch with the load, the
 * CPU time of these compute-bound builds much less).
 *
 * Output: "key value" lines from rank 0, read by bench/table.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "overparam/entk.h"
#include "overparam/kernel.h"
#include "overparam/net.h"
#include "overparam/pkernel.h"
#include "overparam/rng.h"

#define D 784
#define DEPTH 3
#define WIDTH 1024

/* This process's CPU seconds: compute-bound phases cost about the same
 * on a loaded machine, where wall times stretch with the load. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double wmax(double t)
{
    double m;
    MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = argc > 1 ? atoi(argv[1]) : 2048;
    int k = argc > 2 ? atoi(argv[2]) : 1;
    int rounds = argc > 3 ? atoi(argv[3]) : 2;
    op_pkernel_grid g;
    if (op_pkernel_grid_init(&g, MPI_COMM_WORLD, 0, 0, 64) != OP_OK) {
        fprintf(stderr, "bench_entk: %s\n", op_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double *x = malloc(sizeof(double) * (size_t)n * D);
    op_rng r;
    op_rng_derive(&r, 5, 0, 0, 0);
    for (size_t i = 0; i < (size_t)n * D; i++)
        x[i] = op_rng_normal(&r);

    op_kernel_spec spec = {0};
    spec.act = OP_ACT_RELU;
    spec.param = OP_PARAM_NTK;
    spec.depth = DEPTH;
    spec.sigma_w2 = 2.0;
    spec.sigma_b2 = 0.1;
    spec.d = D;
    op_model_cfg m = {.activation = OP_ACT_RELU, .param = OP_PARAM_NTK,
                      .width = WIDTH, .depth = DEPTH, .sigma_w2 = 2.0,
                      .sigma_b2 = 0.1, .init_scale = 1,
                      .init_scale_first = 1, .init_scale_last = 1};
    op_net net = {0};
    if (op_net_setup(&net, &m, D, k, 8, 256, 0) != OP_OK) {
        fprintf(stderr, "bench_entk: %s\n", op_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    op_rng_derive(&r, 5, OP_STREAM_KERNEL, DEPTH, WIDTH);
    op_net_init_params(&net, &r);

    op_pmatrix K, Kn;
    op_pmatrix_alloc(&g, &K, n, n);
    op_pmatrix_alloc(&g, &Kn, n, n);
    /* Per round: the analytic build, then the empirical NTK with float64
     * Grams, then with float32 ones ([kernel] empirical_precision), in
     * that order, so the ratios share the round's machine load. */
    enum { NP = 2 };
    static const int prec[NP] = {8, 4};
    static const char *tag[NP] = {"", "_f32"};
    double t_ana = 1e30, t_ana_first = 0, c_ana = 1e30, c_emp[NP] = {1e30, 1e30};
    double t_emp[NP] = {1e30, 1e30}, t_emp_first[NP] = {0, 0};
    op_entk_timing best[NP];
    op_pmatrix T64 = {0};
    for (int round = 0; round <= rounds; round++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime(), c0 = cpu_now();
        op_pkernel_fill(&g, &spec, x, n, x, n, &Kn, &K);
        double ta = wmax(MPI_Wtime() - t0), ca = wmax(cpu_now() - c0);
        if (round > 0)
            c_ana = fmin(c_ana, ca);
        double te[NP];
        for (int p = 0; p < NP; p++) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
            c0 = cpu_now();
            op_pmatrix T;
            if (op_entk_build_prec(&g, &net, x, n, prec[p], &T) != OP_OK) {
                fprintf(stderr, "bench_entk: %s\n", op_error_message());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            te[p] = wmax(MPI_Wtime() - t0);
            double ce = wmax(cpu_now() - c0);
            if (round > 0)
                c_emp[p] = fmin(c_emp[p], ce);
            if (round == 0) {
                t_emp_first[p] = te[p];
            } else if (te[p] < t_emp[p]) {
                t_emp[p] = te[p];
                op_entk_last_timing(&best[p]);
            }
            if (round == rounds && p == 0) {
                double e = op_entk_rel_diff(&g, &T, &K);
                if (rank == 0)
                    printf("rel_error_vs_analytic %.6g\n", e);
                T64 = T;
                continue;
            }
            if (round == rounds && p == 1) {
                double e = op_entk_rel_diff(&g, &T, &T64);
                if (rank == 0)
                    printf("f32_rel_diff_vs_f64 %.6g\n", e);
                op_pmatrix_free(&T64);
            }
            op_pmatrix_free(&T);
        }
        if (round == 0) {
            t_ana_first = ta;
        } else {
            t_ana = fmin(t_ana, ta);
        }
        if (rank == 0)
            fprintf(stderr, "[bench_entk] round %d: analytic %.2f s, "
                    "empirical %.2f s (float64), %.2f s (float32)\n",
                    round, ta, te[0], te[1]);
    }
    if (rank == 0) {
        printf("n %d\nk %d\nwidth %d\ndepth %d\nranks %d\ngrid_rows %d\n"
               "grid_cols %d\n", n, k, WIDTH, DEPTH, size, g.nprow, g.npcol);
        printf("t_analytic %.4f\nt_analytic_first %.4f\ncpu_analytic %.4f\n",
               t_ana, t_ana_first, c_ana);
        double la[3] = {0, 0, 0};
        FILE *f = fopen("/proc/loadavg", "r");
        if (f) {
            if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
                la[0] = la[1] = la[2] = 0;
            fclose(f);
        }
        printf("loadavg_1min %.2f\n", la[0]);
        for (int p = 0; p < NP; p++) {
            const op_entk_timing *b = &best[p];
            printf("t_empirical%s %.4f\nt_empirical%s_first %.4f\n"
                   "cpu_empirical%s %.4f\n", tag[p], t_emp[p], tag[p],
                   t_emp_first[p], tag[p], c_emp[p]);
            /* rank 0's breakdown of its best round */
            printf("empirical%s_passes %.4f\nempirical%s_exchange %.4f\n"
                   "empirical%s_exchange_wait %.4f\n"
                   "empirical%s_grams %.4f\nempirical%s_hadamard %.4f\n"
                   "empirical%s_alloc %.4f\nempirical%s_mirror %.4f\n",
                   tag[p], b->passes, tag[p], b->exchange, tag[p], b->wait,
                   tag[p], b->grams, tag[p], b->hadamard, tag[p], b->alloc,
                   tag[p], b->mirror);
        }
    }
    op_pmatrix_free(&K);
    op_pmatrix_free(&Kn);
    op_net_free(&net);
    free(x);
    op_pkernel_grid_free(&g);
    MPI_Finalize();
    return 0;
}
