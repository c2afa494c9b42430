/* kernel_io.h — writes one kernel's results into an open parallel HDF5
 * archive as the group /kernels/<id>/.
 *
 * Contract: `file` was opened by every rank of the kernel grid's
 * communicator with H5Pset_fapl_mpio (by the archive module) and its
 * communicator rank 0 is grid rank 0. Every rank calls op_kernel_io_write
 * with the same arguments (collective); it creates, in /kernels/<id>/:
 *   attributes  kind, activation, parameterization, depth, width, sigma_w2,
 *               sigma_b2 (hidden layers), sigma_w2_last, sigma_b2_last (the
 *               readout's, resolved), bias (auto/on/off), bias_hidden,
 *               bias_last (0/1: the layers have bias parameters), input_dim, n_train, n_test, outputs,
 *               ridge_relative, ridge[], epsilon[], time[], block,
 *               grid_rows, grid_cols, mean_diag, fit_exponent64/32,
 *               fit_prefactor64/32 (lambda_i ~ prefactor * i^-exponent),
 *               fit_lo, fit_hi (1-based index range), t_kernel, t_ridge,
 *               t_eig64, t_eig32, t_gd, t_total (seconds), and the
 *               conventions (mse_convention; time_convention: per_sample
 *               or neural_tangents, with time_divisor = n or n*k, the
 *               divisor of lambda*t in the flow's exponent, and
 *               time_formula in words; eigen_order);
 *   datasets    eigenvalues64 [n] float64, eigenvalues32 [n] float32
 *               (descending; when computed), pred_ridge
 *               [n_ridge][n_test][k], pred_time [n_time][n_test][k],
 *               metrics_ridge [n_ridge] {ridge, epsilon, mse, acc, status},
 *               metrics_time [n_time] {time, mse, acc, status},
 *               metrics_ridge32 [n_ridge] {ridge, epsilon, mse, acc,
 *               residual, residual64, status} (precision = compare only:
 *               the float32 solve beside float64's residual) (status:
 *               0 ok, 1 not positive definite, 2 non-finite; columns,
 *               units, roles and status_labels from schema.h's
 *               OP_KERNEL_RIDGE / OP_KERNEL_TIME), and matrix
 *               [n][n] (float64, only when res->has_matrix), written
 *               collectively from the block-cyclic layout: each rank
 *               selects its blocks as a union of at most four regular
 *               hyperslabs, so nobody assembles the matrix. Each dataset
 *               carries units, role and description (schema.h).
 * The grid that computed `res` must still exist (its BLACS context locates
 * each rank's blocks of the matrix).
 * /kernels is created when missing. An existing /kernels/<id> gives
 * OP_ERR_IO (on every rank) and writes nothing; HDF5 failures abort all
 * ranks through OP_H5_CHECK.
 *
 * A finished group proves itself: op_kernel_io_seal, called once the
 * group is complete and flushed, stores in its attribute crc32 the CRC-32
 * of every dataset in it (names and stored bytes, name order, subgroups
 * included); op_kernel_io_verify recomputes it, so a resume that has no
 * journal record of a kernel can still keep it. Both are collective over
 * `comm` (the file's communicator): rank 0 reads the data, the value is
 * broadcast. */
#ifndef OVERPARAM_KERNEL_IO_H
#define OVERPARAM_KERNEL_IO_H

#include <hdf5.h>

#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/kernel.h"
#include "overparam/pkernel.h"

op_status op_kernel_io_write(hid_t file, const char *id,
                             const op_kernel_cfg *cfg,
                             const op_kernel_spec *spec,
                             const op_kernel_result *res);

/* Into the written group /kernels/<id> (before its seal): attribute zca
 * (the ZCA regularizer of its data, < 0 off) and, when val is not NULL
 * ([kernel] n_val), the ridge choice's data: attributes n_val (held-out
 * points) and n_fit_val (the points the validation fit used), dataset
 * metrics_ridge_val [n_ridge] with metrics_ridge's columns, scored on the
 * held-out points (role "validation", so a reader never takes it for test
 * metrics). Collective. */
op_status op_kernel_io_write_val(hid_t file, const char *id,
                                 const op_kernel_result *val, double zeta);

/* Writes the square block-cyclic A into dataset `name` of the open group
 * grp, collectively as `matrix` above: [m][n] when count == 0, else slice
 * `index` of a [count][m][n] stack that the call with index 0 creates
 * (later indices open it). Units, role and description from schema.h's
 * OP_KERNEL_DATASETS entry `name`. */
void op_kernel_io_write_matrix(hid_t grp, const char *name,
                               const op_pmatrix *A, int index, int count);

/* Stores the checksum of the complete group /kernels/<id> in its crc32
 * attribute (collective). */
op_status op_kernel_io_seal(hid_t file, const char *id, MPI_Comm comm);
/* 1: /kernels/<id> exists and matches its crc32; 0: no such group; -1: a
 * group that is unsealed (cut short) or changed since (collective). */
int op_kernel_io_verify(hid_t file, const char *id, MPI_Comm comm);

#endif
