/* result.h — what one run produces: a row of scalars for the /runs table and
 * a fixed set of per-run float64 arrays (learning curves, measurements),
 * described once by a layout shared by training, journal and archive.
 *
 * Contract: the layout depends only on the job (never on the run), so every
 * run's arrays have the same shapes and the archive can create its datasets
 * [n_runs][dims...] collectively before any run starts. Unset entries are
 * NaN. Field 0..4 are always the learning curves, in the order below. */
#ifndef OVERPARAM_RESULT_H
#define OVERPARAM_RESULT_H

#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/schema.h"

#define OP_FIELDS_MAX 48
#define OP_FIELD_NAME 48

typedef enum {
    OP_RUN_PENDING = 0,
    OP_RUN_DONE = 1,
    OP_RUN_DIVERGED = 2, /* loss became NaN or Inf: a result, not a crash */
    OP_RUN_FAILED = 3    /* the run could not be computed (e.g. no memory) */
} op_run_status;

/* Curve fields, always present, each [n_log], in schema.h's OP_CURVES
 * order: OP_F_EPOCH, OP_F_TRAIN_LOSS, ... */
enum {
#define OP_X_F(id, ...) OP_F_##id,
    OP_CURVES(OP_X_F)
#undef OP_X_F
    OP_F_CURVES_END
};

typedef struct {
    char group[16];              /* "curves" or "measures" */
    char name[OP_FIELD_NAME];    /* dataset name within the group */
    char units[32];              /* stored as an attribute */
    const op_dataset_def *def;   /* its declaration (schema.h), or NULL */
    int ndim;                    /* dims per run (1..3) */
    int dims[3];
    long size;                   /* product of dims */
    long offset;                 /* into op_result.values */
} op_field;

typedef struct op_layout {
    int n_log;                   /* curve points per run */
    int n;
    op_field f[OP_FIELDS_MAX];
    long total;                  /* doubles per run */
} op_layout;

/* The row of /runs for one run (schema.h's OP_RUNS_RESULTS map its
 * members to columns). */
typedef struct op_row {
    long run;
    int status;                  /* op_run_status */
    int rank;                    /* worker that computed it */
    long n_params;
    double train_loss, test_loss, train_acc, test_acc;
    int epochs;                  /* epochs actually run */
    int fit_epoch;               /* first epoch at 100% train accuracy, -1 */
    double seconds;              /* wall time of the run */
} op_row;

typedef struct {
    op_row row;
    double *values;              /* [layout.total] */
} op_result;

/* Builds the layout for a job: curves sized by the largest epochs/log_every
 * over the grid, plus the measurement fields the [measure] section enables. */
op_status op_layout_build(const op_job *job, op_layout *layout);
/* Adds a field; returns its index or -1 when the layout is full. */
int op_layout_add(op_layout *layout, const char *group, const char *name,
                  const char *units, int ndim, const int *dims);
/* Adds the declared dataset `id` (schema.h): group, name, units from
 * there. */
int op_layout_add_def(op_layout *layout, op_dataset_id id, int ndim,
                      const int *dims);
int op_layout_find(const op_layout *layout, const char *group,
                   const char *name);

/* Every parameter of a network, frozen ones included (the length of the
 * /weights vectors; net.h's op_net_param_count counts trainable ones). */
long op_result_total_params(const op_model_cfg *m, int d_in, int d_out);

/* Adds the [measure] section's fields (measure.c). */
op_status op_layout_measures(const op_job *job, op_layout *layout);

op_status op_result_alloc(op_result *res, const op_layout *layout);
/* Resets the row to pending for `run` and every value to NaN. */
void op_result_reset(op_result *res, const op_layout *layout, long run);
void op_result_free(op_result *res);

/* Pointer to field `i` of a result. */
static inline double *op_result_field(const op_result *res,
                                      const op_layout *layout, int i)
{
    return res->values + layout->f[i].offset;
}

const char *op_run_status_name(int status);

#endif
