/* job.c — job files: the key table, INI parsing through libinih, value
 * parsing with bounds, grid axes and their expansion into runs.
 *
 * One table (op_keys below) drives everything: which section a key lives in,
 * its type, bounds, default, help text and whether a [grid] may sweep it.
 * Errors name "FILE:LINE: [section] key = value: problem (allowed ...)"; the
 * line numbers come from our own line reader, since Debian's inih is built
 * without INI_HANDLER_LINENO. Loading never writes anything. */
#include "overparam/job.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024 /* longer lines are rejected, not truncated */
#define JOB_BYTES_MAX (1 << 20)

typedef enum { K_INT, K_DOUBLE, K_BOOL, K_ENUM, K_STRING, K_DLIST, K_ILIST,
               K_U64, K_KERNELS } key_type;

typedef struct {
    const char *section;
    const char *name;
    key_type type;
    size_t offset;       /* into op_config */
    size_t count_offset; /* lists: the int holding the length */
    double lo, hi;       /* bounds for numbers and list entries */
    const char *def;     /* default, parsed like a file value */
    const char *const *names; /* enum value names, NULL-terminated */
    const int *values;   /* enum stored values (NULL: index) */
    int sweep;           /* may appear in [grid] */
    const char *help;
} op_key;

static const char *const src_names[] = {"fashion_mnist", "gaussian", "sphere",
                                        "sines", "teacher", "teacher_class",
                                        "file", NULL};
static const char *const corrupt_names[] = {
    "none", "random_labels", "shuffled_pixels", "random_pixels", "gaussian",
    NULL};
static const char *const act_names[] = {"relu", "erf", "tanh", NULL};
static const char *const kact_names[] = {"relu", "erf", NULL};
static const char *const param_names[] = {"standard", "ntk", NULL};
static const char *const loss_names[] = {"mse", "xent", NULL};
static const char *const opt_names[] = {"sgd", "adam", NULL};
static const char *const prec_names[] = {"float32", "float64", NULL};
static const int prec_values[] = {4, 8};
static const char *const weights_names[] = {"none", "init_final", NULL};
static const char *const kernel_names[] = {"nngp", "ntk", NULL};
static const char *const eigen_names[] = {"auto", "elpa", "scalapack", NULL};
static const int eigen_values[] = {OP_EIGEN_AUTO, OP_EIGEN_ELPA, OP_EIGEN_SCALAPACK};
static const char *const kprec_names[] = {"float64", "mixed", "compare", NULL};
/* [train] pack: words for an integer key (OP_PACK_AUTO, OP_PACK_OFF). */
static const char *const pack_names[] = {"auto", "off", NULL};
static const int pack_values[] = {OP_PACK_AUTO, OP_PACK_OFF};
/* The readout variances' word: the hidden layers' value. */
static const char *const same_names[] = {"same", NULL};
static const int same_values[] = {-1};
static const char *const bias_names[] = {"auto", "on", "off", NULL};
static const char *const tconv_names[] = {"per_sample", "neural_tangents", NULL};
static const char *const wdscale_names[] = {"uniform", "layerwise", NULL};

#define OFF(f) offsetof(op_config, f)
#define NOCOUNT 0
#define BIG 1e300

/* clang-format off */
static const op_key op_keys[] = {
 {"job", "seed", K_U64, OFF(seed), NOCOUNT, 0, 1.8e19, "0", NULL, NULL, 0,
  "root of every random stream: a run depends only on (seed, its configuration)"},
 {"job", "phenomena", K_STRING, OFF(phenomena), NOCOUNT, 0, 0, "none", NULL, NULL, 0,
  "phenomena whose signature the job targets (comma-separated; analysis/signatures.py)"},

 {"data", "source", K_ENUM, OFF(data.source), NOCOUNT, 0, 0, "fashion_mnist", src_names, NULL, 0,
  "data set and its labels: fashion_mnist = 10 clothing classes; "
  "gaussian, sphere = `classes` labels drawn at random, INDEPENDENT of x "
  "(memorization only: test accuracy is chance); sines = regression on "
  "sum a_k sin(f_k x); teacher = regression on a random ReLU network's "
  "output; teacher_class = `classes` labels, the argmax of a random ReLU "
  "network's outputs (learnable; label_noise applies); file = your own set "
  "at `path` (HDF5 or .npy directory): `classes` labels 0..K-1 from y, or "
  "real targets with regression = true"},
 {"data", "path", K_STRING, OFF(data.path), NOCOUNT, 0, 0, "/usr/share/datasets/fashion-mnist", NULL, NULL, 0,
  "fashion_mnist: directory of the gzipped IDX files (Debian's "
  "dataset-fashion-mnist); file: an HDF5 file with datasets x_train y_train "
  "x_test y_test, or a directory of x_train.npy y_train.npy x_test.npy "
  "y_test.npy"},
 {"data", "shape", K_ILIST, OFF(data.shape), OFF(data.n_shape), 1, 100000, "", NULL, NULL, 0,
  "file: image shape H, W, C of each x row (row-major HWC), for downsample "
  "and pixel corruptions; empty: x is flat with d = dim"},
 {"data", "regression", K_BOOL, OFF(data.regression), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "file: y holds real targets ([n] or [n][classes]) instead of labels"},
 {"data", "n_train", K_INT, OFF(data.n_train), NOCOUNT, 1, 10000000, "1000", NULL, NULL, 1,
  "training points (Fashion-MNIST: at most 60000)"},
 {"data", "n_test", K_INT, OFF(data.n_test), NOCOUNT, 1, 10000000, "1000", NULL, NULL, 1,
  "test points (Fashion-MNIST: at most 10000)"},
 {"data", "balanced", K_BOOL, OFF(data.balanced), NOCOUNT, 0, 1, "true", NULL, NULL, 0,
  "class-balanced subsets"},
 {"data", "downsample", K_INT, OFF(data.downsample), NOCOUNT, 1, 28, "1", NULL, NULL, 0,
  "average-pooling factor for images (28x28 -> 28/f), must divide 28"},
 {"data", "standardize", K_BOOL, OFF(data.standardize), NOCOUNT, 0, 1, "true", NULL, NULL, 0,
  "zero mean, unit variance per feature, from training statistics"},
 {"data", "dim", K_INT, OFF(data.dim), NOCOUNT, 1, 1000000, "16", NULL, NULL, 1,
  "input dimension d of synthetic sets and of a flat file set"},
 {"data", "classes", K_INT, OFF(data.classes), NOCOUNT, 1, 1000, "2", NULL, NULL, 0,
  "classes K of gaussian, sphere, teacher_class, file (1: one output, labels "
  "+-1; file with regression: outputs per target)"},
 {"data", "frequencies", K_DLIST, OFF(data.freq), OFF(data.n_freq), 0, 1e6, "1, 3, 5", NULL, NULL, 0,
  "sines: angular frequencies of sum a_k sin(f_k x)"},
 {"data", "amplitudes", K_DLIST, OFF(data.amp), OFF(data.n_amp), -1e6, 1e6, "1, 1, 1", NULL, NULL, 0,
  "sines: amplitudes, one per frequency"},
 {"data", "lo", K_DOUBLE, OFF(data.lo), NOCOUNT, -1e6, 1e6, "-3.141592653589793", NULL, NULL, 0,
  "sines: interval start"},
 {"data", "hi", K_DOUBLE, OFF(data.hi), NOCOUNT, -1e6, 1e6, "3.141592653589793", NULL, NULL, 0,
  "sines: interval end"},
 {"data", "teacher_width", K_INT, OFF(data.teacher_width), NOCOUNT, 1, 1000000, "32", NULL, NULL, 0,
  "teacher, teacher_class: hidden width of the random teacher network"},
 {"data", "corruption", K_ENUM, OFF(data.corruption), NOCOUNT, 0, 0, "none", corrupt_names, NULL, 1,
  "Zhang et al.'s corruptions of the training set"},
 {"data", "label_noise", K_DOUBLE, OFF(data.label_noise), NOCOUNT, 0, 1, "0", NULL, NULL, 1,
  "fraction of training labels replaced by a random other class"},
 {"data", "zca", K_DOUBLE, OFF(data.zca), NOCOUNT, -1, 1e6, "-1", NULL, NULL, 1,
  "ZCA whitening regularizer zeta (relative to mean eigenvalue); < 0 = off"},

 {"model", "activation", K_ENUM, OFF(model.activation), NOCOUNT, 0, 0, "relu", act_names, NULL, 1,
  "nonlinearity of every hidden layer"},
 {"model", "parameterization", K_ENUM, OFF(model.param), NOCOUNT, 0, 0, "standard", param_names, NULL, 1,
  "standard: W ~ N(0, sw2/fan_in); ntk: W ~ N(0,1) scaled by sqrt(sw2/fan_in)"},
 {"model", "width", K_INT, OFF(model.width), NOCOUNT, 1, 1 << 24, "64", NULL, NULL, 1,
  "hidden width m"},
 {"model", "depth", K_INT, OFF(model.depth), NOCOUNT, 1, 64, "1", NULL, NULL, 1,
  "hidden layers L"},
 {"model", "sigma_w2", K_DOUBLE, OFF(model.sigma_w2), NOCOUNT, 1e-12, 1e6, "2", NULL, NULL, 1,
  "weight variance sigma_w^2 (times 1/fan_in)"},
 {"model", "sigma_b2", K_DOUBLE, OFF(model.sigma_b2), NOCOUNT, 0, 1e6, "0", NULL, NULL, 1,
  "bias variance sigma_b^2; 0 = no biases (unless bias = on)"},
 {"model", "sigma_w2_last", K_DOUBLE, OFF(model.sigma_w2_last), NOCOUNT, 1e-12, 1e6, "same", same_names, same_values, 1,
  "the readout layer's weight variance (neural-tangents' last Dense W_std^2); same = sigma_w2 (-1 where an archive lists a swept value)"},
 {"model", "sigma_b2_last", K_DOUBLE, OFF(model.sigma_b2_last), NOCOUNT, 0, 1e6, "same", same_names, same_values, 1,
  "the readout layer's bias variance (its b_std^2); same = sigma_b2 (-1 where an archive lists a swept value)"},
 {"model", "bias", K_ENUM, OFF(model.bias), NOCOUNT, 0, 0, "auto", bias_names, NULL, 1,
  "auto: a layer has biases when its bias variance is > 0 (neural-tangents' "
  "b_std = None for 0); on: every layer has trained biases, zero-initialized "
  "where the variance is 0 (b_std = 0.: in standard parameterization each "
  "adds 1 to the NTK, in ntk its multiplier is 0); off: no biases "
  "(variances must be 0)"},
 {"model", "init_scale", K_DOUBLE, OFF(model.init_scale), NOCOUNT, 1e-300, 1e6, "1", NULL, NULL, 1,
  "multiplies every initial standard deviation"},
 {"model", "init_scale_first", K_DOUBLE, OFF(model.init_scale_first), NOCOUNT, 1e-300, 1e6, "1", NULL, NULL, 1,
  "extra factor on the first layer's initial std"},
 {"model", "init_scale_last", K_DOUBLE, OFF(model.init_scale_last), NOCOUNT, 1e-300, 1e6, "1", NULL, NULL, 1,
  "extra factor on the readout layer's initial std"},
 {"model", "freeze_first", K_BOOL, OFF(model.freeze_first), NOCOUNT, 0, 1, "false", NULL, NULL, 1,
  "random features: the first layer stays at its initialization"},

 {"train", "seed", K_INT, OFF(seed_index), NOCOUNT, 0, 2147483647, "0", NULL, NULL, 1,
  "seed axis: label-noise draw and, with the rest of the run's configuration, the init"},
 {"train", "loss", K_ENUM, OFF(train.loss), NOCOUNT, 0, 0, "mse", loss_names, NULL, 1,
  "mse: 0.5*mean_i ||f(x_i)-y_i||^2 on one-hot targets; xent: softmax cross-entropy"},
 {"train", "optimizer", K_ENUM, OFF(train.optimizer), NOCOUNT, 0, 0, "sgd", opt_names, NULL, 1,
  "sgd (with momentum) or adam"},
 {"train", "lr", K_DOUBLE, OFF(train.lr), NOCOUNT, 1e-300, 1e12, "0.01", NULL, NULL, 1,
  "learning rate"},
 {"train", "momentum", K_DOUBLE, OFF(train.momentum), NOCOUNT, 0, 0.999999, "0.9", NULL, NULL, 1,
  "SGD momentum"},
 {"train", "beta1", K_DOUBLE, OFF(train.beta1), NOCOUNT, 0, 0.999999, "0.9", NULL, NULL, 1,
  "Adam beta1"},
 {"train", "beta2", K_DOUBLE, OFF(train.beta2), NOCOUNT, 0, 0.99999999, "0.999", NULL, NULL, 1,
  "Adam beta2"},
 {"train", "adam_eps", K_DOUBLE, OFF(train.adam_eps), NOCOUNT, 1e-300, 1, "1e-8", NULL, NULL, 1,
  "Adam epsilon"},
 {"train", "batch", K_INT, OFF(train.batch), NOCOUNT, 0, 100000000, "0", NULL, NULL, 1,
  "mini-batch size; 0 = full batch"},
 {"train", "epochs", K_INT, OFF(train.epochs), NOCOUNT, 0, 100000000, "100", NULL, NULL, 1,
  "maximum epochs"},
 {"train", "lr_decay", K_DOUBLE, OFF(train.lr_decay), NOCOUNT, 1e-300, 1, "1", NULL, NULL, 1,
  "step decay factor"},
 {"train", "lr_step", K_INT, OFF(train.lr_step), NOCOUNT, 0, 100000000, "0", NULL, NULL, 1,
  "epochs between decays; 0 = constant"},
 {"train", "weight_decay", K_DOUBLE, OFF(train.weight_decay), NOCOUNT, 0, 1e6, "0", NULL, NULL, 1,
  "L2 coefficient added to the gradient"},
 {"train", "weight_decay_scaling", K_ENUM, OFF(train.weight_decay_scaling), NOCOUNT, 0, 0, "uniform", wdscale_names, NULL, 1,
  "uniform: weight_decay * p on every trained parameter; layerwise: the L2 "
  "penalty on the effective weights, weight_decay * wmul^2 * p per layer "
  "(ntk: sigma_w2/fan_in on W, sigma_b2 on b; standard: the same as uniform), "
  "Lee et al. 2020's layer-wise scaling; does not change the run's random streams"},
 {"train", "target_loss", K_DOUBLE, OFF(train.target_loss), NOCOUNT, 0, 1e30, "0", NULL, NULL, 1,
  "stop when the training loss falls to this (0 = off)"},
 {"train", "stop_at_fit", K_BOOL, OFF(train.stop_at_fit), NOCOUNT, 0, 1, "false", NULL, NULL, 1,
  "stop at 100% training accuracy"},
 {"train", "precision", K_ENUM, OFF(train.precision), NOCOUNT, 0, 0, "float32", prec_names, prec_values, 1,
  "arithmetic of training"},
 {"train", "log_every", K_INT, OFF(train.log_every), NOCOUNT, 1, 100000000, "1", NULL, NULL, 0,
  "epochs between learning-curve points"},
 {"train", "center", K_BOOL, OFF(train.center), NOCOUNT, 0, 1, "false", NULL, NULL, 1,
  "subtract the initial network's output"},
 {"train", "ensemble", K_INT, OFF(train.ensemble), NOCOUNT, 1, 1024, "1", NULL, NULL, 1,
  "average the predictions of this many initializations"},
 {"train", "pack", K_INT, OFF(train.pack), NOCOUNT, 2, 64, "off", pack_names, pack_values, 0,
  "train runs that share data and model shape (first layer at most 32 wide) together, up to this many a pack (auto: 4); off: one by one. Results equal to rounding; the speed gain measured on this repository's jobs was 0.86-1.06x (bench/RESULTS.md)"},

 {"output", "path", K_STRING, OFF(output.path), NOCOUNT, 0, 0, "results/out.h5", NULL, NULL, 0,
  "archive path (the -o option overrides)"},
 {"output", "save_weights", K_ENUM, OFF(output.save_weights), NOCOUNT, 0, 0, "none", weights_names, NULL, 0,
  "store every parameter at init and at the end (/weights/init, /weights/final)"},
 {"output", "fsync", K_BOOL, OFF(output.fsync), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "fsync the journal after every finished run (survives node crashes)"},

 {"kernel", "kernels", K_KERNELS, 0, NOCOUNT, 0, 0, "nngp, ntk", kernel_names, NULL, 0,
  "which infinite-width kernels: nngp, ntk"},
 {"kernel", "activation", K_ENUM, OFF(kernel.activation), NOCOUNT, 0, 0, "relu", kact_names, NULL, 0,
  "relu (arc-cosine) or erf (arcsin); default: [model] activation"},
 {"kernel", "parameterization", K_ENUM, OFF(kernel.param), NOCOUNT, 0, 0, "ntk", param_names, NULL, 0,
  "default: [model] parameterization"},
 {"kernel", "depth", K_ILIST, OFF(kernel.depths), OFF(kernel.n_depths), 1, 64, "1", NULL, NULL, 0,
  "hidden layers; a list computes one kernel per depth; default: [model] depth"},
 {"kernel", "sigma_w2", K_DLIST, OFF(kernel.sigma_w2s), OFF(kernel.n_sigma_w2), 1e-12, 1e6, "2", NULL, NULL, 0,
  "default: [model] sigma_w2; a list computes one kernel per value (times each depth and sigma_b2)"},
 {"kernel", "sigma_b2", K_DLIST, OFF(kernel.sigma_b2s), OFF(kernel.n_sigma_b2), 0, 1e6, "0", NULL, NULL, 0,
  "default: [model] sigma_b2; a list computes one kernel per value (times each depth and sigma_w2)"},
 {"kernel", "sigma_w2_last", K_DOUBLE, OFF(kernel.sigma_w2_last), NOCOUNT, 1e-12, 1e6, "same", same_names, same_values, 0,
  "readout weight variance; same = the kernel's sigma_w2; default: [model] sigma_w2_last"},
 {"kernel", "sigma_b2_last", K_DOUBLE, OFF(kernel.sigma_b2_last), NOCOUNT, 0, 1e6, "same", same_names, same_values, 0,
  "readout bias variance; same = the kernel's sigma_b2; default: [model] sigma_b2_last"},
 {"kernel", "bias", K_ENUM, OFF(kernel.bias), NOCOUNT, 0, 0, "auto", bias_names, NULL, 0,
  "auto, on, off as [model] bias; default: [model] bias"},
 {"kernel", "time_convention", K_ENUM, OFF(kernel.time_convention), NOCOUNT, 0, 0, "per_sample", tconv_names, NULL, 0,
  "what the gradient-descent time t means: per_sample = flow on the nets' "
  "MSE loss, 0.5 * mean over samples of the squared error summed over "
  "outputs (exp(-lambda t/n)); neural_tangents = "
  "nt.predict.gradient_descent_mse's loss averaged over all n*k outputs "
  "(exp(-lambda t/(n k))): the same prediction at k times the time"},
 {"kernel", "ridge", K_DLIST, OFF(kernel.ridge), OFF(kernel.n_ridge), 0, 1e30, "0, 1e-6, 1e-4, 1e-2, 1", NULL, NULL, 0,
  "diagonal regularizers epsilon for K + epsilon*I"},
 {"kernel", "ridge_relative", K_BOOL, OFF(kernel.ridge_relative), NOCOUNT, 0, 1, "true", NULL, NULL, 0,
  "epsilon relative to the mean diagonal of K (neural-tangents' default)"},
 {"kernel", "time", K_DLIST, OFF(kernel.time), OFF(kernel.n_time), 0, HUGE_VAL, "1, 10, 100, 1000, inf", NULL, NULL, 0,
  "gradient-descent times t (lr x steps) of the infinite-width predictor; inf = converged"},
 {"kernel", "eig32", K_BOOL, OFF(kernel.eig32), NOCOUNT, 0, 1, "true", NULL, NULL, 0,
  "eigenvalues in float32 too"},
 {"kernel", "eig64", K_BOOL, OFF(kernel.eig64), NOCOUNT, 0, 1, "true", NULL, NULL, 0,
  "eigenvalues in float64"},
 {"kernel", "block", K_INT, OFF(kernel.block), NOCOUNT, 1, 8192, "64", NULL, NULL, 0,
  "block-cyclic block size"},
 {"kernel", "grid_rows", K_INT, OFF(kernel.grid_rows), NOCOUNT, 0, 1000000, "0", NULL, NULL, 0,
  "BLACS process rows; 0 = near-square automatically"},
 {"kernel", "grid_cols", K_INT, OFF(kernel.grid_cols), NOCOUNT, 0, 1000000, "0", NULL, NULL, 0,
  "BLACS process columns; 0 = near-square automatically"},
 {"kernel", "save_matrix", K_BOOL, OFF(kernel.save_matrix), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "store the full train kernel matrix"},
 {"kernel", "eigensolver", K_ENUM, OFF(kernel.eigensolver), NOCOUNT, 0, 0, "auto", eigen_names, eigen_values, 0,
  "elpa (two-stage), scalapack (pdsyevd; pdsyev for values only), or auto: elpa for eigenvalues alone (no [kernel] time) when built with it and its workspace fits in memory, else scalapack"},
 {"kernel", "precision", K_ENUM, OFF(kernel.precision), NOCOUNT, 0, 0, "float64", kprec_names, NULL, 0,
  "float64, or mixed: float32 K and Cholesky refined to the float64 solution (ridge regression only), "
  "or compare: float64, and each ridge solved again in float32 alone (pspotrf/pspotrs): its test error, "
  "residual |K a - y|/|y| and status beside float64's (metrics_ridge32)"},
 {"kernel", "n_train", K_ILIST, OFF(kernel.n_trains), OFF(kernel.n_n_train), 1, 10000000, "", NULL, NULL, 0,
  "a learning curve: one kernel per training-set size, increasing (nested subsets: each is the "
  "subset [data] n_train = n would draw, drawn from the same stream); default: [data] n_train"},
 {"kernel", "n_val", K_INT, OFF(kernel.n_val), NOCOUNT, 0, 10000000, "0", NULL, NULL, 0,
  "hold out the last n_val training points (a random subset) to choose the ridge: each kernel is fitted again on the rest, scored on them (metrics_ridge_val)"},
 {"kernel", "zca", K_DLIST, OFF(kernel.zcas), OFF(kernel.n_zca), -1, 1e6, "", NULL, NULL, 0,
  "kernels for each ZCA regularizer zeta (< 0: off; see [data] zca), one data set each; default: [data] zca"},
 {"kernel", "empirical_widths", K_ILIST, OFF(kernel.empirical_widths), OFF(kernel.n_empirical), 1, 1 << 20, "", NULL, NULL, 0,
  "widths of finite networks whose empirical NTK at init is stored"},
 {"kernel", "save_empirical", K_BOOL, OFF(kernel.save_empirical), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "store each width's empirical NTK matrix (empirical_matrix [widths][n][n])"},
 {"kernel", "empirical_precision", K_ENUM, OFF(kernel.empirical_precision), NOCOUNT, 0, 0, "float64", prec_names, prec_values, 0,
  "empirical NTK: float64, or float32 Grams (sgemm on float32 copies of the float64 passes' rows, each product summed into float64 Theta; ~1e-7 relative, far below a finite net's O(1/sqrt(width)) fluctuation; neural-tangents' default dtype)"},
 {"kernel", "empirical_train", K_BOOL, OFF(kernel.empirical_train), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "train each empirical_widths network with the [train] recipe: NTK drift and linearized predictions"},

 {"measure", "lipschitz", K_BOOL, OFF(measure.lipschitz), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "Lipschitz lower bound (max input-gradient norm) and upper bound"},
 {"measure", "lipschitz_pairs", K_INT, OFF(measure.lipschitz_pairs), NOCOUNT, 0, 10000000, "1000", NULL, NULL, 0,
  "random points on segments between pairs of points"},
 {"measure", "frequency", K_BOOL, OFF(measure.frequency), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "1-D: DFT error per target frequency at every log point"},
 {"measure", "freq_grid", K_INT, OFF(measure.freq_grid), NOCOUNT, 8, 1 << 20, "256", NULL, NULL, 0,
  "grid points of the output DFT"},
 {"measure", "freq_tol", K_DOUBLE, OFF(measure.freq_tol), NOCOUNT, 1e-12, 1e6, "0.1", NULL, NULL, 0,
  "relative error below which a frequency counts as converged"},
 {"measure", "filter_delta", K_DOUBLE, OFF(measure.filter_delta), NOCOUNT, 0, 1e6, "0", NULL, NULL, 0,
  "high-dimensional low/high split by a Gaussian filter of this width; 0 = off"},
 {"measure", "condensation", K_BOOL, OFF(measure.condensation), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "first-layer direction statistics"},
 {"measure", "cluster_angle", K_DOUBLE, OFF(measure.cluster_angle), NOCOUNT, 1e-9, 3.2, "0.05", NULL, NULL, 0,
  "radians within which two directions share a cluster"},
 {"measure", "lazy", K_BOOL, OFF(measure.lazy), NOCOUNT, 0, 1, "false", NULL, NULL, 0,
  "relative weight change per layer and empirical-NTK drift"},
 {"measure", "ntk_points", K_INT, OFF(measure.ntk_points), NOCOUNT, 1, 100000, "64", NULL, NULL, 0,
  "points for the empirical NTK drift"},
};
/* clang-format on */
#define N_KEYS ((int)(sizeof op_keys / sizeof op_keys[0]))

static const char *const sections[] = {"job",    "data",    "model", "train",
                                       "output", "kernel",  "measure", "grid",
                                       NULL};

/* Parser state shared by the line reader and the inih handler. */
typedef struct {
    op_job *job;
    const char *text; /* cursor into job->text */
    int line;         /* line the handler is looking at */
    int key_line[N_KEYS];
    int axis_line[OP_AXES_MAX];
    op_status status;
    char *msg;        /* first error */
    int kernel_seen;
    /* --set overrides: the block after SET_MARKER, two lines each; errors
     * on its lines name the override, not a line number. */
    int set_first;    /* line of the marker, 0 when none */
    char set_desc[2 * OP_SETS_MAX + 2][160]; /* by line - set_first */
} parse_state;

/* Opens the block of --set overrides appended to a job's text. */
#define SET_MARKER "; overparam --set: command-line overrides of the lines above"

static op_status fail(parse_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static op_status fail(parse_state *st, const char *fmt, ...)
{
    if (st->status != OP_OK)
        return st->status; /* keep the first error: later ones may cascade */
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int o = st->line - st->set_first;
    if (st->set_first && o > 0 && o < 2 * OP_SETS_MAX + 2 &&
        st->set_desc[o][0])
        st->status = op_error(OP_ERR_INPUT, "%s: --set %s: %s", st->job->file,
                              st->set_desc[o], buf);
    else
        st->status = op_error(OP_ERR_INPUT, "%s:%d: %s", st->job->file,
                              st->line, buf);
    return st->status;
}

/* ---- values ---------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *trim(end) != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void describe_allowed(const op_key *k, char *buf, size_t len)
{
    switch (k->type) {
    case K_ENUM:
    case K_KERNELS: {
        size_t used = (size_t)snprintf(buf, len, "one of");
        for (int i = 0; k->names[i] && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s %s",
                                     i ? "," : "", k->names[i]);
        break;
    }
    case K_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case K_STRING:
        snprintf(buf, len, "a path of at most %d bytes", OP_PATH_MAX - 1);
        break;
    case K_INT:
    case K_U64:
    case K_ILIST:
        if (k->type == K_INT && k->names) { /* words, or a number */
            size_t used = 0;
            for (int i = 0; k->names[i] && used < len; i++)
                used += (size_t)snprintf(buf + used, len - used, "%s, ",
                                         k->names[i]);
            if (used < len)
                snprintf(buf + used, len - used, "or an integer in [%.17g, "
                         "%.17g]", k->lo, k->hi);
            break;
        }
        snprintf(buf, len, "%s integer%s in [%.17g, %.17g]",
                 k->type == K_ILIST ? "comma-separated" : "an",
                 k->type == K_ILIST ? "s" : "", k->lo, k->hi);
        break;
    case K_DOUBLE:
    case K_DLIST:
        if (k->type == K_DOUBLE && k->names) { /* a word, or a number */
            snprintf(buf, len, "%s, or a number in [%g, %g]", k->names[0],
                     k->lo, k->hi);
            break;
        }
        snprintf(buf, len, "%s number%s in [%g, %g]",
                 k->type == K_DLIST ? "comma-separated" : "a",
                 k->type == K_DLIST ? "s" : "", k->lo, k->hi);
        break;
    }
}

/* Parses one scalar of key k into *out (as a double; enums by index or
 * stored value). Returns 0 or -1 with *why set. */
static int parse_scalar(const op_key *k, const char *raw, double *out,
                        const char **why)
{
    char buf[LINE_MAX_BYTES];
    snprintf(buf, sizeof buf, "%s", raw);
    char *s = trim(buf);
    switch (k->type) {
    case K_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
            *out = 1;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
            *out = 0;
        else {
            *why = "not a boolean";
            return -1;
        }
        return 0;
    case K_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (!strcmp(s, k->names[i])) {
                *out = k->values ? k->values[i] : i;
                return 0;
            }
        *why = "unknown value";
        return -1;
    case K_INT:
    case K_U64:
    case K_ILIST:
    case K_DOUBLE:
    case K_DLIST: {
        double v;
        /* A number key with words for special values ([train] pack, the
         * readout variances' "same"). */
        for (int i = 0; (k->type == K_INT || k->type == K_DOUBLE) &&
                        k->names && k->names[i]; i++)
            if (!strcmp(s, k->names[i])) {
                *out = k->values[i];
                return 0;
            }
        /* Keys bounded by infinity (gradient-descent times) take "inf". */
        if (k->hi == HUGE_VAL && (!strcmp(s, "inf") || !strcmp(s, "infinity"))) {
            *out = HUGE_VAL;
            return 0;
        }
        if (parse_number(s, &v) != 0) {
            *why = "not a number";
            return -1;
        }
        if (k->type != K_DOUBLE && k->type != K_DLIST && v != floor(v)) {
            *why = "not an integer";
            return -1;
        }
        if (v < k->lo || v > k->hi) {
            *why = "out of range";
            return -1;
        }
        *out = v;
        return 0;
    }
    default:
        *why = "not a scalar key";
        return -1;
    }
}

static void store_scalar(const op_key *k, op_config *cfg, double v)
{
    char *base = (char *)cfg + k->offset;
    switch (k->type) {
    case K_U64:
        *(uint64_t *)base = (uint64_t)v;
        break;
    case K_DOUBLE:
        *(double *)base = v;
        break;
    default: /* int, bool, enum */
        *(int *)base = (int)v;
        break;
    }
}

/* Splits a comma-separated list; returns the count or -1 when too long. */
static int split_list(char *s, char **items, int max)
{
    int n = 0;
    if (*trim(s) == '\0')
        return 0;
    for (char *tok = s;;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        if (n == max)
            return -1;
        items[n++] = trim(tok);
        if (!comma)
            break;
        tok = comma + 1;
    }
    return n;
}

static op_status set_value(parse_state *st, const op_key *k, op_config *cfg,
                           const char *value)
{
    char allowed[512];
    describe_allowed(k, allowed, sizeof allowed);
    char buf[LINE_MAX_BYTES];
    snprintf(buf, sizeof buf, "%s", value);
    const char *why = NULL;
    if (k->type == K_STRING) {
        char *s = trim(buf);
        if (strlen(s) >= OP_PATH_MAX || *s == '\0')
            return fail(st, "[%s] %s = %s: %s (allowed: %s)", k->section,
                        k->name, value, *s ? "too long" : "empty", allowed);
        memcpy((char *)cfg + k->offset, s, strlen(s) + 1);
        return OP_OK;
    }
    if (k->type == K_DLIST || k->type == K_ILIST || k->type == K_KERNELS) {
        char *items[OP_LIST_MAX + 1];
        int n = split_list(buf, items, OP_LIST_MAX);
        if (n < 0)
            return fail(st, "[%s] %s = %s: more than %d entries", k->section,
                        k->name, value, OP_LIST_MAX);
        if (k->type == K_KERNELS) {
            if (n == 0)
                return fail(st, "[kernel] kernels = %s: empty (allowed: %s)",
                            value, allowed);
            cfg->kernel.nngp = cfg->kernel.ntk = 0;
            for (int i = 0; i < n; i++) {
                if (!strcmp(items[i], "nngp"))
                    cfg->kernel.nngp = 1;
                else if (!strcmp(items[i], "ntk"))
                    cfg->kernel.ntk = 1;
                else
                    return fail(st, "[kernel] kernels = %s: unknown kernel "
                                "'%s' (allowed: %s)", value, items[i], allowed);
            }
            return OP_OK;
        }
        for (int i = 0; i < n; i++) {
            double v;
            if (parse_scalar(k, items[i], &v, &why) != 0)
                return fail(st, "[%s] %s = %s: entry '%s' %s (allowed: %s)",
                            k->section, k->name, value, items[i], why,
                            allowed);
            char *base = (char *)cfg + k->offset;
            if (k->type == K_DLIST)
                ((double *)base)[i] = v;
            else
                ((int *)base)[i] = (int)v;
        }
        *(int *)((char *)cfg + k->count_offset) = n;
        return OP_OK;
    }
    double v;
    if (parse_scalar(k, buf, &v, &why) != 0)
        return fail(st, "[%s] %s = %s: %s (allowed: %s)", k->section, k->name,
                    value, why, allowed);
    if (k->type == K_U64) {
        /* A double holds integers exactly only up to 2^53: above, 2^53
         * and 2^53 + 1 would be one seed. Digits are read exactly; any
         * other spelling (1e18) only where it is exact. */
        char *d = trim(buf), *end;
        if (d[strspn(d, "0123456789")] == '\0') {
            errno = 0;
            unsigned long long u = strtoull(d, &end, 10);
            if (errno == 0) {
                *(uint64_t *)((char *)cfg + k->offset) = (uint64_t)u;
                return OP_OK;
            }
        } else if (v > 9007199254740992.0) {
            return fail(st, "[%s] %s = %s: above 2^53 a seed must be written "
                        "in digits (a number like 1e18 is rounded)",
                        k->section, k->name, value);
        }
    }
    store_scalar(k, cfg, v);
    return OP_OK;
}

/* ---- keys and sections ---------------------------------------------- */

static int key_find(const char *section, const char *name)
{
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(op_keys[i].section, section) &&
            !strcmp(op_keys[i].name, name))
            return i;
    return -1;
}

/* A [grid] name: "key" (the first sweepable key of that name) or
 * "section.key". */
static int key_find_sweep(const char *name)
{
    const char *dot = strchr(name, '.');
    if (dot) {
        char sec[32];
        size_t n = (size_t)(dot - name);
        if (n >= sizeof sec)
            return -1;
        memcpy(sec, name, n);
        sec[n] = '\0';
        int k = key_find(sec, dot + 1);
        return k >= 0 && op_keys[k].sweep ? k : -1;
    }
    for (int i = 0; i < N_KEYS; i++)
        if (op_keys[i].sweep && !strcmp(op_keys[i].name, name))
            return i;
    return -1;
}

static void list_keys(const char *section, int sweep_only, char *buf,
                      size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_KEYS && used < len; i++)
        if ((!section || !strcmp(op_keys[i].section, section)) &&
            (!sweep_only || op_keys[i].sweep))
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used ? ", " : "", op_keys[i].name);
}

static int section_known(const char *s)
{
    for (int i = 0; sections[i]; i++)
        if (!strcmp(sections[i], s))
            return 1;
    return 0;
}

/* ---- grid axes ------------------------------------------------------- */

/* Generated axes, as numpy spells them: "range(a, b[, step])" stops
 * before b (Python and numpy's arange); "linspace(a, b, n)", "geomspace(a,
 * b, n)" and "logspace(a, b, n)" (10^a .. 10^b) hold n values including
 * both ends. Otherwise a plain list. Integer keys round and drop repeated
 * values. */
static op_status parse_axis(parse_state *st, int k, const char *value)
{
    const op_key *key = &op_keys[k];
    op_job *job = st->job;
    if (job->n_axes == OP_AXES_MAX)
        return fail(st, "[grid] %s: more than %d swept keys", key->name,
                    OP_AXES_MAX);
    char buf[LINE_MAX_BYTES];
    snprintf(buf, sizeof buf, "%s", value);
    char *s = trim(buf);
    double *vals = NULL;
    int n = 0;
    char allowed[512];
    describe_allowed(key, allowed, sizeof allowed);
    static const char *const fns[] = {"linspace", "geomspace", "logspace",
                                      "range"};
    const char *fn = NULL;
    for (int i = 0; i < 4; i++) {
        size_t l = strlen(fns[i]);
        if (!strncmp(s, fns[i], l) && s[l + strspn(s + l, " \t")] == '(')
            fn = fns[i];
    }
    if (fn) {
        int is_range = !strcmp(fn, "range");
        size_t len = strlen(s);
        if (s[len - 1] != ')')
            return fail(st, "[grid] %s = %s: missing ')'", key->name, value);
        s[len - 1] = '\0';
        char *items[4];
        int m = split_list(strchr(s, '(') + 1, items, 3);
        double a[3] = {0, 0, 1};
        int ok = m == 3 || (is_range && m == 2);
        for (int i = 0; ok && i < m; i++)
            ok = parse_number(items[i], &a[i]) == 0;
        if (!ok)
            return fail(st, "[grid] %s = %s: %s takes %s", key->name, value,
                        fn, is_range ? "two or three numbers (start, stop[, "
                                       "step]; stop excluded)"
                                     : "three numbers (start, stop, count)");
        if (key->type == K_ENUM || key->type == K_BOOL)
            return fail(st, "[grid] %s = %s: %s of a non-numeric key "
                        "(allowed: %s)", key->name, value, fn, allowed);
        double count;
        if (is_range) {
            double q = a[2] != 0 ? (a[1] - a[0]) / a[2] : -1;
            if (a[2] == 0 || q <= 0)
                return fail(st, "[grid] %s = %s: empty range: the step must "
                            "move from start towards stop, which is "
                            "excluded (range(0, 3) is 0, 1, 2)", key->name,
                            value);
            /* The stop is excluded; a quotient a rounding away from an
             * integer counts as that integer. */
            count = ceil(q - 1e-10 * (q > 1 ? q : 1));
        } else {
            count = a[2];
            if (count < 1 || count != floor(count))
                return fail(st, "[grid] %s = %s: count must be a positive "
                            "integer", key->name, value);
            if (!strcmp(fn, "geomspace") && (a[0] <= 0 || a[1] <= 0))
                return fail(st, "[grid] %s = %s: geomspace needs positive "
                            "start and stop", key->name, value);
            if (!strcmp(fn, "logspace") &&
                (fabs(a[0]) > 300 || fabs(a[1]) > 300))
                return fail(st, "[grid] %s = %s: logspace exponents beyond "
                            "+-300", key->name, value);
        }
        if (count > 1000000)
            return fail(st, "[grid] %s = %s: %.0f values, at most 1000000",
                        key->name, value, count);
        n = (int)count;
        vals = malloc(sizeof *vals * (size_t)n);
        if (!vals)
            return fail(st, "out of memory");
        for (int i = 0; i < n; i++) {
            double t = n > 1 ? (double)i / (n - 1) : 0;
            if (is_range)
                vals[i] = a[0] + i * a[2];
            else if (!strcmp(fn, "linspace"))
                vals[i] = a[0] + t * (a[1] - a[0]);
            else if (!strcmp(fn, "logspace"))
                vals[i] = pow(10.0, a[0] + t * (a[1] - a[0]));
            else
                vals[i] = exp(log(a[0]) + t * (log(a[1]) - log(a[0])));
            /* Ends exactly as written, not one rounding away. */
            if (!is_range && i == n - 1 && n > 1)
                vals[i] = !strcmp(fn, "logspace") ? pow(10.0, a[1]) : a[1];
            if (key->type == K_INT)
                vals[i] = floor(vals[i] + 0.5);
        }
    } else {
        char *items[OP_LIST_MAX * 16 + 1];
        n = split_list(s, items, OP_LIST_MAX * 16);
        if (n < 0)
            return fail(st, "[grid] %s: more than %d listed values (use "
                        "linspace/geomspace/logspace/range)", key->name,
                        OP_LIST_MAX * 16);
        if (n == 0)
            return fail(st, "[grid] %s = %s: empty axis: the grid would hold "
                        "no runs (allowed: %s)", key->name, value, allowed);
        vals = malloc(sizeof *vals * (size_t)n);
        if (!vals)
            return fail(st, "out of memory");
        for (int i = 0; i < n; i++) {
            const char *why = NULL;
            if (items[i][0] == '\0' ||
                parse_scalar(key, items[i], &vals[i], &why) != 0) {
                fail(st, "[grid] %s = %s: value '%s' %s (allowed: %s)",
                     key->name, value, items[i], why ? why : "is empty",
                     allowed);
                free(vals);
                return st->status;
            }
        }
    }
    /* Drop repeats (rounded geomspace of integers); a repeated listed value
     * would make two runs identical, which is a mistake worth naming. */
    int m = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        /* Generated sequences are monotonic: only neighbours can repeat,
         * which keeps a million-value range linear. */
        for (int j = fn ? (m > 0 ? m - 1 : 0) : 0; j < m; j++)
            dup |= vals[j] == vals[i];
        if (dup && !fn) {
            fail(st, "[grid] %s = %s: value %g listed twice", key->name,
                 value, vals[i]);
            free(vals);
            return st->status;
        }
        if (!dup)
            vals[m++] = vals[i];
    }
    n = m;
    for (int i = 0; i < n; i++) {
        if (vals[i] < key->lo || vals[i] > key->hi ||
            (key->type == K_INT && vals[i] != floor(vals[i]))) {
            if (key->type == K_ENUM || key->type == K_BOOL)
                continue;
            int word = 0; /* a number key's special word ("same") */
            for (int w = 0; key->type != K_ENUM && key->names &&
                            key->names[w]; w++)
                word |= vals[i] == key->values[w];
            if (word)
                continue;
            fail(st, "[grid] %s = %s: value %g out of range (allowed: %s)",
                 key->name, value, vals[i], allowed);
            free(vals);
            return st->status;
        }
    }
    op_axis *ax = &job->axes[job->n_axes];
    ax->key = k;
    ax->name = key->name;
    ax->n = n;
    ax->values = vals;
    st->axis_line[job->n_axes] = st->line;
    job->n_axes++;
    return OP_OK;
}

/* ---- inih callbacks -------------------------------------------------- */

/* Names the override a line of the --set block came from: "[sec]" lines
 * take the key line after them, which completes the override. */
static void describe_set_line(parse_state *st, const char *s)
{
    int o = st->line - st->set_first;
    if (o <= 0 || o >= 2 * OP_SETS_MAX + 2)
        return;
    char *d = st->set_desc[o];
    if (s[0] == '[') {
        size_t n = strcspn(st->text, "\r\n");
        char next[LINE_MAX_BYTES + 1];
        snprintf(next, sizeof next, "%.*s", (int)n, st->text);
        char *eq = strchr(next, '=');
        const char *close = strchr(s, ']');
        if (!eq || !close)
            return;
        *eq = '\0';
        snprintf(d, sizeof st->set_desc[0], "%.*s.%s=%s",
                 (int)(close - s - 1), s + 1, trim(next), trim(eq + 1));
    } else if (o >= 2) {
        memcpy(d, st->set_desc[o - 1], sizeof st->set_desc[0]);
    }
}

/* fgets-like reader over the job text that counts lines and refuses lines
 * too long for inih's buffer instead of letting it split them. */
static char *read_line(char *str, int num, void *stream)
{
    parse_state *st = stream;
    if (*st->text == '\0' || st->status != OP_OK)
        return NULL;
    const char *nl = strchr(st->text, '\n');
    size_t len = nl ? (size_t)(nl - st->text) + 1 : strlen(st->text);
    st->line++;
    if (len + 1 > (size_t)num || len > LINE_MAX_BYTES) {
        fail(st, "line longer than %d bytes",
             (int)(num < LINE_MAX_BYTES ? num - 2 : LINE_MAX_BYTES));
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)st->text[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            fail(st, "control character 0x%02x: not a text job file", c);
            return NULL;
        }
        /* A CR not ending the line: CR-only (old Mac) line endings would
         * make the whole file one line, read as its first section alone. */
        if (c == '\r' && i + 1 < len && st->text[i + 1] != '\n') {
            fail(st, "carriage return inside a line (CR-only line endings?): "
                 "save the job file with LF or CRLF line endings");
            return NULL;
        }
    }
    memcpy(str, st->text, len);
    str[len] = '\0';
    st->text += len;
    /* Sections are checked here so that an empty unknown section is
     * reported too (inih calls the handler only for key = value). */
    char *s = trim(str);
    if (!strcmp(s, SET_MARKER))
        st->set_first = st->line;
    else if (st->set_first)
        describe_set_line(st, s);
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        /* Only a comment may follow a section header: inih drops the rest,
         * so "[data] source = sphere" would silently lose its key. */
        const char *after = close ? close + 1 : NULL;
        while (after && (*after == ' ' || *after == '\t'))
            after++;
        if (after && *after && *after != ';' && *after != '#') {
            char shown[81];
            snprintf(shown, sizeof shown, "%.*s", (int)strcspn(s, "\r\n"),
                     s);
            fail(st, "text after the section header: '%s' (a section header "
                 "stands alone on its line)", shown);
            return NULL;
        }
        if (close) {
            char name[128];
            size_t n = (size_t)(close - s - 1);
            snprintf(name, sizeof name, "%.*s", (int)(n < 127 ? n : 127),
                     s + 1);
            char *t = trim(name);
            if (!section_known(t)) {
                fail(st, "unknown section [%s] (allowed: [job] [data] [model] "
                     "[train] [output] [kernel] [measure] [grid])", t);
                return NULL;
            }
            if (!strcmp(t, "kernel"))
                st->kernel_seen = 1;
        }
    }
    /* inih modifies the buffer: give it back untrimmed. */
    memcpy(str, st->text - len, len);
    str[len] = '\0';
    return str;
}

/* Line `line` (1-based) of a job text is not INI: says so with its text. */
static void syntax_error(parse_state *st, int line)
{
    const char *p = st->job->text;
    for (int i = 1; i < line && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    char shown[81] = "";
    if (p)
        snprintf(shown, sizeof shown, "%.*s", (int)strcspn(p, "\r\n"), p);
    st->line = line;
    fail(st, "syntax error: '%s' is not [section], key = value or a "
         "comment", shown);
}

/* The first line that opens a section without closing it ("[data"), or
 * 0. Only unindented lines: inih reads an indented one after a key as
 * that key's continuation. */
static int unclosed_section_line(const char *text)
{
    const char *p = text;
    for (int line = 1; p && *p; line++) {
        size_t len = strcspn(p, "\r\n");
        if (*p == '[' && !memchr(p, ']', len))
            return line;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

static int on_key(void *user, const char *section, const char *name,
                  const char *value)
{
    parse_state *st = user;
    if (st->status != OP_OK)
        return 0;
    if (section[0] == '\0') {
        fail(st, "%s = %s: key outside any section", name, value);
        return 0;
    }
    char allowed[2048];
    if (!strcmp(section, "grid")) {
        int k = key_find_sweep(name);
        if (k < 0) {
            list_keys(NULL, 1, allowed, sizeof allowed);
            fail(st, "[grid] %s: not a key that can be swept (allowed: %s)",
                 name, allowed);
            return 0;
        }
        for (int a = 0; a < st->job->n_axes; a++)
            if (st->job->axes[a].key == k) {
                fail(st, "[grid] %s: duplicate key (first at line %d)", name,
                     st->axis_line[a]);
                return 0;
            }
        return parse_axis(st, k, value) == OP_OK;
    }
    int k = key_find(section, name);
    if (k < 0) {
        list_keys(section, 0, allowed, sizeof allowed);
        fail(st, "[%s] %s: unknown key (allowed: %s)", section, name,
             allowed);
        return 0;
    }
    if (st->key_line[k]) {
        fail(st, "[%s] %s: duplicate key (first at line %d)", section, name,
             st->key_line[k]);
        return 0;
    }
    st->key_line[k] = st->line;
    return set_value(st, &op_keys[k], &st->job->base, value) == OP_OK;
}

/* ---- defaults, cross-checks, expansion ------------------------------ */

static void set_defaults(parse_state *st)
{
    op_config *cfg = &st->job->base;
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; i++)
        set_value(st, &op_keys[i], cfg, op_keys[i].def);
    /* A job's readout keys always say what they hold ("same" = -1). */
    cfg->model.last_set = cfg->kernel.last_set = 1;
}

void op_dense_layer(double sw2, double sb2, double sw2_last, double sb2_last,
                    int last_set, int bias, int last, double *w2, double *b2,
                    int *has_bias)
{
    double w = sw2, b = sb2;
    if (last && last_set) {
        if (sw2_last >= 0)
            w = sw2_last;
        if (sb2_last >= 0)
            b = sb2_last;
    }
    int hb = bias == OP_BIAS_ON ? 1 : bias == OP_BIAS_OFF ? 0 : b > 0;
    *w2 = w;
    *b2 = hb ? b : 0.0;
    *has_bias = hb;
}

void op_model_layer(const op_model_cfg *m, int l, double *w2, double *b2,
                    int *has_bias)
{
    op_dense_layer(m->sigma_w2, m->sigma_b2, m->sigma_w2_last,
                   m->sigma_b2_last, m->last_set, m->bias, l == m->depth, w2,
                   b2, has_bias);
}

/* Line of key `name` in `section` for error messages: the [grid] line when
 * the key is swept, else its own line (0 when defaulted). */
static int line_of(const parse_state *st, const char *section,
                   const char *name)
{
    int k = key_find(section, name);
    for (int a = 0; a < st->job->n_axes; a++)
        if (st->job->axes[a].key == k)
            return st->axis_line[a];
    return k >= 0 ? st->key_line[k] : 0;
}

static int is_classification(const op_data_cfg *d)
{
    if (d->source == OP_SRC_FASHION_MNIST)
        return 1;
    if (d->source == OP_SRC_GAUSSIAN || d->source == OP_SRC_SPHERE ||
        d->source == OP_SRC_TEACHER_CLASS)
        return 1;
    if (d->source == OP_SRC_FILE)
        return !d->regression;
    return 0;
}

#define CHECK(cond, sec, key, ...)                                            \
    do {                                                                      \
        if (!(cond)) {                                                        \
            st->line = line_of(st, sec, key);                                 \
            return fail(st, __VA_ARGS__);                                     \
        }                                                                     \
    } while (0)

/* A readout variance as the job file spells it ("same" for -1). */
static const char *readout_text(double v, char *buf)
{
    if (v < 0)
        return "same";
    snprintf(buf, 32, "%g", v);
    return buf;
}

/* Checks that involve more than one key, on one run's configuration. */
static op_status check_config(parse_state *st, const op_config *c)
{
    const op_data_cfg *d = &c->data;
    if (d->source == OP_SRC_FASHION_MNIST) {
        CHECK(d->n_train <= 60000, "data", "n_train",
              "[data] n_train = %d: Fashion-MNIST has 60000 training images",
              d->n_train);
        CHECK(d->n_test <= 10000, "data", "n_test",
              "[data] n_test = %d: Fashion-MNIST has 10000 test images",
              d->n_test);
        CHECK(28 % d->downsample == 0, "data", "downsample",
              "[data] downsample = %d: must divide 28 (allowed: 1, 2, 4, 7, "
              "14, 28)", d->downsample);
    } else if (d->source == OP_SRC_FILE) {
        CHECK(d->n_shape == 0 || d->n_shape == 2 || d->n_shape == 3, "data",
              "shape", "[data] shape: %d entries (allowed: H, W or H, W, C)",
              d->n_shape);
        CHECK(d->n_shape || d->downsample == 1, "data", "downsample",
              "[data] downsample = %d: needs image rows ([data] shape = H, "
              "W, C)", d->downsample);
        CHECK(!d->n_shape || (d->shape[0] % d->downsample == 0 &&
                              d->shape[1] % d->downsample == 0),
              "data", "downsample", "[data] downsample = %d: must divide "
              "the image's %d x %d", d->downsample, d->shape[0],
              d->n_shape ? d->shape[1] : 0);
        CHECK(d->n_shape || (d->corruption != OP_CORRUPT_SHUFFLED_PIXELS &&
                             d->corruption != OP_CORRUPT_RANDOM_PIXELS),
              "data", "corruption", "[data] corruption: pixel corruptions "
              "need image rows ([data] shape = H, W, C)");
    } else {
        CHECK(d->corruption != OP_CORRUPT_SHUFFLED_PIXELS &&
                  d->corruption != OP_CORRUPT_RANDOM_PIXELS,
              "data", "corruption",
              "[data] corruption: pixel corruptions need image data "
              "(source = fashion_mnist or file with shape)");
    }
    if (d->source == OP_SRC_SINES) {
        CHECK(d->n_freq == d->n_amp && d->n_freq > 0, "data",
              st->key_line[key_find("data", "amplitudes")] ? "amplitudes"
                                                           : "frequencies",
              "[data] amplitudes: %d given for %d frequencies", d->n_amp,
              d->n_freq);
        CHECK(d->lo < d->hi, "data", "hi", "[data] hi = %g: not above lo = %g",
              d->hi, d->lo);
    }
    int cls = is_classification(d);
    int k = d->source == OP_SRC_FASHION_MNIST ? 10 : d->classes;
    CHECK(c->train.loss != OP_LOSS_XENT || (cls && k >= 2), "train", "loss",
          "[train] loss = xent: needs a classification set with at least 2 "
          "classes (use mse)");
    CHECK(d->label_noise == 0 || cls, "data", "label_noise",
          "[data] label_noise = %g: needs a classification set "
          "(source = teacher is regression; teacher_class has labels)",
          d->label_noise);
    CHECK(d->corruption != OP_CORRUPT_RANDOM_LABELS || cls, "data",
          "corruption", "[data] corruption = random_labels: needs a "
          "classification set");
    CHECK(!c->train.stop_at_fit || cls, "train", "stop_at_fit",
          "[train] stop_at_fit: accuracy needs a classification set");
    CHECK(c->model.bias != OP_BIAS_OFF ||
              (c->model.sigma_b2 == 0 && !(c->model.sigma_b2_last > 0)),
          "model", "bias", "[model] bias = off: a bias variance > 0 "
          "(sigma_b2 = %g, sigma_b2_last = %s) asks for biases (set them to "
          "0, or bias = auto)", c->model.sigma_b2,
          readout_text(c->model.sigma_b2_last, (char[32]){0}));
    CHECK(!c->measure.frequency || d->source == OP_SRC_SINES, "measure",
          "frequency", "[measure] frequency: needs source = sines (use "
          "filter_delta for high-dimensional data)");
    return OP_OK;
}
#undef CHECK

static op_status check_kernel(parse_state *st)
{
    op_config *c = &st->job->base;
    op_kernel_cfg *kc = &c->kernel;
    kc->enabled = st->kernel_seen;
    if (!kc->enabled)
        return OP_OK;
    /* A kernel is the limit of the job's networks unless told otherwise. */
    if (!st->key_line[key_find("kernel", "activation")]) {
        if (c->model.activation == OP_ACT_TANH) {
            st->line = line_of(st, "model", "activation");
            return fail(st, "[kernel] activation: [model] activation = tanh "
                        "has no closed-form kernel; set [kernel] activation "
                        "= relu or erf");
        }
        kc->activation = c->model.activation;
    }
    if (!st->key_line[key_find("kernel", "parameterization")])
        kc->param = c->model.param;
    if (!st->key_line[key_find("kernel", "sigma_w2")]) {
        kc->n_sigma_w2 = 1;
        kc->sigma_w2s[0] = c->model.sigma_w2;
    }
    if (!st->key_line[key_find("kernel", "sigma_b2")]) {
        kc->n_sigma_b2 = 1;
        kc->sigma_b2s[0] = c->model.sigma_b2;
    }
    if (kc->n_sigma_w2 == 0 || kc->n_sigma_b2 == 0) {
        const char *key = kc->n_sigma_w2 == 0 ? "sigma_w2" : "sigma_b2";
        st->line = line_of(st, "kernel", key);
        return fail(st, "[kernel] %s: empty list", key);
    }
    kc->sigma_w2 = kc->sigma_w2s[0];
    kc->sigma_b2 = kc->sigma_b2s[0];
    kc->var_swept = kc->n_sigma_w2 > 1 || kc->n_sigma_b2 > 1;
    double sb2_max = 0; /* bias = off refuses any bias variance > 0 */
    for (int i = 0; i < kc->n_sigma_b2; i++)
        sb2_max = kc->sigma_b2s[i] > sb2_max ? kc->sigma_b2s[i] : sb2_max;
    if (!st->key_line[key_find("kernel", "sigma_w2_last")])
        kc->sigma_w2_last = c->model.sigma_w2_last;
    if (!st->key_line[key_find("kernel", "sigma_b2_last")])
        kc->sigma_b2_last = c->model.sigma_b2_last;
    if (!st->key_line[key_find("kernel", "bias")])
        kc->bias = c->model.bias;
    if (kc->bias == OP_BIAS_OFF &&
        (sb2_max > 0 || kc->sigma_b2_last > 0)) {
        st->line = st->key_line[key_find("kernel", "bias")]
                       ? line_of(st, "kernel", "bias")
                       : line_of(st, "model", "bias");
        char b[32];
        return fail(st, "[kernel] bias = off: a bias variance > 0 (sigma_b2 "
                    "= %g, sigma_b2_last = %s) asks for biases (set them to "
                    "0, or bias = auto)", sb2_max,
                    readout_text(kc->sigma_b2_last, b));
    }
    if (!st->key_line[key_find("kernel", "depth")]) {
        int a = op_job_axis_find(st->job, "depth");
        if (a >= 0) {
            kc->n_depths = 0;
            for (int i = 0; i < st->job->axes[a].n && i < OP_LIST_MAX; i++)
                kc->depths[kc->n_depths++] = (int)st->job->axes[a].values[i];
        } else {
            kc->n_depths = 1;
            kc->depths[0] = c->model.depth;
        }
    }
    if (kc->n_depths == 0) {
        st->line = line_of(st, "kernel", "depth");
        return fail(st, "[kernel] depth: empty list");
    }
    /* The instances: depth x sigma_w2 x sigma_b2. */
    int nv = kc->n_sigma_w2 * kc->n_sigma_b2;
    if ((long)kc->n_depths * nv > OP_LIST_MAX) {
        st->line = line_of(st, "kernel", kc->n_sigma_w2 > 1 ? "sigma_w2"
                                                             : "sigma_b2");
        return fail(st, "[kernel] %d depths x %d sigma_w2 x %d sigma_b2 = "
                    "%ld kernels: at most %d a job", kc->n_depths,
                    kc->n_sigma_w2, kc->n_sigma_b2,
                    (long)kc->n_depths * nv, OP_LIST_MAX);
    }
    int dl[OP_LIST_MAX], nd = kc->n_depths;
    memcpy(dl, kc->depths, sizeof dl);
    kc->n_depths = 0;
    for (int i = 0; i < nd; i++)
        for (int w = 0; w < kc->n_sigma_w2; w++)
            for (int b = 0; b < kc->n_sigma_b2; b++) {
                kc->depths[kc->n_depths] = dl[i];
                kc->inst_w2[kc->n_depths] = kc->sigma_w2s[w];
                kc->inst_b2[kc->n_depths++] = kc->sigma_b2s[b];
            }
    /* Two instances alike would write one archive group (kphase names a
     * kernel by depth and, when swept, variances printed with %g). */
    for (int i = 0; i < kc->n_depths; i++)
        for (int j = 0; j < i; j++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "%d %g %g", kc->depths[i], kc->inst_w2[i],
                     kc->inst_b2[i]);
            snprintf(b, sizeof b, "%d %g %g", kc->depths[j], kc->inst_w2[j],
                     kc->inst_b2[j]);
            if (!strcmp(a, b)) {
                const char *key = kc->n_sigma_w2 > 1 ? "sigma_w2"
                                  : kc->n_sigma_b2 > 1 ? "sigma_b2"
                                                       : "depth";
                st->line = line_of(st, "kernel", key);
                return fail(st, "[kernel] depth %d, sigma_w2 %g, sigma_b2 %g "
                            "twice: each kernel once (values equal to 6 "
                            "digits)", kc->depths[i], kc->inst_w2[i],
                            kc->inst_b2[i]);
            }
        }
    kc->depth = kc->depths[0];
#ifndef OP_HAVE_ELPA
    if (kc->eigensolver == OP_EIGEN_ELPA) {
        st->line = line_of(st, "kernel", "eigensolver");
        return fail(st, "[kernel] eigensolver = elpa: this build has no ELPA "
                    "(install libelpa-dev and rebuild, or use scalapack)");
    }
#endif
    if (kc->precision == OP_KPREC_MIXED &&
        (kc->n_time > 0 || kc->eig64 || kc->eig32 || kc->save_matrix)) {
        st->line = line_of(st, "kernel", "precision");
        return fail(st, "[kernel] precision = mixed: ridge regression only; "
                    "set time = (empty), eig64 = false, eig32 = false, "
                    "save_matrix = false");
    }
    kc->curve = st->key_line[key_find("kernel", "n_train")] != 0;
    if (!kc->curve) {
        kc->n_n_train = 1;
        kc->n_trains[0] = c->data.n_train;
    }
    for (int i = 0; i <= kc->n_n_train; i++)
        if (kc->n_n_train == 0 ||
            (i > 0 && i < kc->n_n_train &&
             kc->n_trains[i] <= kc->n_trains[i - 1])) {
            st->line = line_of(st, "kernel", "n_train");
            return fail(st, "[kernel] n_train: %s (a learning curve takes "
                        "increasing sizes, e.g. 1000, 2000, 4000)",
                        kc->n_n_train ? "not increasing" : "empty list");
        }
    if ((kc->save_empirical || kc->empirical_train) &&
        (kc->n_empirical == 0 || !kc->ntk)) {
        const char *key = kc->save_empirical ? "save_empirical"
                                             : "empirical_train";
        st->line = line_of(st, "kernel", key);
        return fail(st, "[kernel] %s = true: needs empirical_widths and the "
                    "ntk kernel (the empirical NTKs are stored beside it)",
                    key);
    }
    if (!kc->eig32 && !kc->eig64 && kc->n_time > 0) {
        st->line = line_of(st, "kernel", "time");
        return fail(st, "[kernel] time: the gradient-descent predictor needs "
                    "eig64 = true");
    }
    return OP_OK;
}

static op_status check_data_files(parse_state *st, const op_config *c)
{
    if (c->data.source == OP_SRC_FILE) {
        /* Contents are checked when the data loads, before anything is
         * written; here only that the path is there. */
        if (access(c->data.path, R_OK) != 0) {
            st->line = line_of(st, "data", "path");
            return fail(st, "[data] path = %s: cannot read it (%s): an HDF5 "
                        "file or a directory of .npy files", c->data.path,
                        strerror(errno));
        }
        return OP_OK;
    }
    if (c->data.source != OP_SRC_FASHION_MNIST)
        return OP_OK;
    static const char *const files[] = {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++) {
        char p[OP_PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%s", c->data.path, files[i]);
        if (access(p, R_OK) != 0) {
            st->line = line_of(st, "data", "path");
            return fail(st, "[data] path = %s: cannot read %s (%s); install "
                        "Debian's dataset-fashion-mnist or set path",
                        c->data.path, p, strerror(errno));
        }
        struct stat sb;
        if (stat(p, &sb) == 0 && !S_ISREG(sb.st_mode)) {
            st->line = line_of(st, "data", "path");
            return fail(st, "[data] path = %s: %s is not a regular file",
                        c->data.path, p);
        }
    }
    return OP_OK;
}

static op_status sort_axes(parse_state *st)
{
    /* Table order, not file order, so reordering lines keeps run indices. */
    op_job *job = st->job;
    for (int i = 1; i < job->n_axes; i++)
        for (int j = i; j > 0 && job->axes[j - 1].key > job->axes[j].key;
             j--) {
            op_axis t = job->axes[j];
            job->axes[j] = job->axes[j - 1];
            job->axes[j - 1] = t;
            int l = st->axis_line[j];
            st->axis_line[j] = st->axis_line[j - 1];
            st->axis_line[j - 1] = l;
        }
    double runs = 1;
    for (int a = 0; a < job->n_axes; a++)
        runs *= job->axes[a].n;
    if (runs > OP_RUNS_MAX) {
        st->line = st->axis_line[job->n_axes - 1];
        return fail(st, "[grid]: %.0f runs, at most %d in one job (split it "
                    "with a job array)", runs, OP_RUNS_MAX);
    }
    job->n_runs = (long)runs;
    return OP_OK;
}

static op_status check_runs(parse_state *st)
{
    op_job *job = st->job;
    op_config c;
    if (job->n_runs <= 200000) {
        for (long r = 0; r < job->n_runs; r++) {
            op_job_config(job, r, &c);
            if (check_config(st, &c) != OP_OK)
                return st->status;
        }
        return OP_OK;
    }
    /* Huge grids: each axis value once against the base. */
    for (int a = 0; a < job->n_axes; a++)
        for (int i = 0; i < job->axes[a].n; i++) {
            c = job->base;
            store_scalar(&op_keys[job->axes[a].key], &c,
                         job->axes[a].values[i]);
            if (check_config(st, &c) != OP_OK)
                return st->status;
        }
    return OP_OK;
}

/* A key set in its section and swept in [grid]: every run takes the
 * [grid] values, so a section value that is none of them would be
 * silently overridden ([model] width = 100 beside [grid] width = 4, 16).
 * Refused; a value that is one of the swept ones is harmless. */
static op_status check_overrides(parse_state *st)
{
    op_job *job = st->job;
    for (int a = 0; a < job->n_axes; a++) {
        const op_key *k = &op_keys[job->axes[a].key];
        int line = st->key_line[job->axes[a].key];
        if (!line || k->type == K_STRING)
            continue;
        const char *p = (const char *)&job->base + k->offset;
        double v = k->type == K_DOUBLE ? *(const double *)p
                   : k->type == K_U64  ? (double)*(const uint64_t *)p
                                       : *(const int *)p;
        int among = 0;
        for (int i = 0; i < job->axes[a].n; i++)
            among |= job->axes[a].values[i] == v;
        if (!among) {
            st->line = line;
            return fail(st, "[%s] %s = %.17g: overridden by [grid] %s at "
                        "line %d, which does not sweep this value; set it in "
                        "one place", k->section, k->name, v, k->name,
                        st->axis_line[a]);
        }
    }
    return OP_OK;
}

/* Whether any line of `text` opens a section. */
static int has_section(const char *text)
{
    for (const char *p = text; *p;) {
        p += strspn(p, " \t\r");
        if (*p == '[')
            return 1;
        p += strcspn(p, "\n");
        if (*p)
            p++;
    }
    return 0;
}

op_status op_job_load_string(op_job *job, const char *name, const char *text)
{
    memset(job, 0, sizeof *job);
    snprintf(job->file, sizeof job->file, "%s", name);
    size_t len = strlen(text);
    job->text = malloc(len + 1);
    if (!job->text)
        return op_error(OP_ERR_NOMEM, "%s: out of memory", name);
    memcpy(job->text, text, len + 1);

    parse_state *st = calloc(1, sizeof *st);
    if (!st)
        return op_error(OP_ERR_NOMEM, "%s: out of memory", name);
    st->job = job;
    set_defaults(st);
    if (st->status != OP_OK) { /* a default that does not parse: a bug */
        op_status s = op_error(OP_ERR_INTERNAL, "bad default: %s",
                               op_error_message());
        free(st);
        return s;
    }
    st->text = job->text;
    /* inih goes on past a section line it cannot read ("[data"), giving
     * its keys to no section or to the one before: name the cause first,
     * not the keys that follow it. */
    int unclosed = unclosed_section_line(job->text);
    if (unclosed > 0)
        syntax_error(st, unclosed);
    int rc = st->status == OP_OK ? ini_parse_stream(read_line, st, on_key, st) : 0;
    if (st->status == OP_OK && rc > 0) {
        syntax_error(st, rc);
    } else if (st->status == OP_OK && rc < 0) {
        fail(st, "cannot parse (inih error %d)", rc);
    }
    /* No section at all (empty, blank or comments only): not a job, though
     * every key has a default; a job of defaults says [job]. */
    if (st->status == OP_OK && !has_section(job->text)) {
        st->line = 1;
        fail(st, "empty job file: no [section] (a job of defaults only "
             "needs a line [job]; 'overparam keys' lists the defaults)");
    }
    if (st->status == OP_OK)
        sort_axes(st);
    if (st->status == OP_OK)
        check_overrides(st);
    if (st->status == OP_OK)
        check_kernel(st);
    if (st->status == OP_OK)
        check_runs(st);
    if (st->status == OP_OK)
        check_data_files(st, &job->base);
    op_status s = st->status;
    free(st);
    if (s != OP_OK)
        op_job_free(job);
    return s;
}

/* ---- --set overrides ------------------------------------------------ */

static op_status read_job_file(const char *path, char **text);

/* Splits "section.key=value" into its parts (trimmed, in bufs). */
static int split_set(const char *set, char *sec, char *key, char *val,
                     size_t len)
{
    const char *dot = strchr(set, '.'), *eq = strchr(set, '=');
    if (!dot || !eq || dot > eq || strchr(set, '\n') || strchr(set, '\r') ||
        strlen(set) >= len)
        return -1;
    snprintf(sec, len, "%.*s", (int)(dot - set), set);
    snprintf(key, len, "%.*s", (int)(eq - dot - 1), dot + 1);
    snprintf(val, len, "%s", eq + 1);
    char *t = trim(sec);
    memmove(sec, t, strlen(t) + 1);
    t = trim(key);
    memmove(key, t, strlen(t) + 1);
    t = trim(val);
    memmove(val, t, strlen(t) + 1);
    return *sec && *key && !strpbrk(sec, "[]") && !strpbrk(key, "=:;#[]")
               ? 0 : -1;
}

op_status op_job_apply_sets(const char *name, const char *text,
                            const char *const *sets, int n_sets, char **out)
{
    *out = NULL;
    if (n_sets > OP_SETS_MAX)
        return op_error(OP_ERR_INPUT, "%s: %d --set overrides, at most %d",
                        name, n_sets, OP_SETS_MAX);
    char sec[OP_SETS_MAX][64], key[OP_SETS_MAX][64];
    char val[OP_SETS_MAX][LINE_MAX_BYTES];
    for (int i = 0; i < n_sets; i++) {
        char sc[LINE_MAX_BYTES], k[LINE_MAX_BYTES];
        if (split_set(sets[i], sc, k, val[i], LINE_MAX_BYTES) != 0 ||
            strlen(k) >= sizeof key[i] || strlen(sc) >= sizeof sec[i])
            return op_error(OP_ERR_INPUT, "%s: --set %s: want SECTION.KEY="
                            "VALUE (e.g. --set train.lr=0.05)", name,
                            sets[i]);
        snprintf(key[i], sizeof key[i], "%s", k);
        snprintf(sec[i], sizeof sec[i], "%s", sc);
        for (int j = 0; j < i; j++)
            if (!strcmp(sec[i], sec[j]) && !strcmp(key[i], key[j]))
                return op_error(OP_ERR_INPUT, "%s: --set %s: %s.%s set "
                                "twice (first: --set %s)", name, sets[i],
                                sec[i], key[i], sets[j]);
    }
    /* Each overridden line becomes a comment, so line numbers stay those
     * of the file and the archive's text shows what was replaced. */
    size_t len = strlen(text), cap = len + 2 * (size_t)len / 8 + 256;
    for (int i = 0; i < n_sets; i++)
        cap += strlen(sets[i]) * 2 + 64;
    char *o = malloc(cap + sizeof SET_MARKER + 8);
    if (!o)
        return op_error(OP_ERR_NOMEM, "%s: out of memory", name);
    size_t at = 0;
    char cur[LINE_MAX_BYTES] = "";
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        char line[LINE_MAX_BYTES + 1];
        snprintf(line, sizeof line, "%.*s", (int)(n < LINE_MAX_BYTES ? n :
                                                  LINE_MAX_BYTES), p);
        char *t = trim(line);
        int hide = 0;
        if (t[0] == '[' && strchr(t, ']')) {
            *strchr(t, ']') = '\0';
            snprintf(cur, sizeof cur, "%s", trim(t + 1));
        } else if (t[0] && t[0] != ';' && t[0] != '#') {
            t[strcspn(t, "=:")] = '\0';
            t = trim(t);
            for (int i = 0; i < n_sets; i++)
                hide |= !strcmp(cur, sec[i]) && !strcmp(t, key[i]);
        }
        /* Room for the ';' that comments an overridden line out, the line
         * and its newline. */
        if (at + (size_t)hide + n + 1 > cap) {
            cap = cap * 2 + n + 1;
            char *b = realloc(o, cap + sizeof SET_MARKER + 8);
            if (!b) {
                free(o);
                return op_error(OP_ERR_NOMEM, "%s: out of memory", name);
            }
            o = b;
        }
        if (hide)
            o[at++] = ';';
        memcpy(o + at, p, n);
        at += n;
        p += n;
        if (*p == '\n') {
            o[at++] = '\n';
            p++;
        }
    }
    if (n_sets == 0) {
        o[at] = '\0';
        *out = o;
        return OP_OK;
    }
    size_t need = at + 2 + sizeof SET_MARKER + 1;
    for (int i = 0; i < n_sets; i++)
        need += strlen(sec[i]) + strlen(key[i]) + strlen(val[i]) + 8;
    char *b = realloc(o, need);
    if (!b) {
        free(o);
        return op_error(OP_ERR_NOMEM, "%s: out of memory", name);
    }
    o = b;
    if (at > 0 && o[at - 1] != '\n')
        o[at++] = '\n';
    at += (size_t)sprintf(o + at, "%s\n", SET_MARKER);
    for (int i = 0; i < n_sets; i++)
        at += (size_t)sprintf(o + at, "[%s]\n%s = %s\n", sec[i], key[i],
                              val[i]);
    *out = o;
    return OP_OK;
}

op_status op_job_load_sets(op_job *job, const char *path,
                           const char *const *sets, int n_sets)
{
    memset(job, 0, sizeof *job);
    char *text = NULL;
    op_status s = read_job_file(path, &text);
    if (s != OP_OK)
        return s;
    char *eff;
    s = op_job_apply_sets(path, text, sets, n_sets, &eff);
    free(text);
    if (s != OP_OK)
        return s;
    s = op_job_load_string(job, path, eff);
    free(eff);
    return s;
}

op_status op_job_load(op_job *job, const char *path)
{
    return op_job_load_sets(job, path, NULL, 0);
}

/* The file's bytes, NUL-terminated, refused when not a text job file. */
static op_status read_job_file(const char *path, char **text)
{
    /* A FIFO or device would block the read forever: regular files only. */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return op_error(OP_ERR_INPUT, "%s: not a regular file: not a job "
                        "file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return op_error(OP_ERR_INPUT, "%s: cannot open job file: %s", path,
                        strerror(errno));
    char *buf = malloc(JOB_BYTES_MAX + 1);
    if (!buf) {
        fclose(f);
        return op_error(OP_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, JOB_BYTES_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n > JOB_BYTES_MAX) {
        free(buf);
        return op_error(OP_ERR_INPUT, "%s: %s", path,
                        err ? "read error" : "larger than 1 MiB: not a job file");
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        size_t at = (size_t)((char *)memchr(buf, '\0', n) - buf);
        int line = 1;
        for (size_t i = 0; i < at; i++)
            line += buf[i] == '\n';
        free(buf);
        return op_error(OP_ERR_INPUT, "%s:%d: NUL byte: not a text job file",
                        path, line);
    }
    *text = buf;
    return OP_OK;
}

void op_job_free(op_job *job)
{
    free(job->text);
    for (int a = 0; a < job->n_axes; a++)
        free(job->axes[a].values);
    memset(job, 0, sizeof *job);
}

double op_job_axis_value(const op_job *job, long run, int a)
{
    for (int b = job->n_axes - 1; b > a; b--)
        run /= job->axes[b].n;
    return job->axes[a].values[run % job->axes[a].n];
}

void op_job_config(const op_job *job, long run, op_config *cfg)
{
    *cfg = job->base;
    for (int a = job->n_axes - 1; a >= 0; a--) {
        const op_axis *ax = &job->axes[a];
        store_scalar(&op_keys[ax->key], cfg, ax->values[run % ax->n]);
        run /= ax->n;
    }
    uint64_t key = op_job_stream_key(cfg);
    cfg->run_key = key ? key : 1;
}

int op_job_axis_find(const op_job *job, const char *name)
{
    for (int a = 0; a < job->n_axes; a++)
        if (!strcmp(job->axes[a].name, name))
            return a;
    return -1;
}

const char *op_job_axis_label(const op_job *job, int a, double value,
                              char *buf, size_t len)
{
    const op_key *k = &op_keys[job->axes[a].key];
    if (k->type == K_DOUBLE && k->names) /* a word ("same") */
        for (int i = 0; k->names[i]; i++)
            if (k->values[i] == value) {
                snprintf(buf, len, "%s", k->names[i]);
                return buf;
            }
    if (k->type == K_ENUM) {
        for (int i = 0; k->names[i]; i++)
            if ((k->values ? k->values[i] : i) == (int)value) {
                snprintf(buf, len, "%s", k->names[i]);
                return buf;
            }
    }
    snprintf(buf, len, "%.6g", value);
    return buf;
}

void op_job_axis_key(const op_job *job, int a, const char **section,
                     const char **help, int *named)
{
    const op_key *k = &op_keys[job->axes[a].key];
    *section = k->section;
    *help = k->help;
    *named = k->type == K_ENUM;
}

int op_job_axis_is_integer(const op_job *job, int a)
{
    key_type t = op_keys[job->axes[a].key].type;
    return t != K_DOUBLE;
}

void op_job_print_keys(FILE *out)
{
    fprintf(out, "| section | key | default | allowed | grid | meaning |\n");
    fprintf(out, "|---|---|---|---|---|---|\n");
    for (int i = 0; i < N_KEYS; i++) {
        char allowed[512];
        describe_allowed(&op_keys[i], allowed, sizeof allowed);
        fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", op_keys[i].section,
                op_keys[i].name, op_keys[i].def, allowed,
                op_keys[i].sweep ? "yes" : "", op_keys[i].help);
    }
}

/* ---- extending a finished sweep ------------------------------------- */

/* Key k's value in cfg as text, for comparing two jobs and naming what
 * differs. */
static void key_text(const op_key *k, const op_config *cfg, char *buf,
                     size_t len)
{
    const char *base = (const char *)cfg + k->offset;
    size_t used = 0;
    buf[0] = '\0';
    switch (k->type) {
    case K_STRING: snprintf(buf, len, "%s", base); break;
    case K_DOUBLE:
        snprintf(buf, len, "%.17g", *(const double *)base);
        for (int i = 0; k->names && k->names[i]; i++)
            if (k->values[i] == *(const double *)base)
                snprintf(buf, len, "%s", k->names[i]);
        break;
    case K_U64:
        snprintf(buf, len, "%llu",
                 (unsigned long long)*(const uint64_t *)base);
        break;
    case K_ENUM: {
        int v = *(const int *)base;
        for (int i = 0; k->names[i]; i++)
            if ((k->values ? k->values[i] : i) == v)
                snprintf(buf, len, "%s", k->names[i]);
        break;
    }
    case K_KERNELS:
        snprintf(buf, len, "%s%s%s", cfg->kernel.nngp ? "nngp" : "",
                 cfg->kernel.nngp && cfg->kernel.ntk ? ", " : "",
                 cfg->kernel.ntk ? "ntk" : "");
        break;
    case K_DLIST:
    case K_ILIST: {
        int n = *(const int *)((const char *)cfg + k->count_offset);
        for (int i = 0; i < n && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%.17g",
                                     i ? ", " : "",
                                     k->type == K_DLIST
                                         ? ((const double *)base)[i]
                                         : (double)((const int *)base)[i]);
        break;
    }
    default:
        snprintf(buf, len, "%d", *(const int *)base);
        for (int i = 0; k->type == K_INT && k->names && k->names[i]; i++)
            if (k->values[i] == *(const int *)base)
                snprintf(buf, len, "%s", k->names[i]);
        break;
    }
}

/* Key k's value in cfg as a number (the representation axes hold). */
static double key_number(const op_key *k, const op_config *cfg)
{
    const char *base = (const char *)cfg + k->offset;
    switch (k->type) {
    case K_DOUBLE: return *(const double *)base;
    case K_U64: return (double)*(const uint64_t *)base;
    default: return *(const int *)base;
    }
}

uint64_t op_job_stream_key(const op_config *cfg)
{
    /* FNV-1a over (name, value) of every key a [grid] may sweep in [data]
     * [model] [train] (weight_decay_scaling aside, below), each value as
     * its exact bits (+0 for -0). */
    uint64_t h = 0xcbf29ce484222325ULL;
    /* The readout keys count only where they change the network (the
     * readout's effective variances, or which layers have biases), so a
     * job that does not use them keeps the streams it had before they
     * existed, and "same" equals writing the hidden value out. */
    const op_model_cfg *m = &cfg->model;
    double w0, b0, wl, bl, wr, br, wa, ba;
    int h0, hl, hr, ha0, hal;
    /* hidden and readout layers as configured; the readout under "same";
     * both under bias = auto */
    op_dense_layer(m->sigma_w2, m->sigma_b2, m->sigma_w2_last,
                   m->sigma_b2_last, m->last_set, m->bias, 0, &w0, &b0, &h0);
    op_dense_layer(m->sigma_w2, m->sigma_b2, m->sigma_w2_last,
                   m->sigma_b2_last, m->last_set, m->bias, 1, &wl, &bl, &hl);
    op_dense_layer(m->sigma_w2, m->sigma_b2, 0, 0, 0, m->bias, 1, &wr, &br,
                   &hr);
    op_dense_layer(m->sigma_w2, m->sigma_b2, m->sigma_w2_last,
                   m->sigma_b2_last, m->last_set, OP_BIAS_AUTO, 0, &wa, &ba,
                   &ha0);
    op_dense_layer(m->sigma_w2, m->sigma_b2, m->sigma_w2_last,
                   m->sigma_b2_last, m->last_set, OP_BIAS_AUTO, 1, &wa, &ba,
                   &hal);
    for (int k = 0; k < N_KEYS; k++) {
        const op_key *key = &op_keys[k];
        if (!key->sweep || (strcmp(key->section, "data") &&
                            strcmp(key->section, "model") &&
                            strcmp(key->section, "train")))
            continue;
        /* weight_decay_scaling changes neither the data, the init nor the
         * batch order, only the optimizer's L2 term: runs that differ in it
         * alone share their draws (a paired comparison, and uniform keeps
         * the streams it had before the key existed). */
        if (!strcmp(key->name, "weight_decay_scaling"))
            continue;
        double v = key_number(key, cfg);
        if (!strcmp(key->section, "model")) {
            if (!strcmp(key->name, "sigma_w2_last")) {
                if (wl == wr)
                    continue;
                v = wl;
            } else if (!strcmp(key->name, "sigma_b2_last")) {
                if (bl == br)
                    continue;
                v = bl;
            } else if (!strcmp(key->name, "bias")) {
                if (h0 == ha0 && hl == hal)
                    continue;
                v = h0 + 2 * hl;
            }
        }
        for (const char *c = key->name; *c; c++)
            h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
        uint64_t bits;
        v = v == 0.0 ? 0.0 : v;
        memcpy(&bits, &v, sizeof bits);
        for (int b = 0; b < 8; b++)
            h = (h ^ ((bits >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
    }
    return h;
}

op_status op_job_extension_map(const op_job *old, const op_job *job,
                               const char *archive, long *map)
{
    char diff[1536] = "";
    size_t used = 0;
    int n_diff = 0;
    /* Keys swept by either job are compared through the axes below; every
     * other key must hold the same value ([output] aside: where results
     * go does not change them). */
    for (int k = 0; k < N_KEYS; k++) {
        if (!strcmp(op_keys[k].section, "output"))
            continue;
        int swept = 0;
        for (int a = 0; a < job->n_axes; a++)
            swept |= job->axes[a].key == k;
        for (int a = 0; a < old->n_axes; a++)
            swept |= old->axes[a].key == k;
        if (swept)
            continue;
        char va[512], vb[512];
        key_text(&op_keys[k], &old->base, va, sizeof va);
        key_text(&op_keys[k], &job->base, vb, sizeof vb);
        if (strcmp(va, vb) != 0 && used < sizeof diff) {
            used += (size_t)snprintf(diff + used, sizeof diff - used,
                                     "%s[%s] %s: %s -> %s", n_diff ? "; " : "",
                                     op_keys[k].section, op_keys[k].name,
                                     va, vb);
            n_diff++;
        }
    }
    if (old->base.kernel.enabled != job->base.kernel.enabled && used < sizeof diff) {
        used += (size_t)snprintf(diff + used, sizeof diff - used,
                                 "%s[kernel] section %s", n_diff ? "; " : "",
                                 job->base.kernel.enabled ? "added"
                                                          : "removed");
        n_diff++;
    }
    if (n_diff)
        return op_error(OP_ERR_INPUT, "%s: --resume with %s: key%s other "
                        "than [grid] values changed (%s); a finished sweep "
                        "can only be extended by adding [grid] values: use "
                        "another -o or --force", archive, job->file,
                        n_diff == 1 ? "" : "s", diff);
    /* Every old axis stays an axis and keeps every value it had. */
    for (int a = 0; a < old->n_axes; a++) {
        const op_axis *oa = &old->axes[a];
        int b = op_job_axis_find(job, oa->name);
        if (b < 0)
            return op_error(OP_ERR_INPUT, "%s: --resume with %s: [grid] %s "
                            "removed; a finished sweep can only be extended "
                            "(keep every axis and value)", archive,
                            job->file, oa->name);
        for (int i = 0; i < oa->n; i++) {
            int found = 0;
            for (int j = 0; j < job->axes[b].n && !found; j++)
                found = job->axes[b].values[j] == oa->values[i];
            if (!found) {
                char lb[64];
                return op_error(OP_ERR_INPUT, "%s: --resume with %s: [grid] "
                                "%s no longer holds %s, a value of the "
                                "finished sweep; extending keeps every old "
                                "value (use another -o or --force)", archive,
                                job->file, oa->name,
                                op_job_axis_label(old, a, oa->values[i], lb,
                                                  sizeof lb));
            }
        }
    }
    /* A new axis must hold the value the old job had for that key. */
    for (int b = 0; b < job->n_axes; b++) {
        if (op_job_axis_find(old, job->axes[b].name) >= 0)
            continue;
        double v = key_number(&op_keys[job->axes[b].key], &old->base);
        int found = 0;
        for (int j = 0; j < job->axes[b].n && !found; j++)
            found = job->axes[b].values[j] == v;
        if (!found) {
            char lb[64];
            return op_error(OP_ERR_INPUT, "%s: --resume with %s: new [grid] "
                            "%s lacks %s, the value every finished run had",
                            archive, job->file, job->axes[b].name,
                            op_job_axis_label(job, b, v, lb, sizeof lb));
        }
    }
    /* Old run r -> the new run with the same configuration: each new axis
     * index from the old run's value, last axis fastest. */
    for (long r = 0; r < old->n_runs; r++) {
        op_config c;
        op_job_config(old, r, &c);
        long idx = 0;
        for (int b = 0; b < job->n_axes; b++) {
            double v = key_number(&op_keys[job->axes[b].key], &c);
            int j = 0;
            while (j < job->axes[b].n && job->axes[b].values[j] != v)
                j++;
            idx = idx * job->axes[b].n + j;
        }
        map[r] = idx;
    }
    return OP_OK;
}
