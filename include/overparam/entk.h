/* entk.h — the empirical NTK of a finite fully-connected network (net.h),
 * distributed on the kernel's BLACS grid (pkernel.h), without ever forming
 * the Jacobian.
 *
 * Contract.
 *  - Convention (neural-tangents' empirical_ntk_fn with trace_axes over the
 *    outputs): Theta(x, x') = (1/k) sum_o sum_p df_o(x)/dp df_o(x')/dp over
 *    the trainable parameters p (net->freeze_first drops layer 0), k =
 *    d_out. In the infinite-width limit it equals the analytic NTK of one
 *    output (kernel.h).
 *  - Method: layer l computes h_l = wmul_l a_l W_l^T + bmul_l b_l, so
 *    df_o/dW_l = wmul_l delta_l^o (x) a_l and df_o/db_l = bmul_l delta_l^o
 *    with delta_l^o = df_o/dh_l, and
 *        Theta = sum_l G_l .* B_l   (elementwise),
 *        G_l = wmul_l^2 A_l A_l^T + bmul_l^2   (bmul term only where layer
 *                                             l has biases, b_off[l] >= 0),
 *        B_l = (1/k) sum_o D_l^o D_l^o^T,      B_L = 1 (delta_L^o = e_o),
 *    A_l [n][dims[l]] the layer inputs and D_l = [D_l^0 .. D_l^{k-1}]
 *    [n][k dims[l+1]] the backpropagated signals. wmul/bmul are the net's
 *    own (net.c: standard wmul = bmul = 1; ntk wmul = sqrt(sigma_w2/fan_in),
 *    bmul = sqrt(sigma_b2)); init scales live in the parameters themselves.
 *    The last hidden layer's signals fold over the outputs into one
 *    column per unit (sqrt(sum_o (delta^o_r)^2)), which needs phi' >= 0:
 *    true of ReLU, erf and tanh, the activations net.h has.
 *  - Distribution: each rank runs the forward and k backward passes for a
 *    contiguous slice of ceil(n/P) rows; per layer, the rows each rank's
 *    blocks of Theta need (those of its process row and of its process
 *    column, the latter left out where they are among the former: a 1 x P
 *    grid's ranks, a square grid's diagonal) are sent to it (one
 *    MPI_Alltoallw), and it computes the Gram
 *    of its blocks on or below the diagonal with local GEMMs: G_l block
 *    column by block column straight into Theta. When a layer's signals
 *    fit one exchange (256 MiB, op_entk_set_exchange_bytes) they travel
 *    with its activations, and B_l's block column is computed beside
 *    G_l's and multiplied in while both strips are in cache (no n^2/P
 *    matrix for B); wider signals are summed over groups of outputs into
 *    one n^2/P matrix B first. Theta is mirrored at the end, so both
 *    triangles hold. Every rank must hold the same parameters (same
 *    seed stream) and the whole x.
 *  - Work: n^2/2 (sum_l dims[l] + k sum_{l<L-1} dims[l+1] + dims[L])
 *    multiply-adds over P ranks (the last hidden layer's signals fold
 *    into dims[L] columns, entk.c), plus n (1 + k) forward costs over P.
 *  - Memory per rank (float64 words): Theta, n^2/P (and B, n^2/P more,
 *    when the signals are exchanged in groups); the row slices of every
 *    layer, (n/P) (sum_l dims[l] + k dims[l+1]); the exchanged rows of
 *    one layer, (n/nprow + n/npcol) x its width (activations and signals
 *    together; grouped signals within 256 MiB), and their send copy
 *    (n/P)(nprow + npcol) x that width; in the float32 mode all but
 *    Theta and B are float words.
 *  - Precision: the network must be float64 (precision 8). The float64
 *    mode (op_entk_build; [kernel] empirical_precision = float64, the
 *    default) is float64 throughout, bitwise as before the float32
 *    option. The float32 mode (op_entk_build_prec 4, empirical_precision
 *    = float32) runs the passes in float64 (float32 passes flip ReLU
 *    derivatives at pre-activations within rounding of 0: 7e-5 relative
 *    at n = 4096, entk.c), keeps float32 copies of the slices, exchanges
 *    them (half the bytes) and multiplies them by sgemm (twice the GEMM
 *    rate with AVX-512); each block's product is widened and accumulated
 *    into Theta in float64. Why that is enough: neural-tangents computes
 *    empirical NTKs in float32 by default (JAX's default dtype), and a
 *    finite net's eNTK fluctuates around its limit by O(1/sqrt(width)) --
 *    3e-2 at width 1024 -- far above float32's ~6e-8 rounding and the
 *    ~1e-7 relative error it leaves in Theta (tests/test_mpi_entk.c
 *    bounds it by 1e-5 against J J^T and the float64 build). */
#ifndef OVERPARAM_ENTK_H
#define OVERPARAM_ENTK_H

#include <hdf5.h>
#include <stddef.h>

#include "overparam/data.h"
#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/net.h"
#include "overparam/pkernel.h"

/* Theta [n][n] of `net` at x[n][d_in], allocated on the grid (collective).
 * OP_ERR_INPUT (every rank) for a float32 network, n < 1, or one layer's
 * exchange past 2 GiB per rank (MPI's int counts: use more ranks). The
 * net's batch buffers are used as scratch (its parameters are left as
 * they were). */
op_status op_entk_build(const op_pkernel_grid *g, op_net *net,
                        const double *x, int n, op_pmatrix *theta);
/* op_entk_build with the Grams in gram_precision 8 (float64: the same
 * as op_entk_build) or 4 (float32, the contract's Precision line);
 * OP_ERR_INPUT for any other value. */
op_status op_entk_build_prec(const op_pkernel_grid *g, op_net *net,
                             const double *x, int n, int gram_precision,
                             op_pmatrix *theta);

/* Where this rank's last op_entk_build spent its wall time, seconds:
 * the forward/backward passes; the row exchanges (packing included), of
 * which `wait` is waiting for the other ranks to arrive;
 * the Gram GEMMs; the Hadamard accumulation into Theta (and float32
 * panels widened); allocating and freeing buffers; mirroring the lower
 * triangle; and the whole call. For the benchmark's breakdown. */
typedef struct {
    double passes, exchange, wait, grams, hadamard, alloc, mirror, total;
} op_entk_timing;
void op_entk_last_timing(op_entk_timing *t);

/* The signals of a layer are exchanged and multiplied in groups of outputs
 * whose received rows stay within `bytes` (default 256 MiB; 0 restores
 * it). For tests (small groups on small problems) and tight memory. */
void op_entk_set_exchange_bytes(size_t bytes);

/* Bytes per rank op_entk_build needs at its peak on P ranks (the contract's
 * memory line, Theta included). */
double op_entk_bytes_per_rank(const op_net *net, int n, int ranks);
/* Peak bytes per rank of op_entk_write for the kernel section kc on data
 * of d inputs and k outputs, n training and n_test test points, P ranks
 * (the largest of its widths; 0 without empirical_widths). The kernel
 * phase's memory check counts it. */
double op_entk_phase_bytes_per_rank(const op_kernel_cfg *kc, int d, int k,
                                    int n, int n_test, int ranks);

/* ||A - B||_F / ||B||_F of two matrices of one grid and shape
 * (collective; NaN when B is zero). */
double op_entk_rel_diff(const op_pkernel_grid *g, const op_pmatrix *A,
                        const op_pmatrix *B);

/* The network linearized at its initialization (parameters p0, the
 * params layout of net.h), trained by gradient flow on `train`:
 *     f_lin(t, x) = f0(x) + Theta(x, X) V diag(gain(w, t)) V^T (Y - f0(X))
 * with Theta = V diag(w) V^T its empirical NTK at init on X (eigenvalues
 * by `solver`, pkernel.h), f0 its initial outputs, and times in
 * op_pkernel_gd_predict's per-sample convention (gain =
 * op_kernel_gd_gain). With
 * `center` the model is f - f0 (what [train] center trains), so f0 = 0.
 * Theta(test, X) and Theta(X, X) are blocks of one op_entk_build on
 * [X; test] ((n + nt)^2/P), its Grams in gram_precision (8 or 4,
 * op_entk_build_prec). On grid rank 0: pred_lin [n_time][nt][k] the
 * linearized test predictions, pred_net [nt][k] those of the network with
 * parameters pT (minus f0 with center); other ranks may pass NULL.
 * The net's parameters are left at p0. Collective. */
op_status op_entk_linearized(const op_pkernel_grid *g, op_net *net,
                             const double *p0, const double *pT,
                             const op_dataset *train, const op_dataset *test,
                             int center, int solver, int gram_precision,
                             int n_time, const double *times,
                             double *pred_lin, double *pred_net);

/* The kernel phase's empirical NTKs ([kernel] empirical_widths), written
 * into the open group /kernels/<id> (`path`, the NTK of depth kc->depth)
 * of the parallel HDF5 `file` (collective over the grid):
 *  - attribute empirical_widths [n_empirical], and empirical_precision
 *    ("float64" or "float32": the Grams' precision, kc->
 *    empirical_precision, used for every empirical NTK below);
 *  - empirical_ntk_rel_error [n_empirical]: |Theta_hat - Theta|_F /
 *    |Theta|_F, Theta_hat the empirical NTK at init of the network of width
 *    w (the kernel's activation, parameterization, depth and variances,
 *    init scales 1, float64, no frozen layer) drawn from (job seed,
 *    OP_STREAM_KERNEL, depth, w), Theta the analytic NTK of width w (the
 *    standard parameterization's depends on it), on the training set;
 *  - empirical_matrix [n_empirical][n][n] with kc->save_empirical;
 *  - with kc->empirical_train: that architecture trained by op_train_run
 *    with the job's [train] recipe (run 0's, float64, one member; its own
 *    run streams, so its init is a different draw; rank 0's parameters,
 *    broadcast): empirical_ntk_drift [n_empirical] |Theta_T - Theta_0|_F /
 *    |Theta_0|_F between its final and initial parameters (NaN when the
 *    training diverged); with a test set, op_entk_linearized at the
 *    kernel's times and the training's own (lr x steps / (1 - momentum),
 *    NaN for Adam; stored in kc->time_convention's units, converted by
 *    op_kernel_flow_time for the predictor): empirical_lin_time, _lin_mse, _lin_acc [n_empirical]
 *    [n_time + 1], empirical_net_mse, _net_acc, _lin_net_gap (|f_net -
 *    f_lin|_F / |f_net|_F at the training's time) [n_empirical],
 *    empirical_pred_lin [n_empirical][n_time + 1][n_test][k] and
 *    empirical_pred_net [n_empirical][n_test][k].
 * Every dataset carries schema.h's description. */
op_status op_entk_write(const op_job *job, const op_kernel_cfg *kc,
                        const op_pkernel_grid *g, const op_dataset *train,
                        const op_dataset *test, hid_t file, const char *path);

#endif
