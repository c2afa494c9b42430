/* kernel.h — infinite-width kernels (NNGP and NTK) of fully-connected
 * networks: the elementwise layer recursion, and serial reference
 * implementations (kernel matrices, ridge regression, gradient-descent
 * predictor, eigenvalues, metrics, power-law fit) used by the tests, the
 * benchmarks and the distributed module (pkernel.h).
 *
 * Conventions (neural-tangents stax, fully connected):
 *   network = `depth` hidden [Dense, activation] layers, then a readout
 *   Dense. Input kernel K0(x, x') = x.x'/d. Dense layer j = 0..depth has
 *   variances (sw2_j, sb2_j) and a bias indicator B_j from op_dense_layer
 *   (job.h): the hidden (sigma_w2, sigma_b2) for j < depth, the readout's
 *   (sigma_w2_last, sigma_b2_last) for j = depth; B_j = [sb2_j > 0] under
 *   bias = auto, 1 under on, 0 under off (then sb2_j = 0).
 *   First Dense:  S1 = sw2_0*K0 + sb2_0.
 *   Activation then Dense j = l, for l = 1..depth (T = E[phi(u)phi(v)],
 *   Td = E[phi'(u)phi'(v)], (u, v) ~ N(0, [[S(x,x), S], [S, S(x',x')]])):
 *     S_{l+1} = sw2_l*T + sb2_l
 *   NTK, "ntk" parameterization (neural-tangents: ntk = nngp + W_std^2
 *   ntk; a bias with b_std = 0 has multiplier 0 and adds nothing):
 *     Th_1 = S1,  Th_{l+1} = S_{l+1} + sw2_l*Td*Th_l
 *   NTK, "standard" parameterization (neural-tangents Dense with s=(1,1):
 *   the weight gradient of a layer with fan-in N contributes N times its
 *   input kernel, a trained bias contributes 1 whatever its initial
 *   variance, zero included):
 *     Th_1 = d*K0 + B_0,
 *     Th_{l+1} = width*T + sw2_l*Td*Th_l + B_l
 *   so it depends on the hidden width (op_kernel_spec.width).
 *   Output: NNGP = S_{depth+1}, NTK = Th_{depth+1}.
 *   ReLU: arc-cosine closed forms; erf: arcsin form and its derivative
 *   kernel 4/(pi*sqrt((1+2q1)(1+2q2) - 4c^2)).
 *
 * Diagonals: the closed forms need S_l(x,x) for every layer l = 1..depth+1;
 * they are computed once per point (op_kernel_diag) and stored point-major,
 * q[i*(depth+1) + (l-1)], so a block of the matrix only needs the diagonals
 * of its rows and columns.
 *
 * Matrices in this header are row-major, double. */
#ifndef OVERPARAM_KERNEL_H
#define OVERPARAM_KERNEL_H

#include "overparam/error.h"
#include "overparam/job.h"

typedef enum { OP_KERNEL_NNGP = 0, OP_KERNEL_NTK = 1 } op_kernel_kind;

/* Everything the elementwise recursion needs. */
typedef struct {
    op_activation act;           /* OP_ACT_RELU or OP_ACT_ERF */
    op_parameterization param;   /* OP_PARAM_NTK or OP_PARAM_STANDARD */
    int depth;                   /* hidden layers, >= 0 */
    double sigma_w2, sigma_b2;   /* hidden layers */
    double sigma_w2_last, sigma_b2_last; /* readout, when last_set (as in
                                  * op_model_cfg: < 0 = the hidden value) */
    int last_set;                /* 0 (a zeroed spec): readout = hidden */
    int bias;                    /* op_bias_mode; 0 = auto */
    int width;                   /* hidden width: standard-param NTK only */
    int d;                       /* input dimension */
} op_kernel_spec;

/* Fills `spec` from the job's kernel settings. `width` is the finite
 * network's hidden width (only the standard-parameterization NTK uses it;
 * pass the model's width). OP_ERR_INPUT for an unsupported activation
 * (tanh has no closed form here), negative depth/variances, d < 1, or a
 * standard-param NTK without width >= 1, bias = off with a bias variance
 * > 0. */
op_status op_kernel_spec_init(op_kernel_spec *spec, const op_kernel_cfg *cfg,
                              int depth, int width, int d);

/* Per-layer diagonals of n points x[n][ldx] (first d columns used):
 * q[i*(depth+1) + l] = S_{l+1}(x_i, x_i), l = 0..depth. */
void op_kernel_diag(const op_kernel_spec *spec, const double *x, int n,
                    int ldx, double *q);

/* One matrix entry from the scaled input Gram value k0 = x.x'/d and the two
 * points' diagonal rows q1, q2 (depth+1 values each). Either output may be
 * NULL. */
void op_kernel_elem(const op_kernel_spec *spec, double k0, const double *q1,
                    const double *q2, double *nngp, double *ntk);

/* Batched form of op_kernel_elem for whole columns of a matrix block, the
 * path the distributed build takes (several times faster: branch-free,
 * vectorized, one polynomial arcsin per layer instead of libm's acos).
 *
 * op_kernel_factors turns the diagonals q of n points (op_kernel_diag's
 * layout) into per-layer factors, layer-major so a column's rows are
 * contiguous, OP_KERNEL_NFACT = 3 a layer: f[(3l)*ldf + i] = u_l(x_i),
 * f[(3l+1)*ldf + i] = v_l(x_i), f[(3l+2)*ldf + i] = q_l(x_i) (the
 * variance itself: ReLU's angle comes from q q' - c^2, exact products),
 * l = 0..depth-1 (ReLU: u = sqrt(q), v = 1/sqrt(q) or 0 for q = 0; erf:
 * u = 1 + 2q, v = 1/sqrt(1 + 2q)).
 *
 * op_kernel_column: S[m] holds k0 = x_i.x'/d of m row points against one
 * column point on entry and the NNGP on return; T[m] receives the NTK (S
 * and T must not overlap). fr: the rows' factors (leading dimension ldf);
 * fc: the column point's 3*depth factors, fc[3l..3l+2]. Entries agree
 * with op_kernel_elem to ~1e-15 relative except where |cos| -> 1, whose
 * conditioning amplifies either version's rounding: callers recompute
 * exact diagonal entries (x = x') with op_kernel_elem. */
#define OP_KERNEL_NFACT 3
void op_kernel_factors(const op_kernel_spec *spec, const double *q, int n,
                       double *f, int ldf);
void op_kernel_column(const op_kernel_spec *spec, int m, const double *fr,
                      int ldf, const double *fc, double *S, double *T);

/* Serial reference: nngp[n1][n2] and ntk[n1][n2] (either may be NULL) of
 * X1[n1][d] against X2[n2][d], by plain loops. */
void op_kernel_ref(const op_kernel_spec *spec, const double *x1, int n1,
                   const double *x2, int n2, double *nngp, double *ntk);

/* Ridge regression: pred[nt][k] = Kt[nt][n] (K[n][n] + eps I)^{-1} Y[n][k],
 * by LAPACK dpotrf/dpotrs. Returns 0, or the dpotrf info > 0 when K + eps I
 * is not positive definite (pred is then filled with NaN). */
int op_kernel_ref_regress(const double *K, int n, const double *Kt, int nt,
                          const double *Y, int k, double eps, double *pred);

/* Gradient-flow predictor on the MSE loss 0.5*mean_i |f(x_i) - y_i|^2 with
 * learning rate 1, started from f = 0:
 *   pred(t) = Kt V diag(g_t(lambda)) V^T Y,  g_t(l) = (1 - exp(-l t / n))/l,
 * where K = V diag(lambda) V^T. The 1/n comes from the mean in the loss, so
 * t counts (learning rate x full-batch steps) of the finite network's
 * training. t = +inf gives the pseudo-inverse (ridgeless) limit;
 * eigenvalues <= 0 (roundoff of a PSD kernel) use g = t/n for finite t and
 * 0 for t = inf. pred[n_time][nt][k]. */
void op_kernel_ref_gd(const double *K, int n, const double *Kt, int nt,
                      const double *Y, int k, const double *times, int n_time,
                      double *pred);
/* The gain g_t(lambda) above, shared with the distributed code. */
double op_kernel_gd_gain(double lambda, double t, int n);
/* The time of the predictor above (per-sample loss) that a time t of
 * convention `conv` (op_time_convention, job.h) means, for k outputs:
 * per_sample: t; neural_tangents (loss averaged over n*k, so its flow is k
 * times slower): t/k. inf stays inf. */
double op_kernel_flow_time(int conv, double t, int k);

/* All eigenvalues of symmetric K[n][n] by dsyevd, in DESCENDING order. */
void op_kernel_ref_eig(const double *K, int n, double *w);

/* Test metrics of pred[n][k] against targets y[n][k] and label[n]:
 * mse = 0.5 * mean over samples of the squared error summed over outputs
 * (the training loss convention); acc = fraction with argmax(pred) ==
 * label for k > 1, sign(pred) == sign(y) for k == 1; acc is NaN when no
 * sample has a label >= 0 (regression). */
void op_kernel_metrics(const double *pred, const double *y, const int *label,
                       int n, int k, double *mse, double *acc);

/* Power-law fit of a DESCENDING spectrum, lambda_i ~ pref * i^(-expo),
 * i = 1..n: ordinary least squares of log(lambda_i) on log(i) over
 * i in [max(1, n/100), max(2, n/2)] (1-based), skipping lambda_i <= 0.
 * The head (largest eigenvalues) is left out because it carries the
 * data's mean/low-frequency structure, and the last half because its
 * values are dominated by conditioning/roundoff. NaN for fewer than two
 * usable points. *lo, *hi (may be NULL) receive the range. */
void op_kernel_powerlaw_fit(const double *w, int n, double *expo,
                            double *pref, int *lo, int *hi);
/* Same for float eigenvalues. */
void op_kernel_powerlaw_fit_f(const float *w, int n, double *expo,
                              double *pref, int *lo, int *hi);

/* Place for the empirical NTK J J^T of a finite network at initialization:
 * to be provided by the network module (not implemented here). */

#endif
