/* data.h — data sets: Fashion-MNIST from gzipped IDX files, synthetic sets
 * generated in C, label noise, Zhang et al.'s corruptions, preprocessing.
 *
 * Contract: an op_dataset owns its arrays (one allocation). Inputs are
 * float64 row-major x[n][d]; targets y[n][k] are one-hot (classification,
 * k = classes), +-1 (k = 1, binary), or real values (k = 1, regression).
 * label[i] is the class index, or -1 for regression sets. Test sets are
 * never corrupted. Randomness: the subset and synthetic inputs come from
 * (job seed, OP_STREAM_DATA); label noise and corruptions from
 * (job seed, OP_STREAM_NOISE, axis seed) so they are shared by every width.
 * Malformed files give OP_ERR_INPUT naming the file and the problem. */
#ifndef OVERPARAM_DATA_H
#define OVERPARAM_DATA_H

#include <stdint.h>

#include "overparam/error.h"
#include "overparam/job.h"

typedef struct {
    int n, d, k;
    double *x;      /* [n][d] */
    double *y;      /* [n][k] */
    int *label;     /* [n], class or -1 */
    int side;       /* image side (28, 14, ...) or 0 for non-images */
    void *block_;   /* the single allocation behind x, y, label */
} op_dataset;

/* Raw IDX contents: dims[0..ndim) and bytes, as in the file (uint8 data). */
typedef struct {
    int ndim;
    int dims[4];
    uint8_t *data;
    long count; /* product of dims */
} op_idx;

/* Reads a gzipped (or plain) IDX file of unsigned bytes. Rejects a bad magic,
 * a truncated body, dimensions that do not match the size, or trailing
 * garbage, naming `path`. */
op_status op_idx_read(const char *path, op_idx *out);
void op_idx_free(op_idx *idx);

/* Builds the train and test sets for `cfg` (the base configuration of a job
 * plus the run's label_noise, seed and data keys). */
op_status op_data_load(const op_config *cfg, op_dataset *train,
                       op_dataset *test);
/* A copy of `src` for a run: label noise/corruption applied in place of the
 * clean labels, from (cfg->seed, cfg->seed_index). `dst` must be freed. */
op_status op_data_corrupt(const op_config *cfg, const op_dataset *src,
                          op_dataset *dst);
/* The test set of a shuffled_pixels run: the training set's permutation
 * (same stream and draw) applied to every test image, as Zhang et al. do,
 * so test accuracy measures what the permuted features still carry. The
 * other corruptions leave the test set clean (OP_ERR_INTERNAL if asked). */
op_status op_data_corrupt_test(const op_config *cfg, const op_dataset *src,
                               op_dataset *dst);
/* Input dimension and number of outputs of the set `cfg` would load,
 * without loading it: Fashion-MNIST (28/f)^2 and 10; Gaussian/sphere dim and
 * classes (1 when classes == 1); sines 1 and 1; teacher dim and 1. */
void op_data_shape(const op_config *cfg, int *d_in, int *k_out);
/* Drops the decoded Fashion-MNIST files op_data_load keeps between calls
 * (tests, leak checkers). */
void op_data_cache_clear(void);

op_status op_data_alloc(op_dataset *ds, int n, int d, int k);
void op_data_free(op_dataset *ds);

/* Regularized ZCA whitening, zeta relative to the mean eigenvalue m of the
 * train covariance Sigma = U S U^T (inputs centered by the train mean):
 * W = c U (S + zeta m I)^{-1/2} U^T, applied to both sets, with c chosen
 * so that the whitened training inputs keep tr(Sigma) (their mean feature
 * variance): zeta = 0 is full whitening to covariance m I, zeta -> inf
 * tends to W = I (the unwhitened inputs). Directions of zero variance
 * (n <= d) get weight 0 at zeta = 0. */
op_status op_data_zca(op_dataset *train, op_dataset *test, double zeta);

/* Evaluates the 1-D sine target y[i] = sum_k amp[k] sin(freq[k] x[i]) at
 * x[0..n) (used by the frequency measure on its own grid). */
void op_data_sines_eval(const op_data_cfg *cfg, const double *x, double *y,
                        int n);

#endif
