/* stage.h — finished results waiting for their HDF5 write (the
 * coordinator's side of the archive). A row or curve write costs far more
 * in HDF5 and MPI-IO calls than in bytes, so results are staged here in
 * arrival order and written in one H5Dwrite per dataset for many results.
 *
 * Contract: rank 0 alone, independent I/O into datasets allocated at
 * creation (no metadata written). Nothing is lost by waiting: each result
 * is in the journal before it is staged. A flush happens when the stage
 * is full (up to 256 results, fewer for big per-run arrays), when the
 * oldest has waited 1 s (op_stage_put, op_stage_poll), and whenever the
 * archive asks (op_stage_flush). A batch's per-run arrays are written
 * before its /runs rows, so a final row implies its arrays are in the file
 * (resume trusts such rows). A run staged twice keeps its later result. */
#ifndef OVERPARAM_STAGE_H
#define OVERPARAM_STAGE_H

#include <hdf5.h>

#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/result.h"
#include "overparam/schema.h"

struct stage_key;

typedef struct {
    const op_job *job;
    const op_layout *layout;
    const op_runs_schema *rs;
    hid_t runs;            /* /runs, bound once open */
    hid_t row_type;        /* its packed-row memory type */
    const hid_t *fields;   /* [layout->n] the per-run datasets */
    int cap;               /* results the buffers hold, fixed at alloc */
    int n;                 /* results staged now */
    double since;          /* when the oldest staged result arrived */
    long *run;             /* [cap] run of each slot */
    unsigned char *rows;   /* [cap][row_bytes] packed /runs rows */
    double *values;        /* per-run arrays, field-major: field f's slot j
                              at values[cap * f.offset + j * f.size] */
    struct stage_key *key; /* [cap] flush scratch: slots sorted by run */
    int *from;             /* [cap] flush scratch: slot order to write */
    unsigned char *moved;  /* [cap] flush scratch */
    unsigned char *tmp;    /* one slot of rows or values, whichever wider */
    unsigned char *gap;    /* rows between staged runs, read back to make
                              one block (stage_write) */
    size_t gap_bytes;
} op_stage;

/* Sizes and allocates the buffers for the job's layout and /runs. */
void op_stage_alloc(op_stage *st, const op_job *job, const op_layout *layout,
                    const op_runs_schema *rs);
/* The datasets flushes write (after the archive created or opened them). */
void op_stage_bind(op_stage *st, hid_t runs, hid_t row_type,
                   const hid_t *fields);
void op_stage_free(op_stage *st);

/* Stages one result (copied); flushes when full or when the oldest has
 * waited 1 s. */
op_status op_stage_put(op_stage *st, const op_result *res);
/* Writes every staged result (a no-op when none). */
op_status op_stage_flush(op_stage *st);
/* Flushes when the oldest staged result has waited 1 s (*flushed then
 * 1); one clock read otherwise. */
op_status op_stage_poll(op_stage *st, int *flushed);
/* The monotonic clock the stage ages by (seconds). */
double op_stage_clock(void);

#endif
