/* pkernel_bench.c — kernel matrices and distributed linear algebra.
 *
 *   mpirun -np 1 pkernel_bench kernel N XFILE
 *     NNGP + NTK (ReLU, NTK param, depth 3, d = 784) by op_pkernel_matrix
 *     (one call per kind: the API builds one kind per call) vs the bare
 *     Gram GEMM X X^T (cblas_dgemm n x n x d, same layout as the library),
 *     interleaved, median of 3. Writes X (n x d doubles) and the first
 *     8 x 8 entries of both kernels to XFILE for the numpy comparison.
 *     Prints: "kernel n t_nngp t_ntk t_gemm".
 *
 *   mpirun -np P pkernel_bench linalg N
 *     NTK matrix on the P-rank grid, then PDPOTRF and PDSYEVD("V") on
 *     copies of it; peak RSS per rank at that point; then the matrix is
 *     gathered to rank 0, which runs LAPACK DPOTRF / DSYEVD("V") on it with
 *     P OpenBLAS threads (same cores) while the other ranks sleep.
 *     Prints: "linalg n P t_pdpotrf t_dpotrf t_pdsyevd t_dsyevd" and one
 *     "rss rank peak_kb start_kb share_kb pdsyevd_work_kb" line per rank. */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "overparam/pkernel.h"
#include "overparam/rng.h"

extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern void pdpotrf_(const char *, const int *, double *, const int *,
                     const int *, const int *, int *, size_t);
extern void pdsyevd_(const char *, const char *, const int *, double *,
                     const int *, const int *, const int *, double *,
                     double *, const int *, const int *, const int *,
                     double *, const int *, int *, const int *, int *, size_t,
                     size_t);
extern void dpotrf_(const char *, const int *, double *, const int *, int *,
                    size_t);
extern void dsyevd_(const char *, const char *, const int *, double *,
                    const int *, double *, double *, const int *, int *,
                    const int *, int *, size_t, size_t);

enum { D = 784, DEPTH = 3 };
static const int I1 = 1;

static double now(void) { return MPI_Wtime(); }

static long rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *make_x(int n)
{
    double *x = malloc(sizeof(double) * (size_t)n * D);
    op_rng rng;
    op_rng_derive(&rng, 7, 1, 0, 0);
    for (size_t i = 0; i < (size_t)n * D; i++)
        x[i] = op_rng_normal(&rng);
    return x;
}

static op_kernel_spec make_spec(void)
{
    op_kernel_spec s;
    memset(&s, 0, sizeof s);
    s.act = OP_ACT_RELU;
    s.param = OP_PARAM_NTK;
    s.depth = DEPTH;
    s.sigma_w2 = 2.0;
    s.sigma_b2 = 0.1;
    s.width = 1;
    s.d = D;
    return s;
}

/* Sleep-wait at a barrier, so idle ranks leave their core to rank 0. */
static void idle_barrier(MPI_Comm comm)
{
    MPI_Request rq;
    int done = 0;
    MPI_Ibarrier(comm, &rq);
    while (!done) {
        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
        if (!done) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
}

static int run_kernel(op_pkernel_grid *g, int n, const char *xfile)
{
    op_kernel_spec spec = make_spec();
    double *x = make_x(n);
    double *c = malloc(sizeof(double) * (size_t)n * n);
    double tn[3], tk[3], tg[3];
    op_pmatrix A, B;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        op_pkernel_matrix(g, &spec, OP_KERNEL_NNGP, x, n, x, n, &A);
        double t1 = now();
        op_pkernel_matrix(g, &spec, OP_KERNEL_NTK, x, n, x, n, &B);
        double t2 = now();
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, n, D,
                    1.0 / D, x, D, x, D, 0.0, c, n);
        double t3 = now();
        tn[r] = t1 - t0;
        tk[r] = t2 - t1;
        tg[r] = t3 - t2;
        if (r < 2) {
            op_pmatrix_free(&A);
            op_pmatrix_free(&B);
        }
    }
    qsort(tn, 3, sizeof(double), cmp);
    qsort(tk, 3, sizeof(double), cmp);
    qsort(tg, 3, sizeof(double), cmp);
    if (g->rank == 0) {
        FILE *f = fopen(xfile, "wb");
        if (!f) {
            perror(xfile);
            return 1;
        }
        int hdr[2] = {n, D};
        fwrite(hdr, sizeof(int), 2, f);
        fwrite(x, sizeof(double), (size_t)n * D, f);
        /* column-major local = global on one rank */
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++)
                fwrite(&A.a[i + (size_t)j * A.lld], sizeof(double), 1, f);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++)
                fwrite(&B.a[i + (size_t)j * B.lld], sizeof(double), 1, f);
        fclose(f);
        printf("kernel %d %.6e %.6e %.6e\n", n, tn[1], tk[1], tg[1]);
    }
    op_pmatrix_free(&A);
    op_pmatrix_free(&B);
    free(c);
    free(x);
    return 0;
}

static int run_linalg(op_pkernel_grid *g, int n)
{
    long start_kb = rss_kb();
    op_kernel_spec spec = make_spec();
    double *x = make_x(n);
    op_pmatrix K, A, Z;
    op_pkernel_matrix(g, &spec, OP_KERNEL_NTK, x, n, x, n, &K);
    /* small relative ridge so the Cholesky cannot fail on roundoff */
    double dsum = 0;
    for (int lj = 0; lj < K.nloc; lj++)
        for (int li = 0; li < K.mloc; li++)
            if (op_pmatrix_grow(g, li) == op_pmatrix_gcol(g, lj))
                dsum += K.a[li + (size_t)lj * K.lld];
    MPI_Allreduce(MPI_IN_PLACE, &dsum, 1, MPI_DOUBLE, MPI_SUM, g->comm);
    for (int lj = 0; lj < K.nloc; lj++)
        for (int li = 0; li < K.mloc; li++)
            if (op_pmatrix_grow(g, li) == op_pmatrix_gcol(g, lj))
                K.a[li + (size_t)lj * K.lld] += 1e-6 * dsum / n;

    op_pmatrix_alloc(g, &A, n, n);
    op_pmatrix_alloc(g, &Z, n, n);
    size_t loc = sizeof(double) * (size_t)K.lld * K.nloc;
    int info = 0;
    memcpy(A.a, K.a, loc);
    MPI_Barrier(g->comm);
    double t0 = now();
    pdpotrf_("L", &n, A.a, &I1, &I1, A.desc, &info, 1);
    MPI_Barrier(g->comm);
    double t_pchol = now() - t0;
    if (info)
        fprintf(stderr, "pdpotrf info %d\n", info);

    memcpy(A.a, K.a, loc);
    double *w = malloc(sizeof(double) * n);
    int lwork = -1, liwork = -1, iwq = 0;
    double wq[2];
    pdsyevd_("V", "L", &n, A.a, &I1, &I1, A.desc, w, Z.a, &I1, &I1, Z.desc,
             wq, &lwork, &iwq, &liwork, &info, 1, 1);
    lwork = (int)(wq[0] * 1.1) + 1000;
    liwork = iwq + 1000;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    MPI_Barrier(g->comm);
    t0 = now();
    pdsyevd_("V", "L", &n, A.a, &I1, &I1, A.desc, w, Z.a, &I1, &I1, Z.desc,
             work, &lwork, iwork, &liwork, &info, 1, 1);
    MPI_Barrier(g->comm);
    double t_peig = now() - t0;
    if (info)
        fprintf(stderr, "pdsyevd info %d\n", info);
    free(work);
    free(iwork);
    long work_kb = (long)((8.0 * lwork + 4.0 * liwork) / 1024);
    long peak_kb = rss_kb();
    /* this rank's share: K, the working copy, the eigenvectors + data */
    long share_kb = (long)((3.0 * loc + sizeof(double) * (double)n * D) / 1024);
    op_pmatrix_free(&A);
    op_pmatrix_free(&Z);

    /* serial reference on rank 0, same matrix, same cores */
    double *full = g->rank == 0 ? malloc(sizeof(double) * (size_t)n * n) : NULL;
    op_pmatrix_gather(g, &K, full);
    double t_chol = 0, t_eig = 0;
    if (g->rank == 0) {
        int threads = openblas_get_num_threads();
        openblas_set_num_threads(g->size);
        double *M = malloc(sizeof(double) * (size_t)n * n);
        memcpy(M, full, sizeof(double) * (size_t)n * n);
        t0 = now();
        dpotrf_("L", &n, M, &n, &info, 1);
        t_chol = now() - t0;
        memcpy(M, full, sizeof(double) * (size_t)n * n);
        lwork = -1;
        liwork = -1;
        dsyevd_("V", "L", &n, M, &n, w, wq, &lwork, &iwq, &liwork, &info, 1,
                1);
        lwork = (int)wq[0] + 1;
        liwork = iwq + 1;
        work = malloc(sizeof(double) * (size_t)lwork);
        iwork = malloc(sizeof(int) * (size_t)liwork);
        t0 = now();
        dsyevd_("V", "L", &n, M, &n, w, work, &lwork, iwork, &liwork, &info,
                1, 1);
        t_eig = now() - t0;
        free(work);
        free(iwork);
        free(M);
        openblas_set_num_threads(threads);
    }
    idle_barrier(g->comm);
    long all[4] = {peak_kb, start_kb, share_kb, work_kb};
    long *gath = malloc(sizeof(long) * 4 * g->size);
    MPI_Gather(all, 4, MPI_LONG, gath, 4, MPI_LONG, 0, g->comm);
    if (g->rank == 0) {
        printf("linalg %d %d %.6e %.6e %.6e %.6e\n", n, g->size, t_pchol,
               t_chol, t_peig, t_eig);
        for (int r = 0; r < g->size; r++)
            printf("rss %d %ld %ld %ld %ld\n", r, gath[4 * r],
                   gath[4 * r + 1], gath[4 * r + 2], gath[4 * r + 3]);
    }
    free(gath);
    free(full);
    free(w);
    free(x);
    op_pmatrix_free(&K);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc < 3) {
        fprintf(stderr, "usage: pkernel_bench kernel|linalg N [XFILE]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int n = atoi(argv[2]);
    op_pkernel_grid g;
    if (op_pkernel_grid_init(&g, MPI_COMM_WORLD, 0, 0, 64) != OP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    int rc;
    if (!strcmp(argv[1], "kernel"))
        rc = run_kernel(&g, n, argc > 3 ? argv[3] : "/tmp/bench_x.bin");
    else
        rc = run_linalg(&g, n);
    op_pkernel_grid_free(&g);
    MPI_Finalize();
    return rc;
}
