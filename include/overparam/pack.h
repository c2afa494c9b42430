/* pack.h — packed training: several runs ("members") of one network shape
 * on the same inputs trained together, so the first layer of all of them
 * is ONE GEMM over their concatenated weights instead of M narrow ones.
 *
 * Contract.
 * Members. Member j is an ordinary run (cfg_j, run_j, train_j, test_j,
 * layout_j, res_j) and gets exactly what op_train_run(cfg_j, run_j, ...)
 * would write into res_j (row, curves; the hook sees the same network at the
 * same epochs): the same random streams (op_run_rng: init and mini-batch
 * order from the run's key), the same operations. Members keep their own learning rate and schedule,
 * optimizer, momentum, Adam constants, weight decay, loss, batch size,
 * epochs, stopping rule (target loss, stop at fit, divergence) and
 * log_every; a member that stops leaves the pack and the shared GEMMs shrink
 * to the members still training.
 * What members must share (OP_ERR_INPUT otherwise): the training inputs x
 * (equal n, d and values; targets y and labels may differ, e.g. label
 * noise), precision, the first layer's geometry and multipliers (d_in,
 * dims[1], wmul_0, bmul_0, bias or not, frozen or not) and the evaluation
 * chunk (op_train_chunk). Not packable: ensemble > 1 and center (those go
 * through op_train_run). op_pack_compatible is the job-level rule (one
 * definition) for which runs may share a pack: it implies all of the above.
 * Packed work, per epoch: the training set's forward pass of all active
 * members in chunks, layer 0 as H[c][M w1] = wmul_0 X[c][d] W_cat^T +
 * bias, with W_cat = [W_0 of each member] ([M w1][d]); layers 1..L per
 * member (op_net_forward_after0); for full-batch members the backward of
 * layers L..1 per member and the layer-0 weight gradient of all of them as
 * ONE GEMM dW_cat = wmul_0 D_cat^T X, summed over chunks as op_train_run
 * sums it; then each member's optimizer step on its own parameters.
 * Mini-batch members draw their own row order, so their steps cannot share
 * a GEMM: they run per member (the pack still evaluates them packed).
 * Identity: packed and unpacked results agree to rounding: every
 * operation is the same, only the shared GEMMs compute more rows/columns
 * at once, and a BLAS may compute an element of the wider product with
 * another kernel (OpenBLAS 0.3.21 with one thread: dgemm with its Haswell
 * kernels gives every element the same bits; with its AVX-512 Cooperlake
 * kernels the forward product with fewer than 8 columns per member and the
 * weight-gradient product differ in the last bit; sgemm's edge kernels
 * too). tests/test_pack.c requires <= 1e-12 relative in float64 (here:
 * bitwise on its small shapes, 2e-14 after 60 epochs at n 200, d 196 on
 * Cooperlake, 0 on Haswell). Long chaotic runs amplify last bits:
 * jobs/double_descent.ini's 2000 epochs (lr 0.5, momentum 0.9) end 1.5e-10
 * apart on Cooperlake, bitwise on Haswell (bench_pack_job).
 * Memory: ONE block per pack holds every member's network (op_net blocks
 * side by side), the concatenated first-layer weights, gradients and
 * activations and the double buffers; it is kept and reused by the next
 * pack that fits.
 * Time: row.seconds of a member is its share of the pack's wall time (the
 * setup's and each epoch's time split evenly over the members active in
 * it), so the members' seconds sum to the pack's time.
 * Stop: the poll callback runs after every optimizer step of a full-batch
 * epoch (once per epoch for all members) and after every mini-batch step;
 * nonzero abandons the pack: OP_ERR_STOPPED, the rows of members not yet
 * done left as they were (members[j].done says which rows are final). */
#ifndef OVERPARAM_PACK_H
#define OVERPARAM_PACK_H

#include "overparam/train.h"

typedef struct op_pack op_pack;

typedef struct {
    const op_config *cfg;
    long run;
    const op_dataset *train, *test; /* test may be NULL or empty */
    const op_layout *layout;
    op_result *res;
    int done; /* out: 1 once res holds the member's final row */
} op_pack_member;

op_status op_pack_create(op_pack **out);
void op_pack_destroy(op_pack *p);
/* The same callbacks as the trainer's (train.h); the hook gets each
 * member's cfg, run and network. */
void op_pack_set_hook(op_pack *p, op_train_hook hook, void *ctx);
void op_pack_set_poll(op_pack *p, op_train_poll poll, void *ctx);

/* Whether runs a and b may share a pack: same data (every [data] key but
 * label_noise; with an input corruption also the same seed index), same
 * [model] but the init scales (and, in the standard parameterization,
 * sigma_w2/sigma_b2 values, which only set the initial spread), same
 * precision, neither ensemble > 1 nor center. */
int op_pack_compatible(const op_config *a, const op_config *b);
/* Whether one run can be packed at all (ensemble <= 1, no center). */
int op_pack_packable(const op_config *c);

/* Trains the n members together (see the contract). Returns OP_OK when
 * every member's row is final; OP_ERR_INPUT (message names the member's
 * run) for members that cannot share a pack or bad data; OP_ERR_NOMEM;
 * OP_ERR_STOPPED when the poll asked to stop; a hook's status. */
op_status op_pack_run(op_pack *p, op_pack_member *members, int n);

/* The block a pack of `members` runs like cfg needs (n_tr/n_te samples of
 * d inputs and k outputs): what a job sizes its packs by. Each member's
 * network holds the evaluation chunk's activations (op_train_chunk: up to
 * 256 MB of rows), so packs of large full-batch sets must stay small. */
size_t op_pack_bytes(const op_config *cfg, int members, int n_tr, int n_te,
                     int d, int k);

/* Widest first layer the plan packs: past it one network's GEMMs already
 * run near the BLAS's rate and a pack only adds its copies (bench_pack,
 * bench_pack_job on jobs/double_descent.ini: pack ÷ single 1.4-1.6x at
 * width 8, ~1.0 at 32, 0.85-0.95 at 128-512 with d = 196). */
#define OP_PACK_WIDTH_MAX 32

/* The job's packing (the scheduler's unit of work: sched.c through
 * op_run_plan, with [train] pack): runs
 * runs[0..n) of `job`, in the order given, split into packs of runs that
 * op_pack_compatible puts together, each of at most max_members runs and
 * (estimated from [data] n_train/n_test) op_pack_bytes <= budget (0: no
 * limit); unpackable runs, runs wider than OP_PACK_WIDTH_MAX (and
 * max_members <= 1) make packs of one, which a job trains with
 * op_train_run. A pack
 * takes the runs in list order until full, so the packing depends on the
 * job and the list only, never on ranks or timing. A member's last bits
 * can depend on who shares its pack (see Identity), so a job plans over
 * ALL its runs, also on resume (and on a grid extension, over the extended
 * job's runs), and runs every pack that has a missing member whole:
 * results then never depend on where a job was stopped. pack_of[i] = pack
 * number of runs[i] (0..), numbered in the order of their first run.
 * Returns the number of packs, -1 with OP_ERR_NOMEM. */
long op_pack_plan(const op_job *job, const long *runs, long n,
                  int max_members, size_t budget, long *pack_of);

/* Member j of the last pack (its final parameters), or NULL. */
op_net *op_pack_net(op_pack *p, int j);
/* Bytes of the pack's block (kept between packs). */
size_t op_pack_capacity(const op_pack *p);

#endif
