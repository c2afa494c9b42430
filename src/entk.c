/* entk.c — the empirical NTK as a sum over layers of elementwise products of
 * distributed Gram matrices (contract and derivation in entk.h).
 *
 * Why this shape: J J^T with J [n][n_params] costs n^2 n_params and needs J
 * (or its row blocks, recomputed) on one rank; the per-layer Grams cost
 * n^2 (width + k width) per layer, are exactly the GEMMs ScaLAPACK
 * distributes best (pdsyrk), and their operands are only n x width. The
 * forward/backward passes are split by contiguous row slices over all
 * ranks (no rank repeats another's rows), then each layer's slices are
 * moved to the block-cyclic layout of the kernel grid by pdgemr2d. */
#include "overparam/entk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/kernel.h"
#include "overparam/kernel_io.h"
#include "overparam/result.h"
#include "overparam/rng.h"
#include "overparam/schema.h"
#include "overparam/train.h"

/* BLACS / ScaLAPACK (Fortran; hidden string lengths as in pkernel.c). */
extern int Csys2blacs_handle(MPI_Comm comm);
extern void Cfree_blacs_system_handle(int handle);
extern void Cblacs_gridinit(int *ctxt, const char *order, int nprow,
                            int npcol);
extern void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow,
                            int *mycol);
extern void Cblacs_gridexit(int ctxt);
extern int numroc_(const int *n, const int *nb, const int *iproc,
                   const int *isrcproc, const int *nprocs);
extern void descinit_(int *desc, const int *m, const int *n, const int *mb,
                      const int *nb, const int *irsrc, const int *icsrc,
                      const int *ictxt, const int *lld, int *info);
extern void pdgemr2d_(const int *m, const int *n, const double *a,
                      const int *ia, const int *ja, const int *desca,
                      double *b, const int *ib, const int *jb,
                      const int *descb, const int *ictxt);
extern void pdsyrk_(const char *uplo, const char *trans, const int *n,
                    const int *k, const double *alpha, const double *a,
                    const int *ia, const int *ja, const int *desca,
                    const double *beta, double *c, const int *ic,
                    const int *jc, const int *descc, size_t, size_t);

static const int I0 = 0, I1 = 1;

/* One layer's row slice on the P x 1 grid: rows [r0, r0 + rows) of an
 * n x cols matrix, column-major with leading dimension lld. */
typedef struct {
    int cols, lld;
    int desc[9];
    double *a;
} slice;

static void slice_init(slice *s, int n, int cols, int mb, int rows, int ctxt)
{
    s->cols = cols;
    s->lld = rows > 1 ? rows : 1;
    int info = 0;
    descinit_(s->desc, &n, &cols, &mb, &cols, &I0, &I0, &ctxt, &s->lld,
              &info);
    OP_INFO_CHECK("descinit", info, "bad row-slice descriptor");
    s->a = OP_XCALLOC((size_t)s->lld * cols, sizeof(double));
}

/* The Gram alpha S S^T (lower triangle) of slice s into C, through a
 * block-cyclic copy of s that lives only for the call. */
static void gram_lower(const op_pkernel_grid *g, const slice *s, int n,
                       double alpha, op_pmatrix *C)
{
    op_pmatrix X;
    op_pmatrix_alloc(g, &X, n, s->cols);
    pdgemr2d_(&n, &s->cols, s->a, &I1, &I1, s->desc, X.a, &I1, &I1, X.desc,
              &g->ctxt);
    double zero = 0.0;
    pdsyrk_("L", "N", &n, &s->cols, &alpha, X.a, &I1, &I1, X.desc, &zero,
            C->a, &I1, &I1, C->desc, 1, 1);
    op_pmatrix_free(&X);
}

double op_entk_bytes_per_rank(const op_net *net, int n, int ranks)
{
    double p = ranks > 0 ? ranks : 1, k = net->d_out;
    double cols = 0, widest = 0;
    for (int l = net->freeze_first ? 1 : 0; l < net->n_layers; l++) {
        double a = net->dims[l];
        double d = l + 1 < net->n_layers - 1 ? k * net->dims[l + 1]
                   : l + 1 == net->n_layers - 1 ? net->dims[l + 1] : 0;
        cols += a + d;
        widest = fmax(widest, fmax(a, d));
    }
    double rows = ceil((double)n / p);
    return 8.0 * (3.0 * (double)n * n / p + rows * cols + rows * widest);
}

op_status op_entk_build(const op_pkernel_grid *g, op_net *net,
                        const double *x, int n, op_pmatrix *theta)
{
    if (net->precision != 8)
        return op_error(OP_ERR_INPUT, "empirical NTK: the network must be "
                        "float64 (precision %d)", net->precision);
    if (n < 1)
        return op_error(OP_ERR_INPUT, "empirical NTK: n = %d", n);
    int L = net->n_layers - 1, k = net->d_out, d_in = net->d_in;
    int l0 = net->freeze_first ? 1 : 0;

    /* The P x 1 grid of the row slices: rank r holds rows [r mb, r mb +
     * rows). Grid rank r is communicator rank r (row-major, one column). */
    int handle = Csys2blacs_handle(g->comm), ctxt1 = handle;
    Cblacs_gridinit(&ctxt1, "Row", g->size, 1);
    int np1, nc1, me1, mc1;
    Cblacs_gridinfo(ctxt1, &np1, &nc1, &me1, &mc1);
    int mb = (n + g->size - 1) / g->size;
    int rows = numroc_(&n, &mb, &me1, &I0, &np1);
    int r0 = me1 * mb;

    /* Slices: a[l] the layer inputs; d[l] the signals, l < L (the last
     * hidden layer's folded to dims[L] columns, see below). */
    slice a[OP_NET_LAYERS_MAX], dl[OP_NET_LAYERS_MAX];
    memset(a, 0, sizeof a);
    memset(dl, 0, sizeof dl);
    for (int l = l0; l <= L; l++) {
        slice_init(&a[l], n, net->dims[l], mb, rows, ctxt1);
        if (l < L)
            slice_init(&dl[l], n, l == L - 1 ? net->dims[l + 1]
                                              : k * net->dims[l + 1],
                       mb, rows, ctxt1);
    }
    for (int s = 0; s < rows; s += net->batch_max) {
        int c = rows - s < net->batch_max ? rows - s : net->batch_max;
        op_net_forward(net, x + (size_t)(r0 + s) * d_in, NULL, c, NULL);
        for (int l = l0; l <= L; l++) {
            const double *in = l == 0 ? net->in : net->a[l];
            int fi = net->dims[l];
            for (int i = 0; i < c; i++)
                for (int j = 0; j < fi; j++)
                    a[l].a[(s + i) + (size_t)j * a[l].lld] =
                        in[(size_t)i * fi + j];
        }
        for (int o = 0; o < k && L > l0; o++) {
            op_net_output_deltas(net, o, c);
            for (int l = l0; l < L; l++) {
                const double *del = net->d[l];
                int fo = net->dims[l + 1];
                slice *S = &dl[l];
                if (l == L - 1) {
                    /* The last hidden layer's signal is delta^o_r =
                     * wmul_L W_L[o, r] phi'(h_r) with phi' >= 0 (ReLU,
                     * erf, tanh), so sum_o delta^o_r(x) delta^o_r(x') =
                     * E_r(x) E_r(x') with E_r = sqrt(sum_o (delta^o_r)^2):
                     * dims[L] columns instead of k dims[L]. */
                    for (int i = 0; i < c; i++)
                        for (int r = 0; r < fo; r++) {
                            double v = del[(size_t)i * fo + r];
                            S->a[(s + i) + (size_t)r * S->lld] += v * v;
                        }
                } else {
                    for (int i = 0; i < c; i++)
                        for (int r = 0; r < fo; r++)
                            S->a[(s + i) + (size_t)(o * fo + r) * S->lld] =
                                del[(size_t)i * fo + r];
                }
            }
        }
    }
    if (L > l0) {
        slice *S = &dl[L - 1];
        for (size_t i = 0; i < (size_t)S->lld * S->cols; i++)
            S->a[i] = sqrt(S->a[i]);
    }

    /* Theta = G_L (B_L = 1), then += G_l .* B_l for the trained layers
     * below, all on the lower triangle; mirrored at the end. */
    op_pmatrix_alloc(g, theta, n, n);
    size_t loc = (size_t)theta->lld * (theta->nloc > 0 ? theta->nloc : 0);
    if (L >= l0) {
        gram_lower(g, &a[L], n, net->wmul[L] * net->wmul[L], theta);
        if (net->has_bias)
            for (size_t i = 0; i < loc; i++)
                theta->a[i] += net->bmul[L] * net->bmul[L];
    }
    if (L > l0) {
        op_pmatrix G, B;
        op_pmatrix_alloc(g, &G, n, n);
        op_pmatrix_alloc(g, &B, n, n);
        for (int l = l0; l < L; l++) {
            gram_lower(g, &a[l], n, net->wmul[l] * net->wmul[l], &G);
            gram_lower(g, &dl[l], n, 1.0 / k, &B);
            double b2 = net->has_bias ? net->bmul[l] * net->bmul[l] : 0.0;
            for (size_t i = 0; i < loc; i++)
                theta->a[i] += (G.a[i] + b2) * B.a[i];
        }
        op_pmatrix_free(&G);
        op_pmatrix_free(&B);
    }
    op_pmatrix_symmetrize_lower(g, theta);

    for (int l = 0; l <= L; l++) {
        free(a[l].a);
        free(dl[l].a);
    }
    Cblacs_gridexit(ctxt1);
    Cfree_blacs_system_handle(handle);
    return OP_OK;
}

double op_entk_rel_diff(const op_pkernel_grid *g, const op_pmatrix *A,
                        const op_pmatrix *B)
{
    double s[2] = {0, 0};
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++) {
            double a = A->a[li + (size_t)lj * A->lld];
            double b = B->a[li + (size_t)lj * B->lld];
            s[0] += (a - b) * (a - b);
            s[1] += b * b;
        }
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, s, 2, MPI_DOUBLE, MPI_SUM,
                               g->comm), "relative difference of kernels");
    return s[1] > 0 ? sqrt(s[0] / s[1]) : NAN;
}

/* ---- the kernel phase's empirical NTKs ---------------------------------- */

/* The kernel's architecture at width w, as a network (init scales 1: the
 * limit the analytic kernel describes). */
static op_model_cfg kernel_model(const op_kernel_cfg *kc, int w)
{
    op_model_cfg m = {.activation = kc->activation, .param = kc->param,
                      .width = w, .depth = kc->depth,
                      .sigma_w2 = kc->sigma_w2, .sigma_b2 = kc->sigma_b2,
                      .sigma_w2_last = kc->sigma_w2_last,
                      .sigma_b2_last = kc->sigma_b2_last,
                      .last_set = kc->last_set, .bias = kc->bias,
                      .init_scale = 1, .init_scale_first = 1,
                      .init_scale_last = 1, .freeze_first = 0};
    return m;
}

/* A status of rank 0's (or any rank's) work made everyone's. */
static op_status agree(const op_pkernel_grid *g, op_status s)
{
    int st = s, worst = 0;
    OP_MPI_CHECK(MPI_Allreduce(&st, &worst, 1, MPI_INT, MPI_MAX, g->comm),
                 "empirical NTK status");
    if (worst != OP_OK && s == OP_OK)
        return op_error((op_status)worst, "empirical NTK failed on another "
                        "rank");
    return s;
}

typedef struct {
    double *init;  /* [n_total] parameters at slot 0 */
    int have;
} init_capture;

static op_status capture_init(void *ctx, const op_config *cfg, long run,
                              op_net *net, int epoch, int slot)
{
    (void)cfg;
    (void)run;
    (void)epoch;
    init_capture *c = ctx;
    if (slot == 0 && !c->have) {
        op_net_params_copy(net, c->init);
        c->have = 1;
    }
    return OP_OK;
}

/* The drift of width w's network trained with the job's [train] recipe
 * (op_entk_write's contract). */
static op_status train_drift(const op_job *job, const op_kernel_cfg *kc,
                             const op_pkernel_grid *g,
                             const op_dataset *train, const op_dataset *test,
                             int w, double *drift)
{
    op_config cfg;
    op_job_config(job, 0, &cfg);
    cfg.model = kernel_model(kc, w);
    cfg.train.precision = 8;
    cfg.train.ensemble = 1;
    cfg.run_key = op_job_stream_key(&cfg);
    op_net shape = {0};
    op_status s = op_net_setup(&shape, &cfg.model, train->d, train->k, 8,
                               train->n < 256 ? train->n : 256, 0);
    s = agree(g, s);
    if (s != OP_OK)
        return s;
    long np = shape.n_total;
    double *p0 = OP_XMALLOC(sizeof(double) * (size_t)np);
    double *pT = OP_XMALLOC(sizeof(double) * (size_t)np);
    init_capture cap = {.init = p0, .have = 0};
    op_trainer *t = NULL;
    s = op_trainer_create(&t);
    op_result res;
    memset(&res, 0, sizeof res);
    if (s == OP_OK) {
        op_trainer_set_hook(t, capture_init, &cap);
        s = op_train_run(t, &cfg, 0, train, test, NULL, &res);
    }
    if (s == OP_OK && !cap.have)
        s = op_error(OP_ERR_INTERNAL, "empirical NTK: training logged no "
                     "initial point");
    if (s == OP_OK)
        op_net_params_copy(op_trainer_net(t, 0), pT);
    op_trainer_destroy(t);
    s = agree(g, s);
    if (s == OP_OK) {
        /* Rank 0's parameters: replicated training need not be bitwise
         * the same on every rank (threaded BLAS). */
        OP_MPI_CHECK(MPI_Bcast(p0, (int)np, MPI_DOUBLE, 0, g->comm),
                     "initial parameters");
        OP_MPI_CHECK(MPI_Bcast(pT, (int)np, MPI_DOUBLE, 0, g->comm),
                     "trained parameters");
        op_pmatrix T0, TT;
        op_net_params_load(&shape, p0);
        s = op_entk_build(g, &shape, train->x, train->n, &T0);
        if (s == OP_OK) {
            op_net_params_load(&shape, pT);
            s = op_entk_build(g, &shape, train->x, train->n, &TT);
            if (s == OP_OK) {
                *drift = op_entk_rel_diff(g, &TT, &T0);
                op_pmatrix_free(&TT);
            }
            op_pmatrix_free(&T0);
        }
    }
    op_net_free(&shape);
    free(p0);
    free(pT);
    return s;
}

/* A 1-D float64 dataset of the group, written by rank 0 (the others join
 * the collective write with empty selections). */
static void write_vector(hid_t grp, const char *name, const double *v, int n,
                         int rank)
{
    const char *what = "writing the empirical NTK results";
    hsize_t dim = (hsize_t)n;
    hid_t fs = H5Screate_simple(1, &dim, NULL);
    OP_H5_CHECK(fs, what);
    hid_t ds = H5Dcreate2(grp, name, H5T_IEEE_F64LE, fs, H5P_DEFAULT,
                          H5P_DEFAULT, H5P_DEFAULT);
    OP_H5_CHECK(ds, what);
    hid_t ms = H5Scopy(fs);
    OP_H5_CHECK(ms, what);
    if (rank != 0) {
        OP_H5_CHECK(H5Sselect_none(fs), what);
        OP_H5_CHECK(H5Sselect_none(ms), what);
    }
    hid_t dx = H5Pcreate(H5P_DATASET_XFER);
    OP_H5_CHECK(dx, what);
    OP_H5_CHECK(H5Pset_dxpl_mpio(dx, H5FD_MPIO_COLLECTIVE), what);
    OP_H5_CHECK(H5Dwrite(ds, H5T_NATIVE_DOUBLE, ms, fs, dx, v), what);
    op_schema_describe_kernel_dataset(ds, name);
    OP_H5_CHECK(H5Pclose(dx), what);
    OP_H5_CHECK(H5Sclose(ms), what);
    OP_H5_CHECK(H5Dclose(ds), what);
    OP_H5_CHECK(H5Sclose(fs), what);
}

op_status op_entk_write(const op_job *job, const op_kernel_cfg *kc,
                        const op_pkernel_grid *g, const op_dataset *train,
                        const op_dataset *test, hid_t file, const char *path)
{
    int ne = kc->n_empirical, n = train->n, d = train->d;
    double err[OP_LIST_MAX], drift[OP_LIST_MAX];
    const char *what = "writing the empirical NTK results";
    hid_t grp = H5Gopen2(file, path, H5P_DEFAULT);
    OP_H5_CHECK(grp, what);
    op_status s = OP_OK;
    op_net net = {0};
    for (int i = 0; i < ne && s == OP_OK; i++) {
        int w = kc->empirical_widths[i];
        err[i] = drift[i] = NAN;
        double t0 = MPI_Wtime();
        op_model_cfg m = kernel_model(kc, w);
        op_kernel_spec spec;
        s = op_kernel_spec_init(&spec, kc, kc->depth, w, d);
        if (s == OP_OK)
            s = op_net_setup(&net, &m, d, train->k, 8, n < 256 ? n : 256, 0);
        s = agree(g, s);
        if (s != OP_OK)
            break;
        op_rng r;
        op_rng_derive(&r, job->base.seed, OP_STREAM_KERNEL,
                      (uint64_t)kc->depth, (uint64_t)w);
        op_net_init_params(&net, &r);
        op_pmatrix T, K;
        s = op_entk_build(g, &net, train->x, n, &T);
        if (s != OP_OK)
            break;
        double t_emp = MPI_Wtime() - t0;
        op_pkernel_matrix(g, &spec, OP_KERNEL_NTK, train->x, n, train->x, n,
                          &K);
        err[i] = op_entk_rel_diff(g, &T, &K);
        op_pmatrix_free(&K);
        if (kc->save_empirical)
            op_kernel_io_write_matrix(grp, "empirical_matrix", &T, i, ne);
        op_pmatrix_free(&T);
        if (kc->empirical_train)
            s = train_drift(job, kc, g, train, test, w, &drift[i]);
        if (g->rank == 0) {
            fprintf(stderr, "[overparam] %s: empirical NTK width %d: "
                    "relative error %.4g (%.1fs)", path, w, err[i], t_emp);
            if (kc->empirical_train)
                fprintf(stderr, ", drift after training %.4g", drift[i]);
            fprintf(stderr, "\n");
        }
    }
    op_net_free(&net);
    if (s == OP_OK) {
        write_vector(grp, "empirical_ntk_rel_error", err, ne, g->rank);
        if (kc->empirical_train)
            write_vector(grp, "empirical_ntk_drift", drift, ne, g->rank);
        /* Attributes are metadata: every rank writes the same values. */
        hsize_t dim = (hsize_t)ne;
        hid_t as = H5Screate_simple(1, &dim, NULL);
        OP_H5_CHECK(as, what);
        hid_t a = H5Acreate2(grp, "empirical_widths", H5T_STD_I32LE, as,
                             H5P_DEFAULT, H5P_DEFAULT);
        OP_H5_CHECK(a, what);
        OP_H5_CHECK(H5Awrite(a, H5T_NATIVE_INT, kc->empirical_widths), what);
        OP_H5_CHECK(H5Aclose(a), what);
        OP_H5_CHECK(H5Sclose(as), what);
    }
    OP_H5_CHECK(H5Gclose(grp), what);
    return s;
}
