/* archive_read.h — reading an archive for `overparam info` and `compare`
 * (serial, read-only; a live archive may be read while a job writes it).
 *
 * Contract: a file that is not an overparam archive of OP_FORMAT_VERSION
 * gives OP_ERR_INPUT naming the file (and the versions); nothing is
 * written. */
#ifndef OVERPARAM_ARCHIVE_READ_H
#define OVERPARAM_ARCHIVE_READ_H

#include <stdio.h>

#include "overparam/error.h"

/* Summary: status counts and one line per grid point (mean and sample
 * standard deviation over seeds, never-fitted runs counted apart, labels
 * of named axes, the kernel-only placeholder run hidden), then the
 * kernels' metrics. */
op_status op_archive_info(const char *path, FILE *out);
/* Compares every dataset of two archives (rows, curves, measures, kernel
 * numbers), ignoring timing and worker columns (their roles in the file),
 * timings and attributes: exactly, except under /kernels where
 * |a-b| <= ktol*max|a| is accepted (ScaLAPACK rounding depends on the
 * process grid). Prints differences to `out`; *n_diff counts them. */
op_status op_archive_compare(const char *a, const char *b, double ktol,
                             FILE *out, long *n_diff);

#endif
