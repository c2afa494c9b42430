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
 *   freq_converge_epoch           [n_freq]      epoch Delta(k) < tol for good
 *                                               (running median, interpolated
 *                                               between logged epochs; NaN: never)
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

#include <stddef.h>

#include "overparam/data.h"
#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/net.h"
#include "overparam/result.h"
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

/* ---- Lipschitz bounds ------------------------------------------------ */

/* Spectral norm of one input Jacobian J[d_out][d_in]: the gradient norm for
 * d_out == 1, else sqrt(lambda_max(J J^T)) by power iteration on the small
 * d_out x d_out Gram matrix. work: d_out*d_out + 2*d_out doubles. */
double op_measure_jacobian_norm(const double *J, int d_out, int d_in,
                                double *work);

/* Lower Lipschitz bound from n Jacobians J[n][d_out][d_in]: the largest
 * op_measure_jacobian_norm (a sup over points of |df/dx| never exceeds the
 * Lipschitz constant). Same work as above. */
double op_measure_lipschitz_lower(const double *J, long n, int d_out,
                                  int d_in, double *work);

/* Upper bound: prod_l wmul[l] |W_l|_2 times Lip(phi)^depth, with
 * Lip(relu) = Lip(tanh) = 1 and Lip(erf) = 2/sqrt(pi); |W_l|_2 by power
 * iteration (`iters` steps; an estimate from below of each factor).
 * work: op_measure_lipschitz_upper_work(net) doubles. */
double op_measure_lipschitz_upper(const op_net *net, int iters, double *work);
size_t op_measure_lipschitz_upper_work(const op_net *net);

/* ---- empirical NTK --------------------------------------------------- */

/* theta[n][n] = J J^T, J[n][n_train] the per-sample gradients of output `o`
 * at x[n][d_in] (op_net_param_jacobian). J is formed in row blocks of at
 * most `rows` points so a wide network needs no n x n_train matrix: with
 * rows >= n one block, else blocks pairwise (each block's Jacobian is
 * recomputed, n/rows times). jbuf: op_measure_ntk_work(net, n, rows)
 * doubles. */
void op_measure_ntk(op_net *net, const double *x, int n, int o, int rows,
                    double *jbuf, double *theta);
size_t op_measure_ntk_work(const op_net *net, int n, int rows);
/* Block rows that keep op_measure_ntk's buffer within `bytes` (>= 1). */
int op_measure_ntk_rows(const op_net *net, int n, size_t bytes);

/* ---- the per-run measurement context --------------------------------- */

/* Whether a [measure] section enables any measurement. */
int op_measure_enabled(const op_measure_cfg *m);

/* Everything a run's measurements keep between curve points (probe
 * points, the initial parameters and NTK, the Gaussian filter); buffers
 * are kept between runs and only grown. */
typedef struct op_measure_ctx op_measure_ctx;
op_status op_measure_create(op_measure_ctx **out);
void op_measure_destroy(op_measure_ctx *m);

/* Starts a run at its initialization (slot 0): draws the probe points,
 * keeps the initial parameters (and NTK, predictions on the grid/filter
 * set when centered), and measures slot 0. The sets, layout and result
 * must outlive the run. */
op_status op_measure_begin(op_measure_ctx *m, const op_config *cfg, long run,
                           op_net *net, const op_dataset *train,
                           const op_dataset *test, const op_layout *layout,
                           op_result *res);
/* Measures curve point `slot` (epoch `epoch`) of the run begun last;
 * slots >= layout->n_log are ignored. freq_converge_epoch is brought up to
 * date at every call, so after the last one it is final. */
op_status op_measure_log(op_measure_ctx *m, op_net *net, int epoch,
                         int slot);

/* The trainer's hook (op_trainer_set_hook, ctx = the op_measure_ctx):
 * slot 0 begins the run with the sets given by op_measure_set_data, other
 * slots log. */
void op_measure_set_data(op_measure_ctx *m, const op_dataset *train,
                         const op_dataset *test, const op_layout *layout,
                         op_result *res);
op_status op_measure_hook(void *ctx, const op_config *cfg, long run,
                          op_net *net, int epoch, int slot);

/* Bounds that keep a measurement's cost per curve point fixed whatever the
 * data size: Lipschitz probes at most this many training and test points
 * (the first ones: the sets are random subsets already), the Gaussian
 * filter at most this many training points (a random subset from
 * (seed, OP_STREAM_MEASURE, 0, 1), the same for every run of the job),
 * and the NTK Jacobian blocks at most this many bytes. */
#define OP_MEASURE_LIP_POINTS 4096
#define OP_MEASURE_FILTER_POINTS 4000
#define OP_MEASURE_NTK_BYTES ((size_t)512 << 20)

#endif
