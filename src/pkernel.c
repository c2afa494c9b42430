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

extern void pdgeadd_(const char *trans, const int *m, const int *n,
                     const double *alpha, const double *a, const int *ia,
                     const int *ja, const int *desca, const double *beta,
                     double *c, const int *ic, const int *jc, const int *descc,
                     size_t);
extern void pspotrf_(const char *uplo, const int *n, float *a, const int *ia,
                     const int *ja, const int *desca, int *info, size_t);
extern void pspotrs_(const char *uplo, const int *n, const int *nrhs,
                     const float *a, const int *ia, const int *ja,
                     const int *desca, float *b, const int *ib,
                     const int *jb, const int *descb, int *info, size_t);
extern void pdsymm_(const char *side, const char *uplo, const int *m,
                    const int *n, const double *alpha, const double *a,
                    const int *ia, const int *ja, const int *desca,
                    const double *b, const int *ib, const int *jb,
                    const int *descb, const double *beta, double *c,
                    const int *ic, const int *jc, const int *descc, size_t,
                    size_t);

#ifdef OP_HAVE_ELPA
#include <elpa/elpa.h>
#endif

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
/* Rebuilding one kind's lower triangle (instead of keeping a copy). */
static double work_rebuild(int n, int d)
{
    return (double)n * n * d;
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
    if (cfg->precision == OP_KPREC_MIXED) /* per ridge: float32 Cholesky
        at twice the rate, the float32 build, ~3 refinement rebuilds and
        K(test, train) by strips */
        return n_kinds * cfg->n_ridge *
               (work_ridge(n, nt, k) / 2 + 4 * work_rebuild(n, d) +
                2.0 * nt * (double)n * d);
    /* Every step after the first on a kind rebuilds K in place. */
    int steps = cfg->n_ridge + (cfg->n_time > 0 || cfg->eig64) + cfg->eig32;
    double per_kind = cfg->n_ridge * work_ridge(n, nt, k) +
                      (steps > 1 ? steps - 1 : 0) * work_rebuild(n, d);
    /* compare: each ridge's float32 solve (Cholesky at twice the rate) and
     * the rebuild for float64's residual */
    if (cfg->precision == OP_KPREC_COMPARE)
        per_kind += cfg->n_ridge * (work_ridge(n, nt, k) / 2 +
                                    work_rebuild(n, d));
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

/* The layout of an m x n block-cyclic matrix without its storage. */
static void pmatrix_layout(const op_pkernel_grid *g, op_pmatrix *A, int m,
                           int n)
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
}

void op_pmatrix_alloc(const op_pkernel_grid *g, op_pmatrix *A, int m, int n)
{
    pmatrix_layout(g, A, m, n);
    A->a = OP_XCALLOC((size_t)A->lld * (A->nloc > 0 ? A->nloc : 1),
                      sizeof(double));
}

void op_pmatrix_free(op_pmatrix *A)
{
    free(A->a);
    memset(A, 0, sizeof *A);
}

/* Bytes of the buffer a panel's columns of X are copied into (npcol > 1):
 * the panel is as many local columns as fit, whole blocks, so the lower
 * build's GEMMs over it are wide (see lower_gemms), while the buffer stays
 * a small fraction of the n^2/P matrices it fills (32 MiB: 5,349 columns
 * at d = 784, all of a rank's at n = 8192 on 2 ranks, where the matrices
 * are 256 MiB each). */
#define PANEL_BYTES ((size_t)32 << 20)
static size_t g_panel_bytes = PANEL_BYTES;

void op_pkernel_set_panel_bytes(size_t bytes)
{
    g_panel_bytes = bytes ? bytes : PANEL_BYTES;
}

/* Global columns per panel of the lean symmetrization. */
#define SYM_PANEL 1024

/* The first local row whose global block row is >= block row bj: the rows
 * of local column block bj that lie on or below the global diagonal's
 * block (local rows are in increasing global order). */
static int first_lower_row(const op_pkernel_grid *g, int bj, int mloc)
{
    int lb = bj > g->myrow ? (bj - g->myrow + g->nprow - 1) / g->nprow : 0;
    long li = (long)lb * g->nb;
    return li < mloc ? (int)li : mloc;
}

/* The Gram GEMMs of the lower triangle's part of a panel: local column
 * blocks [a, b) of the panel (block k: local columns c0 + k nb ... within
 * [c0, c1)), block k from its first lower row r0(k) (non-decreasing in k)
 * down to row R. One GEMM per block column would be mloc x nb x d each,
 * a shape OpenBLAS runs ~20% below a wide one; instead the staircase is
 * cut recursively: rows [r0(mid), R) of the left half's blocks form one
 * rectangle, and each half's remaining staircase is cut the same way. The
 * top rectangles are (mloc/2) x (panel/2), and narrow GEMMs are left only
 * near the diagonal (those of 256 columns or fewer hold ~14% of the
 * entries at n = 8192 on 2 ranks). Each entry is still one dot product
 * over d in OpenBLAS's kernel order: the same bits as the full build
 * (tests/test_mpi_kernel.c). */
typedef struct {
    const op_pkernel_grid *g;
    const double *xrows, *xcols; /* row slice (mloc x d); panel's columns */
    double *G;                   /* column c0 of the panel's output */
    int d, lld, mloc, c0, c1;
} stair_ctx;

static int stair_r0(const stair_ctx *s, int k)
{
    int lj = s->c0 + k * s->g->nb;
    return first_lower_row(s->g, op_pmatrix_gcol(s->g, lj) / s->g->nb,
                           s->mloc);
}

static void stair_gemm(const stair_ctx *s, int r_lo, int r_hi, int ka,
                       int kb)
{
    int nb = s->g->nb, lo = s->c0 + ka * nb, hi = s->c0 + kb * nb;
    hi = hi < s->c1 ? hi : s->c1;
    if (r_lo >= r_hi || lo >= hi)
        return;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, r_hi - r_lo,
                hi - lo, s->d, 1.0 / s->d, s->xrows + (size_t)r_lo * s->d,
                s->d, s->xcols + (size_t)(lo - s->c0) * s->d, s->d, 0.0,
                s->G + (size_t)(lo - s->c0) * s->lld + r_lo, s->lld);
}

static void lower_gemms(const stair_ctx *s, int a, int b, int R)
{
    if (b - a == 1) {
        stair_gemm(s, stair_r0(s, a), R, a, b);
        return;
    }
    int mid = a + (b - a) / 2, rm = stair_r0(s, mid);
    rm = rm < R ? rm : R;
    stair_gemm(s, rm, R, a, mid);
    lower_gemms(s, a, mid, rm);
    lower_gemms(s, mid, b, R);
}

/* The build behind op_pkernel_fill and op_pkernel_fill_lower; `lower`
 * (xr == xc, m == n) restricts every GEMM and recursion to the blocks on
 * or below the diagonal. */
static void pkernel_fill(const op_pkernel_grid *g, const op_kernel_spec *spec,
                         const double *xr, int m, const double *xc, int n,
                         const op_pmatrix *A, double *nngp_a, double *ntk_a,
                         int lj_lo, int lj_hi, int lower)
{
    /* Local columns [lj_lo, lj_hi) of the matrix shaped like A; column lj
     * is stored at base + (lj - lj_lo) * lld (a strip when lj_lo > 0). */
    int d = spec->d, L = spec->depth, L1 = L + 1;
    int mloc = A->mloc, nloc = A->nloc, lld = A->lld;
    if (mloc == 0 || nloc == 0 || m == 0 || n == 0 || lj_lo >= lj_hi ||
        (!nngp_a && !ntk_a))
        return;
    /* Rows: with one process row every row is local and in order, so the
     * GEMM reads X itself; otherwise this rank's rows are copied once
     * (m*d/nprow). Columns go through a panel buffer (g_panel_bytes). */
    const double *xrows = xr;
    double *xrl = NULL;
    if (g->nprow > 1) {
        xrl = OP_XMALLOC(sizeof(double) * (size_t)mloc * d);
        for (int li = 0; li < mloc; li++)
            memcpy(xrl + (size_t)li * d,
                   xr + (size_t)op_pmatrix_grow(g, li) * d, sizeof(double) * d);
        xrows = xrl;
    }
    /* Panels of equal width in whole blocks, as few as the buffer allows
     * (one process column reads X's columns in place: one panel). */
    size_t pcols = g_panel_bytes / (sizeof(double) * (size_t)d);
    int span = lj_hi - lj_lo, pw = span;
    if (g->npcol > 1 && pcols < (size_t)span) {
        int nb = g->nb, most = (int)pcols / nb * nb;
        most = most < nb ? nb : most;
        int panels = (span + most - 1) / most;
        pw = ((span + panels - 1) / panels + nb - 1) / nb * nb;
        pw = pw > most ? most : pw;
    }
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
    double *scratch = nngp_a && ntk_a
                          ? NULL
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

    for (int j0 = lj_lo; j0 < lj_hi; j0 += pw) {
        int w = lj_hi - j0 < pw ? lj_hi - j0 : pw;
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
         * Lower only: the blocks on or below the diagonal (local column
         * blocks are whole global block columns, j0 and w whole blocks). */
        double *G = nngp_a ? nngp_a : ntk_a;
        if (lower) {
            stair_ctx s = {g, xrows, xcols, G + (size_t)(j0 - lj_lo) * lld,
                           d, lld, mloc, j0, j0 + w};
            lower_gemms(&s, 0, (w + g->nb - 1) / g->nb, mloc);
        } else {
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, mloc, w, d,
                        1.0 / d, xrows, d, xcols, d, 0.0,
                        G + (size_t)(j0 - lj_lo) * lld, lld);
        }
        for (int lj = j0; lj < j0 + w; lj++) {
            int r0 = lower ? first_lower_row(
                                 g, op_pmatrix_gcol(g, lj) / g->nb, mloc)
                           : 0;
            size_t off = (size_t)(lj - lj_lo) * lld;
            double *S = nngp_a ? nngp_a + off : scratch;
            double *T = ntk_a ? ntk_a + off : scratch;
            if (!nngp_a) /* the Gram column landed in ntk: move it */
                memcpy(S + r0, T + r0, sizeof(double) * (mloc - r0));
            for (int l = 0; l < NF * L; l++)
                fj[l] = fc[(size_t)l * nloc + lj];
            if (r0 < mloc)
                op_kernel_column(spec, mloc - r0, fr + r0, mloc, fj, S + r0,
                                 T + r0);
            /* Diagonal entries of K(X, X): exactly the self-kernel, from
             * the diagonal recursion's own Gram value (the GEMM's sum
             * order differs by an ulp, and the ReLU derivative kernel is
             * singular at cos = 1). Only blocks on the global diagonal
             * hold such entries. */
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
                           qc + (size_t)lj * L1, nngp_a ? S + li : NULL,
                           ntk_a ? T + li : NULL);
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
    const op_pmatrix *A = nngp ? nngp : ntk;
    if (A)
        pkernel_fill(g, spec, xr, m, xc, n, A, nngp ? nngp->a : NULL,
                     ntk ? ntk->a : NULL, 0, A->nloc, 0);
}

void op_pkernel_fill_lower(const op_pkernel_grid *g,
                           const op_kernel_spec *spec, const double *x, int n,
                           op_pmatrix *nngp, op_pmatrix *ntk)
{
    const op_pmatrix *A = nngp ? nngp : ntk;
    if (A)
        pkernel_fill(g, spec, x, n, x, n, A, nngp ? nngp->a : NULL,
                     ntk ? ntk->a : NULL, 0, A->nloc, 1);
}

/* One kind's lower triangle into A (the rebuild that replaces a copy). */
static void fill_lower_kind(const op_pkernel_grid *g,
                            const op_kernel_spec *spec, op_kernel_kind kind,
                            const double *x, int n, op_pmatrix *A)
{
    op_pkernel_fill_lower(g, spec, x, n, kind == OP_KERNEL_NNGP ? A : NULL,
                          kind == OP_KERNEL_NTK ? A : NULL);
}

void op_pmatrix_symmetrize_lower(const op_pkernel_grid *g, op_pmatrix *A)
{
    /* Panel by panel (SYM_PANEL global columns, a multiple of nb): the
     * transpose of A(j:n, j:j+w) lands in a w x (n-j) temporary whose
     * source process is the one of A(j, j), so its local entries sit
     * exactly where A(j:j+w, j:n)'s do; the entries above the diagonal are
     * copied. The temporary is w n/P, not the n^2/P of a whole transpose. */
    int n = A->n, nb = g->nb;
    int w = (SYM_PANEL + nb - 1) / nb * nb;
    double one = 1.0, zero = 0.0;
    for (int j = 0; j < n; j += w) {
        int pw = n - j < w ? n - j : w, rest = n - j;
        int rsrc = (j / nb) % g->nprow, csrc = (j / nb) % g->npcol;
        op_pmatrix T;
        memset(&T, 0, sizeof T);
        T.m = pw;
        T.n = rest;
        T.mloc = numroc_(&pw, &nb, &g->myrow, &rsrc, &g->nprow);
        T.nloc = numroc_(&rest, &nb, &g->mycol, &csrc, &g->npcol);
        T.lld = T.mloc > 1 ? T.mloc : 1;
        int info = 0, j1 = j + 1;
        descinit_(T.desc, &pw, &rest, &nb, &nb, &rsrc, &csrc, &g->ctxt,
                  &T.lld, &info);
        OP_INFO_CHECK("descinit", info, "bad panel descriptor");
        T.a = OP_XCALLOC((size_t)T.lld * (T.nloc > 0 ? T.nloc : 1),
                         sizeof(double));
        pdtran_(&pw, &rest, &one, A->a, &j1, &j1, A->desc, &zero, T.a, &I1,
                &I1, T.desc);
        /* Local rows/columns of A before global index j (j is a multiple
         * of nb, so this rank's part of A(j:, j:) starts there). */
        int li0 = numroc_(&j, &nb, &g->myrow, &I0, &g->nprow);
        int lj0 = numroc_(&j, &nb, &g->mycol, &I0, &g->npcol);
        for (int tj = 0; tj < T.nloc; tj++) {
            int gj = op_pmatrix_gcol(g, lj0 + tj);
            for (int ti = 0; ti < T.mloc; ti++)
                if (op_pmatrix_grow(g, li0 + ti) < gj)
                    A->a[li0 + ti + (size_t)(lj0 + tj) * A->lld] =
                        T.a[ti + (size_t)tj * T.lld];
        }
        op_pmatrix_free(&T);
    }
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

#ifdef OP_HAVE_ELPA
/* ELPA's two-stage solver (full band reduction, then bulge chasing and a
 * tridiagonal divide and conquer): values into w (ascending), vectors into
 * Z when Z is not NULL. ELPA reads the whole matrix, not one triangle, so A
 * (lower triangle built) is mirrored first, in panels. A is destroyed. */
static void elpa_eig(const op_pkernel_grid *g, op_pmatrix *A, double *w,
                     op_pmatrix *Z)
{
    static int initialized;
    int err = 0;
    if (!initialized) {
        if (elpa_init(ELPA_API_VERSION) != ELPA_OK)
            OP_INFO_CHECK("elpa_init", -1, "ELPA API version not supported");
        initialized = 1;
    }
    op_pmatrix_symmetrize_lower(g, A);
    elpa_t e = elpa_allocate(&err);
    OP_INFO_CHECK("elpa_allocate", err, "ELPA");
    elpa_set_integer(e, "na", A->m, &err);
    elpa_set_integer(e, "nev", A->m, &err);
    elpa_set_integer(e, "local_nrows", A->lld, &err);
    elpa_set_integer(e, "local_ncols", A->nloc, &err);
    elpa_set_integer(e, "nblk", g->nb, &err);
    elpa_set_integer(e, "mpi_comm_parent", (int)MPI_Comm_c2f(g->comm), &err);
    elpa_set_integer(e, "process_row", g->myrow, &err);
    elpa_set_integer(e, "process_col", g->mycol, &err);
    OP_INFO_CHECK("elpa_set", err, "ELPA matrix layout");
    err = elpa_setup(e);
    OP_INFO_CHECK("elpa_setup", err, "ELPA");
    elpa_set_integer(e, "solver", ELPA_SOLVER_2STAGE, &err);
    OP_INFO_CHECK("elpa_set solver", err, "ELPA two-stage");
    if (Z)
        elpa_eigenvectors_double(e, A->a, w, Z->a, &err);
    else
        elpa_eigenvalues_double(e, A->a, w, &err);
    OP_INFO_CHECK(Z ? "elpa_eigenvectors" : "elpa_eigenvalues", err,
                  "eigensolver failed");
    elpa_deallocate(e, &err);
}
#endif

int op_pkernel_have_elpa(void)
{
#ifdef OP_HAVE_ELPA
    return 1;
#else
    return 0;
#endif
}

int op_pkernel_solver_for(const op_pkernel_grid *g, int solver, int n)
{
    if (solver == OP_EIGEN_SCALAPACK || !op_pkernel_have_elpa())
        return OP_EIGEN_SCALAPACK;
    if ((long)n <= (long)g->nb * (g->nprow - 1) ||
        (long)n <= (long)g->nb * (g->npcol - 1))
        return OP_EIGEN_SCALAPACK;
    return solver;
}

/* Symmetric eigenvalues (ascending in w) of A (lower triangle read), with
 * vectors into Z unless Z is NULL: ELPA two-stage, or ScaLAPACK pdsyevd
 * (vectors) / pdsyev (values only). A is destroyed. */
void op_pkernel_eig(const op_pkernel_grid *g, int solver, op_pmatrix *A,
                    double *w, op_pmatrix *Z)
{
#ifdef OP_HAVE_ELPA
    solver = op_pkernel_solver_for(g, solver, A->m);
    if (solver == OP_EIGEN_ELPA || solver == OP_EIGEN_AUTO) {
        elpa_eig(g, A, w, Z);
        return;
    }
#endif
    (void)solver;
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

/* float32 eigenvalues of K, in K's own storage: the doubles are narrowed
 * to floats in place (float i lands in bytes 4i..4i+3, which only hold
 * doubles already read), so no second matrix. K is destroyed. */
static void peig32_inplace(op_pmatrix *K, float *w)
{
    int n = K->m, info = 0, lwork = -1;
    size_t len = (size_t)K->lld * (K->nloc > 0 ? K->nloc : 1);
    float *a = (float *)(void *)K->a;
    for (size_t i = 0; i < len; i++) {
        float f = (float)K->a[i];
        memcpy((char *)K->a + sizeof(float) * i, &f, sizeof f);
    }
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

/* Adds eps to the diagonal of the distributed square matrix A. */
static void add_diag(const op_pkernel_grid *g, op_pmatrix *A, double eps)
{
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++)
            if (op_pmatrix_grow(g, li) == op_pmatrix_gcol(g, lj))
                A->a[li + (size_t)lj * A->lld] += eps;
}

static void nan_fill(double *out, size_t len)
{
    if (out)
        for (size_t i = 0; i < len; i++)
            out[i] = NAN;
}

/* ---- float32 against float64 ([kernel] precision = compare) --------- */

/* |A X - Y|_F / |Y|_F for the square A of which only the lower triangle
 * is read (pdsymm), X and Y n x k in the same layout; every rank gets the
 * value. NaN where X holds a NaN. */
static double rel_residual(const op_pkernel_grid *g, const op_pmatrix *A,
                           const op_pmatrix *X, const op_pmatrix *Y)
{
    int n = A->m, k = X->n;
    op_pmatrix R;
    op_pmatrix_alloc(g, &R, n, k);
    size_t len = (size_t)R.lld * (R.nloc > 0 ? R.nloc : 0);
    if (len)
        memcpy(R.a, Y->a, sizeof(double) * len);
    double one = 1.0, mone = -1.0;
    pdsymm_("L", "L", &n, &k, &one, A->a, &I1, &I1, A->desc, X->a, &I1, &I1,
            X->desc, &mone, R.a, &I1, &I1, R.desc, 1, 1);
    double s[2] = {0, 0};
    for (int lj = 0; lj < R.nloc; lj++)
        for (int li = 0; li < R.mloc; li++) {
            double r = R.a[li + (size_t)lj * R.lld];
            double y = Y->a[li + (size_t)lj * Y->lld];
            s[0] += r * r;
            s[1] += y * y;
        }
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, s, 2, MPI_DOUBLE, MPI_SUM,
                               g->comm), "residual");
    op_pmatrix_free(&R);
    return s[1] > 0 ? sqrt(s[0] / s[1]) : NAN;
}

/* The ridge's system K + eps I (K's lower triangle, eps on its diagonal,
 * float64 and intact) solved in float32 alone, as a float32 kernel code
 * would: narrowed into Kf (n^2/P floats), pspotrf, pspotrs of float32 y,
 * no refinement. The coefficients a are widened to float64 for the
 * predictions K(test, train) a and the residual |(K + eps I) a - y|/|y|,
 * so both measure the float32 solve alone. A factorization that fails
 * (info > 0) is status OP_KSTATUS_NOT_PD, coefficients or predictions
 * that are not finite OP_KSTATUS_NONFINITE: metrics and residual NaN
 * there, the status says why. */
static void ridge_float32(const op_pkernel_grid *g, const op_pmatrix *K,
                          const op_pmatrix *Kt, const op_pmatrix *Y,
                          const op_dataset *test, float *Kf, int r,
                          op_kernel_result *res)
{
    int n = K->m, k = Y->n, nt = Kt->m, info = 0, ginfo = 0;
    size_t len = (size_t)K->lld * (K->nloc > 0 ? K->nloc : 0);
    for (size_t i = 0; i < len; i++)
        Kf[i] = (float)K->a[i];
    res->ridge_mse32[r] = res->ridge_acc32[r] = res->ridge_res32[r] = NAN;
    pspotrf_("L", &n, Kf, &I1, &I1, K->desc, &info, 1);
    if (info < 0)
        OP_INFO_CHECK("pspotrf", info, "bad argument");
    OP_MPI_CHECK(MPI_Allreduce(&info, &ginfo, 1, MPI_INT, MPI_MAX, g->comm),
                 "pspotrf info");
    if (ginfo > 0) {
        res->ridge_status32[r] = OP_KSTATUS_NOT_PD;
        return;
    }
    size_t ylen = (size_t)Y->lld * (Y->nloc > 0 ? Y->nloc : 0);
    float *bf = OP_XMALLOC(sizeof(float) * (ylen ? ylen : 1));
    for (size_t i = 0; i < ylen; i++)
        bf[i] = (float)Y->a[i];
    pspotrs_("L", &n, &k, Kf, &I1, &I1, K->desc, bf, &I1, &I1, Y->desc,
             &info, 1);
    OP_INFO_CHECK("pspotrs", info, "bad argument");
    op_pmatrix A;
    op_pmatrix_alloc(g, &A, n, k);
    int finite = 1;
    for (size_t i = 0; i < ylen; i++) {
        A.a[i] = bf[i];
        finite &= isfinite(bf[i]) != 0;
    }
    free(bf);
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &finite, 1, MPI_INT, MPI_MIN,
                               g->comm), "float32 solution");
    if (!finite) {
        res->ridge_status32[r] = OP_KSTATUS_NONFINITE;
        op_pmatrix_free(&A);
        return;
    }
    res->ridge_res32[r] = rel_residual(g, K, &A, Y);
    op_pmatrix P;
    op_pmatrix_alloc(g, &P, nt, k);
    if (nt > 0)
        pgemm('N', Kt, &A, &P);
    double *out = g->rank == 0 ? OP_XMALLOC(sizeof(double) *
                                            ((size_t)nt * k + 1))
                               : NULL;
    collect_predictions(g, &P, test, out, &res->ridge_mse32[r],
                        &res->ridge_acc32[r], &res->ridge_status32[r]);
    if (res->ridge_status32[r] != OP_KSTATUS_OK)
        res->ridge_mse32[r] = res->ridge_acc32[r] = NAN;
    free(out);
    op_pmatrix_free(&P);
    op_pmatrix_free(&A);
}

void op_pkernel_gd_predict(const op_pkernel_grid *g, const op_pmatrix *V,
                           const double *w, const op_pmatrix *Kt,
                           const op_pmatrix *Y, int n_time,
                           const double *times, op_pkernel_gd_fn each,
                           void *ctx)
{
    int n = V->n, nt = Kt->m, k = Y->n;
    op_pmatrix Z, Zt, W1, P;
    op_pmatrix_alloc(g, &Z, n, k);
    op_pmatrix_alloc(g, &Zt, n, k);
    op_pmatrix_alloc(g, &W1, n, k);
    op_pmatrix_alloc(g, &P, nt, k);
    pgemm('T', V, Y, &Z); /* Z = V^T Y: y in the eigenbasis */
    for (int it = 0; it < n_time; it++) {
        for (int lj = 0; lj < Z.nloc; lj++)
            for (int li = 0; li < Z.mloc; li++) {
                int gi = op_pmatrix_grow(g, li); /* eigen index */
                size_t o = li + (size_t)lj * Z.lld;
                Zt.a[o] = op_kernel_gd_gain(w[gi], times[it], n) * Z.a[o];
            }
        pgemm('N', V, &Zt, &W1);
        if (nt > 0)
            pgemm('N', Kt, &W1, &P);
        each(ctx, it, &P);
    }
    op_pmatrix_free(&Z);
    op_pmatrix_free(&Zt);
    op_pmatrix_free(&W1);
    op_pmatrix_free(&P);
}

/* pkernel_analyze's gradient-flow predictions: rank 0's pred_time row and
 * the metrics of time `it`. */
typedef struct {
    const op_pkernel_grid *g;
    const op_dataset *test;
    op_kernel_result *res;
} gd_ctx;

static void gd_collect(void *ctx, int it, const op_pmatrix *P)
{
    gd_ctx *c = ctx;
    op_kernel_result *res = c->res;
    size_t ntk = (size_t)c->test->n * c->test->k;
    collect_predictions(c->g, P, c->test,
                        res->pred_time ? res->pred_time + (size_t)it * ntk
                                       : NULL,
                        &res->time_mse[it], &res->time_acc[it],
                        &res->time_status[it]);
}

/* Everything after the build for one kind, in one n^2/P matrix: K (its
 * lower triangle built) is factored in place for the first ridge and
 * rebuilt (n^2 d/P, far below the n^3/(3P) factorization) before each
 * later ridge, the values-only spectra and the saved matrix; eigenvectors
 * (the gradient-flow predictor) add one more n^2/P only while they live. */
static void pkernel_analyze(const op_pkernel_grid *g, int ki,
                            const op_kernel_spec *spec,
                            const op_kernel_cfg *cfg, op_kernel_kind kind,
                            op_pmatrix *K, const op_pmatrix *Kt,
                            const op_pmatrix *Y, const op_dataset *train,
                            const op_dataset *test, op_kernel_result *res)
{
    int n = train->n, nt = test->n, k = train->k, d = train->d;
    int fresh = 1; /* K holds the kernel (not a factor or a spectrum) */
    double t;
    t = MPI_Wtime();
    if (g->rank == 0 && cfg->n_ridge > 0)
        res->pred_ridge =
            OP_XMALLOC(sizeof(double) * (size_t)cfg->n_ridge * nt * k);
    int compare = cfg->precision == OP_KPREC_COMPARE;
    float *Kf = compare ? OP_XMALLOC(sizeof(float) *
                                     ((size_t)K->lld * K->nloc + 1))
                        : NULL;
    res->has_f32 = compare;
    for (int r = 0; r < cfg->n_ridge; r++) {
        double eps = cfg->ridge_relative ? cfg->ridge[r] * res->mean_diag
                                         : cfg->ridge[r];
        res->epsilon[r] = eps;
        if (!fresh)
            fill_lower_kind(g, spec, kind, train->x, n, K);
        fresh = 0;
        add_diag(g, K, eps);
        /* compare: the same system in float32 first, while K is whole */
        if (compare)
            ridge_float32(g, K, Kt, Y, test, Kf, r, res);
        int info = 0, ginfo = 0;
        pdpotrf_("L", &n, K->a, &I1, &I1, K->desc, &info, 1);
        if (info < 0)
            OP_INFO_CHECK("pdpotrf", info, "bad argument");
        /* Make sure every rank takes the same branch. */
        OP_MPI_CHECK(MPI_Allreduce(&info, &ginfo, 1, MPI_INT, MPI_MAX,
                                   g->comm), "pdpotrf info");
        double *out = res->pred_ridge ? res->pred_ridge + (size_t)r * nt * k
                                      : NULL;
        double work = work_ridge(n, nt, k) + (r > 0 ? work_rebuild(n, d) : 0) +
                      (compare ? work_ridge(n, nt, k) / 2 + work_rebuild(n, d)
                               : 0); /* as op_pkernel_work */
        if (ginfo > 0) {
            res->ridge_status[r] = OP_KSTATUS_NOT_PD;
            res->ridge_mse[r] = res->ridge_acc[r] = NAN;
            nan_fill(out, (size_t)nt * k);
            if (progress(g, "ridge", ki, r + 1, cfg->n_ridge, work))
                break;
            continue;
        }
        op_pmatrix B, P;
        pmatrix_from_rows(g, &B, train->y, n, k);
        pdpotrs_("L", &n, &k, K->a, &I1, &I1, K->desc, B.a, &I1, &I1, B.desc,
                 &info, 1);
        OP_INFO_CHECK("pdpotrs", info, "bad argument");
        op_pmatrix_alloc(g, &P, nt, k);
        if (nt > 0)
            pgemm('N', Kt, &B, &P);
        collect_predictions(g, &P, test, out, &res->ridge_mse[r],
                            &res->ridge_acc[r], &res->ridge_status[r]);
        /* compare: float64's own residual, K + eps I rebuilt (the factor
         * took its place); the next ridge rebuilds K anyway. */
        if (compare) {
            fill_lower_kind(g, spec, kind, train->x, n, K);
            add_diag(g, K, eps);
            res->ridge_res64[r] = rel_residual(g, K, &B, Y);
        }
        op_pmatrix_free(&B);
        op_pmatrix_free(&P);
        if (progress(g, "ridge", ki, r + 1, cfg->n_ridge, work))
            break;
    }
    free(Kf);
    if (g_abandon)
        return;
    res->t_ridge = wtime_max(g, MPI_Wtime() - t);

    /* float64 spectrum, with eigenvectors only when gradient flow needs
     * them; the eigensolver works in K itself. */
    if (cfg->n_time > 0 || cfg->eig64) {
        t = MPI_Wtime();
        double work = work_eig64(cfg, n) + (fresh ? 0 : work_rebuild(n, d));
        if (!fresh)
            fill_lower_kind(g, spec, kind, train->x, n, K);
        fresh = 0;
        double *w = OP_XMALLOC(sizeof(double) * (size_t)n);
        op_pmatrix V;
        memset(&V, 0, sizeof V);
        if (cfg->n_time > 0)
            op_pmatrix_alloc(g, &V, n, n);
        op_pkernel_eig(g, cfg->eigensolver, K, w,
                       cfg->n_time > 0 ? &V : NULL);
        /* Rank 0's values everywhere: attributes written collectively
         * from them must agree bit for bit. */
        OP_MPI_CHECK(MPI_Bcast(w, n, MPI_DOUBLE, 0, g->comm), "eigenvalues");
        res->t_eig64 = wtime_max(g, MPI_Wtime() - t);
        if (progress(g, "eigen64", ki, 1, 1, work)) {
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
        if (cfg->n_time > 0) {
            t = MPI_Wtime();
            if (g->rank == 0)
                res->pred_time =
                    OP_XMALLOC(sizeof(double) * (size_t)cfg->n_time * nt * k);
            /* the job's times in the per-sample convention's units */
            double ft[OP_LIST_MAX];
            for (int it = 0; it < cfg->n_time; it++)
                ft[it] = op_kernel_flow_time(cfg->time_convention,
                                             cfg->time[it], k);
            gd_ctx gc = {.g = g, .test = test, .res = res};
            op_pkernel_gd_predict(g, &V, w, Kt, Y, cfg->n_time, ft,
                                  gd_collect, &gc);
            op_pmatrix_free(&V);
            res->t_gd = wtime_max(g, MPI_Wtime() - t);
            if (progress(g, "gd", ki, 1, 1, work_gd(cfg, n, nt, k))) {
                free(w);
                return;
            }
        }
        free(w);
    }

    if (cfg->eig32) {
        t = MPI_Wtime();
        double work = (double)n * n * n + (fresh ? 0 : work_rebuild(n, d));
        if (!fresh)
            fill_lower_kind(g, spec, kind, train->x, n, K);
        fresh = 0;
        float *wf = OP_XMALLOC(sizeof(float) * (size_t)n);
        peig32_inplace(K, wf);
        OP_MPI_CHECK(MPI_Bcast(wf, n, MPI_FLOAT, 0, g->comm), "eigenvalues");
        res->eig32 = OP_XMALLOC(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            res->eig32[i] = wf[n - 1 - i];
        free(wf);
        op_kernel_powerlaw_fit_f(res->eig32, n, &res->fit_exp32,
                                 &res->fit_pref32, &res->fit_lo,
                                 &res->fit_hi);
        res->t_eig32 = wtime_max(g, MPI_Wtime() - t);
        progress(g, "eigen32", ki, 1, 1, work);
    }
    if (cfg->save_matrix && !fresh)
        fill_lower_kind(g, spec, kind, train->x, n, K);
}

/* ---- mixed precision (cfg->precision == OP_KPREC_MIXED) -------------
 * K + eps I is stored and factored in float32 (pspotrf: n^2/P floats, half
 * the float64 matrix); the float64 solution is reached by iterative
 * refinement whose residuals y - (K + eps I) x are computed in float64
 * with K rebuilt strip by strip from the data (STRIP local columns at a
 * time, n^2 d/P per iteration), never stored in float64. Converged when
 * the normwise backward error |r|_F / (|K + eps I|_F |x|_F + |y|_F) is at
 * most REFINE_TOL; when it stalls (cond(K + eps I) near 1/eps_float32) the
 * ridge's status is OP_KSTATUS_NO_REFINE and its predictions are those of
 * the best iterate. */
#define REFINE_TOL 1e-10
#define REFINE_MAX 30
#define STRIP 256

/* Over this rank's lower blocks, strip by strip: narrow K into Kf (when
 * not NULL) and add this rank's part of |K|_F^2 to *fro2 (when not NULL);
 * when xs[n][k] is given, add this rank's share of K xs to kx[n][k]
 * (strictly lower blocks stand for their transposes too). */
static void mixed_strips(const op_pkernel_grid *g, const op_kernel_spec *spec,
                         op_kernel_kind kind, const double *x, int n,
                         const op_pmatrix *L, float *Kf, double *fro2,
                         const double *xs, int k, double *kx)
{
    int mloc = L->mloc, nloc = L->nloc, lld = L->lld, nb = g->nb;
    int sw = STRIP > nb ? STRIP / nb * nb : nb;
    double *buf = OP_XMALLOC(sizeof(double) * (size_t)lld * sw);
    double *Xr = NULL, *Xc = NULL, *Yr = NULL, *Yc = NULL;
    if (xs) {
        Xr = OP_XMALLOC(sizeof(double) * ((size_t)mloc * k + 1));
        Xc = OP_XMALLOC(sizeof(double) * ((size_t)nloc * k + 1));
        Yr = OP_XCALLOC((size_t)mloc * k + 1, sizeof(double));
        Yc = OP_XCALLOC((size_t)nloc * k + 1, sizeof(double));
        for (int c = 0; c < k; c++) {
            for (int li = 0; li < mloc; li++)
                Xr[li + (size_t)c * mloc] =
                    xs[(size_t)op_pmatrix_grow(g, li) * k + c];
            for (int lj = 0; lj < nloc; lj++)
                Xc[lj + (size_t)c * nloc] =
                    xs[(size_t)op_pmatrix_gcol(g, lj) * k + c];
        }
    }
    double f2 = 0;
    for (int c0 = 0; c0 < nloc; c0 += sw) {
        int c1 = nloc - c0 < sw ? nloc : c0 + sw;
        pkernel_fill(g, spec, x, n, x, n, L,
                     kind == OP_KERNEL_NNGP ? buf : NULL,
                     kind == OP_KERNEL_NTK ? buf : NULL, c0, c1, 1);
        for (int b0 = c0; b0 < c1; b0 += nb) {
            int b1 = c1 - b0 < nb ? c1 : b0 + nb, bw = b1 - b0;
            int bj = op_pmatrix_gcol(g, b0) / nb;
            int r0 = first_lower_row(g, bj, mloc);
            if (r0 >= mloc)
                continue;
            int rs = bj % g->nprow == g->myrow ? r0 + nb : r0;
            rs = rs < mloc ? rs : mloc;
            const double *S = buf + (size_t)(b0 - c0) * lld;
            if (Kf || fro2)
                for (int lj = b0; lj < b1; lj++) {
                    int gj = op_pmatrix_gcol(g, lj);
                    const double *col = S + (size_t)(lj - b0) * lld;
                    for (int li = r0; li < mloc; li++) {
                        if (Kf)
                            Kf[li + (size_t)lj * lld] = (float)col[li];
                        int gi = op_pmatrix_grow(g, li);
                        if (gi >= gj)
                            f2 += (gi > gj ? 2.0 : 1.0) * col[li] * col[li];
                    }
                }
            if (xs) {
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans,
                            mloc - r0, k, bw, 1.0, S + r0, lld,
                            Xc + b0, nloc, 1.0, Yr + r0, mloc);
                if (rs < mloc)
                    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, bw,
                                k, mloc - rs, 1.0, S + rs, lld, Xr + rs,
                                mloc, 1.0, Yc + b0, nloc);
            }
        }
    }
    if (fro2)
        *fro2 += f2;
    if (xs) {
        for (int c = 0; c < k; c++) {
            for (int li = 0; li < mloc; li++)
                kx[(size_t)op_pmatrix_grow(g, li) * k + c] +=
                    Yr[li + (size_t)c * mloc];
            for (int lj = 0; lj < nloc; lj++)
                kx[(size_t)op_pmatrix_gcol(g, lj) * k + c] +=
                    Yc[lj + (size_t)c * nloc];
        }
    }
    free(buf);
    free(Xr);
    free(Xc);
    free(Yr);
    free(Yc);
}


/* Solves (K + eps I) x = y in mixed precision (see above); x[n][k]
 * replicated on every rank. Returns the status; *berr the final backward
 * error, *iters the refinement steps (solves). */
static int mixed_solve(const op_pkernel_grid *g, const op_kernel_spec *spec,
                       op_kernel_kind kind, const op_dataset *train,
                       double eps, double *xsol, double *berr, int *iters)
{
    int n = train->n, k = train->k;
    op_pmatrix L, B;
    pmatrix_layout(g, &L, n, n);
    pmatrix_layout(g, &B, n, k);
    size_t len = (size_t)L.lld * (L.nloc > 0 ? L.nloc : 1);
    float *Kf = OP_XMALLOC(sizeof(float) * len);
    float *Bf = OP_XMALLOC(sizeof(float) * (size_t)B.lld *
                           (B.nloc > 0 ? B.nloc : 1));
    double fro2 = 0;
    mixed_strips(g, spec, kind, train->x, n, &L, Kf, &fro2, NULL, k, NULL);
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &fro2, 1, MPI_DOUBLE, MPI_SUM,
                               g->comm), "|K|_F");
    /* |K + eps I|_F <= |K|_F + eps sqrt(n). */
    double normA = sqrt(fro2) + fabs(eps) * sqrt((double)n);
    for (int lj = 0; lj < L.nloc; lj++)
        for (int li = 0; li < L.mloc; li++)
            if (op_pmatrix_grow(g, li) == op_pmatrix_gcol(g, lj))
                Kf[li + (size_t)lj * L.lld] += (float)eps;
    int info = 0, ginfo = 0;
    pspotrf_("L", &n, Kf, &I1, &I1, L.desc, &info, 1);
    if (info < 0)
        OP_INFO_CHECK("pspotrf", info, "bad argument");
    OP_MPI_CHECK(MPI_Allreduce(&info, &ginfo, 1, MPI_INT, MPI_MAX, g->comm),
                 "pspotrf info");
    *berr = NAN;
    *iters = 0;
    if (ginfo > 0) {
        free(Kf);
        free(Bf);
        return OP_KSTATUS_NOT_PD;
    }
    size_t nk = (size_t)n * k;
    double *x = OP_XCALLOC(nk, sizeof(double));
    double *r = OP_XMALLOC(sizeof(double) * nk);
    double *kx = OP_XMALLOC(sizeof(double) * nk);
    memcpy(r, train->y, sizeof(double) * nk);
    double ynorm = 0;
    for (size_t i = 0; i < nk; i++)
        ynorm += train->y[i] * train->y[i];
    ynorm = sqrt(ynorm);
    double best = INFINITY, prev = INFINITY;
    int status = OP_KSTATUS_NO_REFINE;
    for (int it = 1; it <= REFINE_MAX; it++) {
        /* Correction: the float32 factor applied to the float64 residual. */
        for (int lj = 0; lj < B.nloc; lj++)
            for (int li = 0; li < B.mloc; li++)
                Bf[li + (size_t)lj * B.lld] =
                    (float)r[(size_t)op_pmatrix_grow(g, li) * k +
                             op_pmatrix_gcol(g, lj)];
        pspotrs_("L", &n, &k, Kf, &I1, &I1, L.desc, Bf, &I1, &I1, B.desc,
                 &info, 1);
        OP_INFO_CHECK("pspotrs", info, "bad argument");
        memset(kx, 0, sizeof(double) * nk);
        for (int lj = 0; lj < B.nloc; lj++)
            for (int li = 0; li < B.mloc; li++)
                kx[(size_t)op_pmatrix_grow(g, li) * k +
                   op_pmatrix_gcol(g, lj)] = Bf[li + (size_t)lj * B.lld];
        OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, kx, (int)nk, MPI_DOUBLE,
                                   MPI_SUM, g->comm), "correction");
        for (size_t i = 0; i < nk; i++)
            x[i] += kx[i];
        /* float64 residual, K rebuilt from the data. */
        memset(kx, 0, sizeof(double) * nk);
        mixed_strips(g, spec, kind, train->x, n, &L, NULL, NULL, x, k, kx);
        OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, kx, (int)nk, MPI_DOUBLE,
                                   MPI_SUM, g->comm), "residual");
        double rn = 0, xn = 0;
        for (size_t i = 0; i < nk; i++) {
            r[i] = train->y[i] - kx[i] - eps * x[i];
            rn += r[i] * r[i];
            xn += x[i] * x[i];
        }
        double be = sqrt(rn) / (normA * sqrt(xn) + ynorm);
        /* Rank 0's verdict everywhere: every rank takes the same branch. */
        OP_MPI_CHECK(MPI_Bcast(&be, 1, MPI_DOUBLE, 0, g->comm), "residual");
        *iters = it;
        if (be < best) {
            best = be;
            memcpy(xsol, x, sizeof(double) * nk);
        }
        if (!(be > REFINE_TOL) && isfinite(be)) {
            status = OP_KSTATUS_OK;
            break;
        }
        /* Stalled or diverging: cond(K + eps I) eps_float32 is near 1 or
         * beyond, the float32 factor no longer contracts the error. */
        if (!isfinite(be) || (it >= 3 && be > 0.5 * prev))
            break;
        prev = be;
    }
    *berr = best;
    if (!isfinite(best))
        for (size_t i = 0; i < nk; i++)
            xsol[i] = NAN;
    free(x);
    free(r);
    free(kx);
    free(Kf);
    free(Bf);
    return status;
}

/* Predictions K(test, train) x, x[n][k] replicated, into out[nt][k] on
 * every rank, K(test, train) built strip by strip (STRIP local columns)
 * and never stored whole: mixed precision's nt n/P saved. */
static void strip_predict(const op_pkernel_grid *g, const op_kernel_spec *spec,
                          op_kernel_kind kind, const op_dataset *test,
                          const op_dataset *train, const double *x,
                          double *out)
{
    int n = train->n, nt = test->n, k = train->k, nb = g->nb;
    op_pmatrix L;
    pmatrix_layout(g, &L, nt, n);
    int sw = STRIP > nb ? STRIP / nb * nb : nb;
    double *buf = OP_XMALLOC(sizeof(double) * (size_t)L.lld * sw);
    double *Xc = OP_XMALLOC(sizeof(double) * ((size_t)L.nloc * k + 1));
    double *Yr = OP_XCALLOC((size_t)L.mloc * k + 1, sizeof(double));
    for (int c = 0; c < k; c++)
        for (int lj = 0; lj < L.nloc; lj++)
            Xc[lj + (size_t)c * L.nloc] =
                x[(size_t)op_pmatrix_gcol(g, lj) * k + c];
    for (int c0 = 0; c0 < L.nloc && L.mloc > 0; c0 += sw) {
        int c1 = L.nloc - c0 < sw ? L.nloc : c0 + sw;
        pkernel_fill(g, spec, test->x, nt, train->x, n, &L,
                     kind == OP_KERNEL_NNGP ? buf : NULL,
                     kind == OP_KERNEL_NTK ? buf : NULL, c0, c1, 0);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, L.mloc, k,
                    c1 - c0, 1.0, buf, L.lld, Xc + c0, L.nloc, 1.0, Yr,
                    L.mloc);
    }
    memset(out, 0, sizeof(double) * (size_t)nt * k);
    for (int c = 0; c < k; c++)
        for (int li = 0; li < L.mloc; li++)
            out[(size_t)op_pmatrix_grow(g, li) * k + c] +=
                Yr[li + (size_t)c * L.mloc];
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, out, nt * k, MPI_DOUBLE,
                               MPI_SUM, g->comm), "predictions");
    free(buf);
    free(Xc);
    free(Yr);
}

/* Ridge regression for one kind in mixed precision: no float64 K, no
 * stored K(test, train). */
static void pkernel_analyze_mixed(const op_pkernel_grid *g, int ki,
                                  const op_kernel_spec *spec,
                                  const op_kernel_cfg *cfg,
                                  op_kernel_kind kind,
                                  const op_dataset *train,
                                  const op_dataset *test,
                                  op_kernel_result *res)
{
    int n = train->n, nt = test->n, k = train->k, d = train->d;
    double t = MPI_Wtime();
    if (g->rank == 0 && cfg->n_ridge > 0)
        res->pred_ridge =
            OP_XMALLOC(sizeof(double) * (size_t)cfg->n_ridge * nt * k);
    double *x = OP_XMALLOC(sizeof(double) * (size_t)n * k);
    double *pred = OP_XMALLOC(sizeof(double) * ((size_t)nt * k + 1));
    for (int r = 0; r < cfg->n_ridge; r++) {
        double eps = cfg->ridge_relative ? cfg->ridge[r] * res->mean_diag
                                         : cfg->ridge[r];
        res->epsilon[r] = eps;
        int st = mixed_solve(g, spec, kind, train, eps, x,
                             &res->ridge_berr[r], &res->ridge_iters[r]);
        double *out = res->pred_ridge ? res->pred_ridge + (size_t)r * nt * k
                                      : NULL;
        double work = work_ridge(n, nt, k) / 2 + 4 * work_rebuild(n, d) +
                      2.0 * nt * (double)n * d; /* as op_pkernel_work */
        if (st == OP_KSTATUS_NOT_PD) {
            res->ridge_status[r] = st;
            res->ridge_mse[r] = res->ridge_acc[r] = NAN;
            nan_fill(out, (size_t)nt * k);
            if (progress(g, "ridge", ki, r + 1, cfg->n_ridge, work))
                break;
            continue;
        }
        strip_predict(g, spec, kind, test, train, x, pred);
        double m3[3] = {NAN, NAN, 0};
        if (g->rank == 0) {
            int finite = 1;
            for (size_t i = 0; i < (size_t)nt * k; i++)
                finite &= isfinite(pred[i]) != 0;
            op_kernel_metrics(pred, test->y, test->label, nt, k, &m3[0],
                              &m3[1]);
            m3[2] = finite ? st : OP_KSTATUS_NONFINITE;
            memcpy(out, pred, sizeof(double) * (size_t)nt * k);
        }
        /* Rank 0's metrics everywhere, as collect_predictions does. */
        OP_MPI_CHECK(MPI_Bcast(m3, 3, MPI_DOUBLE, 0, g->comm), "metrics");
        res->ridge_mse[r] = m3[0];
        res->ridge_acc[r] = m3[1];
        res->ridge_status[r] = (int)m3[2];
        if (progress(g, "ridge", ki, r + 1, cfg->n_ridge, work))
            break;
    }
    free(x);
    free(pred);
    res->t_ridge = wtime_max(g, MPI_Wtime() - t);
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
    int mixed = cfg->precision == OP_KPREC_MIXED;
    op_pmatrix K[2], Kt[2], Y;
    op_pmatrix *Kk[2] = {NULL, NULL}, *Ktk[2] = {NULL, NULL};
    for (int i = 0; i < n_kinds; i++) {
        /* mixed builds K in float32 per ridge, K(test, train) by strips */
        op_pmatrix_alloc(g, &K[i], mixed ? 0 : n, mixed ? 0 : n);
        op_pmatrix_alloc(g, &Kt[i], nt, mixed ? 0 : n);
        Kk[kinds[i]] = &K[i];
        Ktk[kinds[i]] = &Kt[i];
    }
    /* K(train, train): only the lower triangle's blocks, the one every
     * factorization and eigensolver below reads ("L"); saved matrices are
     * mirrored before they are written. */
    if (!mixed)
        op_pkernel_fill_lower(g, spec, train->x, n, Kk[OP_KERNEL_NNGP],
                              Kk[OP_KERNEL_NTK]);
    if (!mixed)
        op_pkernel_fill(g, spec, test->x, nt, train->x, n,
                        Ktk[OP_KERNEL_NNGP], Ktk[OP_KERNEL_NTK]);
    pmatrix_from_rows(g, &Y, train->y, n, k);
    double t_kernel = wtime_max(g, MPI_Wtime() - t0);
    g_work_done = 0;
    g_abandon = 0;
    progress(g, "build", 0, 1, 1, mixed ? 0 : work_build(n, nt, train->d));

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
        for (int j = 0; j < OP_LIST_MAX; j++)
            r->ridge_berr[j] = r->ridge_res64[j] = r->ridge_res32[j] =
                r->ridge_mse32[j] = r->ridge_acc32[j] = NAN;
        r->precision = cfg->precision;
        r->eigensolver = cfg->eigensolver;
        if (g_abandon)
            ; /* a stop past its margin: nothing more is computed */
        else if (mixed)
            pkernel_analyze_mixed(g, i, spec, cfg, kinds[i], train, test,
                                  r);
        else
            pkernel_analyze(g, i, spec, cfg, kinds[i], &K[i], &Kt[i], &Y,
                            train, test, r);
        op_pmatrix_free(&Kt[i]);
        if (cfg->save_matrix && !mixed && !g_abandon) {
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
