/* measure.h — measurements that reveal the phenomena ([measure] section):
 * the math on plain arrays (tested on cases with known answers) and the
 * layout fields they fill.
 *
 * Contract: the pure functions below take row-major float64 arrays and
 * allocate nothing the caller must free. The fields a job's [measure]
 * section enables are added to the run layout by op_layout_measures
 * (result.h), with these names under /measures:
 *   lip_lower, lip_upper          [n_log]       Lipschitz bounds
 *   freq_values                   [n_freq]      target angular frequencies
 *   freq_error                    [n_log][n_freq] Delta(k) = |h_k-f_k|/|f_k|
 *   freq_converge_epoch           [n_freq]      first epoch Delta(k) < tol
 *                                               for good (NaN: never)
 *   filter_low, filter_high       [n_log]       Gaussian-filter error split
 *   cond_rel_change               [n_log]       |theta_1(t)-theta_1(0)|/|theta_1(0)|
 *   cond_clusters                 [n_log]       direction clusters holding
 *                                               90% of active neurons
 *   cond_mean_abs_cos             [n_log]       mean |cos| between active
 *                                               first-layer directions
 *   cond_dirs_init, cond_dirs_end [max_width][d+1] directions (d+1 <= 3)
 *   lazy_rel_change               [n_log][L+1]  per-layer relative change
 *   ntk_drift                     [n_log]       |Theta_t-Theta_0|_F/|Theta_0|_F
 */
#ifndef OVERPARAM_MEASURE_H
#define OVERPARAM_MEASURE_H

#include "overparam/rng.h"

/* Largest singular value of A[rows][cols] by power iteration on A^T A
 * (converged to rtol 1e-10 or `iters` steps). work: rows + cols doubles. */
double op_measure_spectral_norm(const double *a, int rows, int cols,
                                int iters, double *work);

/* Relative DFT error at the DFT indices idx[0..nk) of h[n] against f[n],
 * both sampled on a uniform periodic grid: delta[j] = |H_k - F_k| / |F_k|. */
void op_measure_freq_error(const double *h, const double *f, int n,
                           const int *idx, int nk, double *delta);

/* DFT index of angular frequency `omega` on a grid of period `period`:
 * omega * period / (2 pi), rounded. */
int op_measure_freq_index(double omega, double period);

/* Normalizes the rows of dirs[m][dim] in place; returns how many rows were
 * non-zero ("active": zero rows are dead neurons left out below). */
int op_measure_normalize_rows(double *dirs, int m, int dim);

/* Greedy angular clustering of unit rows dirs[m][dim] (zero rows skipped):
 * each row joins the first cluster whose seed is within `angle` radians
 * (|cos| for antipodal-invariant clustering when `sign_free`). Returns the
 * number of clusters needed to hold `fraction` of the active rows (largest
 * first); *mean_abs_cos (may be NULL) gets the mean |cos| over distinct
 * active pairs (sampled when m is large). assign[m] is scratch. */
int op_measure_clusters(const double *dirs, int m, int dim, double angle,
                        double fraction, int *assign, int *count,
                        double *mean_abs_cos);

/* Gaussian-filter split of an error (Xu et al.): with G_ij =
 * exp(-|x_i-x_j|^2 / (2 delta^2)) row-normalized, y_low = G y,
 * y_high = y - y_low, and the same for predictions h:
 * e_low = |y_low - h_low| / |y_low|, e_high likewise. g[n][n] is the
 * precomputed normalized filter (op_measure_filter_matrix). */
void op_measure_filter_matrix(const double *x, int n, int d, double delta,
                              double *g);
void op_measure_filter_error(const double *g, const double *y,
                             const double *h, int n, int k, double *work,
                             double *e_low, double *e_high);

#endif
