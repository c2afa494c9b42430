/* kphase.h — the kernel phase of a job: one NNGP/NTK computation per
 * [kernel] depth, on all ranks of one BLACS grid, each written to
 * /kernels/<id>/ and journaled as done.
 *
 * Contract: collective over `comm`; kernels already done (journaled[i],
 * or a group in the archive whose checksum proves it complete: kept and
 * journaled then, and said on stderr) are skipped, so a resumed job
 * computes only the missing ones. A stop request
 * (op_sched_request_stop) ends the phase between depths with
 * OP_ERR_STOPPED, every kernel finished so far written and journaled. */
#ifndef OVERPARAM_KPHASE_H
#define OVERPARAM_KPHASE_H

#include <mpi.h>

#include "overparam/archive.h"
#include "overparam/data.h"
#include "overparam/job.h"

/* Number of kernel computations the job asks for (0 without [kernel]):
 * sizes x zetas x depths x kinds. [kernel] zca = z1, z2, ... computes
 * every kernel on the data [data] zca = z would load (groups end in
 * _z<z>, before any _n<n>); [kernel] n_val = m fits each kernel again on
 * its training set less the last m points and scores every ridge on those
 * (metrics_ridge_val, kernel_io.h), to choose the ridge without the test
 * set. A learning curve ([kernel] n_train = n1 < n2 <
 * ...) computes every kernel at every size; size n's training set is the
 * one [data] n_train = n would draw (nested in the larger ones, each
 * class-balanced where asked; the same test set) and its groups are
 * /kernels/<kind>_<act>_d<depth>_n<n>, journaled and kept on resume one
 * by one like the others. */
int op_kphase_count(const op_job *job);
/* The largest training set of the kernel phase. */
int op_kphase_max_n(const op_job *job);

/* Estimated peak bytes per rank of the job's largest kernel on `ranks`. */
double op_kphase_bytes_per_rank(const op_job *job, int ranks);
/* Collective: the memory (bytes, MemAvailable) each rank may count on:
 * its node's available memory over the ranks there, the smallest share on
 * any node; 0 when unknown. */
double op_kphase_rank_share(MPI_Comm comm);
/* Collective: OP_ERR_INPUT, naming the memory needed per rank, when the
 * kernels cannot fit in the memory the ranks of each node share. Called
 * before anything starts, so a job never trains for hours to die there. */
op_status op_kphase_check_memory(const op_job *job, MPI_Comm comm);

/* Collective: OP_ERR_INPUT, naming the job file's line, when the
 * [kernel] grid_rows/grid_cols cannot tile the ranks (one of them alone
 * takes the other from the rank count), when [kernel] n_val holds out
 * more than half of the smallest training set, or when [kernel] zca
 * lists a value twice. Called before anything starts. */
op_status op_kphase_check_grid(const op_job *job, MPI_Comm comm);

op_status op_kphase_run(const op_job *job, op_archive *ar, MPI_Comm comm,
                        const op_dataset *train, const op_dataset *test,
                        const unsigned char *journaled, int *n_done);

#endif
