/* bench_kernel.c — the distributed kernel module on a BLACS grid (run it on
 * 2 ranks), each measurement beside its reference in the same run:
 *
 *   bench_kernel N EIG_N
 *
 *  - NNGP + NTK matrices (ReLU, ntk parameterization, depth 3, d = 784,
 *    one op_pkernel_fill for both, as op_pkernel_run does, into matrices
 *    allocated once) vs the bare GEMM of the same local row/column slices
 *    of X (what the library's Gram step is: the full X X^T on the same
 *    ranks and threads, one GEMM per rank), max over ranks, best of
 *    rounds 2..ROUNDS+1 interleaved (round 1, with first-touch page
 *    faults, reported apart); also the lower-triangle build op_pkernel_run
 *    makes of K(train, train) (op_pkernel_fill_lower) against the same
 *    GEMM, its GEMM phase alone (the same build at depth 0: the Gram and
 *    one cheap pass), its first build into fresh matrices (what
 *    op_pkernel_run pays, page faults included), and each time's thread
 *    CPU time too (max over ranks, best of rounds: what the build costs
 *    when other processes share the cores). ROUNDS: env
 *    BENCH_KERNEL_ROUNDS, default 4 (BENCH_KERNEL_BUILD_ONLY set: these
 *    and the memory line only);
 *  - peak resident memory (ru_maxrss) per rank right after the first build
 *    (both n x n matrices alive) vs its share of both + the data set;
 *  - PDPOTRF of K + eps I on the grid vs DPOTRF of the same matrix in one
 *    process (rank 0, OpenBLAS threads = ranks, so both use the same
 *    cores; the other ranks sleep in a non-busy barrier);
 *  - PDSYEVD (vectors) vs DSYEVD (vectors) the same way at size EIG_N.
 *
 * Output: "key value" lines from rank 0, read by bench/table.py. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "overparam/kernel.h"
#include "overparam/pkernel.h"
#include "overparam/rng.h"

#define D 784
#define DEPTH 3

extern void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia,
                     const int *ja, const int *desca, int *info, size_t);
extern void pdsyevd_(const char *jobz, const char *uplo, const int *n,
                     double *a, const int *ia, const int *ja,
                     const int *desca, double *w, double *z, const int *iz,
                     const int *jz, const int *descz, double *work,
                     const int *lwork, int *iwork, const int *liwork,
                     int *info, size_t, size_t);
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
                    int *info, size_t);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n,
                    double *a, const int *lda, double *w, double *work,
                    const int *lwork, int *iwork, const int *liwork,
                    int *info, size_t, size_t);

static int rank, size;
static const int I1 = 1;

static double wmax(double t)
{
    double m;
    MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

/* A barrier that sleeps instead of spinning, so a waiting rank leaves its
 * core to the threads of rank 0's LAPACK call. */
static void quiet_barrier(void)
{
    MPI_Request rq;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &rq);
    while (!done) {
        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
        if (!done) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

/* This thread's CPU seconds (OpenBLAS runs single-threaded here, in it). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double load_avg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static long rss_now_kb(void)
{
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void out(const char *key, double v)
{
    if (rank == 0)
        printf("%s %.9g\n", key, v);
}

/* Seconds of one dsyevd (jobz "N" or "V", lower triangle) of the n x n
 * column-major a (destroyed), workspace queried and allocated outside the
 * timing; eigenvalues into w. */
static double time_dsyevd(const char *jobz, int n, double *a, double *w)
{
    int lwork = -1, liwork = -1, iwq = 0, info = 0;
    double wq[2];
    dsyevd_(jobz, "L", &n, a, &n, w, wq, &lwork, &iwq, &liwork, &info, 1, 1);
    lwork = (int)wq[0] + 1;
    liwork = iwq + 1;
    double *pw = malloc(sizeof(double) * (size_t)lwork);
    int *piw = malloc(sizeof(int) * (size_t)liwork);
    double t0 = MPI_Wtime();
    dsyevd_(jobz, "L", &n, a, &n, w, pw, &lwork, piw, &liwork, &info, 1, 1);
    double t = MPI_Wtime() - t0;
    if (info != 0)
        fprintf(stderr, "bench_kernel: dsyevd %s info %d\n", jobz, info);
    free(pw);
    free(piw);
    return t;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    int neig = argc > 2 ? atoi(argv[2]) : 2048;
    if (neig > n)
        neig = n;
    int threads = openblas_get_num_threads();
    if (rank == 0) {
        printf("openblas_core %s\nopenblas_threads %d\nranks %d\nn %d\n"
               "eig_n %d\n", openblas_get_corename(), threads, size, n, neig);
        fflush(stdout);
    }
    long rss0 = maxrss_kb(), rss0_now = rss_now_kb();

    op_pkernel_grid g;
    if (op_pkernel_grid_init(&g, MPI_COMM_WORLD, 0, 0, 64) != OP_OK) {
        fprintf(stderr, "bench_kernel: %s\n", op_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    out("grid_rows", g.nprow);
    out("grid_cols", g.npcol);

    /* Every rank holds the whole data set (the library's contract). */
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

    op_kernel_spec spec0 = spec; /* the Gram GEMMs and one cheap pass */
    spec0.depth = 0;
    const char *re = getenv("BENCH_KERNEL_ROUNDS");
    int rounds = re && atoi(re) > 0 ? atoi(re) : 4;
    out("rounds", rounds);
    out("load_kernel_before", load_avg());

    /* The lower build op_pkernel_run makes, into fresh matrices: first
     * touch of the pages included. */
    double t_lower_first;
    {
        op_pmatrix F, Fn;
        op_pmatrix_alloc(&g, &F, n, n);
        op_pmatrix_alloc(&g, &Fn, n, n);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        op_pkernel_fill_lower(&g, &spec, x, n, &Fn, &F);
        t_lower_first = wmax(MPI_Wtime() - t0);
        op_pmatrix_free(&F);
        op_pmatrix_free(&Fn);
    }

    /* Both matrices allocated once and refilled each round, as a sweep
     * over depths reuses them (first-touch page faults are slow here: the
     * first round pays them and is reported apart). */
    op_pmatrix K, Kn;
    op_pmatrix_alloc(&g, &K, n, n);
    op_pmatrix_alloc(&g, &Kn, n, n);
    int mloc = K.mloc, nloc = K.nloc, lld = K.lld;
    double share_bytes = 2 * 8.0 * (double)mloc * nloc;

    double t_build = 1e30, t_gemm = 1e30, t_first = 0, t_lower = 1e30;
    double t_lower0 = 1e30, c_lower = 1e30, c_lower0 = 1e30, c_gemm = 1e30;
    long rss_build = 0;
    for (int round = 0; round <= rounds; round++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        op_pkernel_fill(&g, &spec, x, n, x, n, &Kn, &K);
        double tb = wmax(MPI_Wtime() - t0);
        if (round == 0) {
            t_first = tb;
            rss_build = maxrss_kb();
        } else if (tb < t_build) {
            t_build = tb;
        }
        /* depth 0 first: K ends as the depth-3 kernel the Cholesky and
         * the eigensolvers below factor */
        for (int depth0 = 1; depth0 >= 0; depth0--) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t2 = MPI_Wtime(), c2 = cpu_now();
            op_pkernel_fill_lower(&g, depth0 ? &spec0 : &spec, x, n, &Kn, &K);
            double cl = wmax(cpu_now() - c2);
            double tl = wmax(MPI_Wtime() - t2);
            if (round == 0)
                continue;
            double *tbest = depth0 ? &t_lower0 : &t_lower;
            double *cbest = depth0 ? &c_lower0 : &c_lower;
            *tbest = tl < *tbest ? tl : *tbest;
            *cbest = cl < *cbest ? cl : *cbest;
        }
        /* bare GEMM on the same slices (allocated outside the timing) */
        double *xr = malloc(sizeof(double) * (size_t)mloc * D);
        double *xc = malloc(sizeof(double) * (size_t)nloc * D);
        double *c = malloc(sizeof(double) * (size_t)lld * nloc);
        for (int li = 0; li < mloc; li++)
            memcpy(xr + (size_t)li * D,
                   x + (size_t)op_pmatrix_grow(&g, li) * D, sizeof(double) * D);
        for (int lj = 0; lj < nloc; lj++)
            memcpy(xc + (size_t)lj * D,
                   x + (size_t)op_pmatrix_gcol(&g, lj) * D, sizeof(double) * D);
        memset(c, 0, sizeof(double) * (size_t)lld * nloc);
        MPI_Barrier(MPI_COMM_WORLD);
        double t3 = MPI_Wtime(), c3 = cpu_now();
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, mloc, nloc, D,
                    1.0 / D, xr, D, xc, D, 0.0, c, lld);
        double cg = wmax(cpu_now() - c3);
        double tg = wmax(MPI_Wtime() - t3);
        if (round > 0) {
            t_gemm = tg < t_gemm ? tg : t_gemm;
            c_gemm = cg < c_gemm ? cg : c_gemm;
        }
        free(xr);
        free(xc);
        free(c);
    }
    op_pmatrix_free(&Kn);
    out("t_build_first", t_first);
    out("t_build", t_build);
    out("t_build_lower", t_lower);
    out("t_build_lower_gemm", t_lower0);
    out("t_build_lower_first", t_lower_first);
    out("t_gemm", t_gemm);
    out("cpu_build_lower", c_lower);
    out("cpu_build_lower_gemm", c_lower0);
    out("cpu_gemm", c_gemm);
    out("load_kernel_after", load_avg());
    {
        double v[4] = {(double)rss_build, (double)rss0, (double)rss0_now,
                       share_bytes};
        double all[4 * 64];
        MPI_Gather(v, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (rank == 0)
            for (int p = 0; p < size && p < 64; p++)
                printf("mem %d %.0f %.0f %.0f %.0f %.0f\n", p,
                       all[4 * p] * 1024.0, all[4 * p + 1] * 1024.0,
                       all[4 * p + 2] * 1024.0, all[4 * p + 3],
                       8.0 * (double)n * D);
    }

    /* BENCH_KERNEL_BUILD_ONLY=1: the builds alone (quick comparisons of
     * two versions of the build on a loaded machine). */
    if (getenv("BENCH_KERNEL_BUILD_ONLY")) {
        op_pmatrix_free(&K);
        free(x);
        op_pkernel_grid_free(&g);
        MPI_Finalize();
        return 0;
    }

    /* Cholesky: K + eps I, eps = 1e-3 mean diag (an NTK Gram is PD, the
     * shift only guards against roundoff). */
    double diag = 0;
    for (int lj = 0; lj < K.nloc; lj++)
        for (int li = 0; li < K.mloc; li++)
            if (op_pmatrix_grow(&g, li) == op_pmatrix_gcol(&g, lj))
                diag += K.a[li + (size_t)lj * K.lld];
    MPI_Allreduce(MPI_IN_PLACE, &diag, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double eps = 1e-3 * diag / n;
    for (int lj = 0; lj < K.nloc; lj++)
        for (int li = 0; li < K.mloc; li++)
            if (op_pmatrix_grow(&g, li) == op_pmatrix_gcol(&g, lj))
                K.a[li + (size_t)lj * K.lld] += eps;
    double *full = rank == 0 ? malloc(sizeof(double) * (size_t)n * n) : NULL;
    op_pmatrix_gather(&g, &K, full);
    double *work = rank == 0 ? malloc(sizeof(double) * (size_t)n * n) : NULL;
    size_t loc = (size_t)K.lld * K.nloc;
    double *acopy = malloc(sizeof(double) * loc);
    double t_pchol = 1e30, t_chol = 1e30;
    for (int round = 0; round < 2; round++) {
        int info = 0;
        memcpy(acopy, K.a, sizeof(double) * loc);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        pdpotrf_("L", &n, acopy, &I1, &I1, K.desc, &info, 1);
        double tp = wmax(MPI_Wtime() - t0);
        if (info != 0 && rank == 0)
            fprintf(stderr, "bench_kernel: pdpotrf info %d\n", info);
        t_pchol = tp < t_pchol ? tp : t_pchol;
        double tl = 0;
        if (rank == 0) {
            memcpy(work, full, sizeof(double) * (size_t)n * n);
            openblas_set_num_threads(size);
            double t1 = MPI_Wtime();
            dpotrf_("L", &n, work, &n, &info, 1);
            tl = MPI_Wtime() - t1;
            openblas_set_num_threads(threads);
            if (info != 0)
                fprintf(stderr, "bench_kernel: dpotrf info %d\n", info);
        }
        quiet_barrier();
        tl = wmax(tl);
        t_chol = tl < t_chol ? tl : t_chol;
    }
    out("t_pdpotrf", t_pchol);
    out("t_dpotrf", t_chol);
    free(acopy);
    free(work);
    free(full);
    op_pmatrix_free(&K);

    /* Eigen: K of the first neig points. */
    op_pkernel_matrix(&g, &spec, OP_KERNEL_NTK, x, neig, x, neig, &K);
    full = rank == 0 ? malloc(sizeof(double) * (size_t)neig * neig) : NULL;
    op_pmatrix_gather(&g, &K, full);
    {
        op_pmatrix Z;
        op_pmatrix_alloc(&g, &Z, neig, neig);
        double *w = malloc(sizeof(double) * (size_t)neig);
        int info = 0, lwork = -1, liwork = -1, iwq = 0;
        double wq[2];
        pdsyevd_("V", "L", &neig, K.a, &I1, &I1, K.desc, w, Z.a, &I1, &I1,
                 Z.desc, wq, &lwork, &iwq, &liwork, &info, 1, 1);
        lwork = (int)(wq[0] * 1.1) + 1000;
        liwork = iwq + 1000;
        double *pw = malloc(sizeof(double) * (size_t)lwork);
        int *piw = malloc(sizeof(int) * (size_t)liwork);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        pdsyevd_("V", "L", &neig, K.a, &I1, &I1, K.desc, w, Z.a, &I1, &I1,
                 Z.desc, pw, &lwork, piw, &liwork, &info, 1, 1);
        double tp = wmax(MPI_Wtime() - t0);
        if (info != 0 && rank == 0)
            fprintf(stderr, "bench_kernel: pdsyevd info %d\n", info);
        free(pw);
        free(piw);
        /* The default solver of the kernel phase (ELPA two-stage where
         * built), with vectors and values only, on a fresh K each. */
        double te = 0, tev = 0;
        for (int vec = 1; vec >= 0; vec--) {
            op_pkernel_fill(&g, &spec, x, neig, x, neig, NULL, &K);
            MPI_Barrier(MPI_COMM_WORLD);
            double t2 = MPI_Wtime();
            op_pkernel_eig(&g, OP_EIGEN_ELPA, &K, w, vec ? &Z : NULL);
            double tt = wmax(MPI_Wtime() - t2);
            *(vec ? &te : &tev) = tt;
        }
        op_pmatrix_free(&Z);
        double tl = 0, tlv = 0, wtop = w[neig - 1];
        if (rank == 0) {
            /* values only (jobz N) first, on a copy: dsyevd V overwrites
             * `full` with the vectors */
            double *cp = malloc(sizeof(double) * (size_t)neig * neig);
            memcpy(cp, full, sizeof(double) * (size_t)neig * neig);
            openblas_set_num_threads(size);
            tlv = time_dsyevd("N", neig, cp, w);
            free(cp);
            tl = time_dsyevd("V", neig, full, w);
            openblas_set_num_threads(threads);
            if (fabs(w[neig - 1] - wtop) > 1e-8 * fabs(wtop))
                fprintf(stderr, "bench_kernel: eigenvalues differ %g %g\n",
                        w[neig - 1], wtop);
        }
        quiet_barrier();
        tl = wmax(tl);
        tlv = wmax(tlv);
        out("t_dsyevd_values", tlv);
        out("t_pdsyevd", tp);
        out("t_eig_default", te);
        out("t_eig_default_values", tev);
        if (rank == 0)
            printf("eig_default_solver %s\n",
               op_pkernel_have_elpa() ? "elpa-2stage" : "scalapack");
        out("t_dsyevd", tl);
        free(w);
    }
    free(full);
    op_pmatrix_free(&K);
    free(x);
    op_pkernel_grid_free(&g);
    MPI_Finalize();
    return 0;
}
