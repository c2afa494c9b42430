/* entk.c — the empirical NTK as a sum over layers of elementwise products of
 * distributed Gram matrices (contract and derivation in entk.h).
 *
 * Why this shape: J J^T with J [n][n_params] costs n^2 n_params and needs J
 * (or its row blocks, recomputed) on one rank; the per-layer Grams cost
 * n^2 (width + k width) per layer, are plain GEMMs, and their operands
 * are only n x width. (pdsyrk on the block-cyclic copies ran at a fifth
 * of the local GEMM rate on 2 ranks, and needed two n^2/P temporaries.) The
 * forward/backward passes are split by contiguous row slices over all
 * ranks (no rank repeats another's rows), then each layer's slices are
 * sent (MPI_Alltoallw) to the ranks whose blocks of Theta need them, and
 * each rank multiplies its own lower blocks with local GEMMs, as the
 * analytic build (pkernel.c) does with the inputs. */
#include "overparam/entk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/h5attr.h"
#include "overparam/kernel.h"
#include "overparam/kernel_io.h"
#include "overparam/result.h"
#include "overparam/rng.h"
#include "overparam/schema.h"
#include "overparam/train.h"

#include <cblas.h>

extern void pdgemr2d_(const int *m, const int *n, const double *a,
                      const int *ia, const int *ja, const int *desca,
                      double *b, const int *ib, const int *jb,
                      const int *descb, const int *ictxt);
static const int I1 = 1;

/* Rows of the exchange buffers per output group: the signals of a layer
 * with k outputs are k times wider than its activations; they are moved
 * and multiplied in groups of outputs so the rows a rank receives stay
 * within this many bytes (the Gram of the signals is summed over groups). */
#define ENTK_EXCHANGE_BYTES ((size_t)256 << 20)
static size_t g_exchange_bytes = ENTK_EXCHANGE_BYTES;

void op_entk_set_exchange_bytes(size_t bytes)
{
    g_exchange_bytes = bytes > 0 ? bytes : ENTK_EXCHANGE_BYTES;
}

/* Global index of local index l in a block-cyclic dimension (source 0). */
static int l2g(int l, int nb, int p, int np)
{
    return (l / nb * np + p) * nb + l % nb;
}

/* Where the last op_entk_build spent its time (this rank's, seconds). */
static op_entk_timing g_timing;

void op_entk_last_timing(op_entk_timing *t)
{
    *t = g_timing;
}

/* Whether rank q's process column's rows (C) are among its process row's
 * (R), in an order the Grams can read them from R: on a 1 x P grid R is
 * every row in global order; on a square grid a diagonal rank's R and C
 * are the same rows. Then C is not sent (on 2 ranks a third of the bytes
 * of every exchange). */
static int c_in_r(const op_pkernel_grid *g, int q)
{
    return g->nprow == 1 ||
           (g->nprow == g->npcol && q / g->npcol == q % g->npcol);
}

/* The rows of the row-major slices (each rank q holds global rows [q mb,
 * q mb + its rows), `ld` elements a row, elements of es bytes: doubles, or
 * floats with float32 Grams) that this rank's blocks of an n x n matrix
 * need: R [mloc][cc] the rows of its process row, then C [nloc][cc] those
 * of its process column (both in local order, right after each other in
 * RC; C left out when c_in_r), columns [c0, c0 + cc) of each row.
 * Packed by memcpy into one contiguous piece per destination in sbuf
 * (rows (nprow + npcol) cc elements) and moved by one MPI_Alltoallw whose
 * receive types are two long runs (Open MPI packing row by row through an
 * indexed send type was several times slower here). */
static void exchange(const op_pkernel_grid *g, int mb, const void *slice,
                     int rows, int ld, int c0, int cc, int mloc, int nloc,
                     void *RC, void *sbuf, size_t es)
{
    int P = g->size, nb = g->nb, r0 = g->rank * mb;
    int *scount = OP_XCALLOC((size_t)P, sizeof(int));
    int *sdisp = OP_XCALLOC((size_t)P + 1, sizeof(int));
    /* Send: for each q, the slice's rows in blocks owned by q's process
     * row, then by q's process column, ascending. */
    size_t at = 0;
    for (int q = 0; q < P; q++) {
        sdisp[q] = (int)at;
        int owner[2] = {q / g->npcol, q % g->npcol};
        int np[2] = {g->nprow, g->npcol};
        for (int part = 0; part < 2 - c_in_r(g, q); part++)
            for (int b = r0 / nb; rows > 0 && b * nb < r0 + rows; b++) {
                if (b % np[part] != owner[part])
                    continue;
                int lo = b * nb > r0 ? b * nb : r0;
                int hi = (b + 1) * nb < r0 + rows ? (b + 1) * nb : r0 + rows;
                for (int i = lo; i < hi; i++, at++)
                    memcpy((char *)sbuf + at * cc * es,
                           (const char *)slice +
                               ((size_t)(i - r0) * ld + c0) * es,
                           es * cc);
            }
        scount[q] = (int)at - sdisp[q];
    }
    /* Receive: from q, the R rows then the C rows in q's range; in local
     * order they are consecutive runs of R and of C. */
    int *offR = OP_XCALLOC((size_t)P + 1, sizeof(int));
    int *offC = OP_XCALLOC((size_t)P + 1, sizeof(int));
    for (int li = 0; li < mloc; li++)
        offR[l2g(li, nb, g->myrow, g->nprow) / mb + 1]++;
    for (int lj = 0; lj < nloc; lj++)
        offC[l2g(lj, nb, g->mycol, g->npcol) / mb + 1]++;
    for (int q = 0; q < P; q++) {
        offR[q + 1] += offR[q];
        offC[q + 1] += offC[q];
    }
    MPI_Datatype row, *rtype = OP_XMALLOC(sizeof(MPI_Datatype) * (size_t)P);
    int *rone = OP_XCALLOC((size_t)P, sizeof(int));
    int *sbytes = OP_XCALLOC((size_t)P, sizeof(int));
    OP_MPI_CHECK(MPI_Type_contiguous(cc, es == sizeof(float) ? MPI_FLOAT
                                                             : MPI_DOUBLE,
                                     &row),
                 "row type");
    OP_MPI_CHECK(MPI_Type_commit(&row), "row type");
    MPI_Datatype *stype = OP_XMALLOC(sizeof(MPI_Datatype) * (size_t)P);
    for (int q = 0; q < P; q++) {
        /* the R rows and the C rows from q land in place: two runs */
        int bl[2] = {offR[q + 1] - offR[q],
                     c_in_r(g, g->rank) ? 0 : offC[q + 1] - offC[q]};
        int dp[2] = {offR[q], mloc + offC[q]};
        rtype[q] = row;
        if (bl[0] + bl[1] > 0) {
            OP_MPI_CHECK(MPI_Type_indexed(2, bl, dp, row, &rtype[q]),
                         "receive type");
            OP_MPI_CHECK(MPI_Type_commit(&rtype[q]), "receive type");
            rone[q] = 1;
        }
        stype[q] = row;
        sbytes[q] = (int)((size_t)sdisp[q] * cc * es);
    }
    int *zero = OP_XCALLOC((size_t)P, sizeof(int));
    /* The ranks meet here anyway (Alltoallw): waiting for the slowest
     * is timed apart from the transfer. */
    double tw = MPI_Wtime();
    OP_MPI_CHECK(MPI_Barrier(g->comm), "exchange");
    g_timing.wait += MPI_Wtime() - tw;
    OP_MPI_CHECK(MPI_Alltoallw(sbuf, scount, sbytes, stype, RC, rone, zero,
                               rtype, g->comm),
                 "exchanging activation rows");
    for (int q = 0; q < P; q++)
        if (rone[q])
            MPI_Type_free(&rtype[q]);
    MPI_Type_free(&row);
    free(rtype);
    free(stype);
    free(rone);
    free(sbytes);
    free(zero);
    free(scount);
    free(sdisp);
    free(offR);
    free(offC);
}

/* The first local row of local block column lj0 on or below the global
 * diagonal's block (local rows are in increasing global order). */
static int first_lower(const op_pkernel_grid *g, int lj0, int mloc)
{
    int bj = l2g(lj0, g->nb, g->mycol, g->npcol) / g->nb;
    int lb = bj > g->myrow ? (bj - g->myrow + g->nprow - 1) / g->nprow : 0;
    long li = (long)lb * g->nb;
    return li < mloc ? (int)li : mloc;
}

/* One Gram factor pair: R [mloc][cc] and C [nloc][cc] row-major (doubles,
 * or floats with f32), scaled by alpha. */
typedef struct {
    const void *R, *C;
    int cc;
    double alpha;
    int cinr;        /* C read from R (c_in_r) */
} gram_op;

/* The first of the C rows of local block column lj0 (es-byte elements). */
static const void *c_rows(const op_pkernel_grid *g, const gram_op *o,
                          int lj0, size_t es)
{
    size_t r = (size_t)lj0;
    if (!o->cinr)
        return (const char *)o->C + r * o->cc * es;
    if (g->nprow == 1) /* R holds every row in global order */
        r = (size_t)l2g(lj0, g->nb, g->mycol, g->npcol);
    return (const char *)o->R + r * o->cc * es;
}

/* panel [m][w] column-major (ld m) = alpha R(r0:, :) C(lj0:lj0+w, :)^T
 * (float64). Timed into g_timing.grams. */
static void gram_panel(const op_pkernel_grid *g, const gram_op *o, int r0,
                       int lj0, int m, int w, double *panel)
{
    double t0 = MPI_Wtime();
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, w, o->cc,
                o->alpha, (const double *)o->R + (size_t)r0 * o->cc, o->cc,
                (const double *)c_rows(g, o, lj0, sizeof(double)), o->cc,
                0.0, panel, m);
    g_timing.grams += MPI_Wtime() - t0;
}

/* For each local block column, over its rows on or below the diagonal's
 * block (local lld-strided column-major matrices), in float64:
 *  - theta == NULL: out = beta out + Gram(a) (B summed over output groups);
 *  - else theta += (Gram(a) + b2) .* B, B the Gram of `b` computed in the
 *    same block column (the signals' Gram while the strip is in cache,
 *    never stored whole), or the stored Bm, or 1 (both NULL).
 * The Hadamard product is taken on each GEMM's output strip while hot.
 * panel/bpanel: mloc x nb doubles each. One block column per GEMM, the
 * shapes of the first version (results bitwise the same). */
static void gram_lower(const op_pkernel_grid *g, int mloc, int nloc, int lld,
                       const gram_op *a, double beta, double *out,
                       double *theta, const gram_op *b, const double *Bm,
                       double b2, double *panel, double *bpanel)
{
    int nb = g->nb;
    for (int lj0 = 0; lj0 < nloc; lj0 += nb) {
        int w = nloc - lj0 < nb ? nloc - lj0 : nb;
        int r0 = first_lower(g, lj0, mloc);
        if (r0 >= mloc)
            continue;
        int m = mloc - r0;
        if (!theta) {
            double t0 = MPI_Wtime();
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, w,
                        a->cc, a->alpha,
                        (const double *)a->R + (size_t)r0 * a->cc, a->cc,
                        (const double *)c_rows(g, a, lj0, sizeof(double)),
                        a->cc, beta, out + (size_t)lj0 * lld + r0, lld);
            g_timing.grams += MPI_Wtime() - t0;
            continue;
        }
        gram_panel(g, a, r0, lj0, m, w, panel);
        if (b)
            gram_panel(g, b, r0, lj0, m, w, bpanel);
        double t0 = MPI_Wtime();
        for (int j = 0; j < w; j++) {
            size_t pj = (size_t)j * m, oj = (size_t)(lj0 + j) * lld + r0;
            double *t = theta + oj;
            const double *p = panel + pj;
            const double *bb = b ? bpanel + pj : Bm ? Bm + oj : NULL;
            if (bb) {
                for (int i = 0; i < m; i++)
                    t[i] += (p[i] + b2) * bb[i];
            } else {
                for (int i = 0; i < m; i++)
                    t[i] += p[i] + b2;
            }
        }
        g_timing.hadamard += MPI_Wtime() - t0;
    }
}

/* float32 tiles: rows per GEMM call and columns per panel. Each sgemm
 * call packs its rows of R once for the whole panel (with one 64-column
 * block column per call, repacking R cost about a third of the sgemm's
 * time); a tile (ENTK_TILE_ROWS x ENTK_PANEL_COLS floats, twice) stays in
 * L2 for the Hadamard product that follows. float64 keeps one block
 * column per call: other GEMM shapes may round differently, and its
 * results are bitwise what they were. */
#define ENTK_TILE_ROWS 256
#define ENTK_PANEL_COLS 256

/* The C rows of local columns [cs, cs + wc) (floats, cc a row),
 * contiguous: in place, or gathered into buf when they come from a 1 x P
 * grid's R (c_in_r), whose rows are in global order. */
static const float *c_panel(const op_pkernel_grid *g, const gram_op *o,
                            int cs, int wc, float *buf)
{
    if (!o->cinr || g->nprow != 1)
        return c_rows(g, o, cs, sizeof(float));
    for (int j = 0; j < wc; j++)
        memcpy(buf + (size_t)j * o->cc,
               (const float *)o->R +
                   (size_t)l2g(cs + j, g->nb, g->mycol, g->npcol) * o->cc,
               sizeof(float) * o->cc);
    return buf;
}

/* One tile of gram_lower in float32: rows [rs, rs + h) x local columns
 * [cs, cs + wc), Ca/Cb the C rows of those columns. */
static void tile_f32(const gram_op *a, const float *Ca, const gram_op *b,
                     const float *Cb, int rs, int h, int cs, int wc, int lld,
                     double beta, double *out, double *theta,
                     const double *Bm, double b2, float *fa, float *fb)
{
    double t0 = MPI_Wtime();
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, h, wc, a->cc, 1.0f,
                (const float *)a->R + (size_t)rs * a->cc, a->cc, Ca, a->cc,
                0.0f, fa, h);
    if (b)
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, h, wc, b->cc,
                    1.0f, (const float *)b->R + (size_t)rs * b->cc, b->cc,
                    Cb, b->cc, 0.0f, fb, h);
    double t1 = MPI_Wtime();
    g_timing.grams += t1 - t0;
    double al = a->alpha, bl = b ? b->alpha : 1.0;
    for (int j = 0; j < wc; j++) {
        size_t pj = (size_t)j * h, oj = (size_t)(cs + j) * lld + rs;
        const float *p = fa + pj;
        if (!theta) { /* B summed over output groups */
            double *t = out + oj;
            for (int i = 0; i < h; i++)
                t[i] = beta * t[i] + al * (double)p[i];
            continue;
        }
        double *t = theta + oj;
        if (b) {
            const float *q = fb + pj;
            for (int i = 0; i < h; i++)
                t[i] += (al * (double)p[i] + b2) * (bl * (double)q[i]);
        } else if (Bm) {
            const double *bm = Bm + oj;
            for (int i = 0; i < h; i++)
                t[i] += (al * (double)p[i] + b2) * bm[i];
        } else {
            for (int i = 0; i < h; i++)
                t[i] += al * (double)p[i] + b2;
        }
    }
    g_timing.hadamard += MPI_Wtime() - t1;
}

/* gram_lower in float32 (same outputs), panel by panel of about
 * ENTK_PANEL_COLS local columns: the staircase above the panel's last
 * block column's first lower row block column by block column, the
 * rectangle below it in tiles spanning the whole panel. fa/fb:
 * ENTK_TILE_ROWS x max(ENTK_PANEL_COLS, nb) floats; ca/cb: as many
 * columns x cc for c_panel. */
static void gram_lower_f32(const op_pkernel_grid *g, int mloc, int nloc,
                           int lld, const gram_op *a, double beta,
                           double *out, double *theta, const gram_op *b,
                           const double *Bm, double b2, float *fa, float *fb,
                           float *ca, float *cb)
{
    int nb = g->nb, W = ENTK_PANEL_COLS / nb > 1 ? ENTK_PANEL_COLS / nb : 1;
    for (int lj0 = 0; lj0 < nloc; lj0 += W * nb) {
        int wtot = nloc - lj0 < W * nb ? nloc - lj0 : W * nb;
        int nblk = (wtot + nb - 1) / nb;
        int rlast = first_lower(g, lj0 + (nblk - 1) * nb, mloc);
        /* the staircase: block column bk's rows [its first lower, rlast) */
        for (int bk = 0; bk < nblk; bk++) {
            int cs = lj0 + bk * nb, wc = wtot - bk * nb < nb ? wtot - bk * nb
                                                             : nb;
            int r0 = first_lower(g, cs, mloc);
            if (r0 >= rlast)
                continue;
            const float *Ca = c_panel(g, a, cs, wc, ca);
            const float *Cb = b ? c_panel(g, b, cs, wc, cb) : NULL;
            for (int rs = r0; rs < rlast; rs += ENTK_TILE_ROWS) {
                int h = rlast - rs < ENTK_TILE_ROWS ? rlast - rs
                                                    : ENTK_TILE_ROWS;
                tile_f32(a, Ca, b, Cb, rs, h, cs, wc, lld, beta, out, theta,
                         Bm, b2, fa, fb);
            }
        }
        if (rlast >= mloc)
            continue;
        /* the rectangle: rows [rlast, mloc) of every column of the panel */
        const float *Ca = c_panel(g, a, lj0, wtot, ca);
        const float *Cb = b ? c_panel(g, b, lj0, wtot, cb) : NULL;
        for (int rs = rlast; rs < mloc; rs += ENTK_TILE_ROWS) {
            int h = mloc - rs < ENTK_TILE_ROWS ? mloc - rs : ENTK_TILE_ROWS;
            tile_f32(a, Ca, b, Cb, rs, h, lj0, wtot, lld, beta, out, theta,
                     Bm, b2, fa, fb);
        }
    }
}

/* op_entk_bytes_per_rank for layer widths dims[0..n_layers] (input ...
 * output), layers from l0 on trained, Grams in float64 or (f32) float32. */
static double bytes_for(const int *dims, int n_layers, int l0, int n,
                        int ranks, int f32)
{
    double p = ranks > 0 ? ranks : 1, k = dims[n_layers];
    double cols = 0, widest = 0, widest_sig = 0;
    for (int l = l0; l < n_layers; l++) {
        double a = dims[l];
        double d = l + 1 < n_layers - 1 ? k * dims[l + 1]
                   : l + 1 == n_layers - 1 ? dims[l + 1] : 0;
        cols += a + d;
        widest = fmax(widest, a);
        widest_sig = fmax(widest_sig, d);
    }
    double rows = ceil((double)n / p), es = f32 ? 4.0 : 8.0;
    /* Theta (and B when the signals are exchanged in groups); the slices;
     * one layer's exchange (the near-square grid's rows and columns:
     * activations and signals together when the signals fit
     * ENTK_EXCHANGE_BYTES, else in groups within it) and its send copy. */
    double rc = 2.0 * n / sqrt(p);
    int fused = rc * widest_sig * es <= (double)g_exchange_bytes;
    double ex = fused ? rc * (widest + widest_sig) * es
                      : fmax(rc * widest * es, (double)g_exchange_bytes);
    ex += rows * 2.0 * sqrt(p) * fmax(widest, fused ? widest_sig : 0) * es;
    return 8.0 * ((fused ? 1.0 : 2.0) * (double)n * n / p + rows * cols) +
           ex;
}

double op_entk_bytes_per_rank(const op_net *net, int n, int ranks)
{
    return bytes_for(net->dims, net->n_layers, net->freeze_first ? 1 : 0, n,
                     ranks, 0);
}

double op_entk_phase_bytes_per_rank(const op_kernel_cfg *kc, int d, int k,
                                    int n, int n_test, int ranks)
{
    /* op_entk_write: Theta on the training set beside the analytic NTK it
     * is compared with (n^2/P more); with empirical_train, the linearized
     * network's Theta on [train; test]. */
    int N = kc->empirical_train ? n + n_test : n;
    double worst = 0;
    for (int i = 0; i < kc->n_empirical; i++) {
        int dims[OP_LIST_MAX + 2], L = kc->depth + 1;
        if (L + 1 > (int)(sizeof dims / sizeof *dims))
            L = (int)(sizeof dims / sizeof *dims) - 1;
        dims[0] = d;
        for (int l = 1; l < L; l++)
            dims[l] = kc->empirical_widths[i];
        dims[L] = k;
        double b = bytes_for(dims, L, 0, N, ranks,
                             kc->empirical_precision == 4) +
                   8.0 * (double)n * n / (ranks > 0 ? ranks : 1);
        worst = fmax(worst, b);
    }
    return worst;
}

op_status op_entk_build(const op_pkernel_grid *g, op_net *net,
                        const double *x, int n, op_pmatrix *theta)
{
    return op_entk_build_prec(g, net, x, n, 8, theta);
}

/* dst[i] = src[i] (i < count), each of its own precision (4 or 8). */
static void copy_real(void *dst, int dst_f32, const void *src, int src_f32,
                      size_t count)
{
    if (dst_f32 == src_f32) {
        memcpy(dst, src, count * (dst_f32 ? sizeof(float) : sizeof(double)));
    } else if (dst_f32) {
        for (size_t i = 0; i < count; i++)
            ((float *)dst)[i] = (float)((const double *)src)[i];
    } else {
        for (size_t i = 0; i < count; i++)
            ((double *)dst)[i] = ((const float *)src)[i];
    }
}

op_status op_entk_build_prec(const op_pkernel_grid *g, op_net *net,
                             const double *x, int n, int gram_precision,
                             op_pmatrix *theta)
{
    if (net->precision != 8)
        return op_error(OP_ERR_INPUT, "empirical NTK: the network must be "
                        "float64 (precision %d)", net->precision);
    if (n < 1)
        return op_error(OP_ERR_INPUT, "empirical NTK: n = %d", n);
    if (gram_precision != 4 && gram_precision != 8)
        return op_error(OP_ERR_INPUT, "empirical NTK: Gram precision %d "
                        "(4 or 8)", gram_precision);
    memset(&g_timing, 0, sizeof g_timing);
    double t_start = MPI_Wtime(), t0 = t_start;
    int f32 = gram_precision == 4;
    size_t es = f32 ? sizeof(float) : sizeof(double);
    int L = net->n_layers - 1, k = net->d_out, d_in = net->d_in;
    int l0 = net->freeze_first ? 1 : 0;
    /* The passes run in float64 in both modes: on a float32 network a
     * ReLU whose pre-activation is within rounding of 0 flips its phi',
     * moving a whole row of Theta by O(1/width); at n = 4096, width 1024
     * that left 7e-5 relative against float64 (vs 6e-8 with float64
     * passes and float32 Grams), for about a quarter of the passes'
     * time. */

    /* Row slices: rank r runs the network on rows [r mb, r mb + rows). */
    int mb = (n + g->size - 1) / g->size;
    int r0 = g->rank * mb;
    int rows = n - r0 < mb ? n - r0 : mb;
    if (rows < 0)
        rows = 0;

    /* Slices, row-major [rows][cols] of es-byte elements (what is
     * exchanged): a[l] the layer inputs, dl[l] the signals for l < L (the
     * last hidden layer's folded to dims[L] columns, see below). The
     * passes write every element of a[l], so malloc; the folded sum
     * needs zeros. */
    char *a[OP_NET_LAYERS_MAX] = {0}, *dl[OP_NET_LAYERS_MAX] = {0};
    int dcols[OP_NET_LAYERS_MAX] = {0};
    size_t rows1 = (size_t)(rows > 0 ? rows : 1);
    for (int l = l0; l <= L; l++) {
        a[l] = OP_XMALLOC(es * rows1 * net->dims[l]);
        if (l < L) {
            dcols[l] = l == L - 1 ? net->dims[l + 1] : k * net->dims[l + 1];
            dl[l] = OP_XCALLOC(rows1 * dcols[l], es);
        }
    }
    g_timing.alloc += MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    for (int s = 0; s < rows; s += net->batch_max) {
        int c = rows - s < net->batch_max ? rows - s : net->batch_max;
        op_net_forward(net, x + (size_t)(r0 + s) * d_in, NULL, c, NULL);
        for (int l = l0; l <= L; l++) {
            const void *in = l == 0 ? net->in : net->a[l];
            copy_real(a[l] + (size_t)s * net->dims[l] * es, f32, in, 0,
                      (size_t)c * net->dims[l]);
        }
        for (int o = 0; o < k && L > l0; o++) {
            op_net_output_deltas(net, o, c);
            for (int l = l0; l < L; l++) {
                const char *del = net->d[l];
                int fo = net->dims[l + 1];
                char *S = dl[l] + (size_t)s * dcols[l] * es;
                if (l == L - 1) {
                    /* The last hidden layer's signal is delta^o_r =
                     * wmul_L W_L[o, r] phi'(h_r) with phi' >= 0 (ReLU,
                     * erf, tanh), so sum_o delta^o_r(x) delta^o_r(x') =
                     * E_r(x) E_r(x') with E_r = sqrt(sum_o (delta^o_r)^2):
                     * dims[L] columns instead of k dims[L]. */
                    size_t cnt = (size_t)c * fo;
                    if (!f32)
                        for (size_t i = 0; i < cnt; i++)
                            ((double *)S)[i] += ((const double *)del)[i] *
                                                ((const double *)del)[i];
                    else
                        for (size_t i = 0; i < cnt; i++)
                            ((float *)S)[i] += (float)(
                                ((const double *)del)[i] *
                                ((const double *)del)[i]);
                } else {
                    for (int i = 0; i < c; i++)
                        copy_real(S + ((size_t)i * dcols[l] +
                                       (size_t)o * fo) * es, f32,
                                  del + (size_t)i * fo * sizeof(double), 0,
                                  (size_t)fo);
                }
            }
        }
    }
    if (L > l0) {
        size_t cnt = (size_t)rows * dcols[L - 1];
        if (f32)
            for (size_t i = 0; i < cnt; i++)
                ((float *)dl[L - 1])[i] = sqrtf(((float *)dl[L - 1])[i]);
        else
            for (size_t i = 0; i < cnt; i++)
                ((double *)dl[L - 1])[i] = sqrt(((double *)dl[L - 1])[i]);
    }
    g_timing.passes += MPI_Wtime() - t0;
    t0 = MPI_Wtime();

    /* Theta = sum_l (G_l + b2_l) .* B_l over the lower blocks, B_L = 1,
     * mirrored at the end. When a layer's signals fit one exchange (the
     * usual case) its activations and signals are exchanged together and
     * B_l's strip is computed beside G_l's, block column by block column:
     * no n^2/P matrix for B. Otherwise B_l is summed over output groups
     * into Bm first. */
    op_pmatrix_alloc(g, theta, n, n);
    int mloc = theta->mloc, nloc = theta->nloc, lld = theta->lld;
    int cinr = c_in_r(g, g->rank);
    size_t rc_rows = (size_t)mloc + (cinr ? 0 : nloc);
    /* Output groups per layer (the exchanged rows within the budget); a
     * layer in one group is fused. The exchange buffers are sized for
     * the widest layer and allocated once (first-touch page faults are
     * slow) and reused by every layer. */
    int grp[OP_NET_LAYERS_MAX] = {0}, fused[OP_NET_LAYERS_MAX] = {0};
    int maxcc = 1, any_grouped = 0;
    size_t maxrc = 1;
    for (int l = l0; l <= L; l++) {
        int fi = net->dims[l];
        maxcc = fi > maxcc ? fi : maxcc;
        size_t rcw = (size_t)fi;
        if (l < L) {
            int fo = l == L - 1 ? dcols[l] : net->dims[l + 1];
            int kk = l == L - 1 ? 1 : k;
            /* (R and C rows counted as before c_in_r: the same groups,
             * so float64 results stay bitwise what they were) */
            size_t per = ((size_t)mloc + nloc) * fo * es;
            int gq = (int)(g_exchange_bytes / per);
            grp[l] = gq < 1 ? 1 : gq > kk ? kk : gq;
            maxcc = grp[l] * fo > maxcc ? grp[l] * fo : maxcc;
            fused[l] = grp[l] == kk;
            any_grouped |= !fused[l];
            rcw = fused[l] ? (size_t)fi + (size_t)kk * fo
                           : (size_t)(grp[l] * fo > fi ? grp[l] * fo : fi);
        }
        maxrc = rcw > maxrc ? rcw : maxrc;
    }
    /* MPI counts and byte displacements are ints: the widest layer's
     * exchange must stay below 2 GiB per rank (signals are grouped to
     * 256 MiB; activations wider than that need more ranks). */
    double big = (double)es * maxcc *
                 fmax((double)rc_rows, (double)rows * (g->nprow + g->npcol));
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &big, 1, MPI_DOUBLE, MPI_MAX,
                               g->comm), "exchange size");
    if (big >= 2147483647.0) {
        op_pmatrix_free(theta);
        for (int l = 0; l <= L; l++) {
            free(a[l]);
            free(dl[l]);
        }
        return op_error(OP_ERR_INPUT, "empirical NTK: n = %d with layers "
                        "%d wide needs %.1f GiB of rows per rank in one "
                        "exchange (at most 2): use more ranks", n, maxcc,
                        big / 1073741824.0);
    }
    op_pmatrix Bm = {0};
    if (L > l0 && any_grouped)
        op_pmatrix_alloc(g, &Bm, n, n);
    size_t pnl = (size_t)mloc * g->nb + 1;
    double *panel = f32 ? NULL : OP_XMALLOC(sizeof(double) * pnl);
    double *bpanel = f32 ? NULL : OP_XMALLOC(sizeof(double) * pnl);
    /* float32 tiles and gathered C rows (gram_lower_f32) */
    int pcols = ENTK_PANEL_COLS > g->nb ? ENTK_PANEL_COLS : g->nb;
    size_t tl = (size_t)ENTK_TILE_ROWS * pcols + 1;
    float *fa = f32 ? OP_XMALLOC(sizeof(float) * tl) : NULL;
    float *fb = f32 ? OP_XMALLOC(sizeof(float) * tl) : NULL;
    float *ca = f32 ? OP_XMALLOC(sizeof(float) * ((size_t)pcols * maxcc + 1))
                    : NULL;
    float *cb = f32 ? OP_XMALLOC(sizeof(float) * ((size_t)pcols * maxcc + 1))
                    : NULL;
    char *RC = OP_XMALLOC(es * (rc_rows * maxrc + 1));
    void *sbuf = OP_XMALLOC(es * ((size_t)rows * (g->nprow + g->npcol) *
                                      maxcc + 1));
    g_timing.alloc += MPI_Wtime() - t0;
    for (int l = l0; l <= L; l++) {
        int fi = net->dims[l];
        gram_op ga, gb;
        int have_b = 0;
        char *RCa = RC;
        if (l < L) {
            int fo = l == L - 1 ? dcols[l] : net->dims[l + 1];
            int kk = l == L - 1 ? 1 : k;
            for (int o0 = 0; o0 < kk; o0 += grp[l]) {
                int cc = (kk - o0 < grp[l] ? kk - o0 : grp[l]) * fo;
                t0 = MPI_Wtime();
                exchange(g, mb, dl[l], rows, dcols[l], o0 * fo, cc, mloc,
                         nloc, RC, sbuf, es);
                g_timing.exchange += MPI_Wtime() - t0;
                gb = (gram_op){RC, RC + es * mloc * cc, cc, 1.0 / k, cinr};
                if (fused[l]) {
                    have_b = 1;
                    RCa = RC + es * rc_rows * cc;
                } else {
                    if (f32)
                        gram_lower_f32(g, mloc, nloc, lld, &gb,
                                       o0 ? 1.0 : 0.0, Bm.a, NULL, NULL,
                                       NULL, 0, fa, fb, ca, cb);
                    else
                        gram_lower(g, mloc, nloc, lld, &gb, o0 ? 1.0 : 0.0,
                                   Bm.a, NULL, NULL, NULL, 0, panel, bpanel);
                }
            }
        }
        t0 = MPI_Wtime();
        exchange(g, mb, a[l], rows, fi, 0, fi, mloc, nloc, RCa, sbuf, es);
        g_timing.exchange += MPI_Wtime() - t0;
        ga = (gram_op){RCa, RCa + es * mloc * fi, fi,
                       net->wmul[l] * net->wmul[l], cinr};
        /* biases are per layer (net.h: the readout may differ) */
        double b2 = net->b_off[l] >= 0 ? net->bmul[l] * net->bmul[l] : 0.0;
        if (f32)
            gram_lower_f32(g, mloc, nloc, lld, &ga, 0.0, NULL, theta->a,
                           have_b ? &gb : NULL,
                           l < L && !have_b ? Bm.a : NULL, b2, fa, fb, ca,
                           cb);
        else
            gram_lower(g, mloc, nloc, lld, &ga, 0.0, NULL, theta->a,
                       have_b ? &gb : NULL, l < L && !have_b ? Bm.a : NULL,
                       b2, panel, bpanel);
    }
    t0 = MPI_Wtime();
    free(RC);
    free(sbuf);
    free(panel);
    free(bpanel);
    free(fa);
    free(fb);
    free(ca);
    free(cb);
    op_pmatrix_free(&Bm);
    for (int l = 0; l <= L; l++) {
        free(a[l]);
        free(dl[l]);
    }
    g_timing.alloc += MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    op_pmatrix_symmetrize_lower(g, theta);
    g_timing.mirror += MPI_Wtime() - t0;
    g_timing.total = MPI_Wtime() - t_start;
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

/* What a trained width leaves (rank 0's arrays; scalars everywhere). */
typedef struct {
    double drift;
    int T;                 /* times: the kernel's, then the training's */
    double time[OP_LIST_MAX + 1];
    double lin_mse[OP_LIST_MAX + 1], lin_acc[OP_LIST_MAX + 1];
    double net_mse, net_acc, gap;
    double *pred_lin;      /* rank 0: [T][nt][k] */
    double *pred_net;      /* rank 0: [nt][k] */
} trained;

/* The gradient-flow time of the training that ran `epochs` epochs: the
 * analytic predictor's convention (learning rate x full-batch steps on
 * the loss averaged over the n samples, pkernel.h), a mini-batch step
 * counting as one step of its learning rate (its gradient is an unbiased
 * estimate of the full one), SGD momentum mu as the learning rate
 * lr/(1 - mu) it tends to; NaN for Adam, which has no such time. */
static double training_time(const op_train_cfg *tc, int n, int epochs)
{
    if (tc->optimizer == OP_OPT_ADAM)
        return NAN;
    int full = tc->batch <= 0 || tc->batch >= n;
    double steps = full ? 1 : ceil((double)n / tc->batch), t = 0;
    for (int e = 0; e < epochs; e++)
        t += op_train_epoch_lr(tc, e) * steps;
    return t / (1.0 - tc->momentum);
}

typedef struct {
    const op_pkernel_grid *g;
    double *pred;          /* rank 0: [T][nt][k] */
    size_t stride;
} lin_ctx;

static void lin_collect(void *ctx, int it, const op_pmatrix *P)
{
    lin_ctx *c = ctx;
    double *buf = OP_XMALLOC(sizeof(double) * ((size_t)P->m * P->n + 1));
    op_pmatrix_gather(c->g, P, buf);
    if (c->g->rank == 0)
        memcpy(c->pred + (size_t)it * c->stride, buf,
               sizeof(double) * c->stride);
    free(buf);
}

op_status op_entk_linearized(const op_pkernel_grid *g, op_net *net,
                             const double *p0, const double *pT,
                             const op_dataset *train, const op_dataset *test,
                             int center, int solver, int gram_precision,
                             int n_time, const double *times,
                             double *pred_lin, double *pred_net)
{
    int n = train->n, nt = test->n, k = train->k, d = train->d, N = n + nt;
    double *xa = OP_XMALLOC(sizeof(double) * (size_t)N * d);
    double *f0 = OP_XCALLOC((size_t)N * k, sizeof(double));
    double *fT = OP_XMALLOC(sizeof(double) * ((size_t)nt * k + 1));
    memcpy(xa, train->x, sizeof(double) * (size_t)n * d);
    memcpy(xa + (size_t)n * d, test->x, sizeof(double) * (size_t)nt * d);
    op_net_params_load(net, pT);
    op_net_predict(net, test->x, nt, fT);
    op_net_params_load(net, p0);
    op_net_predict(net, xa, N, f0);
    if (center) {
        for (size_t i = 0; i < (size_t)nt * k; i++)
            fT[i] -= f0[(size_t)n * k + i];
        memset(f0, 0, sizeof(double) * (size_t)N * k);
    }
    op_pmatrix TA, K, Kt, V, Y;
    op_status s = op_entk_build_prec(g, net, xa, N, gram_precision, &TA);
    free(xa);
    if (s != OP_OK) {
        free(f0);
        free(fT);
        return s;
    }
    /* K = Theta(X, X) and Kt = Theta(test, X): blocks of Theta on [X; test] */
    op_pmatrix_alloc(g, &K, n, n);
    op_pmatrix_alloc(g, &Kt, nt, n);
    int n1 = n + 1;
    pdgemr2d_(&n, &n, TA.a, &I1, &I1, TA.desc, K.a, &I1, &I1, K.desc,
              &g->ctxt);
    pdgemr2d_(&nt, &n, TA.a, &n1, &I1, TA.desc, Kt.a, &I1, &I1, Kt.desc,
              &g->ctxt);
    op_pmatrix_free(&TA);
    op_pmatrix_alloc(g, &Y, n, k);
    for (int lj = 0; lj < Y.nloc; lj++)
        for (int li = 0; li < Y.mloc; li++) {
            size_t o = (size_t)op_pmatrix_grow(g, li) * k +
                       op_pmatrix_gcol(g, lj);
            Y.a[li + (size_t)lj * Y.lld] = train->y[o] - f0[o];
        }
    double *w = OP_XMALLOC(sizeof(double) * (size_t)n);
    op_pmatrix_alloc(g, &V, n, n);
    op_pkernel_eig(g, solver, &K, w, &V);
    OP_MPI_CHECK(MPI_Bcast(w, n, MPI_DOUBLE, 0, g->comm), "eigenvalues");
    op_pmatrix_free(&K);
    size_t stride = (size_t)nt * k;
    lin_ctx lc = {.g = g, .pred = pred_lin, .stride = stride};
    op_pkernel_gd_predict(g, &V, w, &Kt, &Y, n_time, times, lin_collect,
                          &lc);
    op_pmatrix_free(&V);
    op_pmatrix_free(&Kt);
    op_pmatrix_free(&Y);
    free(w);
    if (g->rank == 0) {
        for (int it = 0; it < n_time; it++)
            for (size_t i = 0; i < stride; i++)
                pred_lin[(size_t)it * stride + i] += f0[(size_t)n * k + i];
        memcpy(pred_net, fT, sizeof(double) * stride);
    }
    free(f0);
    free(fT);
    return OP_OK;
}

/* op_entk_linearized at tr's times, and the test metrics of both
 * predictors (rank 0's, shared with every rank). */
static op_status linearized(const op_kernel_cfg *kc, const op_config *cfg,
                            const op_pkernel_grid *g, op_net *net,
                            const double *p0, const double *pT,
                            const op_dataset *train, const op_dataset *test,
                            trained *tr)
{
    int nt = test->n, k = train->k;
    size_t stride = (size_t)nt * k;
    if (g->rank == 0) {
        tr->pred_lin = OP_XMALLOC(sizeof(double) * (tr->T * stride + 1));
        tr->pred_net = OP_XMALLOC(sizeof(double) * (stride + 1));
    }
    double ft[OP_LIST_MAX + 1]; /* per-sample convention (pkernel.h) */
    for (int it = 0; it < tr->T; it++)
        ft[it] = op_kernel_flow_time(kc->time_convention, tr->time[it], k);
    op_status s = op_entk_linearized(g, net, p0, pT, train, test,
                                     cfg->train.center, kc->eigensolver,
                                     kc->empirical_precision, tr->T, ft, tr->pred_lin, tr->pred_net);
    if (s != OP_OK)
        return s;
    double m[2 * (OP_LIST_MAX + 1) + 3];
    if (g->rank == 0) {
        for (int it = 0; it < tr->T; it++)
            op_kernel_metrics(tr->pred_lin + (size_t)it * stride, test->y,
                              test->label, nt, k, &m[2 * it],
                              &m[2 * it + 1]);
        const double *fT = tr->pred_net;
        op_kernel_metrics(fT, test->y, test->label, nt, k, &m[2 * tr->T],
                          &m[2 * tr->T + 1]);
        const double *pl = tr->pred_lin + (size_t)(tr->T - 1) * stride;
        double num = 0, den = 0;
        for (size_t i = 0; i < stride; i++) {
            num += (fT[i] - pl[i]) * (fT[i] - pl[i]);
            den += fT[i] * fT[i];
        }
        m[2 * tr->T + 2] = den > 0 ? sqrt(num / den) : NAN;
    }
    OP_MPI_CHECK(MPI_Bcast(m, 2 * tr->T + 3, MPI_DOUBLE, 0, g->comm),
                 "linearized metrics");
    for (int it = 0; it < tr->T; it++) {
        tr->lin_mse[it] = m[2 * it];
        tr->lin_acc[it] = m[2 * it + 1];
    }
    tr->net_mse = m[2 * tr->T];
    tr->net_acc = m[2 * tr->T + 1];
    tr->gap = m[2 * tr->T + 2];
    return OP_OK;
}

/* Width w's network trained with the job's [train] recipe (op_entk_write's
 * contract): the drift of its NTK and, with a test set, its linearization
 * beside it. */
static op_status train_width(const op_job *job, const op_kernel_cfg *kc,
                             const op_pkernel_grid *g,
                             const op_dataset *train, const op_dataset *test,
                             int w, trained *tr)
{
    double *drift = &tr->drift;
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
        s = op_entk_build_prec(g, &shape, train->x, train->n,
                               kc->empirical_precision, &T0);
        if (s == OP_OK) {
            op_net_params_load(&shape, pT);
            s = op_entk_build_prec(g, &shape, train->x, train->n,
                                   kc->empirical_precision, &TT);
            if (s == OP_OK) {
                *drift = op_entk_rel_diff(g, &TT, &T0);
                op_pmatrix_free(&TT);
            }
            op_pmatrix_free(&T0);
        }
        /* the kernel's times, then the training's own */
        tr->T = kc->n_time + 1;
        memcpy(tr->time, kc->time, sizeof(double) * kc->n_time);
        int epochs = res.row.epochs;
        OP_MPI_CHECK(MPI_Bcast(&epochs, 1, MPI_INT, 0, g->comm), "epochs");
        /* stored in the job's time convention, like metrics_time's */
        double tt = training_time(&cfg.train, train->n, epochs);
        tr->time[kc->n_time] = kc->time_convention == OP_TIME_NEURAL_TANGENTS
                                   ? tt * train->k
                                   : tt;
        if (s == OP_OK && test && test->n > 0)
            s = linearized(kc, &cfg, g, &shape, p0, pT, train, test, tr);
    }
    op_net_free(&shape);
    free(p0);
    free(pT);
    return s;
}

/* A float64 dataset [dims] of the group, written by rank 0 (the others
 * join the collective write with empty selections). */
static void write_array(hid_t grp, const char *name, const double *v,
                        int ndim, const hsize_t *dims, int rank)
{
    const char *what = "writing the empirical NTK results";
    hid_t fs = H5Screate_simple(ndim, dims, NULL);
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
    int ne = kc->n_empirical, n = train->n, d = train->d, k = train->k;
    int nt = test ? test->n : 0;
    double err[OP_LIST_MAX];
    trained *tr = OP_XCALLOC((size_t)ne + 1, sizeof(trained));
    const char *what = "writing the empirical NTK results";
    hid_t grp = H5Gopen2(file, path, H5P_DEFAULT);
    OP_H5_CHECK(grp, what);
    op_status s = OP_OK;
    op_net net = {0};
    for (int i = 0; i < ne && s == OP_OK; i++) {
        int w = kc->empirical_widths[i];
        err[i] = tr[i].drift = tr[i].gap = NAN;
        double t0 = MPI_Wtime();
        op_model_cfg m = kernel_model(kc, w);
        op_kernel_spec spec;
        s = op_kernel_spec_init(&spec, kc, kc->depth, w, d);
        if (s == OP_OK)
            s = op_net_setup(&net, &m, d, k, 8, n < 256 ? n : 256, 0);
        s = agree(g, s);
        if (s != OP_OK)
            break;
        op_rng r;
        op_rng_derive(&r, job->base.seed, OP_STREAM_KERNEL,
                      (uint64_t)kc->depth, (uint64_t)w);
        op_net_init_params(&net, &r);
        op_pmatrix T, K;
        s = op_entk_build_prec(g, &net, train->x, n,
                               kc->empirical_precision, &T);
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
            s = train_width(job, kc, g, train, test, w, &tr[i]);
        if (g->rank == 0) {
            fprintf(stderr, "[overparam] %s: empirical NTK width %d: "
                    "relative error %.4g (%.1fs)", path, w, err[i], t_emp);
            if (kc->empirical_train)
                fprintf(stderr, ", drift after training %.4g, test mse "
                        "net %.4g vs linearized %.4g (t = %.4g; |f - f_lin| "
                        "/ |f| = %.3g)", tr[i].drift, tr[i].net_mse,
                        tr[i].lin_mse[tr[i].T - 1], tr[i].time[tr[i].T - 1],
                        tr[i].gap);
            fprintf(stderr, "\n");
        }
    }
    op_net_free(&net);
    if (s == OP_OK) {
        hsize_t d1 = (hsize_t)ne;
        write_array(grp, "empirical_ntk_rel_error", err, 1, &d1, g->rank);
        if (kc->empirical_train) {
            double v[OP_LIST_MAX];
            for (int i = 0; i < ne; i++)
                v[i] = tr[i].drift;
            write_array(grp, "empirical_ntk_drift", v, 1, &d1, g->rank);
        }
        if (kc->empirical_train && nt > 0) {
            int T = tr[0].T;
            size_t st = (size_t)nt * k;
            double *buf = OP_XCALLOC((size_t)ne * T * st + 1, sizeof(double));
            hsize_t d2[2] = {(hsize_t)ne, (hsize_t)T};
#define ROWS(field, len)                                                      \
    for (int i = 0; i < ne; i++)                                              \
        for (int j = 0; j < (len); j++)                                       \
            buf[(size_t)i * (len) + j] = tr[i].field;
            ROWS(time[j], T)
            write_array(grp, "empirical_lin_time", buf, 2, d2, g->rank);
            ROWS(lin_mse[j], T)
            write_array(grp, "empirical_lin_mse", buf, 2, d2, g->rank);
            ROWS(lin_acc[j], T)
            write_array(grp, "empirical_lin_acc", buf, 2, d2, g->rank);
            ROWS(net_mse, 1)
            write_array(grp, "empirical_net_mse", buf, 1, &d1, g->rank);
            ROWS(net_acc, 1)
            write_array(grp, "empirical_net_acc", buf, 1, &d1, g->rank);
            ROWS(gap, 1)
            write_array(grp, "empirical_lin_net_gap", buf, 1, &d1, g->rank);
#undef ROWS
            if (g->rank == 0)
                for (int i = 0; i < ne; i++)
                    memcpy(buf + (size_t)i * T * st, tr[i].pred_lin,
                           sizeof(double) * T * st);
            hsize_t d4[4] = {(hsize_t)ne, (hsize_t)T, (hsize_t)nt,
                             (hsize_t)k};
            write_array(grp, "empirical_pred_lin", buf, 4, d4, g->rank);
            if (g->rank == 0)
                for (int i = 0; i < ne; i++)
                    memcpy(buf + (size_t)i * st, tr[i].pred_net,
                           sizeof(double) * st);
            hsize_t d3[3] = {(hsize_t)ne, (hsize_t)nt, (hsize_t)k};
            write_array(grp, "empirical_pred_net", buf, 3, d3, g->rank);
            free(buf);
        }
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
        op_h5_attr_string(grp, "empirical_precision",
                          kc->empirical_precision == 4 ? "float32"
                                                       : "float64");
    }
    for (int i = 0; i < ne; i++) {
        free(tr[i].pred_lin);
        free(tr[i].pred_net);
    }
    free(tr);
    OP_H5_CHECK(H5Gclose(grp), what);
    return s;
}
