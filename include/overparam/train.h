/* train.h — training one run of the grid: a fully-connected net (net.h) on
 * an op_dataset, with learning curves into the run's op_result.
 *
 * Contract.
 * Loss (per sample i, outputs f_i, targets y_i, averaged over the n samples
 * of the set or mini-batch):
 *     mse:  0.5 * sum_o (f_io - y_io)^2           L = mean_i of that
 *     xent: -sum_o y_io log softmax(f_i)_o        (k >= 2 only)
 * Accuracy: argmax_o f_io == label_i (k >= 2); for k == 1, sign(f) ==
 * sign(y) (f > 0 is the positive class); only samples with label >= 0
 * count, so a regression set (labels -1) has accuracy NaN.
 * Optimization: SGD with momentum or Adam (see op_net_sgd_step /
 * op_net_adam_step), L2 weight_decay added to the gradient, per layer as
 * weight_decay_scaling says (net.h, "Weight decay"); full batch
 * (batch 0 or >= n: one step per epoch, gradient summed over chunks) or
 * mini-batches of `batch` (the last may be smaller) in an order reshuffled
 * every epoch from op_rng_derive(seed, OP_STREAM_BATCH, run, 0); lr of
 * epoch t (1-based) = lr * lr_decay^floor((t-1)/lr_step) when lr_step > 0.
 * Initialization: member e of the ensemble from (seed, OP_STREAM_INIT,
 * run, e); e = 0 is the ordinary single network.
 * center: predictions are f(x) - f0(x), with f0 the member's initial
 * output (stored at init); training uses that centered output.
 * ensemble (> 1): members train in lockstep on the same batch order; every
 * metric, curve and stop test uses the members' averaged prediction.
 * Stops, tested after every epoch on the full training set: epochs reached,
 * train loss <= target_loss (if > 0), 100% train accuracy (stop_at_fit).
 * fit_epoch = first epoch with 100% train accuracy (epoch 0 = init), -1 if
 * never, recorded whether or not it stops the run.
 * Curves: layout fields OP_F_EPOCH..OP_F_TEST_ACC get, in consecutive
 * slots, epoch 0, every log_every-th epoch, and the last epoch if not on
 * that grid (slots past n_log are dropped; the rest stay as the caller set
 * them, NaN). A loss that becomes NaN/Inf ends the run with row status
 * OP_RUN_DIVERGED (logged at that epoch) and op_train_run returns OP_OK:
 * divergence is a result. The row gets status, n_params (trainable, per
 * member), final losses/accuracies, epochs run, fit_epoch and wall seconds;
 * row.run and row.rank are the caller's.
 * Determinism: results depend only on (cfg, run, data); bitwise with
 * OPENBLAS_NUM_THREADS=1 (chunk sizes depend only on shapes). */
#ifndef OVERPARAM_TRAIN_H
#define OVERPARAM_TRAIN_H

#include "overparam/data.h"
#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/net.h"
#include "overparam/result.h"

/* Reusable workspace: the networks' blocks and the prediction/batch
 * buffers survive between runs and are only grown. */
typedef struct op_trainer op_trainer;

/* Measurement hook, called at every curve point (after the slot is
 * written) with member 0's network. A status other than OP_OK ends the run
 * and is returned by op_train_run. */
typedef op_status (*op_train_hook)(void *ctx, const op_config *cfg, long run,
                                   op_net *net, int epoch, int slot);

/* Called after every optimizer step (the coordinator answers MPI requests
 * there while it trains). Nonzero abandons the run: op_train_run returns
 * OP_ERR_STOPPED and the row is left as it was. */
typedef int (*op_train_poll)(void *ctx);

op_status op_trainer_create(op_trainer **out);
void op_trainer_destroy(op_trainer *t);
void op_trainer_set_hook(op_trainer *t, op_train_hook hook, void *ctx);
void op_trainer_set_poll(op_trainer *t, op_train_poll poll, void *ctx);
/* Member `e` of the last run (its final parameters), or NULL. */
op_net *op_trainer_net(op_trainer *t, int e);

/* Trains run `run` of `cfg` on `train`, evaluating on `test` (NULL or
 * empty: test metrics NaN), filling `res` as described above. Errors
 * (OP_ERR_INPUT for mismatched shapes or xent with k == 1, OP_ERR_NOMEM)
 * leave the row as it was. */
op_status op_train_run(op_trainer *t, const op_config *cfg, long run,
                       const op_dataset *train, const op_dataset *test,
                       const op_layout *layout, op_result *res);

/* sum_i scale * loss(f_i, y_i) over n samples of k outputs; when grad !=
 * NULL also grad[n][k] = scale * dloss/df. scale = 1/n gives the mean. */
double op_train_loss(op_loss loss, const double *f, const double *y, long n,
                     int k, double scale, double *grad);

/* The pieces of op_train_run that a pack (pack.h) runs for each of its
 * members, so the packed and the single-run paths share one definition:
 * op_train_check: the input checks of op_train_run (OP_ERR_INPUT, message);
 * op_train_chunk: rows per evaluation chunk of the run (full-batch
 *   gradients are summed over chunks of this size), *batch_max (if not
 *   NULL) the network rows it needs; depends on shapes only;
 * op_train_opt_slots: optimizer vectors (op_net_setup's opt_slots);
 * op_train_accuracy: the accuracy defined above (NaN without labels);
 * op_train_epoch_lr: the learning rate of the step after `epoch`;
 * op_train_stops: whether the run ends after the metrics of `epoch`
 *   (m = train loss, test loss, train acc, test acc; a non-finite train
 *   loss is divergence); op_train_logs: whether `epoch` is a curve point;
 * op_train_log_point: writes curve slot `slot` (dropped past n_log);
 * op_train_step: the optimizer step on the gradient in net->grads
 *   (op_train_step_w0: with W_0 and its gradient at w0/g0, net.h);
 * op_train_batch: one mini-batch step on rows[0..c) of tr (f0: the member's
 *   initial outputs [n][k] to center by, or NULL), f and g scratch [c][k]. */
op_status op_train_check(const op_config *cfg, long run,
                         const op_dataset *train, const op_dataset *test);
int op_train_chunk(const op_config *cfg, int n_tr, int n_te, int d_in, int k,
                   int *batch_max);
int op_train_opt_slots(const op_train_cfg *tc);
double op_train_accuracy(const double *f, const op_dataset *ds);
double op_train_epoch_lr(const op_train_cfg *tc, int epoch);
int op_train_stops(const op_train_cfg *tc, int epoch, const double m[4]);
int op_train_logs(const op_train_cfg *tc, int epoch, int stop);
void op_train_log_point(const op_layout *layout, op_result *res, int slot,
                        int epoch, const double m[4]);
void op_train_step(op_net *net, const op_train_cfg *tc, double lr);
void op_train_step_w0(op_net *net, const op_train_cfg *tc, double lr,
                      void *w0, const void *g0); /* see op_net_sgd_step_w0 */
void op_train_batch(op_net *net, const op_train_cfg *tc,
                    const op_dataset *tr, const int *rows, int c,
                    const double *f0, double lr, double *f, double *g);

#endif
