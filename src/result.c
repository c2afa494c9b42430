/* result.c — the per-run layout (curves and measurement arrays) and result
 * buffers. The layout is a function of the job alone, so every rank builds
 * the same one and the archive can create all datasets up front. */
#include "overparam/result.h"

#include "overparam/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int op_layout_add(op_layout *layout, const char *group, const char *name,
                  const char *units, int ndim, const int *dims)
{
    if (layout->n == OP_FIELDS_MAX || ndim < 1 || ndim > 3)
        return -1;
    op_field *f = &layout->f[layout->n];
    memset(f, 0, sizeof *f);
    snprintf(f->group, sizeof f->group, "%s", group);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->units, sizeof f->units, "%s", units);
    f->ndim = ndim;
    f->size = 1;
    for (int i = 0; i < ndim; i++) {
        f->dims[i] = dims[i];
        f->size *= dims[i];
    }
    f->offset = layout->total;
    layout->total += f->size;
    return layout->n++;
}

int op_layout_add_def(op_layout *layout, op_dataset_id id, int ndim,
                      const int *dims)
{
    const op_dataset_def *d = op_schema_dataset(id);
    if (!d)
        return -1;
    int i = op_layout_add(layout, d->group, d->name, d->units, ndim, dims);
    if (i >= 0)
        layout->f[i].def = d;
    return i;
}

int op_layout_find(const op_layout *layout, const char *group,
                   const char *name)
{
    for (int i = 0; i < layout->n; i++)
        if (!strcmp(layout->f[i].group, group) &&
            !strcmp(layout->f[i].name, name))
            return i;
    return -1;
}

static double grid_max_value(const op_job *job, const char *name, double v)
{
    int a = op_job_axis_find(job, name);
    if (a >= 0)
        for (int i = 0; i < job->axes[a].n; i++)
            if (job->axes[a].values[i] > v)
                v = job->axes[a].values[i];
    return v;
}

long op_result_total_params(const op_model_cfg *m, int d_in, int d_out)
{
    long total = 0;
    int prev = d_in;
    for (int l = 0; l <= m->depth; l++) {
        int out = l == m->depth ? d_out : m->width;
        double w2, b2;
        int bias;
        op_model_layer(m, l, &w2, &b2, &bias);
        total += (long)out * (prev + bias);
        prev = out;
    }
    return total;
}

/* Curve points of a run with `epochs` epochs: epoch 0, every log_every, and
 * the last epoch when it is off that grid. */
static int curve_points(int epochs, int log_every)
{
    return epochs / log_every + 1 + (epochs % log_every != 0);
}

op_status op_layout_build(const op_job *job, op_layout *layout)
{
    memset(layout, 0, sizeof *layout);
    int epochs = job->base.train.epochs;
    int a = op_job_axis_find(job, "epochs");
    if (a >= 0)
        for (int i = 0; i < job->axes[a].n; i++)
            if (job->axes[a].values[i] > epochs)
                epochs = (int)job->axes[a].values[i];
    layout->n_log = curve_points(epochs, job->base.train.log_every);
    int d[1] = {layout->n_log};
    for (int i = 0; i < OP_F_CURVES_END; i++)
        if (op_layout_add_def(layout, OP_D_CURVE_EPOCH + i, 1, d) != i)
            return op_error(OP_ERR_INTERNAL, "layout: curves");
    if (job->base.output.save_weights) {
        /* Sized for the largest network of the grid (parameters grow with
         * width and depth); smaller runs leave a NaN tail. The layout is
         * the network's own: W_0 [m][d], b_0 [m], W_1, b_1, ... */
        op_config c = job->base;
        c.model.width = (int)grid_max_value(job, "width", c.model.width);
        c.model.depth = (int)grid_max_value(job, "depth", c.model.depth);
        int d, k;
        op_data_shape(&c, &d, &k);
        long total = op_result_total_params(&c.model, d, k);
        if (total > 100000000L)
            return op_error(OP_ERR_INPUT, "%s: [output] save_weights: the "
                            "largest network has %ld parameters; store "
                            "weights for smaller grids only", job->file,
                            total);
        int dw[1] = {(int)total};
        if (op_layout_add_def(layout, OP_D_WEIGHTS_init, 1, dw) < 0 ||
            op_layout_add_def(layout, OP_D_WEIGHTS_final, 1, dw) < 0)
            return op_error(OP_ERR_INTERNAL, "layout: weights");
    }
    return op_layout_measures(job, layout);
}

op_status op_result_alloc(op_result *res, const op_layout *layout)
{
    memset(res, 0, sizeof *res);
    res->values = malloc(sizeof(double) * (size_t)(layout->total ? layout->total : 1));
    if (!res->values)
        return op_error(OP_ERR_NOMEM, "result: %ld doubles", layout->total);
    return OP_OK;
}

void op_result_reset(op_result *res, const op_layout *layout, long run)
{
    memset(&res->row, 0, sizeof res->row);
    res->row.run = run;
    res->row.status = OP_RUN_PENDING;
    res->row.fit_epoch = -1;
    res->row.train_loss = res->row.test_loss = NAN;
    res->row.train_acc = res->row.test_acc = NAN;
    for (long i = 0; i < layout->total; i++)
        res->values[i] = NAN;
}

void op_result_free(op_result *res)
{
    free(res->values);
    res->values = NULL;
}

const char *op_run_status_name(int status)
{
    switch (status) {
    case OP_RUN_PENDING: return "pending";
    case OP_RUN_DONE: return "done";
    case OP_RUN_DIVERGED: return "diverged";
    case OP_RUN_FAILED: return "failed";
    default: return "unknown";
    }
}
