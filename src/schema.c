/* schema.c — the archive's declarations (schema.h) as tables, the /runs
 * row they define, and the attributes that make the file describe itself.
 *
 * Why generated: the /runs result columns, the kernel metrics and the
 * per-run datasets used to be listed again in the writer, merge, info and
 * the analysis; every list here is expanded from its one X-macro, so a
 * column added or dropped there is added or dropped everywhere. */
#include "overparam/schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/error.h"
#include "overparam/h5attr.h"
#include "overparam/pkernel.h"
#include "overparam/result.h"

#include <zlib.h>

const char *op_col_type_name(op_col_type t)
{
    return t == OP_COL_I64 ? "int64" : t == OP_COL_I32 ? "int32" : "float64";
}

static hid_t native(op_col_type t)
{
    return t == OP_COL_I64   ? H5T_NATIVE_INT64
           : t == OP_COL_I32 ? H5T_NATIVE_INT32
                             : H5T_NATIVE_DOUBLE;
}

/* ---- per-run datasets -------------------------------------------------- */

#define DIMS2(a, b) {a, (b)[0] ? (b) : NULL, NULL}
static const op_dataset_def datasets[OP_D_COUNT] = {
#define X(id, name, units, desc)                                              \
    {"curves", #name, units, "curve", {"epoch", NULL, NULL}, desc},
    OP_CURVES(X)
#undef X
#define X(id, name, units, d1, d2, desc)                                      \
    {"measures", #name, units, "measure", DIMS2(d1, d2), desc},
    OP_MEASURES(X)
#undef X
#define X(name, desc)                                                         \
    {"weights", #name, "parameter", "weights", {"parameter", NULL, NULL},     \
     desc},
    OP_WEIGHTS(X)
#undef X
};

const op_dataset_def *op_schema_dataset(op_dataset_id id)
{
    return id >= 0 && id < OP_D_COUNT ? &datasets[id] : NULL;
}

void op_schema_describe_dataset(hid_t dset, const op_dataset_def *d,
                                int ndim)
{
    const char *dims[4] = {"run", "", "", ""};
    for (int k = 0; k < ndim && k < 3; k++)
        dims[k + 1] = d && d->dims[k] ? d->dims[k] : "";
    op_h5_attr_string(dset, "role", d ? d->role : "");
    op_h5_attr_string(dset, "description", d ? d->description : "");
    op_h5_attr_strings(dset, "dims", dims, ndim + 1);
}

/* ---- compound datasets ---------------------------------------------------- */

hid_t op_schema_compound(const op_column_def *cols, int n, size_t size)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, size);
    OP_H5_CHECK(t, "creating a compound type");
    for (int i = 0; i < n; i++)
        OP_H5_CHECK(H5Tinsert(t, cols[i].name, cols[i].offset,
                              native(cols[i].type)),
                    "building a compound type");
    return t;
}

void op_schema_describe_columns(hid_t dset, const op_column_def *cols, int n)
{
    const char **u = OP_XMALLOC(sizeof(char *) * (size_t)(n + 1));
    const char **r = OP_XMALLOC(sizeof(char *) * (size_t)(n + 1));
    const char **d = OP_XMALLOC(sizeof(char *) * (size_t)(n + 1));
    double *m = OP_XMALLOC(sizeof(double) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        u[i] = cols[i].units;
        r[i] = cols[i].role;
        d[i] = cols[i].description;
        m[i] = cols[i].missing;
    }
    op_h5_attr_strings(dset, "column_units", u, n);
    op_h5_attr_strings(dset, "column_roles", r, n);
    op_h5_attr_strings(dset, "column_descriptions", d, n);
    op_h5_attr_doubles(dset, "column_missing", m, n);
    free(u);
    free(r);
    free(d);
    free(m);
}

#define X_RIDGE(name, type, units, role, desc, value)                         \
    {#name, OP_COL_##type, units, role, NAN, 0, desc,                         \
     offsetof(op_kernel_ridge_row, name)},
#define X_TIME(name, type, units, role, desc, value)                          \
    {#name, OP_COL_##type, units, role, NAN, 0, desc,                         \
     offsetof(op_kernel_time_row, name)},
const op_column_def op_kernel_ridge_cols[] = {OP_KERNEL_RIDGE(X_RIDGE)};
const int op_kernel_ridge_ncols =
    (int)(sizeof op_kernel_ridge_cols / sizeof op_kernel_ridge_cols[0]);
const op_column_def op_kernel_time_cols[] = {OP_KERNEL_TIME(X_TIME)};
const int op_kernel_time_ncols =
    (int)(sizeof op_kernel_time_cols / sizeof op_kernel_time_cols[0]);
#define X_RIDGE32(name, type, units, role, desc, value)                       \
    {#name, OP_COL_##type, units, role, NAN, 0, desc,                         \
     offsetof(op_kernel_ridge32_row, name)},
const op_column_def op_kernel_ridge32_cols[] = {OP_KERNEL_RIDGE32(X_RIDGE32)};
const int op_kernel_ridge32_ncols =
    (int)(sizeof op_kernel_ridge32_cols / sizeof op_kernel_ridge32_cols[0]);
#undef X_RIDGE32
#undef X_RIDGE
#undef X_TIME

void op_schema_describe_kernel_dataset(hid_t dset, const char *name)
{
#define X(dname, units, role, desc)                                           \
    if (!strcmp(name, #dname)) {                                              \
        op_h5_attr_string(dset, "units", units);                              \
        op_h5_attr_string(dset, "role", role);                                \
        op_h5_attr_string(dset, "description", desc);                         \
    }
    OP_KERNEL_DATASETS(X)
#undef X
    static const char *const klabels[] = {
#define X(l) #l,
        OP_KERNEL_STATUS_LABELS(X)
#undef X
    };
    _Static_assert(sizeof klabels / sizeof klabels[0] ==
                       OP_KSTATUS_NO_REFINE + 1,
                   "a label for every OP_KSTATUS_* code");
    if (!strcmp(name, "metrics_ridge") || !strcmp(name, "metrics_ridge_val")) {
        op_schema_describe_columns(dset, op_kernel_ridge_cols,
                                   op_kernel_ridge_ncols);
        op_h5_attr_strings(dset, "status_labels", klabels,
                           (int)(sizeof klabels / sizeof klabels[0]));
    } else if (!strcmp(name, "metrics_time")) {
        op_schema_describe_columns(dset, op_kernel_time_cols,
                                   op_kernel_time_ncols);
        op_h5_attr_strings(dset, "status_labels", klabels,
                           (int)(sizeof klabels / sizeof klabels[0]));
    } else if (!strcmp(name, "metrics_ridge32")) {
        op_schema_describe_columns(dset, op_kernel_ridge32_cols,
                                   op_kernel_ridge32_ncols);
        op_h5_attr_strings(dset, "status_labels", klabels,
                           (int)(sizeof klabels / sizeof klabels[0]));
    }
}

/* ---- /runs ------------------------------------------------------------- */

static const op_column_def run_col = {"run", OP_COL_I64, "", "id", NAN, 0,
                                      "run index (the grid's order, last "
                                      "axis fastest)", 0};
static const op_column_def config_cols[] = {
#define X(name, type, units, role, desc, value)                               \
    {#name, OP_COL_##type, units, role, NAN, 0, desc, 0},
    OP_RUNS_CONFIG(X)
#undef X
};
#define N_CONFIG ((int)(sizeof config_cols / sizeof config_cols[0]))
static const op_column_def result_cols[] = {
#define X(name, type, units, role, missing, summary, desc, member)            \
    {#name, OP_COL_##type, units, role, missing, summary, desc, 0},
    OP_RUNS_RESULTS(X)
#undef X
};
#define N_RESULT ((int)(sizeof result_cols / sizeof result_cols[0]))
static const op_column_def crc_col = {
    "crc", OP_COL_I64, "", "checksum", NAN, 0,
    "CRC-32 of the row up to seconds and of the run's per-run arrays, by "
    "the writer (0 while pending)", 0};

int op_runs_summary(const char **names, int max)
{
    int n = 0;
    for (int pos = 1; pos <= N_RESULT; pos++)
        for (int i = 0; i < N_RESULT; i++)
            if (result_cols[i].summary == pos && n < max)
                names[n++] = result_cols[i].name;
    return n;
}

static void put_col(const op_runs_col *c, unsigned char *row, double v);

static int reserved_name(const char *name)
{
    if (!strcmp(name, run_col.name))
        return 1;
    for (int i = 0; i < N_RESULT; i++)
        if (!strcmp(name, result_cols[i].name))
            return 1;
    return !strcmp(name, crc_col.name);
}

static int is_config_col(const char *name)
{
    for (int i = 0; i < N_CONFIG; i++)
        if (!strcmp(name, config_cols[i].name))
            return 1;
    return 0;
}

static op_runs_col *add(op_runs_schema *rs, const op_column_def *def,
                        const char *name, int axis, double base)
{
    op_runs_col *c = &rs->c[rs->n++];
    c->def = *def;
    snprintf(c->name_buf, sizeof c->name_buf, "%s", name);
    c->def.name = c->name_buf;
    c->def.offset = rs->row_bytes;
    c->axis = axis;
    c->base = base;
    rs->row_bytes += 8;
    return c;
}

void op_runs_build(const op_job *job, op_runs_schema *rs)
{
    memset(rs, 0, sizeof *rs);
    /* The configuration columns every archive has: from their axis when
     * swept, else the job's value (op_runs_pack then needs no whole
     * op_config per result: 5 KB copied, a third of a result's archive
     * cost). */
    const op_config *c = &job->base;
    add(rs, &run_col, run_col.name, -1, 0);
    double base[] = {
#define X(name, type, units, role, desc, value) (double)(value),
        OP_RUNS_CONFIG(X)
#undef X
    };
    for (int i = 0; i < N_CONFIG; i++)
        add(rs, &config_cols[i], config_cols[i].name,
            op_job_axis_find(job, config_cols[i].name), base[i]);
    for (int a = 0; a < job->n_axes; a++) {
        const char *n = job->axes[a].name;
        if (is_config_col(n))
            continue;
        const char *section, *help;
        int named;
        op_job_axis_key(job, a, &section, &help, &named);
        op_column_def def = {NULL, op_job_axis_is_integer(job, a)
                                       ? OP_COL_I64 : OP_COL_F64,
                             "", "config", NAN, 0, help, 0};
        char name[48];
        /* A swept key named like a result column gets a prefix. */
        snprintf(name, sizeof name, "%s%s", reserved_name(n) ? "cfg_" : "",
                 n);
        add(rs, &def, name, a, 0);
    }
    rs->n_config = rs->n;
    rs->crc_bytes = 0;
    for (int i = 0; i < N_RESULT; i++) {
        const char *role = result_cols[i].role;
        if (!strcmp(role, "status"))
            rs->status = rs->n;
        if (!rs->crc_bytes &&
            (!strcmp(role, "timing") || !strcmp(role, "worker")))
            rs->crc_bytes = rs->row_bytes;
        add(rs, &result_cols[i], result_cols[i].name, -1, 0);
    }
    if (!rs->crc_bytes)
        rs->crc_bytes = rs->row_bytes;
    rs->crc = rs->n;
    add(rs, &crc_col, crc_col.name, -1, 0);
}

uint32_t op_runs_crc(const op_runs_schema *rs, const struct op_layout *lay,
                     const unsigned char *row, const double *const *field)
{
    uLong c = crc32(0L, row, (uInt)rs->crc_bytes);
    for (int i = 0; i < lay->n; i++)
        c = crc32(c, (const Bytef *)field[i],
                  (uInt)(sizeof(double) * (size_t)lay->f[i].size));
    return (uint32_t)c;
}

void op_runs_set_crc(const op_runs_schema *rs, unsigned char *row,
                     uint32_t crc)
{
    put_col(&rs->c[rs->crc], row, (double)crc);
}

hid_t op_runs_type(const op_runs_schema *rs)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, rs->row_bytes);
    OP_H5_CHECK(t, "creating the /runs row type");
    for (int i = 0; i < rs->n; i++)
        OP_H5_CHECK(H5Tinsert(t, rs->c[i].def.name, rs->c[i].def.offset,
                              rs->c[i].def.type == OP_COL_F64
                                  ? H5T_NATIVE_DOUBLE
                                  : H5T_NATIVE_INT64),
                    "building the /runs row type");
    return t;
}

static void put_col(const op_runs_col *c, unsigned char *row, double v)
{
    unsigned char *p = row + c->def.offset;
    if (c->def.type != OP_COL_F64) {
        int64_t i = (int64_t)v;
        memcpy(p, &i, 8);
    } else {
        memcpy(p, &v, 8);
    }
}

static double get_col(const op_runs_col *c, const unsigned char *row)
{
    const unsigned char *p = row + c->def.offset;
    if (c->def.type != OP_COL_F64) {
        int64_t i;
        memcpy(&i, p, 8);
        return (double)i;
    }
    double v;
    memcpy(&v, p, 8);
    return v;
}

void op_runs_pack(const op_runs_schema *rs, const op_job *job, long run,
                  const struct op_row *row, unsigned char *out)
{
    memset(out, 0, rs->row_bytes);
    put_col(&rs->c[0], out, (double)run);
    for (int i = 1; i < rs->n_config; i++) {
        const op_runs_col *k = &rs->c[i];
        put_col(k, out,
                k->axis >= 0 ? op_job_axis_value(job, run, k->axis)
                             : k->base);
    }
    op_row pending = {.run = run, .status = OP_RUN_PENDING, .fit_epoch = -1,
                      .rank = -1, .train_loss = NAN, .test_loss = NAN,
                      .train_acc = NAN, .test_acc = NAN, .seconds = NAN};
    if (!row)
        row = &pending;
    const double tail[] = {
#define X(name, type, units, role, missing, summary, desc, member)            \
    (double)row->member,
        OP_RUNS_RESULTS(X)
#undef X
    };
    for (int i = 0; i < N_RESULT; i++)
        put_col(&rs->c[rs->n_config + i], out, tail[i]);
}

void op_runs_unpack(const op_runs_schema *rs, const unsigned char *in,
                    struct op_row *row)
{
    const op_runs_col *c = &rs->c[rs->n_config];
    row->run = (long)get_col(&rs->c[0], in);
#define X(name, type, units, role, missing, summary, desc, member)            \
    row->member = get_col(c++, in);
    OP_RUNS_RESULTS(X)
#undef X
}

static int same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b;
}

int op_runs_same_result(const struct op_row *a, const struct op_row *b)
{
    int same = 1;
#define X(name, type, units, role, missing, summary, desc, member)            \
    if (strcmp(role, "timing") && strcmp(role, "worker"))                     \
        same &= same_double((double)a->member, (double)b->member);
    OP_RUNS_RESULTS(X)
#undef X
    return same;
}

void op_runs_describe(hid_t runs, const op_runs_schema *rs,
                      const op_job *job)
{
    op_column_def cols[OP_RUNS_COLS_MAX];
    const char *axes[OP_RUNS_COLS_MAX];
    for (int i = 0; i < rs->n; i++) {
        cols[i] = rs->c[i].def;
        axes[i] = rs->c[i].axis >= 0 ? job->axes[rs->c[i].axis].name : "";
    }
    op_schema_describe_columns(runs, cols, rs->n);
    op_h5_attr_strings(runs, "column_axes", axes, rs->n);
    op_h5_attr_string(runs, "role", "runs");
    op_h5_attr_string(runs, "description", "one row per run: its "
                      "configuration, then its results");
    static const char *const labels[] = {
#define X(l) #l,
        OP_RUN_STATUS_LABELS(X)
#undef X
    };
    op_h5_attr_strings(runs, "status_labels", labels,
                       (int)(sizeof labels / sizeof labels[0]));
}

void op_schema_describe_axis(hid_t dset, const op_job *job, int a)
{
    const char *section, *help;
    int named;
    op_job_axis_key(job, a, &section, &help, &named);
    char key[96];
    snprintf(key, sizeof key, "%s.%s", section, job->axes[a].name);
    op_h5_attr_string(dset, "key", key);
    op_h5_attr_string(dset, "role", "axis");
    op_h5_attr_string(dset, "description", help);
    if (named) {
        int n = job->axes[a].n;
        char (*buf)[64] = OP_XMALLOC(sizeof *buf * (size_t)(n ? n : 1));
        const char **lab = OP_XMALLOC(sizeof(char *) * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++)
            lab[i] = op_job_axis_label(job, a, job->axes[a].values[i],
                                       buf[i], sizeof buf[i]);
        op_h5_attr_strings(dset, "labels", lab, n);
        free(lab);
        free(buf);
    }
}

/* ---- readers ----------------------------------------------------------- */

op_status op_schema_check_file(hid_t f, const char *path)
{
    char *prog = op_h5_attr_read_string(f, "program");
    long long fmt = op_h5_attr_read_long(f, "format_version", -1);
    op_status s = OP_OK;
    if (!prog || strcmp(prog, "overparam") != 0)
        s = op_error(OP_ERR_INPUT, "%s: not an overparam archive (no "
                     "'program' attribute)", path);
    else if (fmt != OP_FORMAT_VERSION)
        s = op_error(OP_ERR_INPUT, "%s: archive format version %lld, this "
                     "program reads version %d only (rewrite it with the "
                     "overparam that made it, or rerun the job)", path, fmt,
                     OP_FORMAT_VERSION);
    free(prog);
    return s;
}
