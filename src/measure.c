/* measure.c — measurements taken during training ([measure] section): their
 * layout fields and the math on plain arrays (see measure.h). */
#include "overparam/measure.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/result.h"

double op_measure_spectral_norm(const double *a, int rows, int cols,
                                int iters, double *work)
{
    double *v = work, *u = work + cols;
    /* A fixed, dense start vector: deterministic and not orthogonal to the
     * top singular vector except on a measure-zero set. */
    for (int j = 0; j < cols; j++)
        v[j] = 1.0 + 0.01 * (double)(j % 7);
    double sigma = 0, prev = -1;
    for (int it = 0; it < iters; it++) {
        double nv = cblas_dnrm2(cols, v, 1);
        if (nv == 0)
            return 0;
        cblas_dscal(cols, 1.0 / nv, v, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0, a, cols, v,
                    1, 0.0, u, 1);
        sigma = cblas_dnrm2(rows, u, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, rows, cols, 1.0, a, cols, u, 1,
                    0.0, v, 1);
        if (fabs(sigma - prev) <= 1e-10 * sigma)
            break;
        prev = sigma;
    }
    return sigma;
}

void op_measure_freq_error(const double *h, const double *f, int n,
                           const int *idx, int nk, double *delta)
{
    for (int j = 0; j < nk; j++) {
        double hr = 0, hi = 0, fr = 0, fi = 0;
        for (int i = 0; i < n; i++) {
            double ang = -2.0 * M_PI * (double)idx[j] * (double)i / (double)n;
            double c = cos(ang), s = sin(ang);
            hr += h[i] * c;
            hi += h[i] * s;
            fr += f[i] * c;
            fi += f[i] * s;
        }
        double den = hypot(fr, fi);
        delta[j] = den > 0 ? hypot(hr - fr, hi - fi) / den : NAN;
    }
}

int op_measure_freq_index(double omega, double period)
{
    return (int)lround(omega * period / (2.0 * M_PI));
}

int op_measure_normalize_rows(double *dirs, int m, int dim)
{
    int active = 0;
    for (int i = 0; i < m; i++) {
        double nr = cblas_dnrm2(dim, dirs + (size_t)i * dim, 1);
        if (nr > 1e-12 * (double)dim) {
            cblas_dscal(dim, 1.0 / nr, dirs + (size_t)i * dim, 1);
            active++;
        } else {
            memset(dirs + (size_t)i * dim, 0, sizeof(double) * (size_t)dim);
        }
    }
    return active;
}

static int cmp_int_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

int op_measure_clusters(const double *dirs, int m, int dim, double angle,
                        double fraction, int *assign, int *count,
                        double *mean_abs_cos)
{
    double cmin = cos(angle);
    int n_clusters = 0, active = 0;
    int *seed = count; /* during the pass count[c] holds cluster c's seed */
    for (int i = 0; i < m; i++) {
        const double *di = dirs + (size_t)i * dim;
        if (cblas_dnrm2(dim, di, 1) == 0) {
            assign[i] = -1; /* dead neuron */
            continue;
        }
        active++;
        int c = -1;
        for (int j = 0; j < n_clusters && c < 0; j++)
            if (cblas_ddot(dim, di, 1, dirs + (size_t)seed[j] * dim, 1) >=
                cmin)
                c = j;
        if (c < 0) {
            c = n_clusters++;
            seed[c] = i;
        }
        assign[i] = c;
    }
    for (int c = 0; c < n_clusters; c++)
        count[c] = 0;
    for (int i = 0; i < m; i++)
        if (assign[i] >= 0)
            count[assign[i]]++;
    qsort(count, (size_t)n_clusters, sizeof(int), cmp_int_desc);
    int need = 0;
    long held = 0;
    while (need < n_clusters && (double)held < fraction * (double)active)
        held += count[need++];
    if (mean_abs_cos) {
        double sum = 0;
        long pairs = 0;
        int step = m > 2048 ? m / 2048 : 1; /* sample large layers */
        for (int i = 0; i < m; i += step)
            for (int j = i + step; j < m; j += step) {
                if (assign[i] < 0 || assign[j] < 0)
                    continue;
                sum += fabs(cblas_ddot(dim, dirs + (size_t)i * dim, 1,
                                       dirs + (size_t)j * dim, 1));
                pairs++;
            }
        *mean_abs_cos = pairs ? sum / (double)pairs : NAN;
    }
    return need;
}

void op_measure_filter_matrix(const double *x, int n, int d, double delta,
                              double *g)
{
    /* |xi - xj|^2 = |xi|^2 + |xj|^2 - 2 xi.xj through one GEMM */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, 1.0, x, d,
                x, d, 0.0, g, n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double dist = g[(size_t)i * n + i] + g[(size_t)j * n + j] -
                          2.0 * g[(size_t)i * n + j];
            double v = exp(-fmax(dist, 0) / (2.0 * delta * delta));
            g[(size_t)i * n + j] = g[(size_t)j * n + i] = v;
        }
    for (int i = 0; i < n; i++)
        g[(size_t)i * n + i] = 1.0;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += g[(size_t)i * n + j];
        cblas_dscal(n, 1.0 / s, g + (size_t)i * n, 1);
    }
}

void op_measure_filter_error(const double *g, const double *y,
                             const double *h, int n, int k, double *work,
                             double *e_low, double *e_high)
{
    /* work: 2*n*k. ylow = G y, hlow = G h; errors of the low parts and of
     * the remainders. */
    double *yl = work, *hl = work + (size_t)n * k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0, g, n,
                y, k, 0.0, yl, k);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0, g, n,
                h, k, 0.0, hl, k);
    double dl = 0, nl = 0, dh = 0, nh = 0;
    for (long i = 0; i < (long)n * k; i++) {
        double yh = y[i] - yl[i], hh = h[i] - hl[i];
        dl += (yl[i] - hl[i]) * (yl[i] - hl[i]);
        nl += yl[i] * yl[i];
        dh += (yh - hh) * (yh - hh);
        nh += yh * yh;
    }
    *e_low = nl > 0 ? sqrt(dl / nl) : NAN;
    *e_high = nh > 0 ? sqrt(dh / nh) : NAN;
}

/* Largest value a key takes over the grid (its base value when unswept). */
static double grid_max(const op_job *job, const char *name, double base)
{
    int a = op_job_axis_find(job, name);
    double m = base;
    if (a >= 0)
        for (int i = 0; i < job->axes[a].n; i++)
            m = fmax(m, job->axes[a].values[i]);
    return m;
}

op_status op_layout_measures(const op_job *job, op_layout *lay)
{
    const op_measure_cfg *m = &job->base.measure;
    int n_log = lay->n_log, ok = 0;
    int d1[1] = {n_log};
    if (m->lipschitz) {
        ok |= op_layout_add(lay, "measures", "lip_lower", "output/input", 1, d1) < 0;
        ok |= op_layout_add(lay, "measures", "lip_upper", "output/input", 1, d1) < 0;
    }
    if (m->frequency) {
        int nf = job->base.data.n_freq;
        int df[1] = {nf}, d2[2] = {n_log, nf};
        ok |= op_layout_add(lay, "measures", "freq_values", "rad/unit x", 1, df) < 0;
        ok |= op_layout_add(lay, "measures", "freq_error", "relative", 2, d2) < 0;
        ok |= op_layout_add(lay, "measures", "freq_converge_epoch", "epochs", 1, df) < 0;
    }
    if (m->filter_delta > 0) {
        ok |= op_layout_add(lay, "measures", "filter_low", "relative", 1, d1) < 0;
        ok |= op_layout_add(lay, "measures", "filter_high", "relative", 1, d1) < 0;
    }
    if (m->condensation) {
        ok |= op_layout_add(lay, "measures", "cond_rel_change", "relative", 1, d1) < 0;
        ok |= op_layout_add(lay, "measures", "cond_clusters", "clusters", 1, d1) < 0;
        ok |= op_layout_add(lay, "measures", "cond_mean_abs_cos", "cosine", 1, d1) < 0;
        /* Directions themselves only for low-dimensional inputs, where a
         * picture of them is the point (1-D data: angle of (w, b)). */
        int d_in = job->base.data.source == OP_SRC_SINES ? 1
                   : job->base.data.source == OP_SRC_FASHION_MNIST ? 784
                                                                 : job->base.data.dim;
        int dim = d_in + (job->base.model.sigma_b2 > 0);
        if (dim <= 3) {
            int dd[2] = {(int)grid_max(job, "width", job->base.model.width), dim};
            ok |= op_layout_add(lay, "measures", "cond_dirs_init", "unit vector", 2, dd) < 0;
            ok |= op_layout_add(lay, "measures", "cond_dirs_end", "unit vector", 2, dd) < 0;
        }
    }
    if (m->lazy) {
        int dl[2] = {n_log, (int)grid_max(job, "depth", job->base.model.depth) + 1};
        ok |= op_layout_add(lay, "measures", "lazy_rel_change", "relative", 2, dl) < 0;
        ok |= op_layout_add(lay, "measures", "ntk_drift", "relative", 1, d1) < 0;
    }
    if (ok)
        return op_error(OP_ERR_INPUT, "%s: [measure]: more than %d per-run "
                        "datasets", job->file, OP_FIELDS_MAX);
    return OP_OK;
}
