/* archive.h — the one parallel HDF5 file every result goes into, and the
 * journal beside it that makes a kill at any moment lose nothing.
 *
 * Layout (all created collectively, up front, before any run starts):
 *   /                 attributes: format_version, program_version,
 *                     git_revision, mpi_size, start_time, end_time,
 *                     job_file, job_text, n_runs
 *   /runs             compound [n_runs]: run, width, depth, init_scale,
 *                     label_noise, seed, <other swept keys>, n_params,
 *                     status, train_loss, test_loss, train_acc, test_acc,
 *                     epochs, fit_epoch, seconds, rank, crc (CRC-32 of the
 *                     row up to seconds and of the run's per-run arrays,
 *                     by the writer; 0 while pending)
 *   /grid/<axis>      float64 [n] values of each swept axis ("labels"
 *                     string array for enum axes)
 *   /curves/<name>    float64 [n_runs][n_log] (epoch, train_loss, ...)
 *   /measures/<name>  float64 [n_runs][dims...]
 *   /kernels/<id>/    written by the kernel phase (kernel_io.h), sealed
 *                     with the crc32 of its datasets once complete
 * Every name, its units and role, and the attributes that describe them:
 * schema.h (the one declaration). The archive composes parts with state
 * of their own: journal.h (PATH.journal), stage.h (batched HDF5 writes)
 * and fault.h (the tests' kill and failure points); archive_read.h reads
 * archives for `overparam info` and `compare`.
 *
 * Contract: every function here is collective over the archive's
 * communicator except op_archive_put, op_archive_put_kernel and
 * op_archive_poll, which only the coordinator (rank 0) calls, with
 * independent I/O into space allocated at creation, so a run's row touches
 * no HDF5 metadata. op_archive_put appends the whole result to PATH.journal
 * (CRC-checked records, one write per batch of results) before anything else; --resume
 * replays the journal, so a finished run survives a kill even when the HDF5
 * file itself does not. The HDF5 writes are batched: results are staged
 * and written together when the stage is full (up to 256 results), when
 * the oldest has waited 1 s (checked by put and poll), and always by
 * op_archive_flush and op_archive_close. An existing archive is never
 * replaced without force, and force replaces only an overparam archive or
 * an empty regular file.
 *
 * Resume keeps every finished result it can prove: each valid journal
 * record (a corrupt one is skipped and reported, not the end of the
 * journal), each final /runs row the journal lacks (deleted journal,
 * disk full) whose configuration columns are exactly this job's and whose
 * crc matches the row and its arrays as they are in the file (a row that
 * fails is rerun and named), and each kernel group whose crc32 matches
 * (kphase.h). The journal is created before the HDF5 layout, so a creation
 * cut short (a kill, a full disk: said in one line with the free space)
 * is resumable. Journal and lock belong to the file: the journal and
 * PATH.lock sit beside its real path, not a symlink's spelling, and the
 * coordinator also holds an OFD lock on the archive file itself, so a
 * hard link cannot let a second job in (refused, the holder named); an
 * archive another process holds open (HDF5 file lock) is busy, not torn,
 * and is left alone. When a journal write fails, op_archive_journal_failed
 * turns true: later results go to /runs only and the caller starts no
 * further run. */
#ifndef OVERPARAM_ARCHIVE_H
#define OVERPARAM_ARCHIVE_H

#include <hdf5.h>
#include <mpi.h>

#include "overparam/error.h"
#include "overparam/job.h"
#include "overparam/result.h"
#include "overparam/schema.h" /* OP_FORMAT_VERSION, the columns */

typedef struct op_archive op_archive;

typedef enum {
    OP_ARCHIVE_CREATE, /* fail (input error) if the file exists */
    OP_ARCHIVE_FORCE,  /* replace an existing file */
    OP_ARCHIVE_RESUME  /* continue an existing archive of the same job */
} op_archive_mode;

/* Opens or creates `path` for `job` on `comm` (collective). On resume,
 * done[run] (n_runs bytes, on every rank) is set for finished runs, and
 * done_kernels[i] for finished kernels (may be NULL). */
op_status op_archive_open(op_archive **ar, const char *path,
                          const op_job *job, const op_layout *layout,
                          MPI_Comm comm, op_archive_mode mode,
                          unsigned char *done, unsigned char *done_kernels,
                          int n_kernels);

/* Coordinator only: journals one finished run (durable from here on), then
 * stages it for the next batched HDF5 write. */
op_status op_archive_put(op_archive *ar, const op_result *res);
/* Coordinator only: op_archive_put for n results with one journal write
 * (a worker's batch arrives together; one system call, not n). */
op_status op_archive_put_n(op_archive *ar, const op_result *res, int n);
/* Coordinator only: writes the staged runs to the HDF5 file once the
 * oldest has waited 1 s; one clock read otherwise, so call it often while
 * waiting (it keeps a live archive current when results stop coming). */
op_status op_archive_poll(op_archive *ar);
/* Coordinator only: whether a journal write has failed (disk full). The
 * results put since then went to /runs only (resume reads them back from
 * there); the sweep must start no further run. */
int op_archive_journal_failed(const op_archive *ar);
/* Coordinator only: journal that kernel `index` is complete in the file. */
op_status op_archive_put_kernel(op_archive *ar, int index);

/* Collective: writes the staged runs and makes everything written so far
 * durable in the HDF5 file. */
op_status op_archive_flush(op_archive *ar);
/* Collective: writes the staged runs and end_time, closes the file and the
 * journal. */
op_status op_archive_close(op_archive *ar);

/* Rank 0 after a resuming open: one line on `out` saying how many finished
 * runs were kept and from where (the journal, /runs rows); nothing when
 * none. The caller decides whether its user needs it (a grid extension
 * reports its own). */
void op_archive_report_resumed(const op_archive *ar, FILE *out);

hid_t op_archive_file(const op_archive *ar);
/* Seconds this rank spent writing results: op_archive_put(_n), the writes
 * op_archive_poll makes, the staged tail op_archive_flush writes. The
 * flushes' H5Fflush (metadata and an fsync: a cost per flush, not per
 * result) goes to *sync_seconds (may be NULL). */
double op_archive_seconds(const op_archive *ar, double *sync_seconds);

/* Refuses (OP_ERR_INPUT, naming it) a path that exists and is not a
 * regular file: a FIFO would block an open, and --force must never unlink
 * a device node. Archive readers (archive_read.h) use it too. */
op_status op_archive_check_regular(const char *path);

#endif
