/* bench_blas.c — the DGEMM rate of the OpenBLAS core this process runs
 * with (OPENBLAS_CORETYPE as the caller sets it), one thread:
 *
 *   OPENBLAS_CORETYPE=Prescott bench_blas     generic fallback kernels
 *   OPENBLAS_CORETYPE=SkylakeX bench_blas     what overparam selects
 *
 * n = 1024 square, best of 5 after one warm-up (buffers allocated and
 * touched once). Output: "key value" lines for bench/table.py. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    const int n = 1024;
    openblas_set_num_threads(1);
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n);
    double *c = malloc(sizeof(double) * n * n);
    if (!a || !b || !c)
        return 1;
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (double)(i % 97) / 97.0 - 0.5;
        b[i] = (double)(i % 89) / 89.0 - 0.5;
        c[i] = 0.0;
    }
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = now();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a,
                    n, b, n, 0.0, c, n);
        double t = now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    printf("core %s\n", openblas_get_corename());
    printf("dgemm_gflops %.3f\n", 2.0 * n * n * (double)n / best / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
