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

op_status op_merge(const char *out, const char *const *inputs, int n,
                   int force, FILE *log);

#endif
