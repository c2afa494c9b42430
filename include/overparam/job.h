/* job.h — job files: one table of keys drives parsing, bounds, defaults,
 * help text and which keys a [grid] may sweep; the grid expands to runs.
 *
 * Contract: op_job_load either returns OP_OK with a fully validated job
 * (every run's configuration in bounds, grid non-empty) or OP_ERR_INPUT with
 * a message "FILE:LINE: [section] key = value: problem (allowed: ...)".
 * Nothing is written anywhere by loading. Run indices are stable: the
 * cartesian product in the table's axis order, last axis fastest. */
#ifndef OVERPARAM_JOB_H
#define OVERPARAM_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "overparam/error.h"

#define OP_PATH_MAX 1024
#define OP_LIST_MAX 64 /* entries in a list-valued key (frequencies, ridge) */
#define OP_AXES_MAX 16 /* swept axes in one grid */
#define OP_RUNS_MAX 10000000

typedef enum { OP_ACT_RELU, OP_ACT_ERF, OP_ACT_TANH } op_activation;
typedef enum { OP_PARAM_STANDARD, OP_PARAM_NTK } op_parameterization;
typedef enum { OP_LOSS_MSE, OP_LOSS_XENT } op_loss;
typedef enum { OP_OPT_SGD, OP_OPT_ADAM } op_optimizer;
/* [model] bias: auto = a layer has bias parameters exactly when its bias
 * variance is > 0 (neural-tangents' b_std = None for 0); on = every layer
 * has trained biases, drawn from N(0, its variance), so zero-initialized
 * where that is 0 (neural-tangents' b_std = 0.); off = no biases. The zero
 * value is auto, so a configuration built by hand keeps the old rule. */
typedef enum { OP_BIAS_AUTO = 0, OP_BIAS_ON = 1, OP_BIAS_OFF = 2 } op_bias_mode;
/* [kernel] time_convention: what the gradient-descent predictor's time t
 * means. per_sample: flow on 0.5*mean_i |f(x_i)-y_i|^2 (the finite nets'
 * MSE loss), exp(-lambda t/n); neural_tangents: flow on the loss averaged
 * over all n*k outputs (nt.predict.gradient_descent_mse), exp(-lambda
 * t/(n k)): its t is k times ours. */
typedef enum { OP_TIME_PER_SAMPLE = 0, OP_TIME_NEURAL_TANGENTS = 1 } op_time_convention;
/* [train] weight_decay_scaling: how weight_decay applies to each layer.
 * uniform = (wd/2) |theta|^2 on the stored parameters; layerwise = (wd/2)
 * sum_l (wmul_l^2 |W_l|^2 + bmul_l^2 |b_l|^2), the penalty on the
 * effective weights (Lee et al. 2020, net.h). The zero value is uniform. */
typedef enum { OP_WD_UNIFORM = 0, OP_WD_LAYERWISE = 1 } op_wd_scaling;
typedef enum {
    OP_SRC_FASHION_MNIST,
    OP_SRC_GAUSSIAN, /* x ~ N(0, I/d) */
    OP_SRC_SPHERE,   /* x uniform on the unit sphere S^{d-1} */
    OP_SRC_SINES,    /* 1-D: x on [lo, hi], y = sum a_k sin(f_k x) */
    OP_SRC_TEACHER,  /* Gaussian x, y from a random teacher network */
    OP_SRC_TEACHER_CLASS, /* Gaussian x, label = argmax of a random teacher's
                             K outputs (K = 1: sign about the train mean) */
    OP_SRC_FILE      /* the user's own set: HDF5 file or .npy directory */
} op_source;
typedef enum {
    OP_CORRUPT_NONE,
    OP_CORRUPT_RANDOM_LABELS,
    OP_CORRUPT_SHUFFLED_PIXELS, /* one permutation for all images */
    OP_CORRUPT_RANDOM_PIXELS,   /* a permutation per image */
    OP_CORRUPT_GAUSSIAN         /* Gaussian images, matching mean/variance */
} op_corruption;

typedef struct {
    op_source source;
    char path[OP_PATH_MAX]; /* directory of the IDX .gz files */
    int n_train, n_test;
    int balanced;      /* class-balanced subsets */
    int downsample;    /* average-pool factor: 28x28 -> 28/f */
    int standardize;   /* per-feature zero mean, unit variance (train stats) */
    int dim;           /* synthetic input dimension d */
    int classes;       /* synthetic K; 1 = scalar +-1 / regression target */
    int n_freq, n_amp; /* sines: frequencies and amplitudes (equal counts) */
    double freq[OP_LIST_MAX];
    double amp[OP_LIST_MAX];
    double lo, hi;     /* sines: interval */
    int teacher_width; /* teacher: hidden width of the random teacher */
    int n_shape;       /* file: image shape H, W, C (0 entries: flat x) */
    int shape[OP_LIST_MAX];
    int regression;    /* file: y are real targets, not class labels */
    op_corruption corruption;
    double label_noise; /* swept: fraction of train labels made wrong */
    double zca;         /* ZCA whitening regularizer zeta; < 0 = off */
} op_data_cfg;

typedef struct {
    op_activation activation;
    op_parameterization param;
    int width, depth;   /* depth = number of hidden layers */
    double sigma_w2;    /* weight variance sigma_w^2 (kernel convention) */
    double sigma_b2;    /* bias variance sigma_b^2 (0: no bias unless bias = on) */
    /* The readout (last) layer's variances, used only when last_set != 0
     * and >= 0; otherwise the readout takes sigma_w2 / sigma_b2 (a job
     * file's default "same" is -1; a zero-initialized configuration has
     * last_set = 0). op_model_layer resolves them. */
    double sigma_w2_last, sigma_b2_last;
    int last_set;
    int bias;           /* op_bias_mode */
    double init_scale;  /* multiplies every initial std */
    double init_scale_first, init_scale_last; /* extra factors, layer 1/L+1 */
    int freeze_first;   /* random features: first layer not trained */
} op_model_cfg;

typedef struct {
    op_loss loss;
    op_optimizer optimizer;
    double lr, momentum, beta1, beta2, adam_eps;
    int batch;          /* 0 = full batch */
    int epochs;         /* maximum epochs */
    double lr_decay;    /* lr *= lr_decay every lr_step epochs */
    int lr_step;
    double weight_decay;
    int weight_decay_scaling; /* op_wd_scaling */
    double target_loss; /* stop when train loss <= target (0 = off) */
    int stop_at_fit;    /* stop at 100% training accuracy */
    int precision;      /* 4 (float32) or 8 (float64) */
    int log_every;      /* epochs between curve points */
    int center;         /* subtract the initial network's output */
    int ensemble;       /* average predictions over this many init seeds */
    int pack;           /* most runs trained together (pack.h), or
                           OP_PACK_AUTO / OP_PACK_OFF; not a result key */
} op_train_cfg;

/* [train] pack's words. */
enum { OP_PACK_AUTO = 0, OP_PACK_OFF = 1 };

typedef struct {
    char path[OP_PATH_MAX]; /* archive; the -o option overrides */
    int save_weights;       /* 0 none, 1 init and final */
    int fsync;              /* fsync the journal after every record */
} op_output_cfg;

typedef struct {
    int enabled;
    int nngp, ntk;          /* which kernels */
    op_activation activation;
    op_parameterization param;
    int depth;              /* the depth of this kernel, one of depths[] */
    /* Kernel instances i < n_depths: depth depths[i], variances
     * inst_w2[i], inst_b2[i]. [kernel] depth, sigma_w2 and sigma_b2 are
     * lists; the instances are their product (depth slowest, sigma_b2
     * fastest), so variances are swept the way depths are. */
    int n_depths;
    int depths[OP_LIST_MAX];
    double inst_w2[OP_LIST_MAX], inst_b2[OP_LIST_MAX];
    int var_swept;          /* a variance list has > 1 value: ids name them */
    double sigma_w2, sigma_b2; /* this kernel's (inst_*[i] once chosen) */
    int n_sigma_w2, n_sigma_b2; /* the [kernel] lists as written */
    double sigma_w2s[OP_LIST_MAX], sigma_b2s[OP_LIST_MAX];
    double sigma_w2_last, sigma_b2_last; /* as op_model_cfg's */
    int last_set;
    int bias;               /* op_bias_mode */
    int time_convention;    /* op_time_convention */
    int n_ridge;            /* diagonal regularizers epsilon */
    double ridge[OP_LIST_MAX];
    int ridge_relative;     /* epsilon relative to mean diagonal */
    int n_time;             /* gradient-descent times t */
    double time[OP_LIST_MAX];
    int eig32, eig64;       /* eigenspectra in float32 and/or float64 */
    int block;              /* block-cyclic block size */
    int grid_rows, grid_cols; /* 0 = near-square automatically */
    int save_matrix;
    int eigensolver;        /* OP_EIGEN_AUTO, _ELPA (2-stage), _SCALAPACK */
    int precision;          /* OP_KPREC_F64 or OP_KPREC_MIXED */
    int empirical_widths[OP_LIST_MAX]; /* empirical NTK of finite nets */
    int n_empirical;
    int save_empirical;     /* store each width's empirical NTK matrix */
    int empirical_train;    /* train each width ([train]): drift, f_lin */
    int empirical_precision; /* 8 or 4: float64 or float32 eNTK Grams */
    /* [kernel] n_train: a learning curve, one kernel per training-set size
     * (nested subsets, see kphase.h); default the single [data] n_train.
     * curve: the key was written, so group ids end in _n<n>. */
    int n_trains[OP_LIST_MAX];
    int n_n_train;
    int curve;
    /* [kernel] n_val: the last n_val training points (a random subset:
     * the set is drawn in a random order) held out to choose the ridge
     * without the test set: each kernel is fitted again on the rest and
     * scored on them (metrics_ridge_val, kphase.h); 0 = none. */
    int n_val;
    /* [kernel] zca: kernels for each ZCA regularizer (zeta < 0: off), one
     * data set each as [data] zca = zeta would load; n_zca = 0: [data]
     * zca only (group ids then carry no _z<zeta>). */
    double zcas[OP_LIST_MAX];
    int n_zca;
} op_kernel_cfg;

/* [kernel] eigensolver: ELPA's two-stage solver, ScaLAPACK's
 * pdsyevd/pdsyev, or auto (the default): ELPA when the build has it and
 * its workspace fits the memory per rank, else ScaLAPACK (the kernel phase
 * decides, op_kphase_bytes_per_rank). */
enum { OP_EIGEN_ELPA = 0, OP_EIGEN_SCALAPACK = 1, OP_EIGEN_AUTO = 2 };
/* [kernel] precision: float64 throughout, or mixed (float32 K and
 * Cholesky, float64 residuals and iterative refinement; regression only),
 * or compare (float64 throughout, and every ridge solved again in float32
 * alone: its test error, residual and status beside float64's). */
enum { OP_KPREC_F64 = 0, OP_KPREC_MIXED = 1, OP_KPREC_COMPARE = 2 };

typedef struct {
    int lipschitz;          /* lower/upper Lipschitz bounds */
    int lipschitz_pairs;    /* random points on segments between pairs */
    int frequency;          /* 1-D DFT error per target frequency */
    int freq_grid;          /* points of the output grid for the DFT */
    double freq_tol;        /* Delta(k) below which frequency k converged */
    double filter_delta;    /* high-dim low/high split; <= 0 = off */
    int condensation;       /* first-layer direction statistics */
    double cluster_angle;   /* radians within which directions cluster */
    int lazy;               /* per-layer weight change, NTK drift */
    int ntk_points;         /* points for the empirical NTK drift */
} op_measure_cfg;

/* One run's full configuration: the base file plus this run's grid point. */
typedef struct {
    uint64_t seed;          /* [job] seed: the root of every random stream */
    int seed_index;         /* swept `seed` axis value (data noise, init) */
    char phenomena[OP_PATH_MAX]; /* [job] phenomena: read by the analysis only */
    op_data_cfg data;
    op_model_cfg model;
    op_train_cfg train;
    op_output_cfg output;
    op_kernel_cfg kernel;
    op_measure_cfg measure;
    /* What the run's own random streams derive from (run.c): set by
     * op_job_config to op_job_stream_key of the run's configuration; 0 in
     * a configuration built by hand, whose streams then follow the run
     * index passed with it. */
    uint64_t run_key;
} op_config;

/* A swept axis: the key it sets and its values (as doubles; integer keys
 * hold integral values). */
typedef struct {
    int key;               /* index into the key table */
    const char *name;      /* "width", "lr", ... */
    int n;
    double *values;
} op_axis;

typedef struct {
    char file[OP_PATH_MAX];
    char *text;            /* the job file's bytes, stored in the archive */
    op_config base;
    int n_axes;
    op_axis axes[OP_AXES_MAX];
    long n_runs;           /* product of axis lengths */
} op_job;

/* One Dense layer's effective variances and whether it has bias
 * parameters, from the hidden variances (sw2, sb2), the readout ones
 * (sw2_last, sb2_last: used when last_set and >= 0), the op_bias_mode and
 * whether the layer is the readout. A layer without biases gets *b2 = 0.
 * The one rule networks (net.c), kernels (kernel.c) and the stream key
 * share. */
void op_dense_layer(double sw2, double sb2, double sw2_last, double sb2_last,
                    int last_set, int bias, int last, double *w2, double *b2,
                    int *has_bias);
/* op_dense_layer for layer l = 0..depth of a model (l == depth: readout). */
void op_model_layer(const op_model_cfg *m, int l, double *w2, double *b2,
                    int *has_bias);

op_status op_job_load(op_job *job, const char *path);
/* op_job_load with command-line overrides "section.key=value": each
 * replaces the file's line (kept as a comment) and is appended in a block
 * the job text keeps, so the archive's text reproduces the run; errors on
 * an override name it. */
#define OP_SETS_MAX 64
op_status op_job_load_sets(op_job *job, const char *path,
                           const char *const *sets, int n_sets);
/* The effective text of `text` under the overrides (malloc'd into *out). */
op_status op_job_apply_sets(const char *name, const char *text,
                            const char *const *sets, int n_sets, char **out);
op_status op_job_load_string(op_job *job, const char *name, const char *text);
void op_job_free(op_job *job);

/* The configuration of run `run` (0 <= run < n_runs). */
void op_job_config(const op_job *job, long run, op_config *cfg);
/* What a run's random streams derive from (run.c): a hash of every
 * sweepable scalar key of [data] [model] [train] in `cfg` but [train]
 * weight_decay_scaling (an optimizer option that touches no draw: runs
 * differing only in it start alike). A run's numbers
 * thus depend on its configuration alone, not on where its grid point
 * falls in the run order: an extended sweep, or another job with the same
 * configuration, draws the same streams for it. */
uint64_t op_job_stream_key(const op_config *cfg);
/* Value of axis `a` for run `run`. */
double op_job_axis_value(const op_job *job, long run, int a);
/* Index of the axis named `name`, or -1 when that key is not swept. */
int op_job_axis_find(const op_job *job, const char *name);

/* Text of axis `a`'s value (enum names for enum keys) into buf. */
const char *op_job_axis_label(const op_job *job, int a, double value,
                              char *buf, size_t len);
/* Axis `a`'s key: its section, its help text (the key table's), and
 * whether its values are names (enum keys). */
void op_job_axis_key(const op_job *job, int a, const char **section,
                     const char **help, int *named);
/* Whether axis `a` holds integers (int, bool, enum keys). */
int op_job_axis_is_integer(const op_job *job, int a);

/* Extending a finished sweep: OP_OK when `job` differs from `old` (the job
 * an archive was made by) only by [grid] values added (new values on old
 * axes, new axes that hold the old value), with map[r] the run of `job`
 * that has old run r's configuration; else OP_ERR_INPUT naming the keys
 * that changed (`archive` names the file in the message). */
op_status op_job_extension_map(const op_job *old, const op_job *job,
                               const char *archive, long *map);

/* Writes the key table (section, key, type, default, bounds, help) as
 * Markdown; `overparam keys` prints it. */
void op_job_print_keys(FILE *out);

#endif
