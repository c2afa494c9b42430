/* net.h — a fully-connected network: d_in -> depth hidden layers of width m
 * -> d_out, trained and measured with BLAS GEMMs over a batch.
 *
 * Contract. Layers l = 0..L (L = depth); layer l maps dims[l] -> dims[l+1]
 * with dims = {d_in, m, ..., m, d_out}. With a_0 = x:
 *     h_l = wmul[l] * a_l W_l^T + bmul[l] * b_l        (row-major batch)
 *     a_{l+1} = phi(h_l) for l < L,      f(x) = h_L (no output activation)
 * The parameterizations follow neural-tangents' stax.Dense, so the NNGP/NTK
 * kernels are the exact infinite-width limit (s_l = init_scale, times
 * init_scale_first on layer 0 and init_scale_last on layer L):
 *     standard: W ~ N(0, sigma_w2/fan_in s_l^2), b ~ N(0, sigma_b2 s_l^2),
 *               wmul = bmul = 1
 *     ntk:      W ~ N(0, s_l^2), b ~ N(0, s_l^2),
 *               wmul = sqrt(sigma_w2/fan_in), bmul = sqrt(sigma_b2)
 * with sigma_w2, sigma_b2 the readout's own (sigma_w2_last, sigma_b2_last)
 * on layer L, and layer l has bias parameters as op_model_layer says
 * (bias = auto: its sigma_b2 > 0; on: always, so a zero variance gives a
 * zero-initialized trained bias in standard parameterization and a bias
 * with multiplier 0 in ntk, as neural-tangents' b_std = 0.; off: never);
 * a layer without biases has b_off[l] = -1. Initial values are drawn in
 * float64 (layer by layer, W row-major then b) and rounded to the storage
 * precision, so float32 and float64 nets start from the same point.
 *
 * Storage: ONE allocation per network (llm.c style), reused by the next run
 * when large enough (first-touch page faults are slow). REAL = float
 * (precision 4) or double (8). Shapes, in order inside the block:
 *     params  [n_total]     W_0 [dims1][dims0], b_0 [dims1], W_1, b_1, ...
 *     grads   [n_train]     same layout as params[train_off ..)
 *     opt1    [n_train]     SGD momentum buffer, or Adam first moment
 *     opt2    [n_train]     Adam second moment (only when opt_slots == 2)
 *     ones    [batch_max]   column of ones (bias gradients as a GEMV)
 *     per layer l: a_l [B][dims[l]], h_l [B][dims[l+1]], d_l [B][dims[l+1]]
 *     dx      [B][d_in]     gradient w.r.t. the input
 * where B = batch_max, h_L is the output and d_l = dLoss/dh_l. Hidden h_l
 * exist only for erf (its derivative needs the pre-activation): ReLU and
 * tanh are applied in place in a_{l+1} (h_l = NULL). Trainable
 * parameters are params[train_off .. n_total): with freeze_first the first
 * layer (random features) is excluded, and grads/optimizer state exist only
 * for trainable parameters. Every "param" vector this API exchanges
 * (copy/load/Jacobian rows/reference gradients) uses this same layout. */
#ifndef OVERPARAM_NET_H
#define OVERPARAM_NET_H

#include <stddef.h>

#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/rng.h"

#define OP_NET_LAYERS_MAX 65 /* depth <= 64 hidden layers */

typedef struct {
    /* shape */
    int d_in, d_out, width, depth, n_layers; /* n_layers = depth + 1 */
    int dims[OP_NET_LAYERS_MAX + 1];
    int precision;                           /* 4 or 8: sizeof(REAL) */
    op_activation act;
    op_parameterization param;
    int has_bias;                            /* layer 0 has biases */
    int freeze_first;
    int batch_max;                           /* B: rows of the buffers */
    int opt_slots;                           /* optimizer vectors: 0..2 */
    double wmul[OP_NET_LAYERS_MAX], bmul[OP_NET_LAYERS_MAX];
    double init_std_w[OP_NET_LAYERS_MAX], init_std_b[OP_NET_LAYERS_MAX];
    /* parameter layout (element offsets into params) */
    long w_off[OP_NET_LAYERS_MAX], b_off[OP_NET_LAYERS_MAX];
    long n_total, n_train, train_off;
    /* the block; pointers below are REAL* into it */
    void *block;
    size_t block_bytes, capacity;
    void *params, *grads, *opt1, *opt2, *ones, *dx;
    void *a[OP_NET_LAYERS_MAX], *h[OP_NET_LAYERS_MAX], *d[OP_NET_LAYERS_MAX];
    const void *in;       /* the last forward's layer-0 input: a[0], or the
                           * caller's x when that already was contiguous
                           * REAL rows (then read in place, no copy) */
    long step;                               /* optimizer steps taken */
    op_wd_scaling wd_scaling;                /* weight decay per layer:
                                              * op_net_set_wd_scaling */
} op_net;

/* Number of trainable parameters (what the optimizer updates; with
 * freeze_first the first layer is not counted; without bias no biases). */
long op_net_param_count(const op_model_cfg *m, int d_in, int d_out);

/* Shapes the network and points into its block, re-using the existing
 * block when it is large enough (zero-initialize `net` before first use).
 * opt_slots: 0 (plain SGD), 1 (momentum), 2 (Adam). Parameters are NOT
 * initialized: call op_net_init_params. OP_ERR_INPUT for bad shapes,
 * OP_ERR_NOMEM when the block cannot be allocated. */
op_status op_net_setup(op_net *net, const op_model_cfg *m, int d_in,
                       int d_out, int precision, int batch_max,
                       int opt_slots);
void op_net_free(op_net *net);

/* Draws the initial parameters from `rng` (see the contract above) and
 * zeroes the optimizer state and step count. */
void op_net_init_params(op_net *net, op_rng *rng);

/* Forward pass of n <= batch_max samples: rows rows[0..n) of x[.][d_in]
 * (rows == NULL: rows 0..n). Leaves activations in the block for a
 * following backward; writes f [n][d_out] as double when out != NULL.
 * With precision 8 and rows == NULL the network reads x in place: keep x
 * unchanged until the following backward. */
void op_net_forward(op_net *net, const double *x, const int *rows, int n,
                    double *out);
/* Backward pass after op_net_forward on the same n samples: gout[n][d_out]
 * = dLoss/df. Writes (accumulate = 0) or adds (1) dLoss/dparams into the
 * trainable gradient. */
void op_net_backward(op_net *net, const double *gout, int n, int accumulate);

/* op_net_backward(net, gout, n, 0) followed by op_net_sgd_step(net, lr,
 * momentum, wd), fused: the gradient GEMMs write v = momentum v + g
 * straight into the momentum buffer (beta = momentum), then one sweep does
 * v += wd p; p -= lr v. Same operations in the same order; only the
 * gradient's own rounding before the add may be skipped where the BLAS
 * kernel fuses alpha*acc + C (OpenBLAS Haswell sgemm: float32 runs differ
 * from the unfused pair in the last bits, float64 runs are identical).
 * The trainable gradient (grads) is left as it was. */
void op_net_backward_sgd(op_net *net, const double *gout, int n, double lr,
                         double momentum, double wd);

/* For packs (pack.h), which compute the first layer of many networks as
 * one GEMM. op_net_block_bytes: the block op_net_setup would allocate for
 * this shape (0 for a bad shape); a caller that sets net->block/capacity to
 * a region that large before op_net_setup keeps the network there (and
 * must not call op_net_free). op_net_forward_after0: op_net_forward of n
 * rows given layer 0's pre-activation h0[n][ld] (REAL, its first dims[1]
 * columns = wmul_0 x W_0^T + bmul_0 b_0, computed exactly as forward would);
 * op_net_backward_skip0: op_net_backward without the layer-0 weight
 * gradient (its rows of grads are left alone; the bias gradient is made),
 * leaving dLoss/dh_0 in d[0] when the first layer is trained. */
size_t op_net_block_bytes(const op_model_cfg *m, int d_in, int d_out,
                          int precision, int batch_max, int opt_slots);
void op_net_forward_after0(op_net *net, const void *h0, long ld, int n,
                           double *out);
void op_net_backward_skip0(op_net *net, const double *gout, int n,
                           int accumulate);
/* op_net_sgd_step / op_net_adam_step with layer 0's weights W_0 and their
 * gradient (the first dims[1]*dims[0] trainable elements, when the first
 * layer is trained) read and written at w0 / g0 (REAL [dims[1]][dims[0]])
 * instead of params / grads: a pack keeps them in its concatenated first
 * layer. Element by element the same operations; w0 == NULL: the plain
 * step. W_0 in params is left as it was. */
void op_net_sgd_step_w0(op_net *net, double lr, double momentum, double wd,
                        void *w0, const void *g0);
void op_net_adam_step_w0(op_net *net, double lr, double beta1, double beta2,
                         double eps, double wd, void *w0, const void *g0);

/* Optimizer steps on the trainable parameters, gradient g plus weight
 * decay c*p (L2, coupled: added to g before momentum or Adam's moments).
 * SGD (PyTorch convention): v = mu v + g; p -= lr v (mu = 0: no buffer).
 * Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *       p -= lr mhat / (sqrt(vhat) + eps), bias-corrected at step t.
 *
 * Weight decay. The coefficient c of a parameter depends on the net's
 * wd_scaling (op_net_set_wd_scaling; op_net_setup leaves OP_WD_UNIFORM):
 *     uniform:   c = wd for every parameter: the gradient of (wd/2)|p|^2
 *                on the stored parameters;
 *     layerwise: c = wd * wmul[l]^2 on W_l, wd * bmul[l]^2 on b_l: the
 *                gradient of (wd/2) sum_l (|wmul_l W_l|^2 + |bmul_l b_l|^2),
 *                the L2 penalty of the EFFECTIVE weights.
 * In standard parameterization wmul = bmul = 1, so both are the same
 * (bit for bit). In ntk parameterization the effective weights are
 * sqrt(sigma_w2/fan_in) W and sqrt(sigma_b2) b, so uniform decay penalizes
 * the N(0,1) raw weights (a penalty that grows with the width and treats
 * the readout like the first layer), while layerwise decay multiplies
 * layer l's term by sigma_w2/fan_in_l (sigma_b2 for its biases): the
 * layer-wise weight-decay scaling of Lee et al. 2020 ("Finite versus
 * infinite neural networks: an empirical study", arXiv:2007.15801, the
 * section on L2 regularization in NTK parameterization, finding 5):
 * penalize (wd/2) (sigma_w2/n_l) |W_l|^2 (+ sigma_b2 |b_l|^2) instead of
 * (wd/2) |W_l|^2, so that an NTK-parameterized network minimizes the same
 * regularized objective, as a function of its effective weights, as a
 * standard-parameterized network with plain L2. (The paper's aim, L2 in
 * ntk equal to standard's, fixes the coefficient; the search tools here
 * reached the paper's abstract, not its equation, so the factor is
 * derived from the parameterization above.) Biases: the same rule, b
 * = sqrt(sigma_b2) beta gives sigma_b2 |beta|^2 (a bias with multiplier 0
 * is not decayed: it never acts). Gradient descent on the two differs
 * only by a per-layer learning rate: for an ntk net, W_eff = wmul W gives
 * dW_eff = -lr wmul^2 (dL/dW_eff + wd W_eff), i.e. the standard net's step
 * with lr * wmul_l^2 on layer l (tests/test_wdscale.c checks this). */
void op_net_sgd_step(op_net *net, double lr, double momentum, double wd);
/* Sets how weight decay applies per layer (above); lasts until the next
 * op_net_setup. */
void op_net_set_wd_scaling(op_net *net, op_wd_scaling s);
void op_net_adam_step(op_net *net, double lr, double beta1, double beta2,
                      double eps, double wd);

/* f(x) for any number of points, in chunks of batch_max: out[n][d_out]. */
void op_net_predict(op_net *net, const double *x, long n, double *out);
/* Input Jacobian J[n][d_out][d_in] = df_o/dx at each point. */
void op_net_input_jacobian(op_net *net, const double *x, long n, double *J);
/* Per-sample gradient of output `o` w.r.t. the trainable parameters:
 * J[n][n_train]; the empirical NTK of that output is J J^T. */
void op_net_param_jacobian(op_net *net, const double *x, long n, int o,
                           double *J);

/* After op_net_forward on n samples: the deltas d_l = df_o/dh_l of output
 * `o` into d[l] (REAL [n][dims[l+1]], l = 0..L; d[0] only when the first
 * layer is trained), without any parameter gradient. The layer inputs a_l
 * of that forward are net->in (l = 0) and a[l]. For the empirical NTK as a
 * sum over layers of Gram products (entk.h). */
void op_net_output_deltas(op_net *net, int o, int n);

/* Copies of the parameters as double: all n_total (params layout). */
void op_net_params_copy(const op_net *net, double *out);
void op_net_params_load(op_net *net, const double *in);
/* Trainable gradient as double [n_train]. */
void op_net_grads_copy(const op_net *net, double *out);
/* Layer l's stored weights W[dims[l+1]][dims[l]] and bias b[dims[l+1]]
 * (b may be NULL; left untouched when layer l has no bias). These are the raw
 * parameters; the effective weights are wmul[l] * W and bmul[l] * b. */
void op_net_layer_copy(const op_net *net, int l, double *W, double *b);

/* Naive reference (triple loops, double) of the same network, for tests:
 * params in the params layout (n_total). Computes out[n][d_out] and, when
 * gout != NULL, grad[n_train] = d(sum_i gout_i . f(x_i))/dparams. */
void op_net_reference(const op_net *net, const double *params,
                      const double *x, int n, double *out,
                      const double *gout, double *grad);
/* Reference of the weight decay (the "Weight decay" rule above, written
 * per parameter from wmul/bmul and the layout): adds the penalty's
 * gradient c * p to grad[n_train] and returns the penalty
 * sum c p^2 / 2 over the trainable parameters, for net->wd_scaling. */
double op_net_reference_decay(const op_net *net, const double *params,
                              double wd, double *grad);

#endif
