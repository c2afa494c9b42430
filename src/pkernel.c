/* pkernel.c — NNGP/NTK matrices, kernel regression, gradient-flow
 * predictor and spectra on a BLACS grid (contract in pkernel.h).
 *
 * ScaLAPACK and BLACS have no C headers in Debian; the Fortran prototypes
 * below carry gfortran's hidden string-length arguments (size_t, one per
 * CHARACTER argument) because the ABI requires them. */
#include "overparam/pkernel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* BLACS (C interface). */
extern int Csys2blacs_handle(MPI_Comm comm);
extern void Cfree_blacs_system_handle(int handle);
extern void Cblacs_gridinit(int *ctxt, const char *order, int nprow,
                            int npcol);
extern void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow,
                            int *mycol);
extern void Cblacs_gridexit(int ctxt);

/* ScaLAPACK (Fortran). */
extern int numroc_(const int *n, const int *nb, const int *iproc,
                   const int *isrcproc, const int *nprocs);
extern void descinit_(int *desc, const int *m, const int *n, const int *mb,
                      const int *nb, const int *irsrc, const int *icsrc,
                      const int *ictxt, const int *lld, int *info);
extern void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia,
                     const int *ja, const int *desca, int *info, size_t);
extern void pdpotrs_(const char *uplo, const int *n, const int *nrhs,
                     const double *a, const int *ia, const int *ja,
                     const int *desca, double *b, const int *ib,
                     const int *jb, const int *descb, int *info, size_t);
extern void pdgemm_(const char *transa, const char *transb, const int *m,
                    const int *n, const int *k, const double *alpha,
                    const double *a, const int *ia, const int *ja,
                    const int *desca, const double *b, const int *ib,
                    const int *jb, const int *descb, const double *beta,
                    double *c, const int *ic, const int *jc, const int *descc,
                    size_t, size_t);
extern void pdtran_(const int *m, const int *n, const double *alpha,
                    const double *a, const int *ia, const int *ja,
                    const int *desca, const double *beta, double *c,
                    const int *ic, const int *jc, const int *descc);
extern void pdsyevd_(const char *jobz, const char *uplo, const int *n,
                     double *a, const int *ia, const int *ja,
                     const int *desca, double *w, double *z, const int *iz,
                     const int *jz, const int *descz, double *work,
                     const int *lwork, int *iwork, const int *liwork,
                     int *info, size_t, size_t);
extern void pdsyev_(const char *jobz, const char *uplo, const int *n,
                    double *a, const int *ia, const int *ja, const int *desca,
                    double *w, double *z, const int *iz, const int *jz,
                    const int *descz, double *work, const int *lwork,
                    int *info, size_t, size_t);
extern void pssyev_(const char *jobz, const char *uplo, const int *n,
                    float *a, const int *ia, const int *ja, const int *desca,
                    float *w, float *z, const int *iz, const int *jz,
                    const int *descz, float *work, const int *lwork,
                    int *info, size_t, size_t);

static const int I0 = 0, I1 = 1;

/* ---- progress (see pkernel.h) ---- */

static op_pkernel_progress_fn g_progress;
static void *g_progress_ctx;
static double g_work_done;
static int g_abandon; /* the hook asked to abandon this call */

void op_pkernel_set_progress(op_pkernel_progress_fn fn, void *ctx)
{
    g_progress = fn;
    g_progress_ctx = ctx;
}

static double work_build(int n, int nt, int d)
{
    return (double)n * n * d + 2.0 * nt * (double)n * d;
}
static double work_ridge(int n, int nt, int k)
{
    return (double)n * n * n / 3.0 + 2.0 * (double)n * n * k +
           2.0 * (double)nt * n * k;
}
static double work_eig64(const op_kernel_cfg *cfg, int n)
{
    return (cfg->n_time > 0 ? 9.0 : 1.5) * (double)n * n * n;
}
static double work_gd(const op_kernel_cfg *cfg, int n, int nt, int k)
{
    return (2.0 * n * (double)n * k) * (1 + cfg->n_time) +
           2.0 * cfg->n_time * (double)nt * n * k;
}

double op_pkernel_work(const op_kernel_cfg *cfg, int n_kinds, int n, int nt,
                       int d, int k)
{
    double per_kind = cfg->n_ridge * work_ridge(n, nt, k);
    if (cfg->n_time > 0 || cfg->eig64)
        per_kind += work_eig64(cfg, n);
    if (cfg->n_time > 0)
        per_kind += work_gd(cfg, n, nt, k);
    if (cfg->eig32)
        per_kind += (double)n * n * n;
    return work_build(n, nt, d) + n_kinds * per_kind;
}

/* Reports a finished step; returns (and remembers) whether every rank
 * must abandon the call now: any rank's hook said so. */
static int progress(const op_pkernel_grid *g, const char *step, int kind,
                    int i, int n, double work)
{
    g_work_done += work;
    if (!g_progress)
        return 0;
    int stop = g_progress(g_progress_ctx, step, kind, i, n, g_work_done) != 0;
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX,
                               g->comm), "sharing a stop between kernel steps");
    g_abandon |= stop;
    return stop;
}

op_status op_pkernel_grid_init(op_pkernel_grid *g, MPI_Comm comm, int rows,
                               int cols, int nb)
{
    memset(g, 0, sizeof *g);
    g->comm = comm;
    OP_MPI_CHECK(MPI_Comm_rank(comm, &g->rank), "grid communicator");
    OP_MPI_CHECK(MPI_Comm_size(comm, &g->size), "grid communicator");
    if (rows <= 0 || cols <= 0) {
        /* Near-square grids balance the block-cyclic load in both
         * directions and keep pdgemm/pdpotrf panel broadcasts short. */
        rows = 1;
        for (int r = 1; r * r <= g->size; r++)
            if (g->size % r == 0)
                rows = r;
        cols = g->size / rows;
    }
    if ((long)rows * cols != g->size)
        return op_error(OP_ERR_INPUT,
                        "kernel: grid %d x %d does not match %d ranks", rows,
                        cols, g->size);
    g->nb = nb > 0 ? nb : 64;
    g->sys_handle = Csys2blacs_handle(comm);
    g->ctxt = g->sys_handle;
    Cblacs_gridinit(&g->ctxt, "Row", rows, cols);
    Cblacs_gridinfo(g->ctxt, &g->nprow, &g->npcol, &g->myrow, &g->mycol);
    /* The reductions to "grid rank 0" use communicator rank 0: check the
     * row-major mapping rather than assume it. */
    int bad = g->nprow != rows || g->npcol != cols ||
              g->myrow * cols + g->mycol != g->rank;
    int anybad = 0;
    OP_MPI_CHECK(MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, comm),
                 "grid check");
    if (anybad)
        return op_error(OP_ERR_INTERNAL,
                        "kernel: BLACS grid is not row-major over the "
                        "communicator");
    return OP_OK;
}

void op_pkernel_grid_free(op_pkernel_grid *g)
{
    if (g->sys_handle || g->ctxt) {
        Cblacs_gridexit(g->ctxt);
        Cfree_blacs_system_handle(g->sys_handle);
    }
    memset(g, 0, sizeof *g);
}

static int l2g(int l, int nb, int p, int np)
{
    return (l / nb * np + p) * nb + l % nb;
}

int op_pmatrix_grow(const op_pkernel_grid *g, int li)
{
    return l2g(li, g->nb, g->myrow, g->nprow);
}

int op_pmatrix_gcol(const op_pkernel_grid *g, int lj)
{
    return l2g(lj, g->nb, g->mycol, g->npcol);
}

void op_pmatrix_alloc(const op_pkernel_grid *g, op_pmatrix *A, int m, int n)
{
    memset(A, 0, sizeof *A);
    A->m = m;
    A->n = n;
    A->mloc = numroc_(&m, &g->nb, &g->myrow, &I0, &g->nprow);
    A->nloc = numroc_(&n, &g->nb, &g->mycol, &I0, &g->npcol);
    A->lld = A->mloc > 1 ? A->mloc : 1;
    int info = 0;
    descinit_(A->desc, &m, &n, &g->nb, &g->nb, &I0, &I0, &g->ctxt, &A->lld,
              &info);
    OP_INFO_CHECK("descinit", info, "bad matrix descriptor");
    A->a = OP_XCALLOC((size_t)A->lld * (A->nloc > 0 ? A->nloc : 1),
                      sizeof(double));
}

void op_pmatrix_free(op_pmatrix *A)
{
    free(A->a);
    memset(A, 0, sizeof *A);
}

static void pmatrix_copy(const op_pkernel_grid *g, const op_pmatrix *src,
                         op_pmatrix *dst)
{
    op_pmatrix_alloc(g, dst, src->m, src->n);
    memcpy(dst->a, src->a, sizeof(double) * (size_t)src->lld * src->nloc);
}

/* Local columns per Gram GEMM: wide enough that re-packing the row slice
 * for each panel costs ~1% of the GEMM, narrow enough that the panel's
 * slice of X (PANEL x d) stays a small reused buffer. */
#define PANEL 512

/* The first local row whose global block row is >= block row bj: the rows
 * of local column block bj that lie on or below the global diagonal's
 * block (local rows are in increasing global order). */
static int first_lower_row(const op_pkernel_grid *g, int bj, int mloc)
{
    int lb = bj > g->myrow ? (bj - g->myrow + g->nprow - 1) / g->nprow : 0;
    long li = (long)lb * g->nb;
    return li < mloc ? (int)li : mloc;
}

/* The build behind op_pkernel_fill and op_pkernel_fill_lower; `lower`
 * (xr == xc, m == n) restricts every GEMM and recursion to the blocks on
 * or below the diagonal. */
static void pkernel_fill(const op_pkernel_grid *g, const op_kernel_spec *spec,
                         const double *xr, int m, const double *xc, int n,
                         op_pmatrix *nngp, op_pmatrix *ntk, int lower)
{
    const op_pmatrix *A = nngp ? nngp : ntk;
    if (!A)
        return;
    int d = spec->d, L = spec->depth, L1 = L + 1;
    int mloc = A->mloc, nloc = A->nloc, lld = A->lld;
    if (mloc == 0 || nloc == 0 || m == 0 || n == 0)
        return;
    /* Rows: with one process row every row is local and in order, so the
     * GEMM reads X itself; otherwise this rank's rows are copied once
     * (m*d/nprow). Columns go through a PANEL x d buffer. */
    const double *xrows = xr;
    double *xrl = NULL;
    if (g->nprow > 1) {
        xrl = OP_XMALLOC(sizeof(double) * (size_t)mloc * d);
        for (int li = 0; li < mloc; li++)
            memcpy(xrl + (size_t)li * d,
                   xr + (size_t)op_pmatrix_grow(g, li) * d, sizeof(double) * d);
        xrows = xrl;
    }
    int pw = nloc < PANEL ? nloc : PANEL;
    double *xpanel = g->npcol > 1
                         ? OP_XMALLOC(sizeof(double) * (size_t)pw * d)
                         : NULL;
    /* Diagonals and their layer-major factors for this rank's rows and
     * columns; a scratch column when only one kind is wanted. */
    double *qr = OP_XMALLOC(sizeof(double) * (size_t)mloc * L1);
    double *qc = OP_XMALLOC(sizeof(double) * (size_t)nloc * L1);
    const int NF = OP_KERNEL_NFACT;
    double *fr = OP_XMALLOC(sizeof(double) * ((size_t)NF * L * mloc + 1));
    double *fc = OP_XMALLOC(sizeof(double) * ((size_t)NF * L * nloc + 1));
    double *fj = OP_XMALLOC(sizeof(double) * ((size_t)NF * L + 1));
    double *scratch = nngp && ntk ? NULL
                                  : OP_XMALLOC(sizeof(double) * (size_t)mloc);
    if (xrl)
        op_kernel_diag(spec, xrl, mloc, d, qr);
    else
        op_kernel_diag(spec, xr, mloc, d, qr);
    for (int lj = 0; lj < nloc; lj++)
        op_kernel_diag(spec, xc + (size_t)op_pmatrix_gcol(g, lj) * d, 1, d,
                       qc + (size_t)lj * L1);
    op_kernel_factors(spec, qr, mloc, fr, mloc);
    op_kernel_factors(spec, qc, nloc, fc, nloc);

    for (int j0 = 0; j0 < nloc; j0 += pw) {
        int w = nloc - j0 < pw ? nloc - j0 : pw;
        const double *xcols;
        if (xpanel) {
            for (int lj = 0; lj < w; lj++)
                memcpy(xpanel + (size_t)lj * d,
                       xc + (size_t)op_pmatrix_gcol(g, j0 + lj) * d,
                       sizeof(double) * d);
            xcols = xpanel;
        } else {
            xcols = xc + (size_t)j0 * d;
        }
        /* Gram panel x_r . x_c / d, column-major (the ScaLAPACK layout);
         * the row-major slices are column-major d x rows, hence Trans.
         * Lower only: one GEMM per block column (local column blocks are
         * whole global block columns), from its first lower row. */
        for (int c0 = j0; c0 < j0 + w;) {
            int c1 = j0 + w;
            int r0 = 0;
            if (lower) {
                int cb = (c0 / g->nb + 1) * g->nb;
                c1 = cb < c1 ? cb : c1;
                r0 = first_lower_row(g, op_pmatrix_gcol(g, c0) / g->nb, mloc);
            }
            if (r0 < mloc)
                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans,
                            mloc - r0, c1 - c0, d, 1.0 / d,
                            xrows + (size_t)r0 * d, d,
                            xcols + (size_t)(c0 - j0) * d, d, 0.0,
                            A->a + (size_t)c0 * lld + r0, lld);
            for (int lj = c0; lj < c1; lj++) {
                double *S = nngp ? nngp->a + (size_t)lj * lld : scratch;
                double *T = ntk ? ntk->a + (size_t)lj * lld : scratch;
                if (!nngp) /* the Gram column landed in ntk: move it */
                    memcpy(S + r0, T + r0, sizeof(double) * (mloc - r0));
                for (int l = 0; l < NF * L; l++)
                    fj[l] = fc[(size_t)l * nloc + lj];
                if (r0 < mloc)
                    op_kernel_column(spec, mloc - r0, fr + r0, mloc, fj,
                                     S + r0, T + r0);
                /* Diagonal entries of K(X, X): exactly the self-kernel,
                 * from the diagonal recursion's own Gram value (the GEMM's
                 * sum order differs by an ulp, and the ReLU derivative
                 * kernel is singular at cos = 1). Only blocks on the
                 * global diagonal hold such entries. */
                int gj = op_pmatrix_gcol(g, lj);
                if (xr != xc || (gj / g->nb) % g->nprow != g->myrow)
                    continue;
                int li = (gj / g->nb) / g->nprow * g->nb + gj % g->nb;
                if (li >= mloc)
                    continue;
                const double *xi = xc + (size_t)gj * d;
                double sq = 0.0;
                for (int c = 0; c < d; c++)
                    sq += xi[c] * xi[c];
                op_kernel_elem(spec, sq / d, qr + (size_t)li * L1,
                               qc + (size_t)lj * L1, nngp ? S + li : NULL,
                               ntk ? T + li : NULL);
            }
            c0 = c1;
        }
    }
    free(xrl);
    free(xpanel);
    free(qr);
    free(qc);
    free(fr);
    free(fc);
    free(fj);
    free(scratch);
}

void op_pkernel_fill(const op_pkernel_grid *g, const op_kernel_spec *spec,
                     const double *xr, int m, const double *xc, int n,
                     op_pmatrix *nngp, op_pmatrix *ntk)
{
    pkernel_fill(g, spec, xr, m, xc, n, nngp, ntk, 0);
}

void op_pkernel_fill_lower(const op_pkernel_grid *g,
                           const op_kernel_spec *spec, const double *x, int n,
                           op_pmatrix *nngp, op_pmatrix *ntk)
{
    pkernel_fill(g, spec, x, n, x, n, nngp, ntk, 1);
}

void op_pmatrix_symmetrize_lower(const op_pkernel_grid *g, op_pmatrix *A)
{
    op_pmatrix T;
    op_pmatrix_alloc(g, &T, A->n, A->m);
    double one = 1.0, zero = 0.0;
    pdtran_(&A->n, &A->m, &one, A->a, &I1, &I1, A->desc, &zero, T.a, &I1,
            &I1, T.desc);
    for (int lj = 0; lj < A->nloc; lj++) {
        int gj = op_pmatrix_gcol(g, lj);
        for (int li = 0; li < A->mloc && op_pmatrix_grow(g, li) < gj; li++)
            A->a[li + (size_t)lj * A->lld] = T.a[li + (size_t)lj * T.lld];
    }
    op_pmatrix_free(&T);
}

void op_pkernel_matrix(const op_pkernel_grid *g, const op_kernel_spec *spec,
                       op_kernel_kind kind, const double *xr, int m,
                       const double *xc, int n, op_pmatrix *A)
{
    op_pmatrix_alloc(g, A, m, n);
    op_pkernel_fill(g, spec, xr, m, xc, n, kind == OP_KERNEL_NNGP ? A : NULL,
                    kind == OP_KERNEL_NTK ? A : NULL);
}

void op_pmatrix_gather(const op_pkernel_grid *g, const op_pmatrix *A,
                       double *full)
{
    size_t mn = (size_t)A->m * A->n;
    double *buf = OP_XCALLOC(mn ? mn : 1, sizeof(double));
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++)
            buf[(size_t)op_pmatrix_grow(g, li) * A->n + op_pmatrix_gcol(g, lj)] =
                A->a[li + (size_t)lj * A->lld];
    /* Each entry has exactly one owner, so the sum is exact. */
    OP_MPI_CHECK(MPI_Reduce(g->rank == 0 ? MPI_IN_PLACE : buf,
                            g->rank == 0 ? buf : NULL, (int)mn, MPI_DOUBLE,
                            MPI_SUM, 0, g->comm),
                 "gathering a distributed matrix");
    if (g->rank == 0)
        memcpy(full, buf, sizeof(double) * mn);
    free(buf);
}

/* A distributed nt x k block of predictions to rank 0 (row-major out),
 * then metrics on rank 0 broadcast to all ranks so every rank's result is
 * the same. */
static void collect_predictions(const op_pkernel_grid *g, const op_pmatrix *P,
                                const op_dataset *test, double *out,
                                double *mse, double *acc, int *status)
{
    double *buf = g->rank == 0 ? out
                               : OP_XMALLOC(sizeof(double) * (size_t)P->m *
                                                (P->n > 0 ? P->n : 1));
    op_pmatrix_gather(g, P, buf);
    double m3[3] = {NAN, NAN, 0};
    if (g->rank == 0) {
        int finite = 1;
        for (size_t i = 0; i < (size_t)P->m * P->n; i++)
            finite &= isfinite(out[i]) != 0;
        op_kernel_metrics(out, test->y, test->label, test->n, test->k, &m3[0],
                          &m3[1]);
        m3[2] = finite ? OP_KSTATUS_OK : OP_KSTATUS_NONFINITE;
    }
    OP_MPI_CHECK(MPI_Bcast(m3, 3, MPI_DOUBLE, 0, g->comm), "metrics");
    *mse = m3[0];
    *acc = m3[1];
    *status = (int)m3[2];
    if (g->rank != 0)
        free(buf);
}

/* Fills a distributed n x k matrix from row-major y[n][k]. */
static void pmatrix_from_rows(const op_pkernel_grid *g, op_pmatrix *B,
                              const double *y, int n, int k)
{
    op_pmatrix_alloc(g, B, n, k);
    for (int lj = 0; lj < B->nloc; lj++)
        for (int li = 0; li < B->mloc; li++)
            B->a[li + (size_t)lj * B->lld] =
                y[(size_t)op_pmatrix_grow(g, li) * k + op_pmatrix_gcol(g, lj)];
}

static void pgemm(char ta, const op_pmatrix *A, const op_pmatrix *B,
                  op_pmatrix *C)
{
    int kk = ta == 'T' ? A->m : A->n;
    double one = 1.0, zero = 0.0;
    pdgemm_(&ta, "N", &C->m, &C->n, &kk, &one, A->a, &I1, &I1, A->desc, B->a,
            &I1, &I1, B->desc, &zero, C->a, &I1, &I1, C->desc, 1, 1);
}

static double wtime_max(const op_pkernel_grid *g, double t)
{
    double m = t;
    OP_MPI_CHECK(MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, g->comm),
                 "timing");
    return m;
}

/* Symmetric eigenvalues (ascending in w) by pdsyevd with vectors into Z, or
 * by pdsyev values-only when Z is NULL. A is destroyed. */
static void peig64(op_pmatrix *A, double *w,
                   op_pmatrix *Z)
{
    int n = A->m, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq[2] = {0, 0};
    if (Z) {
        pdsyevd_("V", "L", &n, A->a, &I1, &I1, A->desc, w, Z->a, &I1, &I1,
                 Z->desc, wq, &lwork, &iwq, &liwork, &info, 1, 1);
        OP_INFO_CHECK("pdsyevd (query)", info, "bad argument");
        /* The query is known to be tight on some grids: add headroom. */
        lwork = (int)(wq[0] * 1.1) + 1000;
        liwork = iwq + 1000;
        double *work = OP_XMALLOC(sizeof(double) * (size_t)lwork);
        int *iwork = OP_XMALLOC(sizeof(int) * (size_t)liwork);
        pdsyevd_("V", "L", &n, A->a, &I1, &I1, A->desc, w, Z->a, &I1, &I1,
                 Z->desc, work, &lwork, iwork, &liwork, &info, 1, 1);
        OP_INFO_CHECK("pdsyevd", info, "eigensolver failed");
        free(work);
        free(iwork);
    } else {
        double dz = 0;
        pdsyev_("N", "L", &n, A->a, &I1, &I1, A->desc, w, &dz, &I1, &I1,
                A->desc, wq, &lwork, &info, 1, 1);
        OP_INFO_CHECK("pdsyev (query)", info, "bad argument");
        lwork = (int)(wq[0] * 1.1) + 1000;
        double *work = OP_XMALLOC(sizeof(double) * (size_t)lwork);
        pdsyev_("N", "L", &n, A->a, &I1, &I1, A->desc, w, &dz, &I1, &I1,
                A->desc, work, &lwork, &info, 1, 1);
        OP_INFO_CHECK("pdsyev", info, "eigensolver failed");
        free(work);
    }
}

static void peig32(const op_pmatrix *K, float *w)
{
    int n = K->m, info = 0, lwork = -1;
    size_t len = (size_t)K->lld * (K->nloc > 0 ? K->nloc : 1);
    float *a = OP_XMALLOC(sizeof(float) * len);
    for (size_t i = 0; i < len; i++)
        a[i] = (float)K->a[i];
    float wq[2] = {0, 0}, dz = 0;
    pssyev_("N", "L", &n, a, &I1, &I1, K->desc, w, &dz, &I1, &I1, K->desc, wq,
            &lwork, &info, 1, 1);
    OP_INFO_CHECK("pssyev (query)", info, "bad argument");
    lwork = (int)(wq[0] * 1.1f) + 1000;
    float *work = OP_XMALLOC(sizeof(float) * (size_t)lwork);
    pssyev_("N", "L", &n, a, &I1, &I1, K->desc, w, &dz, &I1, &I1, K->desc,
            work, &lwork, &info, 1, 1);
    OP_INFO_CHECK("pssyev", info, "eigensolver failed");
    free(work);
    free(a);
}

static double mean_diag(const op_kernel_spec *spec, op_kernel_kind kind,
                        const double *x, int n)
{
    int L1 = spec->depth + 1, d = spec->d;
    double *q = OP_XMALLOC(sizeof(double) * (size_t)n * L1);
    op_kernel_diag(spec, x, n, d, q);
    double s = 0;
    for (int i = 0; i < n; i++) {
        const double *xi = x + (size_t)i * d;
        double g = 0, v = 0;
        for (int c = 0; c < d; c++)
            g += xi[c] * xi[c];
        op_kernel_elem(spec, g / d, q + (size_t)i * L1, q + (size_t)i * L1,
                       kind == OP_KERNEL_NNGP ? &v : NULL,
                       kind == OP_KERNEL_NTK ? &v : NULL);
        s += v;
    }
    free(q);
    return s / n;
}

/* Everything after the build for one kind: regression per epsilon,
 * spectra, gradient-flow predictions. K is destroyed only through copies;
 * the caller frees K and Kt. */
static void pkernel_analyze(const op_pkernel_grid *g, int ki,
                            const op_kernel_cfg *cfg, const op_pmatrix *Kp,
                            const op_pmatrix *Kt, const op_pmatrix *Y,
                            const op_dataset *train, const op_dataset *test,
                            op_kernel_result *res)
{
    const op_pmatrix K = *Kp;
    int n = train->n, nt = test->n, k = train->k;
    double t;
    /* Kernel regression, one Cholesky of a fresh copy per epsilon: copying
     * K costs n^2/P, far below the n^3/P factorization. */
    t = MPI_Wtime();
    if (g->rank == 0 && cfg->n_ridge > 0)
        res->pred_ridge =
            OP_XMALLOC(sizeof(double) * (size_t)cfg->n_ridge * nt * k);
    for (int r = 0; r < cfg->n_ridge; r++) {
        double eps = cfg->ridge_relative ? cfg->ridge[r] * res->mean_diag
                                         : cfg->ridge[r];
        res->epsilon[r] = eps;
        op_pmatrix A, B, P;
        pmatrix_copy(g, &K, &A);
        for (int lj = 0; lj < A.nloc; lj++)
            for (int li = 0; li < A.mloc; li++)
                if (op_pmatrix_grow(g, li) == op_pmatrix_gcol(g, lj))
                    A.a[li + (size_t)lj * A.lld] += eps;
        int info = 0, ginfo = 0;
        pdpotrf_("L", &n, A.a, &I1, &I1, A.desc, &info, 1);
        if (info < 0)
            OP_INFO_CHECK("pdpotrf", info, "bad argument");
        /* Make sure every rank takes the same branch. */
        OP_MPI_CHECK(MPI_Allreduce(&info, &ginfo, 1, MPI_INT, MPI_MAX,
                                   g->comm), "pdpotrf info");
        double *out = res->pred_ridge ? res->pred_ridge + (size_t)r * nt * k
                                      : NULL;
        if (ginfo > 0) {
            res->ridge_status[r] = OP_KSTATUS_NOT_PD;
            res->ridge_mse[r] = res->ridge_acc[r] = NAN;
            if (out)
                for (size_t i = 0; i < (size_t)nt * k; i++)
                    out[i] = NAN;
            op_pmatrix_free(&A);
            if (progress(g, "ridge", ki, r + 1, cfg->n_ridge,
                         work_ridge(n, nt, k)))
                return;
            continue;
        }
        pmatrix_from_rows(g, &B, train->y, n, k);
        pdpotrs_("L", &n, &k, A.a, &I1, &I1, A.desc, B.a, &I1, &I1, B.desc,
                 &info, 1);
        OP_INFO_CHECK("pdpotrs", info, "bad argument");
        op_pmatrix_alloc(g, &P, nt, k);
        if (nt > 0)
            pgemm('N', Kt, &B, &P);
        collect_predictions(g, &P, test, out, &res->ridge_mse[r],
                            &res->ridge_acc[r], &res->ridge_status[r]);
        op_pmatrix_free(&A);
        op_pmatrix_free(&B);
        op_pmatrix_free(&P);
        if (progress(g, "ridge", ki, r + 1, cfg->n_ridge,
                     work_ridge(n, nt, k)))
            return;
    }
    res->t_ridge = wtime_max(g, MPI_Wtime() - t);

    /* float64 spectrum, with eigenvectors when gradient flow needs them. */
    double *w = NULL;
    op_pmatrix V;
    memset(&V, 0, sizeof V);
    if (cfg->n_time > 0 || cfg->eig64) {
        t = MPI_Wtime();
        op_pmatrix A;
        pmatrix_copy(g, &K, &A);
        w = OP_XMALLOC(sizeof(double) * (size_t)n);
        if (cfg->n_time > 0)
            op_pmatrix_alloc(g, &V, n, n);
        peig64(&A, w, cfg->n_time > 0 ? &V : NULL);
        /* Rank 0's values everywhere: attributes written collectively
         * from them must agree bit for bit. */
        OP_MPI_CHECK(MPI_Bcast(w, n, MPI_DOUBLE, 0, g->comm), "eigenvalues");
        op_pmatrix_free(&A);
        res->t_eig64 = wtime_max(g, MPI_Wtime() - t);
        if (progress(g, "eigen64", ki, 1, 1, work_eig64(cfg, n))) {
            free(w);
            if (cfg->n_time > 0)
                op_pmatrix_free(&V);
            return;
        }
        if (cfg->eig64) {
            res->eig64 = OP_XMALLOC(sizeof(double) * (size_t)n);
            for (int i = 0; i < n; i++)
                res->eig64[i] = w[n - 1 - i];
            op_kernel_powerlaw_fit(res->eig64, n, &res->fit_exp64,
                                   &res->fit_pref64, &res->fit_lo,
                                   &res->fit_hi);
        }
    }

    if (cfg->n_time > 0) {
        t = MPI_Wtime();
        if (g->rank == 0)
            res->pred_time =
                OP_XMALLOC(sizeof(double) * (size_t)cfg->n_time * nt * k);
        op_pmatrix Z, Zt, W1, P;
        op_pmatrix_alloc(g, &Z, n, k);
        op_pmatrix_alloc(g, &Zt, n, k);
        op_pmatrix_alloc(g, &W1, n, k);
        op_pmatrix_alloc(g, &P, nt, k);
        pgemm('T', &V, Y, &Z); /* Z = V^T Y: y in the eigenbasis */
        for (int it = 0; it < cfg->n_time; it++) {
            for (int lj = 0; lj < Z.nloc; lj++)
                for (int li = 0; li < Z.mloc; li++) {
                    int gi = op_pmatrix_grow(g, li); /* eigen index */
                    size_t o = li + (size_t)lj * Z.lld;
                    Zt.a[o] = op_kernel_gd_gain(w[gi], cfg->time[it], n) *
                              Z.a[o];
                }
            pgemm('N', &V, &Zt, &W1);
            if (nt > 0)
                pgemm('N', Kt, &W1, &P);
            collect_predictions(
                g, &P, test,
                res->pred_time ? res->pred_time + (size_t)it * nt * k : NULL,
                &res->time_mse[it], &res->time_acc[it],
                &res->time_status[it]);
        }
        op_pmatrix_free(&Z);
        op_pmatrix_free(&Zt);
        op_pmatrix_free(&W1);
        op_pmatrix_free(&P);
        op_pmatrix_free(&V);
        res->t_gd = wtime_max(g, MPI_Wtime() - t);
        if (progress(g, "gd", ki, 1, 1, work_gd(cfg, n, nt, k))) {
            free(w);
            return;
        }
    }
    free(w);

    if (cfg->eig32) {
        t = MPI_Wtime();
        float *wf = OP_XMALLOC(sizeof(float) * (size_t)n);
        peig32(&K, wf);
        OP_MPI_CHECK(MPI_Bcast(wf, n, MPI_FLOAT, 0, g->comm), "eigenvalues");
        res->eig32 = OP_XMALLOC(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            res->eig32[i] = wf[n - 1 - i];
        free(wf);
        op_kernel_powerlaw_fit_f(res->eig32, n, &res->fit_exp32,
                                 &res->fit_pref32, &res->fit_lo,
                                 &res->fit_hi);
        res->t_eig32 = wtime_max(g, MPI_Wtime() - t);
        progress(g, "eigen32", ki, 1, 1, (double)n * n * n);
    }

}

op_status op_pkernel_run(const op_pkernel_grid *g, const op_kernel_spec *spec,
                         const op_kernel_cfg *cfg, int n_kinds,
                         const op_kernel_kind *kinds, const op_dataset *train,
                         const op_dataset *test, op_kernel_result *res)
{
    for (int i = 0; i < n_kinds; i++)
        memset(&res[i], 0, sizeof res[i]);
    if (n_kinds < 1 || n_kinds > 2 ||
        (n_kinds == 2 && kinds[0] == kinds[1]))
        return op_error(OP_ERR_INPUT, "kernel: %d kinds asked (one or both "
                        "of nngp, ntk)", n_kinds);
    if (train->n < 1 || train->d != spec->d || test->d != spec->d ||
        test->k != train->k || train->k < 1)
        return op_error(OP_ERR_INPUT,
                        "kernel: data shapes disagree (train %dx%d k=%d, test "
                        "%dx%d k=%d, spec d=%d)", train->n, train->d, train->k,
                        test->n, test->d, test->k, spec->d);
    if (cfg->n_ridge < 0 || cfg->n_ridge > OP_LIST_MAX || cfg->n_time < 0 ||
        cfg->n_time > OP_LIST_MAX)
        return op_error(OP_ERR_INPUT, "kernel: ridge/time list too long");
    double t0 = MPI_Wtime();
    int n = train->n, nt = test->n, k = train->k;

    /* Both kinds from one pass: the Gram GEMM and the recursion yield NNGP
     * and NTK together, so building them apart would double the cost. */
    op_pmatrix K[2], Kt[2], Y;
    op_pmatrix *Kk[2] = {NULL, NULL}, *Ktk[2] = {NULL, NULL};
    for (int i = 0; i < n_kinds; i++) {
        op_pmatrix_alloc(g, &K[i], n, n);
        op_pmatrix_alloc(g, &Kt[i], nt, n);
        Kk[kinds[i]] = &K[i];
        Ktk[kinds[i]] = &Kt[i];
    }
    /* K(train, train): only the lower triangle's blocks, the one every
     * factorization and eigensolver below reads ("L"); saved matrices are
     * mirrored before they are written. */
    op_pkernel_fill_lower(g, spec, train->x, n, Kk[OP_KERNEL_NNGP],
                          Kk[OP_KERNEL_NTK]);
    op_pkernel_fill(g, spec, test->x, nt, train->x, n, Ktk[OP_KERNEL_NNGP],
                    Ktk[OP_KERNEL_NTK]);
    pmatrix_from_rows(g, &Y, train->y, n, k);
    double t_kernel = wtime_max(g, MPI_Wtime() - t0);
    g_work_done = 0;
    g_abandon = 0;
    progress(g, "build", 0, 1, 1, work_build(n, nt, train->d));

    for (int i = 0; i < n_kinds; i++) {
        double t1 = MPI_Wtime();
        op_kernel_result *r = &res[i];
        r->kind = kinds[i];
        r->n_train = n;
        r->n_test = nt;
        r->k = k;
        r->grid_rows = g->nprow;
        r->grid_cols = g->npcol;
        r->block = g->nb;
        r->n_ridge = cfg->n_ridge;
        r->n_time = cfg->n_time;
        r->fit_exp64 = r->fit_pref64 = r->fit_exp32 = r->fit_pref32 = NAN;
        for (int j = 0; j < cfg->n_ridge; j++)
            r->ridge[j] = cfg->ridge[j];
        for (int j = 0; j < cfg->n_time; j++)
            r->time[j] = cfg->time[j];
        r->mean_diag = mean_diag(spec, kinds[i], train->x, n);
        r->t_kernel = t_kernel;
        if (!g_abandon)
            pkernel_analyze(g, i, cfg, &K[i], &Kt[i], &Y, train, test, r);
        op_pmatrix_free(&Kt[i]);
        if (g_abandon) {
            op_pmatrix_free(&K[i]);
            continue;
        }
        if (cfg->save_matrix) {
            op_pmatrix_symmetrize_lower(g, &K[i]);
            r->matrix = K[i];
            r->has_matrix = 1;
        } else {
            op_pmatrix_free(&K[i]);
        }
        r->t_total = (i == 0 ? t_kernel : 0.0) +
                     wtime_max(g, MPI_Wtime() - t1);
    }
    op_pmatrix_free(&Y);
    if (g_abandon) {
        for (int i = 0; i < n_kinds; i++)
            op_kernel_result_free(&res[i]);
        return op_error(OP_ERR_STOPPED, "kernel abandoned between steps by "
                        "a stop request");
    }
    return OP_OK;
}

void op_kernel_result_free(op_kernel_result *res)
{
    free(res->pred_ridge);
    free(res->pred_time);
    free(res->eig64);
    free(res->eig32);
    if (res->has_matrix)
        op_pmatrix_free(&res->matrix);
    memset(res, 0, sizeof *res);
}
