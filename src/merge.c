/* merge.c — `overparam merge OUT A B ...`: combine the archives written by
 * the tasks of a job array into one archive (see merge.h).
 *
 * Each task of `overparam run --array I/N` writes a full-size archive of
 * the whole job in which only its own runs are finished; the rest stay
 * pending (status 0). Merging opens every input serially and checks that
 * it is an overparam archive of the same job text, then creates OUT through
 * the archive API (so OUT has exactly the layout, attributes and journal of
 * a single job's archive) and puts every finished run found in any input:
 * its /runs row and its per-run arrays from every layout field. A run
 * finished in two inputs must hold the same numbers (timings and ranks
 * aside). Kernels (/kernels/<id>) are computed by every task; they are
 * copied with H5Ocopy from the first input that has them, after the
 * archive is closed. Inputs are opened read-only and never modified. */
#include "overparam/merge.h"

#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "overparam/archive.h"
#include "overparam/h5attr.h"
#include "overparam/job.h"
#include "overparam/kphase.h"
#include "overparam/result.h"
#include "overparam/schema.h"

#define H5HINT "check the archive paths, free disk space and file locking " \
               "(HDF5_USE_FILE_LOCKING=FALSE on parallel file systems)"

/* One open input. */
typedef struct {
    const char *path;
    hid_t file;
    hid_t runs;
    hid_t fields[OP_FIELDS_MAX];
} merge_input;

static void input_close(merge_input *in, int n_fields)
{
    for (int i = 0; i < n_fields; i++)
        if (in->fields[i] >= 0)
            H5Dclose(in->fields[i]);
    if (in->runs >= 0)
        H5Dclose(in->runs);
    if (in->file >= 0)
        H5Fclose(in->file);
    in->file = in->runs = -1;
    for (int i = 0; i < n_fields; i++)
        in->fields[i] = -1;
}

/* Opens `path` read-only and checks it is an overparam archive; returns its
 * job text (malloc'ed) in *text. */
static op_status input_open(merge_input *in, const char *path, char **text)
{
    struct stat st;
    in->path = path;
    in->file = in->runs = -1;
    for (int i = 0; i < OP_FIELDS_MAX; i++)
        in->fields[i] = -1;
    *text = NULL;
    if (stat(path, &st) != 0)
        return op_error(OP_ERR_INPUT, "%s: no such archive", path);
    H5E_BEGIN_TRY
    {
        if (H5Fis_hdf5(path) > 0)
            in->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5E_END_TRY;
    if (in->file < 0)
        return op_error(OP_ERR_INPUT, "%s: not an HDF5 file", path);
    op_status s = op_schema_check_file(in->file, path);
    if (s != OP_OK) {
        input_close(in, 0);
        return s;
    }
    *text = op_h5_attr_read_string(in->file, "job_text");
    if (!*text) {
        input_close(in, 0);
        return op_error(OP_ERR_INPUT, "%s: attribute job_text missing", path);
    }
    return OP_OK;
}

/* Opens /runs and every layout field of an input and checks their shapes
 * against the job. */
static op_status input_check(merge_input *in, const op_job *job,
                             const op_layout *lay)
{
    hsize_t dims[4] = {0, 0, 0, 0};
    H5E_BEGIN_TRY
    {
        in->runs = H5Dopen2(in->file, "runs", H5P_DEFAULT);
    }
    H5E_END_TRY;
    if (in->runs < 0)
        return op_error(OP_ERR_INPUT, "%s: dataset /runs missing", in->path);
    hid_t s = H5Dget_space(in->runs);
    int nd = H5Sget_simple_extent_ndims(s);
    H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    if (nd != 1 || dims[0] != (hsize_t)job->n_runs)
        return op_error(OP_ERR_INPUT, "%s: /runs has %llu rows, the job has "
                        "%ld runs", in->path, (unsigned long long)dims[0],
                        job->n_runs);
    hid_t ft = H5Dget_type(in->runs);
    int has_status = H5Tget_member_index(ft, "status") >= 0;
    H5Tclose(ft);
    if (!has_status)
        return op_error(OP_ERR_INPUT, "%s: /runs has no status column",
                        in->path);
    for (int i = 0; i < lay->n; i++) {
        const op_field *f = &lay->f[i];
        char name[128];
        snprintf(name, sizeof name, "%s/%s", f->group, f->name);
        H5E_BEGIN_TRY
        {
            in->fields[i] = H5Dopen2(in->file, name, H5P_DEFAULT);
        }
        H5E_END_TRY;
        if (in->fields[i] < 0)
            return op_error(OP_ERR_INPUT, "%s: dataset /%s missing", in->path,
                            name);
        s = H5Dget_space(in->fields[i]);
        nd = H5Sget_simple_extent_ndims(s);
        int same = nd == f->ndim + 1 && nd <= 4;
        if (same) {
            H5Sget_simple_extent_dims(s, dims, NULL);
            same = dims[0] == (hsize_t)job->n_runs;
            for (int k = 0; k < f->ndim && same; k++)
                same = dims[k + 1] == (hsize_t)f->dims[k];
        }
        H5Sclose(s);
        if (!same)
            return op_error(OP_ERR_INPUT, "%s: dataset /%s has the wrong "
                            "shape for this job", in->path, name);
    }
    return OP_OK;
}

/* Reads every row's results (schema.h's columns; the configuration
 * columns come from the job). */
static op_status read_rows(merge_input *in, const op_runs_schema *rs,
                           long n_runs, op_row *rows)
{
    hid_t t = op_runs_type(rs);
    unsigned char *buf = OP_XMALLOC(rs->row_bytes * (size_t)(n_runs + 1));
    herr_t e;
    H5E_BEGIN_TRY
    {
        e = H5Dread(in->runs, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    H5E_END_TRY;
    H5Tclose(t);
    for (long r = 0; e >= 0 && r < n_runs; r++)
        op_runs_unpack(rs, buf + rs->row_bytes * (size_t)r, &rows[r]);
    free(buf);
    if (e < 0)
        return op_error(OP_ERR_INPUT, "%s: dataset /runs unreadable (a "
                        "column is missing)", in->path);
    return OP_OK;
}

/* Reads run `run`'s arrays from every field into `values`. */
static op_status read_arrays(merge_input *in, const op_layout *lay, long run,
                             double *values)
{
    for (int i = 0; i < lay->n; i++) {
        const op_field *f = &lay->f[i];
        hsize_t start[4] = {(hsize_t)run, 0, 0, 0};
        hsize_t count[4] = {1, 1, 1, 1}, m = (hsize_t)f->size;
        for (int k = 0; k < f->ndim; k++)
            count[k + 1] = (hsize_t)f->dims[k];
        hid_t ms = H5Screate_simple(1, &m, NULL);
        hid_t fs = H5Dget_space(in->fields[i]);
        OP_H5_CHECK(ms, "merge memory space");
        OP_H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL,
                                        count, NULL), "selecting a run");
        herr_t e = H5Dread(in->fields[i], H5T_NATIVE_DOUBLE, ms, fs,
                           H5P_DEFAULT, values + f->offset);
        H5Sclose(fs);
        H5Sclose(ms);
        if (e < 0)
            return op_error(OP_ERR_INPUT, "%s: dataset /%s/%s unreadable at "
                            "run %ld", in->path, f->group, f->name, run);
    }
    return OP_OK;
}

static int same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b;
}

/* Whether two results of the same run hold the same numbers (the row's
 * timing and worker columns are no results). */
static int same_result(const op_row *a, const op_row *b, const double *va,
                       const double *vb, long total)
{
    if (!op_runs_same_result(a, b))
        return 0;
    for (long i = 0; i < total; i++)
        if (!same_double(va[i], vb[i]))
            return 0;
    return 1;
}

static void fill_result(op_result *res, const op_layout *lay, long run,
                        const op_row *row, const double *values)
{
    op_result_reset(res, lay, run);
    res->row = *row;
    res->row.run = run;
    memcpy(res->values, values, sizeof(double) * (size_t)lay->total);
}

/* Whether the input has a non-empty /kernels group. */
static int has_kernels(hid_t file)
{
    int yes = 0;
    H5E_BEGIN_TRY
    {
        if (H5Lexists(file, "kernels", H5P_DEFAULT) > 0) {
            hid_t g = H5Gopen2(file, "kernels", H5P_DEFAULT);
            H5G_info_t gi;
            if (g >= 0 && H5Gget_info(g, &gi) >= 0 && gi.nlinks > 0)
                yes = 1;
            if (g >= 0)
                H5Gclose(g);
        }
    }
    H5E_END_TRY;
    return yes;
}

typedef struct {
    hid_t dst;
    long copied;
} copy_ctx;

static herr_t copy_kernel(hid_t group, const char *name,
                          const H5L_info_t *info, void *data)
{
    (void)info;
    copy_ctx *c = data;
    if (H5Lexists(c->dst, name, H5P_DEFAULT) > 0)
        return 0; /* already there: keep the output's */
    OP_H5_CHECK(H5Ocopy(group, name, c->dst, name, H5P_DEFAULT, H5P_DEFAULT),
                "copying a kernel group");
    c->copied++;
    return 0;
}

/* Serial: copies /kernels/<id> of input `src` into the closed archive
 * `out`. */
static op_status copy_kernels(const char *out, const char *src, FILE *log)
{
    hid_t fin = H5Fopen(src, H5F_ACC_RDONLY, H5P_DEFAULT);
    OP_H5_CHECK(fin, "reopening an input for its kernels");
    hid_t fout = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
    OP_H5_CHECK(fout, H5HINT);
    hid_t gin = H5Gopen2(fin, "kernels", H5P_DEFAULT);
    OP_H5_CHECK(gin, "opening /kernels");
    hid_t gout = -1;
    H5E_BEGIN_TRY { gout = H5Gopen2(fout, "kernels", H5P_DEFAULT); }
    H5E_END_TRY;
    if (gout < 0)
        gout = H5Gcreate2(fout, "kernels", H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    OP_H5_CHECK(gout, "opening the output's /kernels");
    copy_ctx c = {gout, 0};
    OP_H5_CHECK(H5Literate(gin, H5_INDEX_NAME, H5_ITER_NATIVE, NULL,
                            copy_kernel, &c), "listing /kernels");
    H5Gclose(gout);
    H5Gclose(gin);
    OP_H5_CHECK(H5Fclose(fout), H5HINT);
    H5Fclose(fin);
    if (log)
        fprintf(log, "merge: %ld kernel group%s copied from %s\n", c.copied,
                c.copied == 1 ? "" : "s", src);
    return OP_OK;
}

/* Rank 0: puts every finished run of every input into the open archive. */
static op_status merge_runs(op_archive *ar, const char *const *inputs, int n,
                            const op_job *job, const op_layout *lay,
                            const char *first_text, FILE *log,
                            int *kernel_src)
{
    long nr = job->n_runs;
    op_runs_schema rs;
    op_runs_build(job, &rs);
    op_row *rows = calloc((size_t)nr, sizeof *rows);
    op_row *other = calloc((size_t)nr, sizeof *other);
    int *owner = malloc(sizeof(int) * (size_t)nr);
    double *va = malloc(sizeof(double) * (size_t)(lay->total + 1));
    double *vb = malloc(sizeof(double) * (size_t)(lay->total + 1));
    op_result res = {0};
    op_status s = op_result_alloc(&res, lay);
    if (!rows || !other || !owner || !va || !vb) {
        if (s == OP_OK)
            op_result_free(&res);
        s = op_error(OP_ERR_NOMEM, "merge: no memory for %ld runs", nr);
        free(rows); free(other); free(owner); free(va); free(vb);
        return s;
    }
    for (long r = 0; r < nr; r++)
        owner[r] = -1;
    long put = 0, dup = 0;
    *kernel_src = -1;
    for (int i = 0; i < n && s == OP_OK; i++) {
        merge_input in;
        char *text = NULL;
        s = input_open(&in, inputs[i], &text);
        if (s == OP_OK && strcmp(text, first_text) != 0)
            s = op_error(OP_ERR_INPUT, "%s: attribute job_text differs from "
                         "%s: not a task of the same job", inputs[i],
                         inputs[0]);
        free(text);
        if (s == OP_OK)
            s = input_check(&in, job, lay);
        if (s == OP_OK)
            s = read_rows(&in, &rs, job->n_runs, rows);
        if (s == OP_OK && *kernel_src < 0 && has_kernels(in.file))
            *kernel_src = i;
        long mine = 0;
        for (long r = 0; r < nr && s == OP_OK; r++) {
            if (rows[r].status == OP_RUN_PENDING)
                continue;
            if (rows[r].status < 0 || rows[r].status > OP_RUN_FAILED) {
                s = op_error(OP_ERR_INPUT, "%s: dataset /runs: run %ld has "
                             "status %lld", inputs[i], r,
                             (long long)rows[r].status);
                break;
            }
            s = read_arrays(&in, lay, r, va);
            if (s != OP_OK)
                break;
            mine++;
            if (owner[r] < 0) {
                fill_result(&res, lay, r, &rows[r], va);
                s = op_archive_put(ar, &res);
                owner[r] = i;
                put++;
                continue;
            }
            /* Finished twice: both must hold the same numbers. */
            merge_input prev;
            char *ptext = NULL;
            s = input_open(&prev, inputs[owner[r]], &ptext);
            free(ptext);
            if (s == OP_OK)
                s = input_check(&prev, job, lay);
            if (s == OP_OK)
                s = read_rows(&prev, &rs, job->n_runs, other);
            if (s == OP_OK)
                s = read_arrays(&prev, lay, r, vb);
            input_close(&prev, lay->n);
            if (s == OP_OK && !same_result(&other[r], &rows[r], vb, va,
                                           lay->total))
                s = op_error(OP_ERR_INPUT, "%s: dataset /runs: run %ld is "
                             "finished in %s too, with different numbers",
                             inputs[i], r, inputs[owner[r]]);
            dup++;
        }
        input_close(&in, lay->n);
        if (s == OP_OK && log)
            fprintf(log, "merge: %s: %ld finished runs\n", inputs[i], mine);
    }
    if (s == OP_OK && log) {
        fprintf(log, "merge: %ld of %ld runs finished", put, nr);
        if (dup)
            fprintf(log, " (%ld found in two inputs, identical)", dup);
        if (put < nr)
            fprintf(log, "; %ld still pending (resume the output to finish "
                    "them)", nr - put);
        fprintf(log, "\n");
    }
    op_result_free(&res);
    free(rows); free(other); free(owner); free(va); free(vb);
    return s;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, b))
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

op_status op_merge(const char *out, const char *const *inputs, int n,
                   int force, FILE *log)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (n < 1)
        return op_error(OP_ERR_INPUT, "merge: no input archives");
    for (int i = 0; i < n; i++)
        if (same_file(out, inputs[i]))
            return op_error(OP_ERR_INPUT, "%s: the output is also an input",
                            out);
    /* Every rank reads the first input's job text, so all agree on the
     * job before the collective open. */
    merge_input first;
    char *text = NULL;
    op_status s = input_open(&first, inputs[0], &text);
    if (s != OP_OK)
        return s;
    char *job_file = op_h5_attr_read_string(first.file, "job_file");
    input_close(&first, 0);
    op_job job;
    s = op_job_load_string(&job, job_file ? job_file : inputs[0], text);
    free(job_file);
    if (s != OP_OK) {
        free(text);
        return op_error(OP_ERR_INPUT, "%s: attribute job_text: %s", inputs[0],
                        op_error_message());
    }
    op_layout lay;
    s = op_layout_build(&job, &lay);
    if (s != OP_OK) {
        op_job_free(&job);
        free(text);
        return s;
    }
    /* Check every input before creating anything. */
    for (int i = 0; i < n && s == OP_OK; i++) {
        merge_input in;
        char *t = NULL;
        s = input_open(&in, inputs[i], &t);
        if (s == OP_OK && strcmp(t, text) != 0)
            s = op_error(OP_ERR_INPUT, "%s: attribute job_text differs from "
                         "%s: not a task of the same job", inputs[i],
                         inputs[0]);
        if (s == OP_OK)
            s = input_check(&in, &job, &lay);
        free(t);
        input_close(&in, lay.n);
    }
    unsigned char *done = NULL;
    op_archive *ar = NULL;
    if (s == OP_OK) {
        done = OP_XCALLOC((size_t)job.n_runs + 1, 1);
        s = op_archive_open(&ar, out, &job, &lay, MPI_COMM_WORLD,
                            force ? OP_ARCHIVE_FORCE : OP_ARCHIVE_CREATE,
                            done, NULL, 0);
    }
    int kernel_src = -1;
    if (s == OP_OK) {
        if (rank == 0)
            s = merge_runs(ar, inputs, n, &job, &lay, text, log, &kernel_src);
        int st = s;
        OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD),
                     "merge status");
        OP_MPI_CHECK(MPI_Bcast(&kernel_src, 1, MPI_INT, 0, MPI_COMM_WORLD),
                     "merge kernels");
        if (rank != 0 && st != OP_OK)
            s = op_error((op_status)st, "merge failed on rank 0");
        op_status c = op_archive_close(ar);
        if (s == OP_OK)
            s = c;
        /* A half-merged archive would read as a finished job with pending
         * runs: remove it (the inputs are untouched). */
        if (s != OP_OK && rank == 0) {
            char jpath[OP_PATH_MAX + 16];
            snprintf(jpath, sizeof jpath, "%s.journal", out);
            remove(out);
            remove(jpath);
        }
    }
    if (s == OP_OK && kernel_src >= 0 && rank == 0)
        s = copy_kernels(out, inputs[kernel_src], log);
    if (s == OP_OK && log && rank == 0)
        fprintf(log, "merge: wrote %s from %d archive%s\n", out, n,
                n == 1 ? "" : "s");
    free(done);
    op_job_free(&job);
    free(text);
    return s;
}

/* ---- extending a finished sweep (run --resume with a grown [grid]) ----
 * The archive's datasets are sized by its job's run count and indexed by
 * run, so added grid points cannot be appended in place: the finished runs
 * move, through the archive API like a merge, into a new archive of the
 * new job at their new indices; kernels of an unchanged [kernel] section
 * are copied and journaled as done. The old archive is renamed, never
 * modified, so a kill at any point loses nothing: before the last renames
 * the old archive is still in place and the next --resume starts over. */

static int same_layout(const op_layout *a, const op_layout *b, char *which,
                       size_t len)
{
    if (a->n_log != b->n_log) {
        snprintf(which, len, "the curves (%d -> %d logged points)", a->n_log,
                 b->n_log);
        return 0;
    }
    for (int i = 0; i < a->n && i < b->n; i++) {
        const op_field *x = &a->f[i], *y = &b->f[i];
        int same = !strcmp(x->group, y->group) && !strcmp(x->name, y->name) &&
                   x->ndim == y->ndim && x->offset == y->offset;
        for (int k = 0; k < x->ndim && same; k++)
            same = x->dims[k] == y->dims[k];
        if (!same) {
            snprintf(which, len, "/%s/%s", x->group, x->name);
            return 0;
        }
    }
    if (a->n != b->n || a->total != b->total) {
        snprintf(which, len, "the per-run arrays (%d -> %d fields)", a->n,
                 b->n);
        return 0;
    }
    return 1;
}

/* Rank 0 (MPI_COMM_SELF): puts old run r at map[r] in the open archive. */
static op_status extend_runs(op_archive *ar, const char *path,
                             const op_job *old, const op_layout *lay,
                             const long *map, long *kept)
{
    merge_input in;
    char *text = NULL;
    op_status s = input_open(&in, path, &text);
    free(text);
    if (s != OP_OK)
        return s;
    op_runs_schema rs;
    op_runs_build(old, &rs);
    op_row *rows = calloc((size_t)old->n_runs, sizeof *rows);
    double *va = malloc(sizeof(double) * (size_t)(lay->total + 1));
    op_result res = {0};
    if (!rows || !va) {
        free(rows);
        free(va);
        input_close(&in, 0);
        return op_error(OP_ERR_NOMEM, "extend: no memory for %ld runs",
                        old->n_runs);
    }
    s = op_result_alloc(&res, lay);
    if (s == OP_OK)
        s = input_check(&in, old, lay);
    if (s == OP_OK)
        s = read_rows(&in, &rs, old->n_runs, rows);
    *kept = 0;
    for (long r = 0; r < old->n_runs && s == OP_OK; r++) {
        if (rows[r].status == OP_RUN_PENDING)
            continue;
        s = read_arrays(&in, lay, r, va);
        if (s != OP_OK)
            break;
        fill_result(&res, lay, map[r], &rows[r], va);
        s = op_archive_put(ar, &res);
        (*kept)++;
    }
    if (res.values)
        op_result_free(&res);
    free(rows);
    free(va);
    input_close(&in, lay->n);
    return s;
}

static op_status rename_pair(const char *from, const char *to)
{
    char jf[OP_PATH_MAX + 64], jt[OP_PATH_MAX + 64];
    snprintf(jf, sizeof jf, "%s.journal", from);
    snprintf(jt, sizeof jt, "%s.journal", to);
    if (rename(from, to) != 0)
        return op_error(OP_ERR_IO, "extend: cannot rename %s to %s", from,
                        to);
    struct stat st;
    if (stat(jf, &st) == 0 && rename(jf, jt) != 0)
        return op_error(OP_ERR_IO, "extend: cannot rename %s to %s", jf, jt);
    return OP_OK;
}

op_status op_merge_extend(const char *path, const op_job *job, FILE *log,
                          long *kept)
{
    *kept = -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return OP_OK;
    /* Anything but a readable archive of another job text is the archive
     * layer's to report when it opens the file. */
    merge_input in;
    char *text = NULL;
    if (input_open(&in, path, &text) != OP_OK)
        return OP_OK;
    char *job_file = op_h5_attr_read_string(in.file, "job_file");
    input_close(&in, 0);
    int same = !strcmp(text, job->text);
    op_job old;
    op_status s = same ? OP_ERR_INPUT
                       : op_job_load_string(&old, job_file ? job_file : path,
                                            text);
    free(job_file);
    free(text);
    if (s != OP_OK)
        return OP_OK;
    long *map = malloc(sizeof(long) * (size_t)old.n_runs);
    op_layout olay, nlay;
    s = map ? op_job_extension_map(&old, job, path, map)
            : op_error(OP_ERR_NOMEM, "extend: no memory");
    /* A run's random streams derive from its configuration
     * (op_job_stream_key), not its index: a finished run moved to another
     * index by the added values is exactly the new job's run there. */
    if (s == OP_OK)
        s = op_layout_build(&old, &olay);
    if (s == OP_OK)
        s = op_layout_build(job, &nlay);
    char which[160];
    if (s == OP_OK && !same_layout(&olay, &nlay, which, sizeof which))
        s = op_error(OP_ERR_INPUT, "%s: --resume with %s: the added [grid] "
                     "values change the shape of %s in every run; extend "
                     "into another -o instead", path, job->file, which);
    int nk_old = op_kphase_count(&old), nk = op_kphase_count(job);
    unsigned char *done_old = NULL, *dk_old = NULL, *done_new = NULL,
                  *dk_new = NULL;
    if (s == OP_OK) {
        done_old = OP_XCALLOC((size_t)old.n_runs + 1, 1);
        dk_old = OP_XCALLOC((size_t)nk_old + 1, 1);
        done_new = OP_XCALLOC((size_t)job->n_runs + 1, 1);
        dk_new = OP_XCALLOC((size_t)nk + 1, 1);
    }
    /* Replay the old journal (a killed sweep's last runs) into its file. */
    op_archive *ar = NULL;
    if (s == OP_OK)
        s = op_archive_open(&ar, path, &old, &olay, MPI_COMM_SELF,
                            OP_ARCHIVE_RESUME, done_old, dk_old, nk_old);
    if (s == OP_OK) {
        if (log)
            op_archive_report_resumed(ar, log);
        s = op_archive_close(ar);
    }
    char tmp[OP_PATH_MAX + 32], before[OP_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.extend-tmp", path);
    snprintf(before, sizeof before, "%s.pre-extend", path);
    long n_kept = 0;
    int kernels_kept = 0;
    if (s == OP_OK)
        s = op_archive_open(&ar, tmp, job, &nlay, MPI_COMM_SELF,
                            OP_ARCHIVE_FORCE, done_new, dk_new, nk);
    if (s == OP_OK) {
        s = extend_runs(ar, path, &old, &olay, map, &n_kept);
        op_status c = op_archive_close(ar);
        if (s == OP_OK)
            s = c;
    }
    /* Kernels depend on the data, the [kernel] section and the [model]
     * values it inherits, none of which an extension may change; they are
     * kept when the list of kernels is the same too. */
    int any_kernel = 0;
    for (int i = 0; i < nk_old && dk_old; i++)
        any_kernel |= dk_old[i];
    if (s == OP_OK && any_kernel && nk == nk_old &&
        !memcmp(&old.base.kernel, &job->base.kernel, sizeof old.base.kernel)) {
        s = copy_kernels(tmp, path, NULL);
        if (s == OP_OK)
            s = op_archive_open(&ar, tmp, job, &nlay, MPI_COMM_SELF,
                                OP_ARCHIVE_RESUME, done_new, dk_new, nk);
        for (int i = 0; i < nk && s == OP_OK; i++)
            if (dk_old[i]) {
                s = op_archive_put_kernel(ar, i);
                kernels_kept++;
            }
        if (ar) {
            op_status c = op_archive_close(ar);
            if (s == OP_OK)
                s = c;
        }
    }
    if (s == OP_OK)
        s = rename_pair(path, before);
    if (s == OP_OK)
        s = rename_pair(tmp, path);
    if (s != OP_OK) {
        char jt[OP_PATH_MAX + 64];
        snprintf(jt, sizeof jt, "%s.journal", tmp);
        remove(tmp);
        remove(jt);
    } else {
        *kept = n_kept;
        if (log && old.n_runs == job->n_runs)
            fprintf(log, "[overparam] %s: job text changed, no run did "
                    "(comments, order): %ld finished runs and %d kernel%s "
                    "kept; the archive before is %s\n", path, n_kept,
                    kernels_kept, kernels_kept == 1 ? "" : "s", before);
        else if (log)
            fprintf(log, "[overparam] %s: grid extended from %ld to %ld runs: "
                    "%ld finished runs and %d kernel%s kept, %ld runs to do; "
                    "the archive before is %s\n", path, old.n_runs,
                    job->n_runs, n_kept, kernels_kept,
                    kernels_kept == 1 ? "" : "s", job->n_runs - n_kept,
                    before);
    }
    free(done_old);
    free(dk_old);
    free(done_new);
    free(dk_new);
    free(map);
    op_job_free(&old);
    return s;
}
