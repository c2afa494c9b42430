/* schema.h — every dataset and column of the archive, declared once: name,
 * type, units, role and description. The writer (archive), merge,
 * kernel_io, the measurements, `overparam info` and `compare` take names
 * from here, and the archive carries these declarations as attributes so
 * readers (analysis/loader.py) take names, units and labels from the file.
 *
 * Contract: the tables below are the only place a column or dataset is
 * named. Dropping a /runs result column or a kernel metrics column is one
 * edit: its X-macro line (the writer, merge and the row structs are
 * generated from it). A per-run dataset (curve, measure) goes with its
 * line and the code that computes it.
 *
 * Attributes the archive carries (format version OP_FORMAT_VERSION):
 *   every dataset      units, role, description (strings)
 *   per-run arrays     dims: string array naming each axis ("run" first)
 *   compound datasets  column_units, column_roles, column_descriptions:
 *                      string arrays in member order; column_missing:
 *                      float64 array, the stored value meaning "none"
 *                      (NaN where every value is a value); /runs also
 *                      column_axes: the /grid axis feeding each column ("" when
 *                      not swept)
 *   status columns     status_labels on the dataset: label of code i
 *   /grid/<axis>       key ("section.key"), description, and labels (string
 *                      array, label of each value) for named axes only
 * Roles of columns: id, config, replicate (the seed: runs that differ only
 * there are repetitions), metric, status, timing and worker (which rank:
 * neither is a result; compare and merge ignore both), coordinate (a
 * kernel metric's ridge or time). */
#ifndef OVERPARAM_SCHEMA_H
#define OVERPARAM_SCHEMA_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "overparam/job.h"

/* The archive's format. 2: the schema attributes above (version 1 had
 * none and comma-joined /grid labels). Readers refuse any other. */
#define OP_FORMAT_VERSION 2

/* Column storage types (file and memory). */
#define OP_CT_I64 int64_t
#define OP_CT_F64 double
#define OP_CT_I32 int32_t
typedef enum { OP_COL_I64, OP_COL_F64, OP_COL_I32 } op_col_type;

/* A column of a compound dataset, or a per-run dataset. */
typedef struct {
    const char *name;
    op_col_type type;
    const char *units;
    const char *role;
    double missing;     /* stored value meaning "none"; NaN: none */
    int summary;        /* position in `overparam info`'s table of means
                           and spreads (1, 2, ...), 0: not shown */
    const char *description;
    size_t offset;      /* in the generated row struct (compounds) */
} op_column_def;

/* ---- /runs ------------------------------------------------------------
 * Column order: run, the configuration columns below, any other swept key
 * (named like its key, "cfg_" prefixed when it clashes with a column
 * here), then the result columns.
 * X(name, type, units, role, description, value in op_config *c) */
#define OP_RUNS_CONFIG(X)                                                     \
    X(width, I64, "units", "config", "hidden units per layer",                \
      (c)->model.width)                                                       \
    X(depth, I64, "layers", "config", "hidden layers", (c)->model.depth)      \
    X(init_scale, F64, "", "config",                                          \
      "multiplier of the initial weights' standard deviation",                \
      (c)->model.init_scale)                                                  \
    X(label_noise, F64, "fraction", "config",                                 \
      "fraction of training labels made wrong", (c)->data.label_noise)        \
    X(seed, I64, "", "replicate",                                             \
      "seed value of the run (label noise and corruptions)", (c)->seed_index)

/* X(name, type, units, role, missing, summary, description, op_row member)
 * (summary: position in `overparam info`'s table, 0: not shown) */
#define OP_RUNS_RESULTS(X)                                                    \
    X(n_params, I64, "parameters", "metric", NAN, 1,                          \
      "trainable parameters of the network", n_params)                        \
    X(status, I64, "", "status", NAN, 0, "outcome of the run", status)        \
    X(train_loss, F64, "loss", "metric", NAN, 0,                              \
      "final training loss (mse: 0.5 mean squared error)", train_loss)        \
    X(test_loss, F64, "loss", "metric", NAN, 4,                               \
      "final test loss (mse: 0.5 mean squared error)", test_loss)             \
    X(train_acc, F64, "fraction", "metric", NAN, 2,                           \
      "final training accuracy", train_acc)                                   \
    X(test_acc, F64, "fraction", "metric", NAN, 3, "final test accuracy",     \
      test_acc)                                                               \
    X(epochs, I64, "epochs", "metric", NAN, 5, "epochs actually run",         \
      epochs)                                                                 \
    X(fit_epoch, I64, "epochs", "metric", -1, 6,                              \
      "first epoch at 100% training accuracy (-1: never)", fit_epoch)         \
    X(seconds, F64, "s", "timing", NAN, 0, "wall time of the run", seconds)   \
    X(rank, I64, "", "worker", NAN, 0, "rank that computed the run", rank)

/* The last column, after the results: the row's checksum (schema.c's
 * crc column, op_runs_crc), 0 while pending. Timing and worker columns
 * stay at the end of OP_RUNS_RESULTS: the checksum covers the row up to
 * the first of them. */

/* Labels of op_run_status codes 0..3 (status_labels of /runs). */
#define OP_RUN_STATUS_LABELS(X) X(pending) X(done) X(diverged) X(failed)

/* ---- per-run arrays [n_runs][dims...] ----------------------------------
 * X(id, name, units, description): /curves/<name>, each [n_log], the
 * order of result.h's OP_F_* indices. */
#define OP_CURVES(X)                                                          \
    X(EPOCH, epoch, "epochs", "epoch of each logged point")                   \
    X(TRAIN_LOSS, train_loss, "loss", "training loss")                        \
    X(TEST_LOSS, test_loss, "loss", "test loss")                              \
    X(TRAIN_ACC, train_acc, "fraction", "training accuracy")                  \
    X(TEST_ACC, test_acc, "fraction", "test accuracy")

/* X(id, name, units, dim1, dim2, description): /measures/<name>; dim2 is
 * "" for 1-D fields (measure.h gives the shapes). */
#define OP_MEASURES(X)                                                        \
    X(LIP_LO, lip_lower, "output/input", "epoch", "",                         \
      "lower bound of the Lipschitz constant")                                \
    X(LIP_HI, lip_upper, "output/input", "epoch", "",                         \
      "upper bound of the Lipschitz constant")                                \
    X(FREQ_VALUES, freq_values, "rad/unit x", "frequency", "",                \
      "target angular frequencies")                                           \
    X(FREQ_ERROR, freq_error, "relative", "epoch", "frequency",               \
      "relative error of each frequency component")                           \
    X(FREQ_CONV, freq_converge_epoch, "epochs", "frequency", "",              \
      "epoch each frequency converged (NaN: never)")                          \
    X(FILT_LO, filter_low, "relative", "epoch", "",                           \
      "Gaussian-filter error, low frequencies")                               \
    X(FILT_HI, filter_high, "relative", "epoch", "",                          \
      "Gaussian-filter error, high frequencies")                              \
    X(COND_REL, cond_rel_change, "relative", "epoch", "",                     \
      "relative change of the first layer's weights")                         \
    X(COND_CL, cond_clusters, "clusters", "epoch", "",                        \
      "direction clusters holding 90% of active neurons")                     \
    X(COND_COS, cond_mean_abs_cos, "cosine", "epoch", "",                     \
      "mean |cos| between active first-layer directions")                     \
    X(COND_INIT, cond_dirs_init, "unit vector", "neuron", "coordinate",       \
      "first-layer input directions at initialization")                       \
    X(COND_END, cond_dirs_end, "unit vector", "neuron", "coordinate",         \
      "first-layer input directions at the end")                              \
    X(LAZY_REL, lazy_rel_change, "relative", "epoch", "layer",                \
      "relative change of each layer's weights")                              \
    X(NTK_DRIFT, ntk_drift, "relative", "epoch", "",                          \
      "relative change of the empirical NTK")

/* X(name, description): /weights/<name>, [max parameters] each. */
#define OP_WEIGHTS(X)                                                         \
    X(init, "all parameters at initialization (NaN tail: smaller nets)")      \
    X(final, "all parameters at the end (NaN tail: smaller nets)")

/* A per-run dataset's declaration. */
typedef struct {
    const char *group;
    const char *name;
    const char *units;
    const char *role;
    const char *dims[3]; /* names of the axes after "run"; NULL past ndim */
    const char *description;
} op_dataset_def;

typedef enum {
#define OP_X_ID(id, ...) OP_D_CURVE_##id,
    OP_CURVES(OP_X_ID)
#undef OP_X_ID
#define OP_X_ID(id, ...) OP_D_MEASURE_##id,
    OP_MEASURES(OP_X_ID)
#undef OP_X_ID
#define OP_X_ID(name, ...) OP_D_WEIGHTS_##name,
    OP_WEIGHTS(OP_X_ID)
#undef OP_X_ID
    OP_D_COUNT
} op_dataset_id;

const op_dataset_def *op_schema_dataset(op_dataset_id id);

/* ---- /kernels/<id>/ ----------------------------------------------------
 * metrics_ridge and metrics_time, one row per ridge or time.
 * X(name, type, units, role, description, value from op_kernel_result
 * *res at row i) */
#define OP_KERNEL_RIDGE(X)                                                    \
    X(ridge, F64, "", "coordinate",                                           \
      "ridge as given (relative to the mean diagonal when ridge_relative)",  \
      (res)->ridge[i])                                                        \
    X(epsilon, F64, "", "coordinate", "absolute ridge added to K",            \
      (res)->epsilon[i])                                                      \
    X(mse, F64, "loss", "metric", "test loss, 0.5 mean squared error",        \
      (res)->ridge_mse[i])                                                    \
    X(acc, F64, "fraction", "metric", "test accuracy", (res)->ridge_acc[i])   \
    X(status, I32, "", "status", "outcome", (res)->ridge_status[i])
#define OP_KERNEL_TIME(X)                                                     \
    X(time, F64, "time", "coordinate",                                        \
      "gradient-flow time (learning rate 1) in the group's time_convention "  \
      "(time_divisor n or n*k)", (res)->time[i])                             \
    X(mse, F64, "loss", "metric", "test loss, 0.5 mean squared error",        \
      (res)->time_mse[i])                                                     \
    X(acc, F64, "fraction", "metric", "test accuracy", (res)->time_acc[i])    \
    X(status, I32, "", "status", "outcome", (res)->time_status[i])
/* metrics_ridge32 ([kernel] precision = compare): each ridge's system
 * solved again in float32 alone (pkernel.h), beside float64's residual;
 * float64's test error is metrics_ridge's. */
#define OP_KERNEL_RIDGE32(X)                                                  \
    X(ridge, F64, "", "coordinate",                                           \
      "ridge as given (relative to the mean diagonal when ridge_relative)",  \
      (res)->ridge[i])                                                        \
    X(epsilon, F64, "", "coordinate", "absolute ridge added to K",            \
      (res)->epsilon[i])                                                      \
    X(mse, F64, "loss", "metric",                                             \
      "test loss of the float32 solve, 0.5 mean squared error (NaN unless "  \
      "status is ok)", (res)->ridge_mse32[i])                                 \
    X(acc, F64, "fraction", "metric", "test accuracy of the float32 solve",   \
      (res)->ridge_acc32[i])                                                  \
    X(residual, F64, "", "metric",                                            \
      "|(K + eps I) a - y|_F / |y|_F of the float32 solution a, in float64", \
      (res)->ridge_res32[i])                                                  \
    X(residual64, F64, "", "metric",                                          \
      "the same residual of the float64 solution", (res)->ridge_res64[i])    \
    X(status, I32, "", "status",                                              \
      "outcome of the float32 solve (not_positive_definite: pspotrf failed)", \
      (res)->ridge_status32[i])
/* Labels of a kernel metric's status codes, in the order of pkernel.h's
 * OP_KSTATUS_* values (schema.c checks the count at compile time). */
#define OP_KERNEL_STATUS_LABELS(X)                                            \
    X(ok) X(not_positive_definite) X(non_finite) X(refinement_stalled)

/* The rows, generated: one member per column. */
#define OP_X_MEMBER(name, type, units, role, desc, value) OP_CT_##type name;
typedef struct { OP_KERNEL_RIDGE(OP_X_MEMBER) } op_kernel_ridge_row;
typedef struct { OP_KERNEL_TIME(OP_X_MEMBER) } op_kernel_time_row;
typedef struct { OP_KERNEL_RIDGE32(OP_X_MEMBER) } op_kernel_ridge32_row;
#undef OP_X_MEMBER

extern const op_column_def op_kernel_ridge_cols[];
extern const int op_kernel_ridge_ncols;
extern const op_column_def op_kernel_time_cols[];
extern const int op_kernel_time_ncols;
extern const op_column_def op_kernel_ridge32_cols[];
extern const int op_kernel_ridge32_ncols;

/* Kernel datasets: X(name, units, role, description). */
#define OP_KERNEL_DATASETS(X)                                                 \
    X(eigenvalues64, "", "spectrum", "eigenvalues of K(train, train) in "     \
      "float64, descending")                                                  \
    X(eigenvalues32, "", "spectrum", "eigenvalues of K(train, train) in "     \
      "float32, descending")                                                  \
    X(pred_ridge, "", "prediction", "test predictions per ridge "             \
      "[n_ridge][n_test][outputs]")                                           \
    X(pred_time, "", "prediction", "gradient-flow test predictions per time " \
      "[n_time][n_test][outputs]")                                            \
    X(metrics_ridge, "", "metrics", "kernel regression per ridge")            \
    X(metrics_time, "", "metrics", "gradient flow per time")                  \
    X(metrics_ridge_val, "", "validation", "kernel regression per ridge "    \
      "fitted on the training set less its last n_val points and scored on " \
      "those (the ridge is chosen here, never on the test set): mse and acc " \
      "are of the held-out points")                                           \
    X(metrics_ridge32, "", "precision", "kernel regression per ridge solved " \
      "in float32 alone, beside float64's residual")                          \
    X(matrix, "", "matrix", "K(train, train), float64")                   \
    X(empirical_ntk_rel_error, "relative", "metric", "|Theta_hat - "         \
      "Theta|_F / |Theta|_F per empirical width, Theta_hat the empirical "   \
      "NTK (mean over outputs) at init")                                      \
    X(empirical_ntk_drift, "relative", "metric", "|Theta_T - Theta_0|_F / " \
      "|Theta_0|_F per empirical width, after training with [train]")       \
    X(empirical_matrix, "", "matrix", "empirical NTK at init per width "     \
      "[widths][n_train][n_train], float64")                                  \
    X(empirical_lin_time, "time", "coordinate", "gradient-flow times of the " \
      "linearized networks [widths][n_time + 1]: the kernel's, then the "    \
      "training's own (lr x steps / (1 - momentum); NaN for Adam), in the "  \
      "group's time_convention")          \
    X(empirical_lin_mse, "loss", "metric", "test loss of the network "       \
      "linearized at init, per width and time")                              \
    X(empirical_lin_acc, "fraction", "metric", "test accuracy of the "       \
      "linearized network, per width and time")                              \
    X(empirical_net_mse, "loss", "metric", "test loss of the trained "       \
      "network, per width")                                                   \
    X(empirical_net_acc, "fraction", "metric", "test accuracy of the "       \
      "trained network, per width")                                           \
    X(empirical_lin_net_gap, "relative", "metric", "|f_net - f_lin|_F / "   \
      "|f_net|_F on the test set at the training's time, per width")         \
    X(empirical_pred_lin, "", "prediction", "linearized-network test "       \
      "predictions [widths][n_time + 1][n_test][outputs]")                   \
    X(empirical_pred_net, "", "prediction", "trained-network test "          \
      "predictions [widths][n_test][outputs]")

/* Writes units, role and description of kernel dataset `name` (one of
 * OP_KERNEL_DATASETS) on `dset`; collective like every attribute. */
void op_schema_describe_kernel_dataset(hid_t dset, const char *name);

/* ---- generic helpers ---------------------------------------------------- */

/* The memory/file compound type of n columns in a struct of `size`. */
hid_t op_schema_compound(const op_column_def *cols, int n, size_t size);
/* column_units, column_roles, column_descriptions, column_missing of n
 * columns on `dset`. */
void op_schema_describe_columns(hid_t dset, const op_column_def *cols, int n);
/* units, role, description and dims of a per-run dataset. */
void op_schema_describe_dataset(hid_t dset, const op_dataset_def *d,
                                int ndim);
const char *op_col_type_name(op_col_type t);

/* ---- the /runs row of a job ------------------------------------------- */

#define OP_RUNS_COLS_MAX (OP_AXES_MAX + 24)

typedef struct {
    op_column_def def;     /* name points at name_buf */
    char name_buf[48];
    int axis;              /* swept axis feeding it, -1 when not swept */
    double base;           /* its value in every run when not swept */
} op_runs_col;

typedef struct {
    int n;                 /* columns */
    int n_config;          /* columns 0 .. n_config-1: run, configuration */
    int status;            /* index of the status column */
    int crc;               /* index of the crc column (the last) */
    size_t crc_bytes;      /* the packed row's bytes the crc covers: up to
                              the first timing or worker column */
    size_t row_bytes;      /* packed row: 8 bytes per column */
    op_runs_col c[OP_RUNS_COLS_MAX];
} op_runs_schema;

struct op_row;
struct op_layout;
/* The columns of `job`'s /runs. */
void op_runs_build(const op_job *job, op_runs_schema *rs);
/* Its compound type (packed rows, row_bytes each). */
hid_t op_runs_type(const op_runs_schema *rs);
/* Packs run `run`'s row: configuration from the job, results from `row`,
 * or a pending row when row is NULL. */
void op_runs_pack(const op_runs_schema *rs, const op_job *job, long run,
                  const struct op_row *row, unsigned char *out);
/* The result columns of a packed row back into *row (the configuration
 * columns come from the job). */
void op_runs_unpack(const op_runs_schema *rs, const unsigned char *in,
                    struct op_row *row);
/* A finished row's checksum (the crc column): CRC-32 of its packed bytes
 * up to the timings (run, configuration, status and results; seconds and
 * rank are when and where, not what), then of each per-run array of the
 * run in layout order, field[i] pointing at field i's values. The writer
 * stores it with the row (op_runs_set_crc); resume recomputes it from the
 * file, so a /runs row with no journal record behind it is kept only if
 * row and arrays are what was written. */
uint32_t op_runs_crc(const op_runs_schema *rs, const struct op_layout *lay,
                     const unsigned char *row, const double *const *field);
void op_runs_set_crc(const op_runs_schema *rs, unsigned char *row,
                     uint32_t crc);
/* Whether two rows hold the same results (NaN equals NaN; timing and
 * worker columns are no results). */
int op_runs_same_result(const struct op_row *a, const struct op_row *b);
/* The result columns `overparam info` summarizes, in its order. */
int op_runs_summary(const char **names, int max);
/* The schema attributes of /runs and of each /grid/<axis> of the job. */
void op_runs_describe(hid_t runs, const op_runs_schema *rs,
                      const op_job *job);
void op_schema_describe_axis(hid_t dset, const op_job *job, int a);

/* ---- readers ------------------------------------------------------------ */

/* Checks that `f` (an open HDF5 file at `path`) is an overparam archive of
 * format OP_FORMAT_VERSION: OP_ERR_INPUT naming the file, the version
 * found and the version supported otherwise. */
op_status op_schema_check_file(hid_t f, const char *path);

#endif
