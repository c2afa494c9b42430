/* archive_read.c — `overparam info` and `compare`: serial readers of
 * finished or live archives (see archive_read.h). Column roles, units,
 * axis labels and missing values come from the archive's own attributes
 * (schema.h), the summary's columns from schema.h's table. */
#include "overparam/archive_read.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "overparam/archive.h"
#include "overparam/h5attr.h"
#include "overparam/result.h"
#include "overparam/schema.h"

static op_status open_archive_serial(const char *path, hid_t *f)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return op_error(OP_ERR_INPUT, "%s: no such archive", path);
    op_status r = op_archive_check_regular(path);
    if (r != OP_OK)
        return r;
    *f = op_h5_open_readonly(path);
    if (*f < 0)
        return op_error(OP_ERR_INPUT, "%s: not an HDF5 file", path);
    op_status s = op_schema_check_file(*f, path);
    if (s == OP_OK && H5Lexists(*f, "runs", H5P_DEFAULT) <= 0)
        s = op_error(OP_ERR_INPUT, "%s: dataset /runs missing", path);
    if (s != OP_OK)
        H5Fclose(*f);
    return s;
}

/* Kernel group names in natural order: a learning curve's groups
 * (ntk_d2_n500, ntk_d2_n1000, ...) by n, not by character (HDF5's name
 * index puts _n1000 before _n500). Runs of digits compare as numbers. */
static int natural_cmp(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

/* One line per kernel group: test accuracy and loss at each ridge. */
static void print_kernel(hid_t kernels, const char *name, FILE *out)
{
    char path[160];
    snprintf(path, sizeof path, "%s/metrics_ridge", name);
    hid_t d = -1;
    H5E_BEGIN_TRY { d = H5Dopen2(kernels, path, H5P_DEFAULT); }
    H5E_END_TRY;
    fprintf(out, "  %-20s", name);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        double ridge[OP_LIST_MAX], acc[OP_LIST_MAX], mse[OP_LIST_MAX];
        if (n > 0 && n <= OP_LIST_MAX && !op_h5_read_member(d, "ridge", ridge) &&
            !op_h5_read_member(d, "acc", acc) && !op_h5_read_member(d, "mse", mse))
            for (hssize_t j = 0; j < n; j++)
                fprintf(out, " ridge %g: acc %.4g loss %.4g;", ridge[j],
                        acc[j], mse[j]);
        H5Dclose(d);
    }
    fprintf(out, "\n");
}

op_status op_archive_info(const char *path, FILE *out)
{
    hid_t f;
    op_status s = open_archive_serial(path, &f);
    if (s != OP_OK)
        return s;
    char *job_file = op_h5_attr_read_string(f, "job_file");
    char *ver = op_h5_attr_read_string(f, "program_version");
    char *rev = op_h5_attr_read_string(f, "git_revision");
    char *t0 = op_h5_attr_read_string(f, "start_time");
    char *t1 = op_h5_attr_read_string(f, "end_time");
    long long size = op_h5_attr_read_long(f, "mpi_size", -1);
    hid_t d = H5Dopen2(f, "runs", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    fprintf(out, "archive   %s (format %d, overparam %s, rev %s)\n", path,
            OP_FORMAT_VERSION, ver ? ver : "?", rev ? rev : "?");
    fprintf(out, "job       %s: %llu runs, last on %lld ranks, %s -> %s\n",
            job_file ? job_file : "?", (unsigned long long)n, size,
            t0 ? t0 : "?", t1 ? t1 : "?");
    /* The columns as the file declares them (schema.h): configuration
     * columns group the rows, the replicate (seed) is averaged over, and
     * a column's missing value (fit_epoch -1: never fitted) is counted
     * apart. */
    hid_t ft = H5Dget_type(d);
    int nm = H5Tget_nmembers(ft);
    char *names[OP_RUNS_COLS_MAX];
    int nc = 0;
    for (int i = 0; i < nm && nc < OP_RUNS_COLS_MAX; i++)
        names[nc++] = H5Tget_member_name(ft, (unsigned)i);
    H5Tclose(ft);
    int n_roles = 0, n_axes = 0, n_miss = 0;
    char **roles = op_h5_attr_read_strings(d, "column_roles", &n_roles);
    char **axes = op_h5_attr_read_strings(d, "column_axes", &n_axes);
    double *missing = op_h5_attr_read_doubles(d, "column_missing", &n_miss);
    int grp[OP_RUNS_COLS_MAX] = {0};
    int ist = -1;
    for (int i = 0; i < nc; i++) {
        const char *r = i < n_roles ? roles[i] : "";
        grp[i] = !strcmp(r, "config");
        if (!strcmp(r, "status"))
            ist = i;
    }
    double *col = OP_XMALLOC(sizeof(double) * (size_t)(n ? n : 1) *
                             (size_t)nc);
    for (int i = 0; i < nc; i++)
        op_h5_read_member(d, names[i], col + (size_t)i * n);
    long counts[4] = {0, 0, 0, 0};
    for (hsize_t r = 0; r < n; r++) {
        int st = ist >= 0 ? (int)col[(size_t)ist * n + r] : 0;
        if (st >= 0 && st < 4)
            counts[st]++;
    }
    /* A kernel-only job's placeholder run (epochs = 0: nothing trained)
     * is not a result: hidden here as in analysis.loader. */
    int iep = -1;
    for (int i = 0; i < nc; i++)
        if (!strcmp(names[i], "epochs"))
            iep = i;
    long placeholders = 0;
    unsigned char *used = OP_XCALLOC((size_t)n + 1, 1);
    for (hsize_t r = 0; r < n; r++)
        if (iep >= 0 && col[(size_t)iep * n + r] == 0 && ist >= 0 &&
            col[(size_t)ist * n + r] == OP_RUN_DONE) {
            used[r] = 1;
            placeholders++;
        }
    if (placeholders) {
        counts[1] -= placeholders;
        fprintf(out, "runs      %ld kernel-only placeholder run%s (epochs = 0) "
                "hidden\n", placeholders, placeholders > 1 ? "s" : "");
    }
    fprintf(out, "status    done %ld, diverged %ld, failed %ld, pending %ld\n",
            counts[1], counts[2], counts[3], counts[0]);
    /* Named axes (corruption, parameterization ...) print their labels from
     * the "labels" of the column's /grid axis, never the stored codes. */
    char **labels[OP_RUNS_COLS_MAX] = {0};
    double *codes[OP_RUNS_COLS_MAX] = {0};
    int nlab[OP_RUNS_COLS_MAX] = {0};
    for (int i = 0; i < nc; i++) {
        if (!grp[i] || i >= n_axes || !axes[i][0])
            continue;
        char gp[256];
        snprintf(gp, sizeof gp, "grid/%s", axes[i]);
        if (H5Lexists(f, "grid", H5P_DEFAULT) <= 0 ||
            H5Lexists(f, gp, H5P_DEFAULT) <= 0)
            continue;
        hid_t gd = H5Dopen2(f, gp, H5P_DEFAULT);
        if (gd < 0)
            continue;
        int nl = 0;
        char **lab = op_h5_attr_read_strings(gd, "labels", &nl);
        hid_t gs = H5Dget_space(gd);
        hssize_t nv = H5Sget_simple_extent_npoints(gs);
        H5Sclose(gs);
        if (lab && nv == nl && nv > 0) {
            codes[i] = OP_XMALLOC(sizeof(double) * (size_t)nv);
            if (H5Dread(gd, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        codes[i]) >= 0) {
                labels[i] = lab;
                nlab[i] = nl;
                lab = NULL;
            }
        }
        free(lab);
        H5Dclose(gd);
    }
    /* Group rows by configuration (seed excluded): mean and sample standard
     * deviation (n - 1) over seeds, as analysis.loader and the report;
     * a column's missing value (fit_epoch: never fitted) is counted apart.
     * The columns shown and their order: schema.h's summary flags. */
    const char *shown[OP_RUNS_COLS_MAX];
    int idx_shown[OP_RUNS_COLS_MAX];
    int n_shown = op_runs_summary(shown, OP_RUNS_COLS_MAX);
    int imiss = -1;
    for (int k = 0; k < n_shown; k++) {
        idx_shown[k] = -1;
        for (int i = 0; i < nc; i++)
            if (!strcmp(names[i], shown[k]))
                idx_shown[k] = i;
        if (idx_shown[k] >= 0 && idx_shown[k] < n_miss &&
            !isnan(missing[idx_shown[k]]))
            imiss = k;
    }
    fprintf(out, "\n");
    for (int i = 0; i < nc; i++)
        if (grp[i])
            fprintf(out, "%12s ", names[i]);
    fprintf(out, "%6s %6s", "seeds", "done");
    for (int k = 0; k < n_shown; k++)
        fprintf(out, " %16s", shown[k]);
    fprintf(out, " %6s\n", "unfit");
    int printed = 0;
    for (hsize_t r = 0; r < n && printed < 200; r++) {
        if (used[r])
            continue;
        double sum[OP_RUNS_COLS_MAX] = {0}, sq[OP_RUNS_COLS_MAX] = {0};
        int cnt = 0, ndone = 0, nk[OP_RUNS_COLS_MAX] = {0}, never = 0;
        for (hsize_t q = r; q < n; q++) {
            int same = !used[q];
            for (int i = 0; i < nc && same; i++)
                if (grp[i])
                    same = col[(size_t)i * n + q] == col[(size_t)i * n + r];
            if (!same)
                continue;
            used[q] = 1;
            cnt++;
            if (ist >= 0 && col[(size_t)ist * n + q] != OP_RUN_DONE)
                continue;
            ndone++;
            for (int k = 0; k < n_shown; k++) {
                double v = idx_shown[k] >= 0
                               ? col[(size_t)idx_shown[k] * n + q] : NAN;
                if (k == imiss && v == missing[idx_shown[k]]) {
                    never++;
                    continue;
                }
                if (!isfinite(v))
                    continue;
                sum[k] += v;
                sq[k] += v * v;
                nk[k]++;
            }
        }
        for (int i = 0; i < nc; i++) {
            if (!grp[i])
                continue;
            double v = col[(size_t)i * n + r];
            const char *lab = NULL;
            int len = 0;
            for (int j = 0; labels[i] && j < nlab[i]; j++)
                if (codes[i][j] == v) {
                    lab = labels[i][j];
                    len = (int)strlen(lab);
                }
            if (lab)
                fprintf(out, "%12.*s ", len, lab);
            else
                fprintf(out, "%12.6g ", v);
        }
        fprintf(out, "%6d %6d", cnt, ndone);
        for (int k = 0; k < n_shown; k++) {
            if (nk[k] == 0) {
                fprintf(out, " %16s", "-");
                continue;
            }
            double m = sum[k] / nk[k];
            double sd = nk[k] > 1
                            ? sqrt(fmax(0, (sq[k] - nk[k] * m * m) / (nk[k] - 1)))
                            : 0;
            char b[64];
            if (nk[k] > 1 && sd > 0)
                snprintf(b, sizeof b, "%.4g±%.2g", m, sd);
            else
                snprintf(b, sizeof b, "%.4g", m);
            fprintf(out, " %16s", b);
        }
        fprintf(out, " %6d\n", never);
        printed++;
    }
    for (int i = 0; i < OP_RUNS_COLS_MAX; i++) {
        free(labels[i]);
        free(codes[i]);
    }
    free(roles);
    free(axes);
    free(missing);
    if (printed == 200)
        fprintf(out, "... (first 200 configurations shown)\n");
    /* Kernels, if any: test accuracy per ridge, the limit of the nets. */
    if (H5Lexists(f, "kernels", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "kernels", H5P_DEFAULT);
        H5G_info_t gi;
        if (g >= 0 && H5Gget_info(g, &gi) >= 0 && gi.nlinks > 0) {
            fprintf(out, "\nkernels   %llu in /kernels\n",
                    (unsigned long long)gi.nlinks);
            char **kn = calloc(gi.nlinks, sizeof *kn);
            hsize_t nk = 0;
            for (hsize_t i = 0; kn && i < gi.nlinks; i++) {
                char name[128];
                if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i,
                                       name, sizeof name, H5P_DEFAULT) >= 0 &&
                    (kn[nk] = strdup(name)) != NULL)
                    nk++;
            }
            if (kn)
                qsort(kn, nk, sizeof *kn, natural_cmp);
            for (hsize_t i = 0; i < nk; i++) {
                print_kernel(g, kn[i], out);
                free(kn[i]);
            }
            free(kn);
        }
        if (g >= 0)
            H5Gclose(g);
    }
    free(used);
    free(col);
    for (int i = 0; i < nc; i++)
        H5free_memory(names[i]);
    H5Dclose(d);
    H5Fclose(f);
    free(job_file);
    free(ver);
    free(rev);
    free(t0);
    free(t1);
    return OP_OK;
}

typedef struct {
    hid_t b;
    double ktol;
    FILE *out;
    long n_diff;
    long n_checked;
} compare_state;

static int same_value(double x, double y, double tol, double scale)
{
    if (x == y) /* also equal infinities */
        return 1;
    if (isnan(x) || isnan(y))
        return isnan(x) && isnan(y);
    return tol > 0 ? fabs(x - y) <= tol * scale : x == y;
}

static void compare_arrays(compare_state *cs, const char *what,
                           const double *x, const double *y, hsize_t n,
                           double tol)
{
    double scale = 0;
    for (hsize_t i = 0; i < n; i++)
        if (isfinite(x[i]) && fabs(x[i]) > scale)
            scale = fabs(x[i]);
    long shown = 0;
    for (hsize_t i = 0; i < n; i++) {
        cs->n_checked++;
        if (!same_value(x[i], y[i], tol, scale)) {
            if (shown++ < 3)
                fprintf(cs->out, "differs: %s[%llu]: %.17g vs %.17g\n", what,
                        (unsigned long long)i, x[i], y[i]);
            cs->n_diff++;
        }
    }
}

static herr_t compare_visit(hid_t a, const char *name, const H5O_info_t *info,
                            void *data)
{
    compare_state *cs = data;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    double tol = !strncmp(name, "kernels/", 8) ? cs->ktol : 0;
    hid_t da = H5Dopen2(a, name, H5P_DEFAULT);
    /* Timings and worker ranks are not results: the file's roles
     * (schema.h) name them. */
    char *role = op_h5_attr_read_string(da, "role");
    int timing = role && !strcmp(role, "timing");
    free(role);
    if (timing) {
        H5Dclose(da);
        return 0;
    }
    hid_t db = -1;
    H5E_BEGIN_TRY { db = H5Dopen2(cs->b, name, H5P_DEFAULT); }
    H5E_END_TRY;
    if (db < 0) {
        fprintf(cs->out, "differs: %s missing in the second archive\n", name);
        cs->n_diff++;
        H5Dclose(da);
        return 0;
    }
    hid_t sa = H5Dget_space(da), sb = H5Dget_space(db);
    hssize_t na = H5Sget_simple_extent_npoints(sa);
    hssize_t nb = H5Sget_simple_extent_npoints(sb);
    hid_t ta = H5Dget_type(da);
    H5T_class_t cls = H5Tget_class(ta);
    if (na != nb) {
        fprintf(cs->out, "differs: %s has %lld vs %lld elements\n", name,
                (long long)na, (long long)nb);
        cs->n_diff++;
    } else if (na > 0 && cls == H5T_COMPOUND) {
        double *x = OP_XMALLOC(sizeof(double) * (size_t)na);
        double *y = OP_XMALLOC(sizeof(double) * (size_t)na);
        int nm = H5Tget_nmembers(ta), nr = 0;
        char **roles = op_h5_attr_read_strings(da, "column_roles", &nr);
        for (int i = 0; i < nm; i++) {
            char *m = H5Tget_member_name(ta, (unsigned)i);
            const char *r = i < nr ? roles[i] : "";
            if (strcmp(r, "timing") && strcmp(r, "worker")) {
                char what[256];
                snprintf(what, sizeof what, "%s.%s", name, m);
                if (op_h5_read_member(da, m, x) || op_h5_read_member(db, m, y)) {
                    fprintf(cs->out, "differs: %s missing\n", what);
                    cs->n_diff++;
                } else {
                    compare_arrays(cs, what, x, y, (hsize_t)na, tol);
                }
            }
            H5free_memory(m);
        }
        free(roles);
        free(x);
        free(y);
    } else if (na > 0 && (cls == H5T_FLOAT || cls == H5T_INTEGER)) {
        double *x = OP_XMALLOC(sizeof(double) * (size_t)na);
        double *y = OP_XMALLOC(sizeof(double) * (size_t)na);
        if (H5Dread(da, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) <
                0 ||
            H5Dread(db, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) <
                0) {
            fprintf(cs->out, "differs: %s unreadable\n", name);
            cs->n_diff++;
        } else {
            compare_arrays(cs, name, x, y, (hsize_t)na, tol);
        }
        free(x);
        free(y);
    }
    H5Tclose(ta);
    H5Sclose(sa);
    H5Sclose(sb);
    H5Dclose(da);
    H5Dclose(db);
    return 0;
}

op_status op_archive_compare(const char *a, const char *b, double ktol,
                             FILE *out, long *n_diff)
{
    hid_t fa, fb;
    op_status s = open_archive_serial(a, &fa);
    if (s != OP_OK)
        return s;
    s = open_archive_serial(b, &fb);
    if (s != OP_OK) {
        H5Fclose(fa);
        return s;
    }
    compare_state cs = {fb, ktol, out, 0, 0};
    H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_NATIVE, compare_visit, &cs);
    /* Datasets only in b count too. */
    compare_state rev = {fa, ktol, fopen("/dev/null", "w"), 0, 0};
    H5Ovisit(fb, H5_INDEX_NAME, H5_ITER_NATIVE, compare_visit, &rev);
    if (rev.out)
        fclose(rev.out);
    if (rev.n_diff > cs.n_diff)
        cs.n_diff = rev.n_diff;
    fprintf(out, "compared %ld values: %ld differ\n", cs.n_checked, cs.n_diff);
    *n_diff = cs.n_diff;
    H5Fclose(fa);
    H5Fclose(fb);
    return OP_OK;
}
