/* merge.h — `overparam merge`: combine the archives written by the tasks of
 * a job array (each ran every N-th run of the same job) into one archive
 * identical in content to a single job's.
 *
 * Contract: collective over MPI_COMM_WORLD (run it on one rank). Every
 * input must be an overparam archive of the same job text; a run finished
 * in two inputs must hold the same numbers. Inputs are never modified; an
 * existing output is replaced only with force. Bad inputs: OP_ERR_INPUT
 * naming the file and the dataset. */
#ifndef OVERPARAM_MERGE_H
#define OVERPARAM_MERGE_H

#include <stdio.h>

#include "overparam/error.h"
#include "overparam/job.h"

op_status op_merge(const char *out, const char *const *inputs, int n,
                   int force, FILE *log);

/* `run --resume` of `path` with a job whose [grid] gained values (see
 * op_job_extension_map): rank 0 alone (MPI_COMM_SELF) rebuilds the archive
 * for the new job with every finished run at its new index and the
 * kernels kept, the old archive renamed PATH.pre-extend. *kept: finished
 * runs carried over, -1 when nothing was to do (no archive, the same job
 * text, or a file the archive layer will refuse itself). OP_ERR_INPUT when
 * keys other than [grid] values changed, naming them. */
op_status op_merge_extend(const char *path, const op_job *job, FILE *log,
                          long *kept);

#endif
