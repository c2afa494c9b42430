/* journal.h — PATH.journal beside the archive: every finished result
 * appended (fixed-size records, each with a CRC) before the HDF5 file is
 * touched, so a kill at any moment loses nothing the journal holds.
 *
 * Contract: the coordinator (rank 0) alone uses a journal. The header
 * names the job (CRC of its text), its run count, the per-run value count
 * and the format version: replay refuses another job's journal
 * (OP_ERR_INPUT). A record holds a run's op_row and values, or a finished
 * kernel's index. Appends of n records are one write(2): a kill leaves
 * whole records and at most one torn one, which replay cuts off; a bad
 * record (CRC) in the middle is skipped and reported, the rest kept.
 * Replay hands each run to a callback (the archive stages it) and calls it
 * once more with NULL when all are handed over (stage them to the file);
 * so the journal knows nothing of the HDF5 side. */
#ifndef OVERPARAM_JOURNAL_H
#define OVERPARAM_JOURNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/result.h"

typedef struct {
    char path[OP_PATH_MAX + 16];
    FILE *f;                 /* open for appending, or NULL */
    const op_job *job;
    const op_layout *layout;
    int fsync;               /* fsync after every append */
    size_t rec_bytes;        /* one record */
    unsigned char *rec;      /* one record: replay's read buffer */
    unsigned char *buf;      /* the records of one op_journal_append_runs */
    size_t buf_cap;          /* records buf holds */
} op_journal;

/* The journal of the archive at `archive` (its real path). */
void op_journal_init(op_journal *j, const char *archive, const op_job *job,
                     const op_layout *layout, int fsync);
/* Closes it and frees its buffers (the file stays). */
void op_journal_free(op_journal *j);

/* Opens for appending: fresh truncates and writes the header. */
op_status op_journal_open_append(op_journal *j, int fresh);
/* Bytes of the header: a shorter file is a journal torn inside it, which
 * holds nothing (start it fresh). */
size_t op_journal_header_bytes(void);
/* Appends the n results (one write). */
op_status op_journal_append_runs(op_journal *j, const op_result *res, int n);
/* Appends that kernel `index` is complete in the archive. */
op_status op_journal_append_kernel(op_journal *j, int index);

/* Called by replay with each valid run record (values pointing into the
 * journal's buffer: copy before returning), then once with NULL. */
typedef op_status (*op_journal_run_fn)(void *ctx, const op_result *res);

/* Reads the journal: done[run] set for each run record, done_kernels[i]
 * (may be NULL) for each kernel record, each run handed to fn when fn is
 * not NULL (*n_replayed counts them), the torn tail cut. No journal: OP_OK
 * with nothing marked. */
op_status op_journal_replay(op_journal *j, unsigned char *done,
                            unsigned char *done_kernels, int n_kernels,
                            op_journal_run_fn fn, void *ctx,
                            long *n_replayed);

/* What is at `path`: 0 nothing or an empty file, 1 an overparam journal
 * (its magic), -1 anything else. */
int op_journal_probe(const char *path);

#endif
