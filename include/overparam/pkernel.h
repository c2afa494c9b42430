/* pkernel.h — infinite-width kernels distributed on a BLACS process grid:
 * K(train, train) and K(test, train) in 2-D block-cyclic layout, ridge
 * regression (pdpotrf/pdpotrs), the gradient-flow predictor from the
 * eigendecomposition (pdsyevd), float64/float32 spectra with power-law fits.
 *
 * Contract:
 *  - Every rank of the grid's communicator calls every function here
 *    (collective). Every rank holds the whole data set (x, y: "data" in the
 *    memory budget); no rank ever holds a whole n x n matrix: each computes
 *    only its own blocks (one dgemm of its row and column slices of X, then
 *    the elementwise recursion of kernel.h), and of K(train, train) only
 *    the blocks of the lower triangle, the one the solvers read.
 *  - Memory per rank (P ranks, float64 words unless said): K of each kind,
 *    kinds n^2/P, is the only n x n matrix of regression (any number of
 *    ridges: each factors K in place, the next rebuilds it, n^2 d/P work,
 *    instead of copying it), of float64 eigenvalues without vectors (in
 *    place), of float32 eigenvalues (narrowed in K's own storage) and of
 *    save_matrix (mirrored in panels of 1024 columns, 1024 n/P); the
 *    eigenvectors of the gradient-flow predictor add n^2/P while they
 *    live; K(test, train) adds kinds nt n/P; solver workspaces (ELPA,
 *    pdsyevd) come on top. Mixed precision holds no float64 K and no
 *    K(test, train): n^2/P floats (half a matrix) for the one ridge in
 *    flight, 256-column float64 strips (256 n/P) from which the residuals
 *    and the predictions are computed, and x, r, y of n x k on every rank.
 *    A build holds, while it runs, this rank's rows of X when the grid has
 *    several process rows (m d/nprow) and a panel of X's columns of at
 *    most 32 MiB when it has several process columns.
 *    op_kphase_bytes_per_rank states the sum.
 *  - Grid: rows x cols must equal the communicator size; 0 x 0 picks the
 *    near-square factorization (rows = largest divisor <= sqrt(P)). Grid
 *    rank (r, c) is communicator rank r*cols + c, so grid rank 0 is rank 0.
 *  - Ridge: epsilon = ridge[i] * mean(diag K) when ridge_relative, else
 *    ridge[i]. K + epsilon I not positive definite (pdpotrf info > 0) is a
 *    result: status OP_KSTATUS_NOT_PD and NaN predictions/metrics. Negative
 *    info (a bug) aborts all ranks through OP_INFO_CHECK.
 *  - Gradient flow on the training loss 0.5*mean_i |f(x_i) - y_i|^2 with
 *    learning rate 1 from f = 0 (see op_kernel_ref_gd):
 *    f_t(test) = K(test,train) V diag((1 - exp(-lambda t/n))/lambda) V^T y,
 *    so t = learning rate x number of full-batch steps; t = inf is the
 *    ridgeless (pseudo-inverse) limit.
 *  - Metrics (op_kernel_metrics): test MSE = 0.5*mean over test samples of
 *    the squared error summed over outputs; accuracy = argmax vs label.
 *  - Spectra are stored in descending order; the power-law fit is
 *    op_kernel_powerlaw_fit's (OLS of log lambda_i on log i over
 *    i in [n/100, n/2]). float64 values come from cfg->eigensolver: ELPA's
 *    two-stage solver (OP_EIGEN_ELPA or _AUTO, when built with ELPA; the
 *    kernel phase resolves _AUTO by memory beforehand) or ScaLAPACK
 *    (pdsyevd with vectors, pdsyev values only); vectors only when the
 *    gradient-flow predictor needs them. float32 values from pssyev.
 *  - Mixed precision (cfg->precision = OP_KPREC_MIXED, ridges only):
 *    float32 K + eps I and pspotrf, iterative refinement with float64
 *    residuals (K rebuilt from the data strip by strip) until the backward
 *    error |r|_F / (|K + eps I|_F |x|_F + |y|_F) <= 1e-10 (ridge_berr);
 *    where it stalls, status OP_KSTATUS_NO_REFINE with the best iterate's
 *    predictions; a float32 factorization that fails is OP_KSTATUS_NOT_PD.
 *  - float32 against float64 (cfg->precision = OP_KPREC_COMPARE): float64
 *    throughout as above, and before each ridge's pdpotrf the same K + eps
 *    I narrowed to float32 (n^2/P floats more) and solved by pspotrf/
 *    pspotrs alone, no refinement: res->ridge_mse32/acc32/res32/status32
 *    (status OP_KSTATUS_NOT_PD when pspotrf fails, OP_KSTATUS_NONFINITE
 *    when the solution or predictions are not finite: a status, with NaN
 *    metrics), and float64's residual ridge_res64 (K rebuilt once more per
 *    ridge for it). Residuals |(K + eps I) a - y|_F / |y|_F in float64.
 *  - Results: predictions live on grid rank 0 only (NULL elsewhere);
 *    eigenvalues, fits, metrics and timings are identical on every rank. */
#ifndef OVERPARAM_PKERNEL_H
#define OVERPARAM_PKERNEL_H

#include <mpi.h>

#include "overparam/data.h"
#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/kernel.h"

typedef struct {
    MPI_Comm comm;          /* spanned communicator (not owned) */
    int rank, size;
    int sys_handle, ctxt;   /* BLACS system handle and grid context */
    int nprow, npcol, myrow, mycol;
    int nb;                 /* square block size */
} op_pkernel_grid;

/* A block-cyclic matrix (source process (0,0), square nb blocks). */
typedef struct {
    int m, n;               /* global size */
    int mloc, nloc, lld;    /* local size and leading dimension */
    int desc[9];            /* ScaLAPACK descriptor */
    double *a;              /* local column-major mloc x nloc (lld) */
} op_pmatrix;

/* Per-epsilon / per-time status. */
enum {
    OP_KSTATUS_OK = 0,
    OP_KSTATUS_NOT_PD = 1,     /* Cholesky failed: K + eps I not PD */
    OP_KSTATUS_NONFINITE = 2,  /* predictions contain NaN/Inf */
    OP_KSTATUS_NO_REFINE = 3   /* mixed: refinement stalled above 1e-10 */
};

typedef struct {
    op_kernel_kind kind;
    int n_train, n_test, k;
    int grid_rows, grid_cols, block;
    double mean_diag;                    /* mean of diag K(train, train) */
    int n_ridge;
    double ridge[OP_LIST_MAX];           /* as configured */
    double epsilon[OP_LIST_MAX];         /* absolute diagonal shift used */
    int ridge_status[OP_LIST_MAX];
    double ridge_mse[OP_LIST_MAX], ridge_acc[OP_LIST_MAX];
    double ridge_berr[OP_LIST_MAX];      /* mixed: backward error, else NaN */
    int ridge_iters[OP_LIST_MAX];        /* mixed: refinement solves */
    /* compare (has_f32): each ridge's system solved in float32 alone:
     * test loss, accuracy, |(K + eps I) a - y|_F/|y|_F and status (NaN
     * metrics where the status is not ok), and float64's residual. */
    int has_f32;
    double ridge_mse32[OP_LIST_MAX], ridge_acc32[OP_LIST_MAX];
    double ridge_res32[OP_LIST_MAX], ridge_res64[OP_LIST_MAX];
    int ridge_status32[OP_LIST_MAX];
    int precision, eigensolver;          /* as cfg's */
    double *pred_ridge;                  /* rank 0: [n_ridge][n_test][k] */
    int n_time;
    double time[OP_LIST_MAX];
    int time_status[OP_LIST_MAX];
    double time_mse[OP_LIST_MAX], time_acc[OP_LIST_MAX];
    double *pred_time;                   /* rank 0: [n_time][n_test][k] */
    double *eig64;                       /* [n_train] descending, or NULL */
    float *eig32;                        /* [n_train] descending, or NULL */
    double fit_exp64, fit_pref64, fit_exp32, fit_pref32; /* NaN if absent */
    int fit_lo, fit_hi;                  /* 1-based index range of the fit */
    /* Wall seconds (max over ranks): kernel blocks, all Cholesky solves and
     * predictions, float64 eigen, float32 eigen, gradient-flow predictions,
     * whole call. */
    double t_kernel, t_ridge, t_eig64, t_eig32, t_gd, t_total;
    op_pmatrix matrix;                   /* K(train,train) if save_matrix */
    int has_matrix;
} op_kernel_result;

/* Creates the grid (rows x cols, 0 x 0 = near-square) with block nb
 * (<= 0: 64). OP_ERR_INPUT when rows*cols != communicator size. */
op_status op_pkernel_grid_init(op_pkernel_grid *g, MPI_Comm comm, int rows,
                               int cols, int nb);
void op_pkernel_grid_free(op_pkernel_grid *g);

/* Allocates the local part of an m x n block-cyclic matrix (zeroed). */
void op_pmatrix_alloc(const op_pkernel_grid *g, op_pmatrix *A, int m, int n);
void op_pmatrix_free(op_pmatrix *A);
/* Global row (column) index of local row li (column lj). */
int op_pmatrix_grow(const op_pkernel_grid *g, int li);
int op_pmatrix_gcol(const op_pkernel_grid *g, int lj);

/* Fills the allocated m x n block-cyclic matrices nngp and/or ntk (either
 * may be NULL; both come from one Gram GEMM and one pass of the
 * recursion) with the kernels of xr[m][d] against xc[n][d]: each rank
 * computes only its own blocks, in panels of local columns (GEMM of the
 * panel's slice of X, then op_kernel_column per column). Allocating once
 * and refilling lets a caller reuse the pages (first touch is slow). */
void op_pkernel_fill(const op_pkernel_grid *g, const op_kernel_spec *spec,
                     const double *xr, int m, const double *xc, int n,
                     op_pmatrix *nngp, op_pmatrix *ntk);

/* K(x, x) for x[n][d], only the blocks on or below the global diagonal
 * (what pdpotrf/pdsyevd/pdsyev with uplo "L" read): half the GEMM and half
 * the recursion of op_pkernel_fill. Entries strictly above the diagonal's
 * blocks are left as they were; blocks on the diagonal are whole. The
 * staircase of blocks is cut into wide GEMMs, not one per block column
 * (pkernel.c, lower_gemms); every entry equals op_pkernel_fill's bit for
 * bit. */
void op_pkernel_fill_lower(const op_pkernel_grid *g,
                           const op_kernel_spec *spec, const double *x, int n,
                           op_pmatrix *nngp, op_pmatrix *ntk);

/* The size of the panel of X's columns a build handles at a time when the
 * grid has several process columns (they are copied into a buffer of this
 * many bytes): 32 MiB by default, 0 restores it. The panel bounds the
 * GEMMs' width; tests set a small one to cut a build into many panels. */
void op_pkernel_set_panel_bytes(size_t bytes);

/* Mirrors the lower triangle of the square matrix A onto its upper one
 * (one pdtran into a temporary n^2/P matrix), e.g. before K is written. */
void op_pmatrix_symmetrize_lower(const op_pkernel_grid *g, op_pmatrix *A);

/* Allocates A (m x n) and fills it with the kernel `kind`. */
void op_pkernel_matrix(const op_pkernel_grid *g, const op_kernel_spec *spec,
                       op_kernel_kind kind, const double *xr, int m,
                       const double *xc, int n, op_pmatrix *A);

/* Eigenvalues (ascending in w[n]) of the square A, whose lower triangle
 * is read, with eigenvectors into Z (n x n, allocated) unless Z is NULL:
 * solver OP_EIGEN_ELPA or OP_EIGEN_AUTO (two-stage; mirrors A first, ELPA
 * reads both triangles) or OP_EIGEN_SCALAPACK (pdsyevd / pdsyev). A is
 * destroyed. Workspace beyond A and Z, measured (n = 3000, 2 ranks, VmHWM):
 * ELPA 4 n^2/P values only, 3 n^2/P with vectors; pdsyevd 2 n^2/P; pdsyev
 * values only 0.2 n^2/P.
 * Without ELPA in the build every solver is ScaLAPACK. */
void op_pkernel_eig(const op_pkernel_grid *g, int solver, op_pmatrix *A,
                    double *w, op_pmatrix *Z);
int op_pkernel_have_elpa(void);
/* The eigensolver that can run for an n x n matrix on grid g: `solver`,
 * except that ELPA needs every process row and column to hold part of the
 * matrix (n > nb * (nprow - 1) and n > nb * (npcol - 1)); below that,
 * ScaLAPACK, which accepts empty local blocks. */
int op_pkernel_solver_for(const op_pkernel_grid *g, int solver, int n);

/* The gradient-flow predictor from an eigendecomposition K = V diag(w)
 * V^T (w ascending, the same on every rank; V n x n): for each time
 * times[it], P = Kt V diag(op_kernel_gd_gain(w, t, n)) V^T Y (Kt nt x n,
 * Y n x k), handed to each(ctx, it, &P) (collective; P lives until the
 * call returns). times are in op_kernel_ref_gd's convention (learning rate
 * x full-batch steps on the loss averaged over the n samples; a job's
 * times go through op_kernel_flow_time first). Used by
 * op_pkernel_run and by the linearized networks of entk.h. */
typedef void (*op_pkernel_gd_fn)(void *ctx, int it, const op_pmatrix *P);
void op_pkernel_gd_predict(const op_pkernel_grid *g, const op_pmatrix *V,
                           const double *w, const op_pmatrix *Kt,
                           const op_pmatrix *Y, int n_time,
                           const double *times, op_pkernel_gd_fn each,
                           void *ctx);

/* Assembles A row-major into full[m][n] on grid rank 0 (full is ignored
 * elsewhere). Uses an m*n buffer on every rank: for tests and small
 * matrices only. */
void op_pmatrix_gather(const op_pkernel_grid *g, const op_pmatrix *A,
                       double *full);

/* The whole kernel pipeline for n_kinds (1 or 2, distinct) kernel kinds of
 * one architecture: both matrices from one build (t_kernel is that shared
 * build's time, counted in the first result's t_total), then for each kind
 * in turn regression for every ridge, gradient-flow predictions for every
 * time, spectra (as cfg's eig64/eig32 ask) and fits; res[n_kinds]. Keeps K
 * in res[i].matrix when cfg->save_matrix. OP_ERR_INPUT for inconsistent
 * data (d or k differ between sets, n < 1) or a bad kind list;
 * OP_ERR_STOPPED (res freed) when the progress hook asked to abandon. */
op_status op_pkernel_run(const op_pkernel_grid *g, const op_kernel_spec *spec,
                         const op_kernel_cfg *cfg, int n_kinds,
                         const op_kernel_kind *kinds, const op_dataset *train,
                         const op_dataset *test, op_kernel_result *res);
void op_kernel_result_free(op_kernel_result *res);

/* Progress of op_pkernel_run, for the kernel phase's lines. The work of a
 * call is modelled in flop-equivalents (op_pkernel_work: the lower build
 * n^2 d + K(test, train) 2 nt n d, each ridge's Cholesky n^3/3, an eigen-
 * decomposition 1.5 n^3 values-only or 9 n^3 with vectors (ScaLAPACK's
 * measured rate against the Cholesky's), float32 values 1 n^3, the
 * gradient-flow products); the hook, when set, is called on every rank
 * after each step with its name ("build", "ridge", "eigen64", "gd",
 * "eigen32"), the kind's index in the call, the step's number and count
 * (ridges), and the modelled work done so far in this call. A non-zero
 * return on any rank abandons the call at that step boundary (decided
 * collectively): op_pkernel_run frees what it computed and returns
 * OP_ERR_STOPPED — how a walltime stop ends a kernel within its margin
 * (a step itself, one ScaLAPACK call, cannot be interrupted). One hook per
 * process (NULL: none). */
typedef int (*op_pkernel_progress_fn)(void *ctx, const char *step, int kind,
                                      int i, int n, double work_done);
void op_pkernel_set_progress(op_pkernel_progress_fn fn, void *ctx);
double op_pkernel_work(const op_kernel_cfg *cfg, int n_kinds, int n, int nt,
                       int d, int k);

#endif
