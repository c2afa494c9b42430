/* archive.c — the parallel HDF5 archive and its journal (see archive.h for
 * the layout and the contract).
 *
 * Why a journal: HDF5 cannot promise a readable file after a kill in the
 * middle of a metadata write, and rows written through MPI-IO may sit in
 * buffers. The coordinator appends each finished result to PATH.journal
 * (fixed-size records with a CRC) before touching the HDF5 file; resume
 * truncates a torn last record, rebuilds the HDF5 file if it cannot be
 * opened, and replays every record. All metadata is created and flushed
 * collectively at open, so afterwards a row write is raw data only.
 *
 * Why batches: per result, the HDF5 and MPI-IO calls (a selection and an
 * H5Dwrite per dataset) cost the coordinator ~40 us, more than the bytes;
 * the journal already makes the result durable, so the HDF5 part waits in
 * a staging buffer and goes out as one H5Dwrite per dataset for many
 * results (stage_flush). */
#include "overparam/archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "overparam/blas.h"
#include "overparam/h5attr.h"
#include <cblas.h>

#ifndef OP_VERSION
#define OP_VERSION "dev"
#endif
#ifndef OP_GIT_REV
#define OP_GIT_REV "unknown"
#endif

/* Linux's open file description locks (fcntl.h declares them only under
 * _GNU_SOURCE; elsewhere the call fails and the file goes unlocked). */
#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37
#endif
/* The byte of the archive the coordinator write-locks: far past any data,
 * so no MPI-IO region lock (ROMIO and OMPIO take fcntl locks on the ranges
 * they write, which an OFD lock would conflict with) ever meets it. */
#define FILE_LOCK_BYTE ((off_t)1 << 62)

#define JOURNAL_MAGIC "OPJRNL01"
#define RECORD_MAGIC 0x4f505243u /* "OPRC" */
#define REC_RUN 1u
#define REC_KERNEL 2u
#define H5HINT "check the archive path, free disk space and file locking " \
               "(HDF5_USE_FILE_LOCKING=FALSE on parallel file systems)"

typedef struct {
    char magic[8];
    uint32_t format;
    uint32_t job_crc;
    int64_t n_runs;
    int64_t total;
    uint32_t row_size;
    uint32_t pad;
} journal_header;

/* Finished results waiting for their HDF5 write (rank 0). A row or curve
 * write costs far more in HDF5 and MPI-IO calls than in bytes, so results
 * are staged here in arrival order and written in one H5Dwrite per dataset
 * (stage_flush). Nothing is lost by waiting: each result is in the journal
 * before it is staged. */
typedef struct {
    int cap;               /* results the buffers hold, fixed at open */
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
} stage;

struct op_archive {
    MPI_Comm comm;
    int rank;
    char path[OP_PATH_MAX];
    char jpath[OP_PATH_MAX + 16];
    const op_job *job;
    const op_layout *layout;
    hid_t file;
    hid_t runs;          /* /runs dataset */
    hid_t row_type;      /* memory compound type */
    hid_t fields[OP_FIELDS_MAX];
    op_runs_schema rs;   /* the columns of /runs (schema.h) */
    stage st;            /* rank 0: results journaled, not yet in HDF5 */
    FILE *journal;       /* rank 0 */
    size_t rec_bytes;
    unsigned char *rec_buf;  /* one record: replay's read buffer */
    unsigned char *jbuf;     /* records of one op_archive_put_n */
    size_t jbuf_cap;         /* records jbuf holds */
    int fsync;
    double seconds;          /* rank 0: time in put, poll's writes and the
                                staged tail's write in flush */
    double sync_seconds;     /* H5Fflush in op_archive_flush (a per-job
                                fixed cost: metadata and an fsync) */
    int jbroken;         /* rank 0: a journal write failed (disk full):
                            results go to /runs only from then on */
    long unjournaled;    /* results written with no journal record */
    char jerr[512];      /* why the journal write failed */
    int lock_fd;         /* rank 0: flock on PATH.lock while open */
    char lpath[OP_PATH_MAX + 16];
    int file_lock_fd;    /* rank 0: OFD write lock on the archive file
                            itself (its inode, whatever name reaches it) */
};

/* ---- fault injection ------------------------------------------------- */

/* OVERPARAM_FAULT=POINT:N kills this process (SIGKILL, as a scheduler or
 * the OOM killer would) the Nth time it passes POINT, so the kill tests can
 * land exactly inside the archive's critical sections. Points: create (after
 * the datasets exist, before the flush), journal (a record appended, its
 * row not yet written), arrays (a batch's per-run arrays written, its /runs
 * rows not), row (all of a batch written), close (before the final
 * attributes), layout (the file created, its layout not yet written).
 * row and arrays count once per run of the batch, so N still
 * means "the Nth run's row". */
static void fault_point(const char *point)
{
    static int hits[8];
    static const char *const names[] = {"create", "journal", "row", "arrays",
                                        "close", "layout", NULL};
    const char *spec = getenv("OVERPARAM_FAULT");
    if (!spec)
        return;
    size_t len = strcspn(spec, ":");
    if (strlen(point) != len || strncmp(spec, point, len) != 0)
        return;
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], point) && ++hits[i] == atoi(spec + len + 1)) {
            fprintf(stderr, "overparam: fault injection: killed at %s\n", spec);
            raise(SIGKILL);
        }
}

/* Failures rather than kills: OVERPARAM_FAULT=full:N makes the Nth
 * journal write and every later one fail as on a full disk (ENOSPC), so
 * the tests fill the disk at an exact moment without a small file system;
 * layoutfull:N does the same to the Nth write of the archive's layout
 * (create_layout's LAYOUT_CHECK steps, then the flush after them) that a
 * rank makes; mpi:N makes the Nth archive status broadcast an invalid MPI
 * call, so they see what an MPI failure prints. */
static int fault_fails(const char *point)
{
    static int hits[3];
    const char *spec = getenv("OVERPARAM_FAULT");
    size_t len = strlen(point);
    if (!spec || strncmp(spec, point, len) != 0 || spec[len] != ':')
        return 0;
    return ++hits[point[0] == 'm' ? 1 : point[0] == 'l' ? 2 : 0] >=
           atoi(spec + len + 1);
}

/* The packed /runs row of `run` (pending when row is NULL). */
static void pack_row(const op_archive *ar, long run, const op_row *row,
                     unsigned char *out)
{
    op_runs_pack(&ar->rs, ar->job, run, row, out);
}

/* ---- small HDF5 helpers --------------------------------------------- */

/* Time stamp of rank 0, shared: attribute writes are collective and must
 * carry identical data on every rank. */
static void now_string(MPI_Comm comm, char *buf, size_t len)
{
    time_t t = time(NULL);
    long long tt = (long long)t;
    OP_MPI_CHECK(MPI_Bcast(&tt, 1, MPI_LONG_LONG, 0, comm), "time stamp");
    t = (time_t)tt;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static hid_t make_group(hid_t parent, const char *name)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    OP_H5_CHECK(g, "creating a group");
    return g;
}

/* ---- creation -------------------------------------------------------- */

/* A write of the layout failed (err: errno right after it). The layout
 * allocates every dataset up front, so this is where a disk that filled
 * since check_space shows: said plainly, with the file, the step and the
 * free space, instead of HDF5's error stack (create_layout turns its
 * printing off; it is printed here only when the cause is not a full
 * disk). The job then ends as every archive I/O error does (op_abort_all,
 * all ranks). Nothing else was touched, and the journal, created before
 * the layout, marks the half-made file as this job's: --resume rebuilds
 * it once there is space. */
static void layout_failed(const op_archive *ar, const char *what, int err)
{
    char dcopy[OP_PATH_MAX];
    snprintf(dcopy, sizeof dcopy, "%s", ar->path);
    const char *dir = dirname(dcopy);
    struct statvfs vf;
    double avail = statvfs(dir, &vf) == 0
                       ? (double)vf.f_bavail * (double)vf.f_frsize
                       : -1;
    /* MPI-IO reports a failed write without its errno; a file system
     * left with less than a MiB after it is full for this purpose. */
    int full = err == ENOSPC || err == EDQUOT ||
               (avail >= 0 && avail < 1048576.0);
    char hint[2 * OP_PATH_MAX + 256];
    if (full)
        snprintf(hint, sizeof hint, "disk full (ENOSPC) writing the layout "
                 "of %s: %.3g MB free on %s; nothing else was touched: free "
                 "space, then run again with --resume (the journal %s marks "
                 "the half-made file as this job's)", ar->path, avail / 1e6,
                 dir, ar->jpath);
    else {
        H5Eprint2(H5E_DEFAULT, stderr);
        snprintf(hint, sizeof hint, "writing the layout of %s (%s; %.3g MB "
                 "free on %s); nothing else was touched: run again with "
                 "--resume once the cause is fixed", ar->path,
                 err ? strerror(err) : "see the HDF5 errors above",
                 avail / 1e6, dir);
    }
    op_abort_all(__FILE__, __LINE__, what,
                 full ? "No space left on device" : "HDF5 returned < 0", hint);
}

/* create_layout's checks on the calls that write to the file. */
#define LAYOUT_CHECK(ar, call, what)                                         \
    do {                                                                     \
        if ((call) < 0)                                                      \
            layout_failed((ar), (what), errno);                              \
        if (fault_fails("layoutfull"))                                       \
            layout_failed((ar), (what), ENOSPC);                             \
    } while (0)

static void create_datasets(op_archive *ar, const op_job *job,
                            const op_layout *lay, hid_t root);

static void create_layout(op_archive *ar)
{
    const op_job *job = ar->job;
    const op_layout *lay = ar->layout;
    hid_t root = ar->file;
    /* Failures here are reported by layout_failed, not as a stack. */
    H5E_auto2_t efunc;
    void *edata;
    H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    create_datasets(ar, job, lay, root);
    H5Eset_auto2(H5E_DEFAULT, efunc, edata);
}

/* The attributes and datasets of a new archive (create_layout). */
static void create_datasets(op_archive *ar, const op_job *job,
                            const op_layout *lay, hid_t root)
{
    char stamp[32];
    now_string(ar->comm, stamp, sizeof stamp);
    int size;
    MPI_Comm_size(ar->comm, &size);
    op_h5_attr_long(root, "format_version", OP_FORMAT_VERSION);
    op_h5_attr_string(root, "program", "overparam");
    op_h5_attr_string(root, "program_version", OP_VERSION);
    op_h5_attr_string(root, "git_revision", OP_GIT_REV);
    op_h5_attr_long(root, "mpi_size", size);
    op_h5_attr_long(root, "blas_threads", openblas_get_num_threads());
    op_h5_attr_string(root, "blas_core", openblas_get_corename());
    {
        const op_blas_info *bi = op_blas_info_get();
        char sel[224];
        op_blas_selection_string(bi, sel, sizeof sel);
        op_h5_attr_string(root, "blas_core_openblas", bi->openblas_pick);
        op_h5_attr_string(root, "blas_selection", sel);
        op_h5_attr_string(root, "blas_selftest",
                          bi->selftest_passed == 1   ? "passed"
                          : bi->selftest_passed == 0 ? "failed"
                                                     : "not run");
    }
    op_h5_attr_string(root, "start_time", stamp);
    op_h5_attr_string(root, "end_time", "running                         ");
    op_h5_attr_string(root, "job_file", job->file);
    op_h5_attr_string(root, "job_text", job->text);
    op_h5_attr_long(root, "n_runs", job->n_runs);
    op_h5_attr_long(root, "seed", (long long)job->base.seed);

    /* /runs: contiguous, space allocated now, so row writes are raw data. */
    hsize_t n = (hsize_t)job->n_runs;
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    OP_H5_CHECK(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "dcpl");
    OP_H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "dcpl");
    ar->runs = H5Dcreate2(root, "runs", ar->row_type, space, H5P_DEFAULT,
                          dcpl, H5P_DEFAULT);
    LAYOUT_CHECK(ar, ar->runs, "creating /runs");
    op_runs_describe(ar->runs, &ar->rs, job);
    H5Pclose(dcpl);
    H5Sclose(space);

    hid_t grid = make_group(root, "grid");
    for (int a = 0; a < job->n_axes; a++) {
        hsize_t na = (hsize_t)job->axes[a].n;
        hid_t s = H5Screate_simple(1, &na, NULL);
        hid_t d = H5Dcreate2(grid, job->axes[a].name, H5T_NATIVE_DOUBLE, s,
                             H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        LAYOUT_CHECK(ar, d, "creating a /grid axis");
        if (ar->rank == 0)
            LAYOUT_CHECK(ar, H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                      H5P_DEFAULT, job->axes[a].values),
                         "writing a /grid axis");
        op_schema_describe_axis(d, job, a);
        H5Dclose(d);
        H5Sclose(s);
    }
    H5Gclose(grid);

    /* Per-run arrays: NaN-filled at allocation, so unwritten runs read as
     * missing rather than as zeros. */
    hid_t groups[2] = {make_group(root, "curves"), make_group(root, "measures")};
    double nan = NAN;
    /* Other groups (weights) on first use. */
    for (int i = 0; i < lay->n; i++) {
        const op_field *f = &lay->f[i];
        hsize_t dims[4] = {n, 0, 0, 0};
        for (int k = 0; k < f->ndim; k++)
            dims[k + 1] = (hsize_t)f->dims[k];
        hid_t s = H5Screate_simple(f->ndim + 1, dims, NULL);
        hid_t p = H5Pcreate(H5P_DATASET_CREATE);
        OP_H5_CHECK(H5Pset_alloc_time(p, H5D_ALLOC_TIME_EARLY), "dcpl");
        OP_H5_CHECK(H5Pset_fill_value(p, H5T_NATIVE_DOUBLE, &nan), "dcpl");
        OP_H5_CHECK(H5Pset_fill_time(p, H5D_FILL_TIME_ALLOC), "dcpl");
        hid_t g = !strcmp(f->group, "curves")     ? groups[0]
                  : !strcmp(f->group, "measures") ? groups[1]
                  : H5Lexists(root, f->group, H5P_DEFAULT) > 0
                      ? H5Gopen2(root, f->group, H5P_DEFAULT)
                      : make_group(root, f->group);
        ar->fields[i] = H5Dcreate2(g, f->name, H5T_NATIVE_DOUBLE, s,
                                   H5P_DEFAULT, p, H5P_DEFAULT);
        if (g != groups[0] && g != groups[1])
            H5Gclose(g);
        char what[OP_FIELD_NAME + 64];
        snprintf(what, sizeof what, "creating /%s/%s", f->group, f->name);
        LAYOUT_CHECK(ar, ar->fields[i], what);
        op_h5_attr_string(ar->fields[i], "units", f->units);
        op_schema_describe_dataset(ar->fields[i], f->def, f->ndim);
        H5Pclose(p);
        H5Sclose(s);
    }
    H5Gclose(groups[0]);
    H5Gclose(groups[1]);
    hid_t k = make_group(root, "kernels");
    H5Gclose(k);

    /* Every row starts pending with its configuration, written by the
     * coordinator in slabs. */
    if (ar->rank == 0) {
        const long slab = 4096;
        unsigned char *buf = OP_XMALLOC(ar->rs.row_bytes * (size_t)slab);
        hid_t fs = H5Dget_space(ar->runs);
        for (long r0 = 0; r0 < job->n_runs; r0 += slab) {
            long m = job->n_runs - r0 < slab ? job->n_runs - r0 : slab;
            for (long r = 0; r < m; r++)
                pack_row(ar, r0 + r, NULL, buf + (size_t)r * ar->rs.row_bytes);
            hsize_t start = (hsize_t)r0, count = (hsize_t)m;
            hid_t ms = H5Screate_simple(1, &count, NULL);
            OP_H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL,
                                            &count, NULL), "selecting rows");
            LAYOUT_CHECK(ar, H5Dwrite(ar->runs, ar->row_type, ms, fs,
                                      H5P_DEFAULT, buf),
                         "writing the pending /runs rows");
            H5Sclose(ms);
        }
        H5Sclose(fs);
        free(buf);
    }
}

static void open_layout(op_archive *ar)
{
    ar->runs = H5Dopen2(ar->file, "runs", H5P_DEFAULT);
    OP_H5_CHECK(ar->runs, "opening /runs");
    for (int i = 0; i < ar->layout->n; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", ar->layout->f[i].group,
                 ar->layout->f[i].name);
        ar->fields[i] = H5Dopen2(ar->file, p, H5P_DEFAULT);
        OP_H5_CHECK(ar->fields[i], "opening a per-run dataset");
    }
    int size;
    MPI_Comm_size(ar->comm, &size);
    op_h5_attr_long(ar->file, "mpi_size", size);
}

/* ---- journal --------------------------------------------------------- */

static void journal_header_make(const op_archive *ar, journal_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, JOURNAL_MAGIC, 8);
    h->format = OP_FORMAT_VERSION;
    h->job_crc = (uint32_t)crc32(0L, (const Bytef *)ar->job->text,
                                 (uInt)strlen(ar->job->text));
    h->n_runs = ar->job->n_runs;
    h->total = ar->layout->total;
    h->row_size = sizeof(op_row);
}

static size_t record_bytes(const op_layout *lay)
{
    /* magic, kind, index, row, values, crc */
    return 4 + 4 + 8 + sizeof(op_row) + sizeof(double) * (size_t)lay->total +
           4;
}

/* Reads the journal: marks done runs/kernels and replays runs into the
 * archive when `replay`. A torn last record (kill mid-append) is cut off.
 * Returns OP_ERR_INPUT when the journal belongs to another job. */
static op_status journal_replay(op_archive *ar, unsigned char *done,
                                unsigned char *done_kernels, int n_kernels,
                                int replay, long *n_replayed);

/* Staging of results for batched HDF5 writes (see "writing" below). */
static void stage_alloc(op_archive *ar);
static void stage_free(stage *st);
static op_status stage_put(op_archive *ar, const op_result *res);
static op_status stage_flush(op_archive *ar);

static op_status journal_open_append(op_archive *ar, int fresh)
{
    ar->journal = fopen(ar->jpath, fresh ? "wb" : "ab");
    if (!ar->journal)
        return op_error(OP_ERR_IO, "%s: cannot open journal: %s", ar->jpath,
                        strerror(errno));
    if (fresh) {
        journal_header h;
        journal_header_make(ar, &h);
        if (fwrite(&h, sizeof h, 1, ar->journal) != 1 ||
            fflush(ar->journal) != 0)
            return op_error(OP_ERR_IO, "%s: cannot write journal: %s",
                            ar->jpath, strerror(errno));
    }
    return OP_OK;
}

/* One record at p: magic, kind, index, the result (zeros without one),
 * CRC of everything between magic and CRC. */
static void journal_encode(const op_archive *ar, unsigned char *p,
                           uint32_t kind, int64_t index, const op_result *res)
{
    uint32_t magic = RECORD_MAGIC;
    memset(p, 0, ar->rec_bytes);
    memcpy(p, &magic, 4);
    memcpy(p + 4, &kind, 4);
    memcpy(p + 8, &index, 8);
    if (res) {
        memcpy(p + 16, &res->row, sizeof(op_row));
        memcpy(p + 16 + sizeof(op_row), res->values,
               sizeof(double) * (size_t)ar->layout->total);
    }
    uint32_t crc = (uint32_t)crc32(0L, p + 4, (uInt)(ar->rec_bytes - 8));
    memcpy(p + ar->rec_bytes - 4, &crc, 4);
}

/* Appends n encoded records with one write: a batch of results costs one
 * system call, not one per result. A kill inside the write leaves whole
 * records and at most one torn one, which replay cuts off. */
static op_status journal_write(op_archive *ar, const unsigned char *p,
                               size_t n)
{
    /* write(2) on the stream's descriptor (its buffer is always empty
     * here: every write through it is flushed): stdio would split a batch
     * larger than its buffer into several system calls. */
    int fd = fileno(ar->journal);
    size_t left = ar->rec_bytes * n;
    while (left > 0) {
        ssize_t w = fault_fails("full") ? (errno = ENOSPC, -1) : write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return op_error(OP_ERR_IO, "%s: cannot append to journal: %s",
                            ar->jpath, w < 0 ? strerror(errno) : "no space");
        p += w;
        left -= (size_t)w;
    }
    if (ar->fsync)
        fsync(fileno(ar->journal));
    return OP_OK;
}

static op_status journal_append(op_archive *ar, uint32_t kind, int64_t index,
                                const op_result *res)
{
    journal_encode(ar, ar->rec_buf, kind, index, res);
    return journal_write(ar, ar->rec_buf, 1);
}

static op_status journal_replay(op_archive *ar, unsigned char *done,
                                unsigned char *done_kernels, int n_kernels,
                                int replay, long *n_replayed)
{
    *n_replayed = 0;
    FILE *f = fopen(ar->jpath, "rb");
    if (!f)
        return OP_OK; /* no journal: nothing finished yet */
    journal_header want, got;
    journal_header_make(ar, &want);
    if (fread(&got, sizeof got, 1, f) != 1) {
        fclose(f); /* torn header: the journal held nothing */
        return OP_OK;
    }
    if (memcmp(got.magic, JOURNAL_MAGIC, 8) != 0) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: not an overparam journal",
                        ar->jpath);
    }
    if (got.format != want.format || got.job_crc != want.job_crc ||
        got.n_runs != want.n_runs || got.total != want.total ||
        got.row_size != want.row_size) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: journal of a different job or "
                        "program version (runs %lld vs %lld); use --force to "
                        "start over", ar->jpath, (long long)got.n_runs,
                        (long long)want.n_runs);
    }
    op_result res;
    res.values = (double *)(ar->rec_buf + 16 + sizeof(op_row));
    /* Records are fixed-size and self-checking: a bad one (a flipped bit,
     * a sector lost) is skipped and reported, the records after it kept.
     * Only the tail is cut: a partial record, or bad records with no good
     * one after them (a kill mid-append). Kernel records are accepted on
     * every pass, with or without a buffer to mark them in: stopping at
     * the first one would cut every later record off the journal. */
    long good_end = (long)sizeof got, pos = (long)sizeof got, bad = 0;
    long bad_after_good = 0;
    while (fread(ar->rec_buf, ar->rec_bytes, 1, f) == 1) {
        pos += (long)ar->rec_bytes;
        uint32_t magic, kind, crc;
        int64_t index;
        memcpy(&magic, ar->rec_buf, 4);
        memcpy(&kind, ar->rec_buf + 4, 4);
        memcpy(&index, ar->rec_buf + 8, 8);
        memcpy(&crc, ar->rec_buf + ar->rec_bytes - 4, 4);
        int ok = magic == RECORD_MAGIC &&
                 crc == (uint32_t)crc32(0L, ar->rec_buf + 4,
                                        (uInt)(ar->rec_bytes - 8));
        if (ok && kind == REC_RUN && index >= 0 && index < ar->job->n_runs) {
            done[index] = 1;
            if (replay) {
                /* res.values points into the record itself: stage_put
                 * copies it into the staging buffer before the next read. */
                memcpy(&res.row, ar->rec_buf + 16, sizeof(op_row));
                op_status s = stage_put(ar, &res);
                if (s != OP_OK) {
                    fclose(f);
                    return s;
                }
                (*n_replayed)++;
            }
        } else if (ok && kind == REC_KERNEL && index >= 0 &&
                   index < 2 * OP_LIST_MAX) {
            if (done_kernels && index < n_kernels)
                done_kernels[index] = 1;
        } else {
            bad++;
            continue;
        }
        bad_after_good = bad;
        good_end = pos;
    }
    if (bad_after_good > 0 && replay)
        fprintf(stderr, "overparam: %s: %ld corrupt journal record%s "
                "skipped (their runs are recomputed unless /runs holds "
                "them); every other record kept\n", ar->jpath,
                bad_after_good, bad_after_good == 1 ? "" : "s");
    fclose(f);
    /* The replayed runs in the HDF5 file before anything else happens. */
    op_status s = stage_flush(ar);
    if (s != OP_OK)
        return s;
    /* Cut a torn tail so later appends start on a record boundary. */
    if (truncate(ar->jpath, good_end) != 0)
        return op_error(OP_ERR_IO, "%s: cannot truncate journal: %s",
                        ar->jpath, strerror(errno));
    return OP_OK;
}

/* ---- open ------------------------------------------------------------ */

static hid_t open_parallel(op_archive *ar, int create)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    OP_H5_CHECK(fapl, "file access list");
    OP_H5_CHECK(H5Pset_fapl_mpio(fapl, ar->comm, MPI_INFO_NULL),
                "selecting the MPI-IO driver");
    hid_t f = create ? H5Fcreate(ar->path, H5F_ACC_EXCL, H5P_DEFAULT, fapl)
                     : H5Fopen(ar->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    return f;
}

/* Serial check (rank 0) that `path` is an archive of this job. Returns
 * OP_OK, OP_ERR_INPUT (another program, version or job) or OP_ERR_IO
 * (unreadable: a kill may have torn it). */
static op_status check_existing(const op_archive *ar)
{
    op_status s = OP_OK;
    hid_t f = -1;
    H5E_BEGIN_TRY
    {
        if (H5Fis_hdf5(ar->path) <= 0)
            s = OP_ERR_IO;
        else
            f = H5Fopen(ar->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5E_END_TRY;
    if (s != OP_OK || f < 0)
        return op_error(OP_ERR_IO, "%s: not a readable HDF5 file", ar->path);
    char *prog = op_h5_attr_read_string(f, "program");
    long long fmt = op_h5_attr_read_long(f, "format_version", -1);
    char *text = op_h5_attr_read_string(f, "job_text");
    if (!prog || strcmp(prog, "overparam") != 0)
        s = op_error(OP_ERR_INPUT, "%s: not an overparam archive (no "
                     "'program' attribute); refusing to touch it", ar->path);
    else if (fmt != OP_FORMAT_VERSION)
        s = op_schema_check_file(f, ar->path);
    else if (!text || strcmp(text, ar->job->text) != 0)
        s = op_error(OP_ERR_INPUT, "%s: made by a different job file (its "
                     "job_text attribute differs from %s); use another -o or "
                     "--force", ar->path, ar->job->file);
    /* Same job, same arithmetic: OpenBLAS's results depend on its thread
     * count and its kernel set (core), so a resume under others would
     * finish the sweep with different numbers than it began. */
    if (s == OP_OK) {
        long long th = op_h5_attr_read_long(f, "blas_threads", -1);
        char *core = op_h5_attr_read_string(f, "blas_core");
        const char *now_core = openblas_get_corename();
        int now_th = openblas_get_num_threads();
        if (th > 0 && th != now_th)
            s = op_error(OP_ERR_INPUT, "%s: begun with %lld BLAS thread%s "
                         "per rank, resumed with %d: results would change "
                         "mid-sweep; resume with OPENBLAS_NUM_THREADS=%lld",
                         ar->path, th, th == 1 ? "" : "s", now_th, th);
        else if (core && now_core && strcmp(core, now_core) != 0)
            s = op_error(OP_ERR_INPUT, "%s: begun with the OpenBLAS %s "
                         "kernels, resumed with %s: results would change "
                         "mid-sweep; resume on the same CPU type or with "
                         "OPENBLAS_CORETYPE=%s", ar->path, core, now_core,
                         core);
        free(core);
    }
    /* Same job, but is every dataset there? A kill during creation can
     * leave a readable file without them: then it is torn, not foreign. */
    for (int i = -1; s == OP_OK && i < ar->layout->n; i++) {
        char p[128];
        if (i < 0)
            snprintf(p, sizeof p, "runs");
        else
            snprintf(p, sizeof p, "%s/%s", ar->layout->f[i].group,
                     ar->layout->f[i].name);
        htri_t ok = -1;
        H5E_BEGIN_TRY
        {
            ok = H5Lexists(f, i < 0 ? "runs" : ar->layout->f[i].group,
                           H5P_DEFAULT);
            if (ok > 0 && i >= 0)
                ok = H5Lexists(f, p, H5P_DEFAULT);
        }
        H5E_END_TRY;
        if (ok <= 0)
            s = op_error(OP_ERR_IO, "%s: dataset /%s missing", ar->path, p);
    }
    free(prog);
    free(text);
    H5Fclose(f);
    return s;
}

static op_status bcast_status(op_archive *ar, op_status s)
{
    int v = s;
    OP_MPI_CHECK(MPI_Bcast(&v, fault_fails("mpi") ? -1 : 1, MPI_INT, 0,
                           ar->comm), "archive status");
    if (v != OP_OK && ar->rank != 0)
        op_error((op_status)v, "see rank 0");
    return (op_status)v;
}

/* Two jobs writing one archive (a requeued job starting while the old one
 * still dies, a user's second submission) would interleave their journals:
 * the coordinator holds an exclusive lock on PATH.lock while it writes.
 * The lock dies with the process, so a killed job never blocks a resume. */
static op_status take_lock(op_archive *ar)
{
    ar->lock_fd = open(ar->lpath, O_RDWR | O_CREAT, 0644);
    if (ar->lock_fd < 0)
        return op_error(OP_ERR_IO, "%s: cannot create lock file: %s",
                        ar->lpath, strerror(errno));
    if (flock(ar->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(ar->lock_fd);
        ar->lock_fd = -1;
        return op_error(e == EWOULDBLOCK ? OP_ERR_INPUT : OP_ERR_IO,
                        "%s: another overparam process is writing this "
                        "archive (%s is locked); wait for it to end",
                        ar->path, ar->lpath);
    }
    return OP_OK;
}

/* Who holds the OFD lock on the file (dev, ino): /proc/locks shows such
 * locks with pid -1, so each process's descriptors are looked at (fdinfo
 * lists the locks of a descriptor's file: "lock: 1: OFDLCK ..."). Writes
 * "pid N (comm), as PATH" into out, or nothing when not found. */
static void find_file_lock_holder(dev_t dev, ino_t ino, char *out,
                                  size_t len)
{
    out[0] = '\0';
    DIR *proc = opendir("/proc");
    struct dirent *p;
    while (proc && !out[0] && (p = readdir(proc))) {
        if (p->d_name[0] < '1' || p->d_name[0] > '9' ||
            atoi(p->d_name) == (int)getpid())
            continue;
        char dpath[300];
        snprintf(dpath, sizeof dpath, "/proc/%s/fd", p->d_name);
        DIR *fds = opendir(dpath);
        struct dirent *q;
        while (fds && !out[0] && (q = readdir(fds))) {
            char fp[600], line[256];
            struct stat sb;
            snprintf(fp, sizeof fp, "%s/%s", dpath, q->d_name);
            if (q->d_name[0] == '.' || stat(fp, &sb) != 0 ||
                sb.st_dev != dev || sb.st_ino != ino)
                continue;
            char info[600];
            snprintf(info, sizeof info, "/proc/%s/fdinfo/%s", p->d_name,
                     q->d_name);
            FILE *f = fopen(info, "r");
            int locked = 0;
            while (f && !locked && fgets(line, sizeof line, f))
                locked = strstr(line, "OFDLCK") != NULL;
            if (f)
                fclose(f);
            if (!locked)
                continue;
            char target[OP_PATH_MAX] = "?", comm[64] = "?";
            ssize_t n = readlink(fp, target, sizeof target - 1);
            target[n > 0 ? n : 1] = '\0';
            snprintf(info, sizeof info, "/proc/%s/comm", p->d_name);
            f = fopen(info, "r");
            if (f && fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            if (f)
                fclose(f);
            snprintf(out, len, "pid %s (%s), writing it as %s", p->d_name,
                     comm, target);
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
}

/* The PATH.lock above belongs to one name of the archive; a hard link is
 * another name of the same file, with a lock file of its own. So the
 * coordinator also write-locks the archive file itself (one byte, an OFD
 * lock: it belongs to this descriptor, so HDF5 and MPI-IO opening and
 * closing the file do not drop it, and flock, which HDF5 uses, is
 * independent of it). Held from when the file exists (taken again after
 * creation: a new file, a new inode) until close; dies with the process.
 * A file system without such locks leaves only PATH.lock. */
static op_status lock_file(op_archive *ar)
{
    if (ar->file_lock_fd >= 0)
        close(ar->file_lock_fd);
    ar->file_lock_fd = open(ar->path, O_RDWR | O_NONBLOCK);
    if (ar->file_lock_fd < 0)
        return OP_OK; /* not there yet (or unreadable: the open says) */
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = FILE_LOCK_BYTE;
    fl.l_len = 1;
    if (fcntl(ar->file_lock_fd, F_OFD_SETLK, &fl) == 0)
        return OP_OK;
    int e = errno;
    if (e != EAGAIN && e != EACCES)
        return OP_OK; /* no OFD locks here: PATH.lock alone */
    struct stat sb;
    char who[OP_PATH_MAX + 128] = "";
    if (fstat(ar->file_lock_fd, &sb) == 0)
        find_file_lock_holder(sb.st_dev, sb.st_ino, who, sizeof who);
    close(ar->file_lock_fd);
    ar->file_lock_fd = -1;
    return op_error(OP_ERR_INPUT, "%s: another overparam process is writing "
                    "this file (%s%s), perhaps under another name (a hard "
                    "link); wait for it to end", ar->path,
                    who[0] ? who : "its archive file is locked",
                    who[0] ? "" : "; holder not found");
}

static void release_lock(op_archive *ar)
{
    if (ar->file_lock_fd >= 0)
        close(ar->file_lock_fd);
    ar->file_lock_fd = -1;
    if (ar->lock_fd < 0)
        return;
    unlink(ar->lpath);
    close(ar->lock_fd);
    ar->lock_fd = -1;
}

static hid_t open_serial(const char *path);

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Reads run r's values of every per-run array into vals (layout->total
 * doubles, each field at its offset). Rank 0, independent reads. */
static void read_run_arrays(const op_archive *ar, long r, double *vals)
{
    for (int i = 0; i < ar->layout->n; i++) {
        const op_field *f = &ar->layout->f[i];
        hid_t fs = H5Dget_space(ar->fields[i]);
        OP_H5_CHECK(fs, "the file space of a per-run dataset");
        hsize_t start[4] = {(hsize_t)r, 0, 0, 0}, count[4] = {1, 1, 1, 1};
        for (int k = 0; k < f->ndim; k++)
            count[k + 1] = (hsize_t)f->dims[k];
        OP_H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL,
                                        count, NULL), "selecting a run");
        hsize_t n = (hsize_t)f->size;
        hid_t ms = H5Screate_simple(1, &n, NULL);
        OP_H5_CHECK(H5Dread(ar->fields[i], H5T_NATIVE_DOUBLE, ms, fs,
                            H5P_DEFAULT, vals + f->offset), H5HINT);
        H5Sclose(ms);
        H5Sclose(fs);
    }
}

/* Finished rows of /runs the journal does not hold (it was deleted, lost
 * a record, or could not be written: disk full) are results too. A row
 * counts when its run index and configuration columns are exactly what
 * this job writes there (a row never written holds neither), its status
 * is final, and its crc column matches op_runs_crc of the row and the run's
 * arrays as they are in the file now (stage_flush writes a batch's arrays
 * before its rows, so a final row's arrays are there; a damaged row or
 * array fails the check, and that run is rerun and reported). Rank 0,
 * independent reads. Marks them in done[] and returns how many; *n_bad
 * counts the final rows that failed. */
static long recover_rows(op_archive *ar, unsigned char *done, long *n_bad)
{
    const long slab = 4096;
    long n_runs = ar->job->n_runs, found = 0;
    size_t rb = ar->rs.row_bytes;
    /* The configuration part: every column before the result tail. */
    size_t cfg_bytes = ar->rs.c[ar->rs.n_config].def.offset;
    size_t st_off = ar->rs.c[ar->rs.status].def.offset;
    size_t crc_off = ar->rs.c[ar->rs.crc].def.offset;
    unsigned char *buf = OP_XMALLOC(rb * (size_t)slab);
    unsigned char *want = OP_XMALLOC(rb);
    double *vals = OP_XMALLOC(sizeof(double) * (size_t)ar->layout->total + 8);
    const double *field[OP_FIELDS_MAX];
    for (int i = 0; i < ar->layout->n; i++)
        field[i] = vals + ar->layout->f[i].offset;
    char bad_list[160] = "";
    size_t bad_used = 0;
    *n_bad = 0;
    /* An archive written before the crc column: its rows are kept on
     * their configuration and status alone, as then. */
    hid_t ft = H5Dget_type(ar->runs);
    OP_H5_CHECK(ft, "the type of /runs");
    int has_crc = H5Tget_member_index(ft, "crc") >= 0;
    H5Tclose(ft);
    hid_t fs = H5Dget_space(ar->runs);
    OP_H5_CHECK(fs, "the file space of /runs");
    for (long r0 = 0; r0 < n_runs; r0 += slab) {
        long m = n_runs - r0 < slab ? n_runs - r0 : slab;
        hsize_t start = (hsize_t)r0, count = (hsize_t)m;
        hid_t ms = H5Screate_simple(1, &count, NULL);
        OP_H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL,
                                        &count, NULL), "selecting rows");
        OP_H5_CHECK(H5Dread(ar->runs, ar->row_type, ms, fs, H5P_DEFAULT, buf),
                    H5HINT);
        H5Sclose(ms);
        for (long j = 0; j < m; j++) {
            long r = r0 + j;
            if (done[r])
                continue;
            const unsigned char *row = buf + (size_t)j * rb;
            pack_row(ar, r, NULL, want);
            int64_t status, crc;
            memcpy(&status, row + st_off, 8);
            memcpy(&crc, row + crc_off, 8);
            if (memcmp(row, want, cfg_bytes) != 0 ||
                (status != OP_RUN_DONE && status != OP_RUN_DIVERGED &&
                 status != OP_RUN_FAILED))
                continue;
            if (has_crc)
                read_run_arrays(ar, r, vals);
            if (!has_crc ||
                (int64_t)op_runs_crc(&ar->rs, ar->layout, row, field) ==
                    crc) {
                done[r] = 1;
                found++;
                continue;
            }
            if (++*n_bad <= 8 && bad_used < sizeof bad_list)
                bad_used += (size_t)snprintf(bad_list + bad_used,
                                             sizeof bad_list - bad_used,
                                             "%s%ld", *n_bad > 1 ? ", " : "",
                                             r);
        }
    }
    if (*n_bad > 0)
        fprintf(stderr, "overparam: %s: %ld finished /runs row%s failed %s "
                "checksum (run%s %s%s): rerun\n", ar->path, *n_bad,
                *n_bad == 1 ? "" : "s", *n_bad == 1 ? "its" : "their",
                *n_bad == 1 ? "" : "s", bad_list, *n_bad > 8 ? ", ..." : "");
    H5Sclose(fs);
    free(buf);
    free(want);
    free(vals);
    return found;
}

/* The archive's own path, links resolved: the journal and the lock belong
 * to the file, not to one spelling of its path (a symlink beside it would
 * otherwise find no journal and take a lock of its own). An empty path or
 * a link to nothing is refused before anything is created. */
static op_status resolve_path(const char *path, char *out, size_t len)
{
    char buf[PATH_MAX];
    if (!path[0])
        return op_error(OP_ERR_INPUT, "the archive path is empty (-o or "
                        "[output] path)");
    if (realpath(path, buf)) {
        if (strlen(buf) >= len)
            return op_error(OP_ERR_INPUT, "%s: path too long", path);
        memcpy(out, buf, strlen(buf) + 1);
        return OP_OK;
    }
    int e = errno;
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        return op_error(OP_ERR_INPUT, "%s: a symbolic link to nothing (%s); "
                        "give the archive's real path", path, strerror(e));
    if (e != ENOENT)
        return op_error(OP_ERR_INPUT, "%s: %s", path, strerror(e));
    char dcopy[OP_PATH_MAX], bcopy[OP_PATH_MAX];
    snprintf(dcopy, sizeof dcopy, "%s", path);
    snprintf(bcopy, sizeof bcopy, "%s", path);
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    if (!realpath(dir, buf))
        return op_error(OP_ERR_INPUT, "%s: directory %s: %s", path, dir,
                        strerror(errno));
    if (snprintf(out, len, "%s/%s", strcmp(buf, "/") ? buf : "", base) >=
        (int)len)
        return op_error(OP_ERR_INPUT, "%s: path too long", path);
    return OP_OK;
}

/* Only regular files are archives or journals: a FIFO would block the
 * open forever, and --force must never unlink a device node. */
static op_status check_regular(const char *p)
{
    struct stat sb;
    if (stat(p, &sb) != 0 || S_ISREG(sb.st_mode))
        return OP_OK;
    return op_error(OP_ERR_INPUT, "%s: not a regular file (%s); refusing to "
                    "use or replace it", p,
                    S_ISDIR(sb.st_mode)    ? "a directory"
                    : S_ISFIFO(sb.st_mode) ? "a FIFO"
                    : S_ISCHR(sb.st_mode)  ? "a character device"
                    : S_ISBLK(sb.st_mode)  ? "a block device"
                    : S_ISSOCK(sb.st_mode) ? "a socket"
                                           : "not a plain file");
}

/* Whether another process holds the HDF5 file lock of `p` (HDF5 1.10
 * flock()s a file it opens; h5py's "r+" holds it while open). Such a file
 * is busy, not torn: it is left untouched and the holder named. */
static op_status check_not_held(const char *p)
{
    int fd = open(p, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return OP_OK;
    struct stat sb;
    int held = fstat(fd, &sb) == 0 && flock(fd, LOCK_SH | LOCK_NB) != 0 &&
               errno == EWOULDBLOCK;
    close(fd);
    if (!held)
        return OP_OK;
    /* /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF". */
    int pid = -1;
    FILE *f = fopen("/proc/locks", "r");
    char line[256];
    while (f && pid < 0 && fgets(line, sizeof line, f)) {
        int lp;
        unsigned long ino;
        char type[16];
        if (sscanf(line, "%*d: %15s %*s %*s %d %*x:%*x:%lu", type, &lp,
                   &ino) == 3 && !strcmp(type, "FLOCK") &&
            ino == (unsigned long)sb.st_ino)
            pid = lp;
    }
    if (f)
        fclose(f);
    char comm[64] = "?";
    if (pid > 0) {
        char cp[64];
        snprintf(cp, sizeof cp, "/proc/%d/comm", pid);
        FILE *c = fopen(cp, "r");
        if (c && fgets(comm, sizeof comm, c))
            comm[strcspn(comm, "\n")] = '\0';
        if (c)
            fclose(c);
    }
    if (pid > 0)
        return op_error(OP_ERR_INPUT, "%s: open in another process (pid %d, "
                        "%s) that holds its HDF5 file lock; the archive is "
                        "not torn and was left untouched: close it there, "
                        "then run again", p, pid, comm);
    return op_error(OP_ERR_INPUT, "%s: open in another process that holds "
                    "its HDF5 file lock; the archive is not torn and was left "
                    "untouched: close it there, then run again", p);
}

/* Whether --force may replace `p`: an empty file, an overparam archive,
 * or a file with our journal beside it (a creation cut short). Anything
 * else is someone's data. */
static op_status check_replaceable(const op_archive *ar)
{
    struct stat sb;
    if (stat(ar->path, &sb) != 0 || sb.st_size == 0)
        return OP_OK;
    hid_t f = open_serial(ar->path);
    char *prog = f >= 0 ? op_h5_attr_read_string(f, "program") : NULL;
    int ours = prog && !strcmp(prog, "overparam");
    free(prog);
    if (f >= 0)
        H5Fclose(f);
    if (!ours) {
        char magic[8];
        FILE *j = fopen(ar->jpath, "rb");
        ours = j && fread(magic, 8, 1, j) == 1 &&
               !memcmp(magic, JOURNAL_MAGIC, 8);
        if (j)
            fclose(j);
    }
    if (!ours)
        return op_error(OP_ERR_INPUT, "%s: not an overparam archive; --force "
                        "replaces only overparam archives (or empty files)",
                        ar->path);
    return OP_OK;
}

/* The same for the journal --force removes: ours (its magic), or empty. */
static op_status check_journal_replaceable(const op_archive *ar)
{
    char magic[8];
    FILE *j = fopen(ar->jpath, "rb");
    if (!j)
        return OP_OK;
    size_t n = fread(magic, 1, 8, j);
    fclose(j);
    if (n == 0 || (n == 8 && !memcmp(magic, JOURNAL_MAGIC, 8)))
        return OP_OK;
    return op_error(OP_ERR_INPUT, "%s: not an overparam journal; --force "
                    "replaces only overparam journals", ar->jpath);
}

/* Whether the archive and its journal can fit on their file system: a
 * sweep that would fill the disk is refused before it starts, with the
 * numbers, rather than failing in HDF5 at creation or in the journal
 * hours later. Both grow to about n_runs x (row + per-run values); the
 * kernels' groups are not counted (a few n_train^2 matrices at most). */
static op_status check_space(const op_archive *ar, double freed)
{
    char dcopy[OP_PATH_MAX];
    snprintf(dcopy, sizeof dcopy, "%s", ar->path);
    const char *dir = dirname(dcopy);
    struct statvfs vf;
    if (statvfs(dir, &vf) != 0)
        return OP_OK; /* unknown: let the writes tell */
    double avail = (double)vf.f_bavail * (double)vf.f_frsize + freed;
    double n = (double)ar->job->n_runs;
    /* Plus HDF5's metadata and the file system's block rounding: 1%
     * and 1 MiB (measured: a 40-run archive overshoots its raw size by
     * ~10 KB on tmpfs). */
    double need = 1.01 * (n * ((double)ar->rs.row_bytes +
                               8.0 * (double)ar->layout->total) +
                          n * (double)ar->rec_bytes) +
                  1048576.0;
    if (need > avail)
        return op_error(OP_ERR_INPUT, "%s: the archive and its journal need "
                        "about %.3g MB but %s has %.3g MB free (ENOSPC ahead); "
                        "free space, choose another -o or save fewer values",
                        ar->path, need / 1e6, dir, avail / 1e6);
    return OP_OK;
}

op_status op_archive_open(op_archive **out, const char *path,
                          const op_job *job, const op_layout *layout,
                          MPI_Comm comm, op_archive_mode mode,
                          unsigned char *done, unsigned char *done_kernels,
                          int n_kernels)
{
    *out = NULL;
    int rank;
    MPI_Comm_rank(comm, &rank);
    char real[OP_PATH_MAX];
    op_status rs = OP_OK;
    if (rank == 0)
        rs = resolve_path(path, real, sizeof real);
    int v = rs;
    OP_MPI_CHECK(MPI_Bcast(&v, 1, MPI_INT, 0, comm), "archive path");
    if (v != OP_OK)
        return rank == 0 ? rs : op_error((op_status)v, "see rank 0");
    OP_MPI_CHECK(MPI_Bcast(real, sizeof real, MPI_CHAR, 0, comm),
                 "archive path");
    op_archive *ar = OP_XCALLOC(1, sizeof *ar);
    ar->comm = comm;
    ar->rank = rank;
    snprintf(ar->path, sizeof ar->path, "%s", real);
    snprintf(ar->jpath, sizeof ar->jpath, "%s.journal", real);
    ar->job = job;
    ar->layout = layout;
    ar->fsync = job->base.output.fsync;
    ar->file = -1;
    op_runs_build(job, &ar->rs);
    ar->row_type = op_runs_type(&ar->rs);
    if (ar->rank == 0) /* only the coordinator writes results */
        stage_alloc(ar);
    ar->rec_bytes = record_bytes(layout);
    ar->rec_buf = OP_XMALLOC(ar->rec_bytes);
    memset(done, 0, (size_t)job->n_runs);
    if (done_kernels)
        memset(done_kernels, 0, (size_t)n_kernels);

    /* Rank 0 decides what to do with the files; everyone follows. */
    enum { ACT_CREATE, ACT_OPEN, ACT_REBUILD } act = ACT_CREATE;
    op_status s = OP_OK;
    ar->lock_fd = -1;
    ar->file_lock_fd = -1;
    snprintf(ar->lpath, sizeof ar->lpath, "%s.lock", ar->path);
    if (ar->rank == 0)
        s = check_regular(ar->path);
    if (ar->rank == 0 && s == OP_OK)
        s = check_regular(ar->jpath);
    if (ar->rank == 0 && s == OP_OK) /* a FIFO here would block the open */
        s = check_regular(ar->lpath);
    if (ar->rank == 0 && s == OP_OK)
        s = take_lock(ar);
    if (ar->rank == 0 && s == OP_OK)
        s = lock_file(ar);
    if (ar->rank == 0 && s == OP_OK) {
        int have = file_exists(ar->path), have_j = file_exists(ar->jpath);
        if (have && mode != OP_ARCHIVE_CREATE)
            s = check_not_held(ar->path);
        if (s == OP_OK && mode == OP_ARCHIVE_FORCE && have)
            s = check_replaceable(ar);
        if (s == OP_OK && mode == OP_ARCHIVE_FORCE && have_j)
            s = check_journal_replaceable(ar);
        if (s == OP_OK && (mode != OP_ARCHIVE_RESUME || !have)) {
            /* Before anything is removed: --force frees the old files. */
            struct stat a, j;
            double freed = 0;
            if (mode == OP_ARCHIVE_FORCE && have && stat(ar->path, &a) == 0)
                freed += (double)a.st_size;
            if (mode == OP_ARCHIVE_FORCE && have_j && stat(ar->jpath, &j) == 0)
                freed += (double)j.st_size;
            s = check_space(ar, freed);
        }
        if (s != OP_OK)
            ; /* refused above */
        else if (mode == OP_ARCHIVE_CREATE && have)
            s = op_error(OP_ERR_INPUT, "%s: archive exists; use --resume to "
                         "continue it or --force to replace it", path);
        else if (mode == OP_ARCHIVE_CREATE && have_j)
            s = op_error(OP_ERR_INPUT, "%s: a journal of an interrupted run "
                         "exists; use --resume or --force", ar->jpath);
        else if (mode == OP_ARCHIVE_FORCE) {
            if ((have && unlink(ar->path) != 0) ||
                (have_j && unlink(ar->jpath) != 0))
                s = op_error(OP_ERR_IO, "%s: cannot remove: %s", path,
                             strerror(errno));
        } else if (mode == OP_ARCHIVE_RESUME && have) {
            s = check_existing(ar);
            if (s == OP_OK)
                act = ACT_OPEN;
            else if (s == OP_ERR_IO && !have_j) {
                /* Unreadable and no journal of ours beside it: not ours. */
                s = op_error(OP_ERR_INPUT, "%s: not a readable overparam "
                             "archive and no journal %s beside it; refusing "
                             "to touch it", path, ar->jpath);
            } else if (s == OP_ERR_IO) {
                /* Torn by a kill: keep it aside, rebuild from the journal. */
                char aside[OP_PATH_MAX + 32];
                snprintf(aside, sizeof aside, "%s.torn", ar->path);
                fprintf(stderr, "overparam: %s is unreadable; moved to %s, "
                        "rebuilding from %s\n", ar->path, aside, ar->jpath);
                s = rename(ar->path, aside) == 0
                        ? OP_OK
                        : op_error(OP_ERR_IO, "%s: cannot move aside: %s",
                                   path, strerror(errno));
                act = ACT_REBUILD;
            }
        } else if (mode == OP_ARCHIVE_RESUME && have_j) {
            act = ACT_REBUILD;
        }
        if (s == OP_OK && act != ACT_CREATE) {
            /* Validate the journal before anything is written. */
            long n;
            unsigned char *tmp = OP_XCALLOC((size_t)job->n_runs, 1);
            s = journal_replay(ar, tmp, NULL, 0, 0, &n);
            free(tmp);
        }
        /* The journal exists before the layout is written: a kill or a
         * full disk during creation leaves a journal, so --resume knows
         * the half-made file as ours and rebuilds it. */
        if (s == OP_OK && act == ACT_CREATE)
            s = journal_open_append(ar, 1);
    }
    s = bcast_status(ar, s);
    int a = (int)act;
    OP_MPI_CHECK(MPI_Bcast(&a, 1, MPI_INT, 0, comm), "archive action");
    act = a;
    if (s != OP_OK) {
        if (ar->journal)
            fclose(ar->journal);
        release_lock(ar);
        H5Tclose(ar->row_type);
        stage_free(&ar->st);
        free(ar->rec_buf);
        free(ar->jbuf);
        free(ar);
        return s;
    }

    /* A new file is part of the layout: a full disk is said plainly. */
    H5E_auto2_t efunc;
    void *edata;
    H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
    if (act != ACT_OPEN)
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    ar->file = open_parallel(ar, act != ACT_OPEN);
    if (act != ACT_OPEN && ar->file < 0)
        layout_failed(ar, "creating the file", errno);
    H5Eset_auto2(H5E_DEFAULT, efunc, edata);
    OP_H5_CHECK(ar->file, H5HINT);
    /* A file created now (fresh, forced, rebuilt) is a new inode: lock it
     * before anything else can reach it by another name. */
    if (ar->rank == 0 && act != ACT_OPEN && lock_file(ar) != OP_OK)
        fprintf(stderr, "overparam: warning: %s\n", op_error_message());
    if (ar->rank == 0 && act != ACT_OPEN)
        fault_point("layout");
    if (act == ACT_OPEN)
        open_layout(ar);
    else
        create_layout(ar);

    long replayed = 0, recovered = 0, bad_rows = 0;
    if (ar->rank == 0) {
        if (act != ACT_CREATE) {
            s = journal_replay(ar, done, done_kernels, n_kernels, 1,
                               &replayed);
            if (s == OP_OK && act == ACT_OPEN)
                recovered = recover_rows(ar, done, &bad_rows);
            if (s == OP_OK)
            {
                /* A journal torn inside its header holds nothing: restart
                 * it rather than append records to a headless file. */
                struct stat sb;
                int fresh = stat(ar->jpath, &sb) != 0 ||
                            sb.st_size < (off_t)sizeof(journal_header);
                s = journal_open_append(ar, fresh);
            }
            if (act == ACT_REBUILD && done_kernels) /* kernels were lost */
                memset(done_kernels, 0, (size_t)n_kernels);
        }
    }
    s = bcast_status(ar, s);
    if (s != OP_OK)
        op_abort_all(__FILE__, __LINE__, "journal", op_error_message(),
                     "check the journal beside the archive");
    OP_MPI_CHECK(MPI_Bcast(done, (int)job->n_runs, MPI_UNSIGNED_CHAR, 0, comm),
                 "sharing finished runs");
    if (done_kernels && n_kernels > 0)
        OP_MPI_CHECK(MPI_Bcast(done_kernels, n_kernels, MPI_UNSIGNED_CHAR, 0,
                               comm), "sharing finished kernels");
    if (ar->rank == 0 && act != ACT_OPEN)
        fault_point("create");
    /* Structure on disk before the first row: afterwards only raw data.
     * For a new file this writes most of its metadata: part of the layout
     * (a full disk said plainly). */
    if (act != ACT_OPEN) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        LAYOUT_CHECK(ar, H5Fflush(ar->file, H5F_SCOPE_GLOBAL),
                     "flushing the new layout");
        H5Eset_auto2(H5E_DEFAULT, efunc, edata);
    }
    OP_H5_CHECK(H5Fflush(ar->file, H5F_SCOPE_GLOBAL), H5HINT);
    if (ar->rank == 0 && replayed + recovered > 0)
        fprintf(stderr, "overparam: resumed %s: %ld finished runs kept (%ld "
                "from the journal %s, %ld from /runs rows the journal "
                "lacked)\n", path, replayed + recovered, replayed, ar->jpath,
                recovered);
    *out = ar;
    return OP_OK;
}

/* ---- writing --------------------------------------------------------- */

/* Staging limits. STAGE_RESULTS results spread a flush's fixed cost (one
 * selection and one H5Dwrite per dataset) thin; STAGE_BYTES keeps a job
 * that saves weights from holding gigabytes for it (it stages fewer, down
 * to one result: write-through). STAGE_AGE bounds how far the HDF5 file
 * may lag the journal while the sweep runs, for readers of a live
 * archive. */
#define STAGE_RESULTS 256
#define STAGE_BYTES ((size_t)16 << 20)
#define STAGE_AGE 1.0
/* A block of the file selection costs one MPI-IO write (HDF5 1.10 writes
 * each contiguous piece separately in independent mode), a few us: about
 * what copying 16 KiB through the page cache twice (read back, write)
 * costs. A flush whose runs are scattered (many workers, or runs of equal
 * cost not adjacent in index) reads the rows between them back instead,
 * when that moves fewer bytes than this per block saved. */
#define STAGE_GAP_PER_BLOCK ((size_t)16 << 10)

struct stage_key {
    long run;
    int slot;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t stage_value_bytes(const op_archive *ar)
{
    return sizeof(double) * (size_t)ar->layout->total;
}

/* Where field i of staged slot j lives. */
static double *stage_field(const op_archive *ar, int i, int j)
{
    const op_field *f = &ar->layout->f[i];
    return ar->st.values + (size_t)ar->st.cap * (size_t)f->offset +
           (size_t)j * (size_t)f->size;
}

/* Sizes and allocates the staging buffers, once, at open. */
static void stage_alloc(op_archive *ar)
{
    stage *st = &ar->st;
    size_t vbytes = stage_value_bytes(ar);
    size_t per = ar->rs.row_bytes + vbytes;
    size_t cap = STAGE_BYTES / per;
    st->cap = cap < 1 ? 1 : cap > STAGE_RESULTS ? STAGE_RESULTS : (int)cap;
    st->n = 0;
    size_t c = (size_t)st->cap;
    st->run = OP_XMALLOC(sizeof(long) * c);
    st->rows = OP_XMALLOC(ar->rs.row_bytes * c);
    st->values = OP_XMALLOC(vbytes * c);
    st->key = OP_XMALLOC(sizeof(struct stage_key) * c);
    st->from = OP_XMALLOC(sizeof(int) * c);
    st->moved = OP_XMALLOC(c);
    st->tmp = OP_XMALLOC(vbytes > ar->rs.row_bytes ? vbytes : ar->rs.row_bytes);
    size_t widest = ar->rs.row_bytes;
    for (int i = 0; i < ar->layout->n; i++)
        if (sizeof(double) * (size_t)ar->layout->f[i].size > widest)
            widest = sizeof(double) * (size_t)ar->layout->f[i].size;
    st->gap_bytes = widest * (size_t)ar->job->n_runs;
    if (st->gap_bytes > STAGE_BYTES)
        st->gap_bytes = STAGE_BYTES;
    st->gap = OP_XMALLOC(st->gap_bytes);
}

static void stage_free(stage *st)
{
    free(st->run);
    free(st->rows);
    free(st->values);
    free(st->key);
    free(st->from);
    free(st->moved);
    free(st->tmp);
    free(st->gap);
    memset(st, 0, sizeof *st);
}

static int cmp_stage_key(const void *a, const void *b)
{
    const struct stage_key *x = a, *y = b;
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Reorders the n slots of `base` (`width` bytes each) so that slot j then
 * holds what slot from[j] held (from: a permutation of 0..n-1). Each cycle
 * goes once through `tmp`, so the flush needs no second staging buffer. */
static void permute_slots(unsigned char *base, size_t width, const int *from,
                          int n, unsigned char *tmp, unsigned char *moved)
{
    memset(moved, 0, (size_t)n);
    for (int j = 0; j < n; j++) {
        if (moved[j] || from[j] == j)
            continue;
        memcpy(tmp, base + (size_t)j * width, width);
        int k = j;
        while (from[k] != j) {
            memcpy(base + (size_t)k * width, base + (size_t)from[k] * width,
                   width);
            moved[k] = 1;
            k = from[k];
        }
        memcpy(base + (size_t)k * width, tmp, width);
        moved[k] = 1;
    }
}

/* The file space of `dset` ([n_runs][dims...]) with the rows of runs[0..m)
 * (ascending, distinct) selected, each stretch of consecutive runs as one
 * block: the sweep hands runs out in stretches of equal cost, so a flush
 * is usually a few blocks and as few MPI-IO writes. */
static hid_t stage_select_rows(hid_t dset, const long *runs, int m)
{
    hid_t fs = H5Dget_space(dset);
    OP_H5_CHECK(fs, "the file space of a dataset");
    hsize_t start[4] = {0, 0, 0, 0}, count[4] = {1, 1, 1, 1};
    int nd = H5Sget_simple_extent_ndims(fs);
    OP_H5_CHECK(nd, "the rank of a dataset");
    if (nd < 1 || nd > 4)
        op_abort_all(__FILE__, __LINE__, "stage_select_rows",
                     "dataset of unexpected rank", H5HINT);
    OP_H5_CHECK(H5Sget_simple_extent_dims(fs, count, NULL),
                "the shape of a dataset");
    H5S_seloper_t op = H5S_SELECT_SET;
    for (int j = 0; j < m;) {
        int k = j + 1;
        while (k < m && runs[k] == runs[k - 1] + 1)
            k++;
        start[0] = (hsize_t)runs[j];
        count[0] = (hsize_t)(k - j);
        OP_H5_CHECK(H5Sselect_hyperslab(fs, op, start, NULL, count, NULL),
                    "selecting staged rows");
        op = H5S_SELECT_OR;
        j = k;
    }
    return fs;
}

/* Writes the staged runs' rows of `dset` from `buf` (m rows of `width`
 * bytes, `elems` elements of `mtype` each, in ascending run order) with
 * one H5Dwrite. Scattered runs (`blocks` stretches) that lie close
 * together go out as one block: the rows between them are read back into
 * the gap buffer, the staged rows laid over them, and the whole stretch
 * written (2 MPI-IO calls instead of `blocks`). Only the coordinator
 * writes these datasets, so what it reads back is what it wrote, and a
 * kill mid-write leaves the gap rows as they were either way. */
static void stage_write(op_archive *ar, hid_t dset, hid_t mtype,
                        hsize_t elems, size_t width, const void *buf, int m,
                        int blocks)
{
    stage *st = &ar->st;
    const long *run = st->run;
    size_t span = (size_t)(run[m - 1] - run[0] + 1);
    int fill = blocks > 1 && span * width <= st->gap_bytes &&
               (span - (size_t)m) * width <=
                   (size_t)(blocks - 1) * STAGE_GAP_PER_BLOCK;
    hid_t fs, ms;
    if (fill) {
        fs = H5Dget_space(dset);
        OP_H5_CHECK(fs, "the file space of a dataset");
        hsize_t start[4] = {0, 0, 0, 0}, count[4] = {1, 1, 1, 1};
        OP_H5_CHECK(H5Sget_simple_extent_dims(fs, count, NULL),
                    "the shape of a dataset");
        start[0] = (hsize_t)run[0];
        count[0] = (hsize_t)span;
        OP_H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL,
                                        count, NULL), "selecting a stretch");
        hsize_t n = (hsize_t)span * elems;
        ms = H5Screate_simple(1, &n, NULL);
        OP_H5_CHECK(ms, "a stretch in memory");
        OP_H5_CHECK(H5Dread(dset, mtype, ms, fs, H5P_DEFAULT, st->gap),
                    H5HINT);
        for (int j = 0; j < m; j++)
            memcpy(st->gap + (size_t)(run[j] - run[0]) * width,
                   (const unsigned char *)buf + (size_t)j * width, width);
        buf = st->gap;
    } else {
        fs = stage_select_rows(dset, run, m);
        hsize_t n = (hsize_t)m * elems;
        ms = H5Screate_simple(1, &n, NULL);
        OP_H5_CHECK(ms, "staged rows in memory");
    }
    OP_H5_CHECK(H5Dwrite(dset, mtype, ms, fs, H5P_DEFAULT, buf), H5HINT);
    H5Sclose(fs);
    H5Sclose(ms);
}

/* Writes every staged result to the HDF5 file: rows and each dataset once,
 * with one selection covering all staged runs. Memory is reordered to the
 * selection's order (ascending run: HDF5 walks a union of hyperslabs in
 * file order, whatever order the blocks were added in). Rank 0 only (a
 * no-op elsewhere: nothing is staged), independent I/O. */
static op_status stage_flush(op_archive *ar)
{
    stage *st = &ar->st;
    int n = st->n;
    if (n == 0)
        return OP_OK;
    for (int j = 0; j < n; j++)
        st->key[j] = (struct stage_key){st->run[j], j};
    qsort(st->key, (size_t)n, sizeof *st->key, cmp_stage_key);
    /* A run staged twice (a sweep never does; merge guards against it)
     * keeps its later result, as two write-throughs would; the earlier
     * slot goes to the tail, outside what is written. */
    int m = 0, tail = n;
    for (int j = 0; j < n; j++) {
        if (j + 1 < n && st->key[j + 1].run == st->key[j].run)
            st->from[--tail] = st->key[j].slot;
        else
            st->from[m++] = st->key[j].slot;
    }
    permute_slots(st->rows, ar->rs.row_bytes, st->from, n, st->tmp, st->moved);
    for (int i = 0; i < ar->layout->n; i++)
        permute_slots((unsigned char *)stage_field(ar, i, 0),
                      sizeof(double) * (size_t)ar->layout->f[i].size,
                      st->from, n, st->tmp, st->moved);
    permute_slots((unsigned char *)st->run, sizeof(long), st->from, n,
                  st->tmp, st->moved);

    int blocks = 1;
    for (int j = 1; j < m; j++)
        blocks += st->run[j] != st->run[j - 1] + 1;
    /* Per-run arrays: each field's staged runs lie contiguous in memory,
     * in selection order, so HDF5 issues one write per block of the file
     * selection (a strided memory side would cost one per run). They go
     * before the rows: a row whose status is final then implies its
     * arrays are in the file, so resume may trust /runs where the journal
     * has no record (recover_rows). */
    for (int i = 0; i < ar->layout->n; i++) {
        const op_field *f = &ar->layout->f[i];
        stage_write(ar, ar->fields[i], H5T_NATIVE_DOUBLE, (hsize_t)f->size,
                    sizeof(double) * (size_t)f->size, stage_field(ar, i, 0),
                    m, blocks);
    }
    for (int j = 0; j < m; j++) /* one hit per run, as the kill tests count */
        fault_point("arrays");
    stage_write(ar, ar->runs, ar->row_type, 1, ar->rs.row_bytes, st->rows, m,
                blocks);
    for (int j = 0; j < m; j++)
        fault_point("row");
    st->n = 0;
    return OP_OK;
}

/* Stages one result (its journal record is already written); flushes when
 * the buffer is full or the oldest staged result has waited STAGE_AGE. */
static op_status stage_put(op_archive *ar, const op_result *res)
{
    stage *st = &ar->st;
    double t = mono_now();
    if (st->n == 0)
        st->since = t;
    int j = st->n++;
    st->run[j] = res->row.run;
    unsigned char *row = st->rows + (size_t)j * ar->rs.row_bytes;
    pack_row(ar, res->row.run, &res->row, row);
    const double *field[OP_FIELDS_MAX];
    for (int i = 0; i < ar->layout->n; i++) {
        const op_field *f = &ar->layout->f[i];
        memcpy(stage_field(ar, i, j), res->values + f->offset,
               sizeof(double) * (size_t)f->size);
        field[i] = res->values + f->offset;
    }
    op_runs_set_crc(&ar->rs, row,
                    op_runs_crc(&ar->rs, ar->layout, row, field));
    if (st->n == st->cap || t - st->since >= STAGE_AGE)
        return stage_flush(ar);
    return OP_OK;
}

static op_status put_n(op_archive *ar, const op_result *res, int n)
{
    if ((size_t)n > ar->jbuf_cap) {
        free(ar->jbuf);
        ar->jbuf = OP_XMALLOC(ar->rec_bytes * (size_t)n);
        ar->jbuf_cap = (size_t)n;
    }
    for (int j = 0; j < n; j++)
        journal_encode(ar, ar->jbuf + ar->rec_bytes * (size_t)j, REC_RUN,
                       res[j].row.run, &res[j]);
    op_status s = ar->jbroken ? OP_ERR_IO
                              : journal_write(ar, ar->jbuf, (size_t)n);
    if (s != OP_OK && !ar->jbroken) {
        /* Disk full (or gone): the results in hand are not lost. /runs and
         * the per-run datasets were allocated at creation, so writing them
         * needs no new space; resume reads finished rows back from /runs.
         * The caller stops handing out runs (op_archive_journal_failed). */
        ar->jbroken = 1;
        snprintf(ar->jerr, sizeof ar->jerr, "%s", op_error_message());
    }
    if (s == OP_OK)
        for (int j = 0; j < n; j++)
            fault_point("journal");
    else
        ar->unjournaled += n;
    op_status sp = OP_OK;
    for (int j = 0; j < n && sp == OP_OK; j++)
        sp = stage_put(ar, &res[j]);
    if (s != OP_OK)
        return op_error(OP_ERR_IO, "%s; no further run started, %ld "
                        "finished result%s written to /runs only; free "
                        "space and run again with --resume: nothing "
                        "finished is lost", ar->jerr, ar->unjournaled,
                        ar->unjournaled == 1 ? "" : "s");
    return sp;
}

int op_archive_journal_failed(const op_archive *ar) { return ar->jbroken; }

op_status op_archive_put_n(op_archive *ar, const op_result *res, int n)
{
    if (n <= 0)
        return OP_OK;
    double t0 = mono_now();
    op_status s = put_n(ar, res, n);
    ar->seconds += mono_now() - t0;
    return s;
}

double op_archive_seconds(const op_archive *ar, double *sync_seconds)
{
    if (sync_seconds)
        *sync_seconds = ar->sync_seconds;
    return ar->seconds;
}

op_status op_archive_put(op_archive *ar, const op_result *res)
{
    return op_archive_put_n(ar, res, 1);
}

op_status op_archive_poll(op_archive *ar)
{
    if (ar->st.n == 0)
        return OP_OK;
    double t0 = mono_now();
    if (t0 - ar->st.since < STAGE_AGE)
        return OP_OK;
    op_status s = stage_flush(ar);
    ar->seconds += mono_now() - t0;
    return s;
}

op_status op_archive_put_kernel(op_archive *ar, int index)
{
    return journal_append(ar, REC_KERNEL, index, NULL);
}

op_status op_archive_flush(op_archive *ar)
{
    /* Staged results first (rank 0), then the collective flush: every rank
     * must reach H5Fflush whatever the coordinator's outcome. */
    double t0 = mono_now();
    op_status s = stage_flush(ar);
    double t1 = mono_now();
    OP_H5_CHECK(H5Fflush(ar->file, H5F_SCOPE_GLOBAL), H5HINT);
    ar->seconds += t1 - t0;
    ar->sync_seconds += mono_now() - t1;
    return s;
}

op_status op_archive_close(op_archive *ar)
{
    /* Every staged result reaches the file before it closes, on every path
     * that closes it (end, stop, error). */
    op_status s = stage_flush(ar);
    char stamp[32];
    now_string(ar->comm, stamp, sizeof stamp);
    if (ar->rank == 0)
        fault_point("close");
    op_h5_attr_string(ar->file, "end_time", stamp);
    for (int i = 0; i < ar->layout->n; i++)
        H5Dclose(ar->fields[i]);
    H5Dclose(ar->runs);
    H5Tclose(ar->row_type);
    OP_H5_CHECK(H5Fclose(ar->file), H5HINT);
    if (ar->journal)
        fclose(ar->journal);
    release_lock(ar);
    stage_free(&ar->st);
    free(ar->rec_buf);
    free(ar->jbuf);
    free(ar);
    return s;
}

hid_t op_archive_file(const op_archive *ar) { return ar->file; }

/* ---- reading: info and compare (serial) ------------------------------ */

static hid_t open_serial(const char *path)
{
    hid_t f = -1;
    H5E_BEGIN_TRY
    {
        if (H5Fis_hdf5(path) > 0)
            f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5E_END_TRY;
    return f;
}

static op_status open_archive_serial(const char *path, hid_t *f)
{
    if (!file_exists(path))
        return op_error(OP_ERR_INPUT, "%s: no such archive", path);
    op_status r = check_regular(path);
    if (r != OP_OK)
        return r;
    *f = open_serial(path);
    if (*f < 0)
        return op_error(OP_ERR_INPUT, "%s: not an HDF5 file", path);
    op_status s = op_schema_check_file(*f, path);
    if (s == OP_OK && H5Lexists(*f, "runs", H5P_DEFAULT) <= 0)
        s = op_error(OP_ERR_INPUT, "%s: dataset /runs missing", path);
    if (s != OP_OK)
        H5Fclose(*f);
    return s;
}

/* Reads member `name` of a 1-D compound dataset as doubles (HDF5 converts
 * integer members). Returns 0, or -1 when there is no such member. */
static int read_member(hid_t d, const char *name, double *out)
{
    hid_t ft = H5Dget_type(d);
    int idx = H5Tget_member_index(ft, name);
    H5Tclose(ft);
    if (idx < 0)
        return -1;
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(double));
    H5Tinsert(mt, name, 0, H5T_NATIVE_DOUBLE);
    herr_t e = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Tclose(mt);
    return e < 0 ? -1 : 0;
}

/* One line per kernel group: test accuracy and loss at each ridge. */
static void print_kernel(hid_t kernels, hsize_t i, FILE *out)
{
    char name[128];
    if (H5Lget_name_by_idx(kernels, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                           sizeof name, H5P_DEFAULT) < 0)
        return;
    char path[160];
    snprintf(path, sizeof path, "%s/metrics_ridge", name);
    hid_t d = -1;
    H5E_BEGIN_TRY { d = H5Dopen2(kernels, path, H5P_DEFAULT); }
    H5E_END_TRY;
    fprintf(out, "  %-20s", name);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        H5Sclose(sp);
        double ridge[OP_LIST_MAX], acc[OP_LIST_MAX], mse[OP_LIST_MAX];
        if (n > 0 && n <= OP_LIST_MAX && !read_member(d, "ridge", ridge) &&
            !read_member(d, "acc", acc) && !read_member(d, "mse", mse))
            for (hssize_t j = 0; j < n; j++)
                fprintf(out, " ridge %g: acc %.4g loss %.4g;", ridge[j],
                        acc[j], mse[j]);
        H5Dclose(d);
    }
    fprintf(out, "\n");
}

op_status op_archive_info(const char *path, FILE *out)
{
    hid_t f;
    op_status s = open_archive_serial(path, &f);
    if (s != OP_OK)
        return s;
    char *job_file = op_h5_attr_read_string(f, "job_file");
    char *ver = op_h5_attr_read_string(f, "program_version");
    char *rev = op_h5_attr_read_string(f, "git_revision");
    char *t0 = op_h5_attr_read_string(f, "start_time");
    char *t1 = op_h5_attr_read_string(f, "end_time");
    long long size = op_h5_attr_read_long(f, "mpi_size", -1);
    hid_t d = H5Dopen2(f, "runs", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    fprintf(out, "archive   %s (format %d, overparam %s, rev %s)\n", path,
            OP_FORMAT_VERSION, ver ? ver : "?", rev ? rev : "?");
    fprintf(out, "job       %s: %llu runs, last on %lld ranks, %s -> %s\n",
            job_file ? job_file : "?", (unsigned long long)n, size,
            t0 ? t0 : "?", t1 ? t1 : "?");
    /* The columns as the file declares them (schema.h): configuration
     * columns group the rows, the replicate (seed) is averaged over, and
     * a column's missing value (fit_epoch -1: never fitted) is counted
     * apart. */
    hid_t ft = H5Dget_type(d);
    int nm = H5Tget_nmembers(ft);
    char *names[OP_RUNS_COLS_MAX];
    int nc = 0;
    for (int i = 0; i < nm && nc < OP_RUNS_COLS_MAX; i++)
        names[nc++] = H5Tget_member_name(ft, (unsigned)i);
    H5Tclose(ft);
    int n_roles = 0, n_axes = 0, n_miss = 0;
    char **roles = op_h5_attr_read_strings(d, "column_roles", &n_roles);
    char **axes = op_h5_attr_read_strings(d, "column_axes", &n_axes);
    double *missing = op_h5_attr_read_doubles(d, "column_missing", &n_miss);
    int grp[OP_RUNS_COLS_MAX] = {0};
    int ist = -1;
    for (int i = 0; i < nc; i++) {
        const char *r = i < n_roles ? roles[i] : "";
        grp[i] = !strcmp(r, "config");
        if (!strcmp(r, "status"))
            ist = i;
    }
    double *col = OP_XMALLOC(sizeof(double) * (size_t)(n ? n : 1) *
                             (size_t)nc);
    for (int i = 0; i < nc; i++)
        read_member(d, names[i], col + (size_t)i * n);
    long counts[4] = {0, 0, 0, 0};
    for (hsize_t r = 0; r < n; r++) {
        int st = ist >= 0 ? (int)col[(size_t)ist * n + r] : 0;
        if (st >= 0 && st < 4)
            counts[st]++;
    }
    /* A kernel-only job's placeholder run (epochs = 0: nothing trained)
     * is not a result: hidden here as in analysis.loader. */
    int iep = -1;
    for (int i = 0; i < nc; i++)
        if (!strcmp(names[i], "epochs"))
            iep = i;
    long placeholders = 0;
    unsigned char *used = OP_XCALLOC((size_t)n + 1, 1);
    for (hsize_t r = 0; r < n; r++)
        if (iep >= 0 && col[(size_t)iep * n + r] == 0 && ist >= 0 &&
            col[(size_t)ist * n + r] == OP_RUN_DONE) {
            used[r] = 1;
            placeholders++;
        }
    if (placeholders) {
        counts[1] -= placeholders;
        fprintf(out, "runs      %ld kernel-only placeholder run%s (epochs = 0) "
                "hidden\n", placeholders, placeholders > 1 ? "s" : "");
    }
    fprintf(out, "status    done %ld, diverged %ld, failed %ld, pending %ld\n",
            counts[1], counts[2], counts[3], counts[0]);
    /* Named axes (corruption, parameterization ...) print their labels from
     * the "labels" of the column's /grid axis, never the stored codes. */
    char **labels[OP_RUNS_COLS_MAX] = {0};
    double *codes[OP_RUNS_COLS_MAX] = {0};
    int nlab[OP_RUNS_COLS_MAX] = {0};
    for (int i = 0; i < nc; i++) {
        if (!grp[i] || i >= n_axes || !axes[i][0])
            continue;
        char gp[256];
        snprintf(gp, sizeof gp, "grid/%s", axes[i]);
        if (H5Lexists(f, "grid", H5P_DEFAULT) <= 0 ||
            H5Lexists(f, gp, H5P_DEFAULT) <= 0)
            continue;
        hid_t gd = H5Dopen2(f, gp, H5P_DEFAULT);
        if (gd < 0)
            continue;
        int nl = 0;
        char **lab = op_h5_attr_read_strings(gd, "labels", &nl);
        hid_t gs = H5Dget_space(gd);
        hssize_t nv = H5Sget_simple_extent_npoints(gs);
        H5Sclose(gs);
        if (lab && nv == nl && nv > 0) {
            codes[i] = OP_XMALLOC(sizeof(double) * (size_t)nv);
            if (H5Dread(gd, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        codes[i]) >= 0) {
                labels[i] = lab;
                nlab[i] = nl;
                lab = NULL;
            }
        }
        free(lab);
        H5Dclose(gd);
    }
    /* Group rows by configuration (seed excluded): mean and sample standard
     * deviation (n - 1) over seeds, as analysis.loader and the report;
     * a column's missing value (fit_epoch: never fitted) is counted apart.
     * The columns shown and their order: schema.h's summary flags. */
    const char *shown[OP_RUNS_COLS_MAX];
    int idx_shown[OP_RUNS_COLS_MAX];
    int n_shown = op_runs_summary(shown, OP_RUNS_COLS_MAX);
    int imiss = -1;
    for (int k = 0; k < n_shown; k++) {
        idx_shown[k] = -1;
        for (int i = 0; i < nc; i++)
            if (!strcmp(names[i], shown[k]))
                idx_shown[k] = i;
        if (idx_shown[k] >= 0 && idx_shown[k] < n_miss &&
            !isnan(missing[idx_shown[k]]))
            imiss = k;
    }
    fprintf(out, "\n");
    for (int i = 0; i < nc; i++)
        if (grp[i])
            fprintf(out, "%12s ", names[i]);
    fprintf(out, "%6s %6s", "seeds", "done");
    for (int k = 0; k < n_shown; k++)
        fprintf(out, " %16s", shown[k]);
    fprintf(out, " %6s\n", "unfit");
    int printed = 0;
    for (hsize_t r = 0; r < n && printed < 200; r++) {
        if (used[r])
            continue;
        double sum[OP_RUNS_COLS_MAX] = {0}, sq[OP_RUNS_COLS_MAX] = {0};
        int cnt = 0, ndone = 0, nk[OP_RUNS_COLS_MAX] = {0}, never = 0;
        for (hsize_t q = r; q < n; q++) {
            int same = !used[q];
            for (int i = 0; i < nc && same; i++)
                if (grp[i])
                    same = col[(size_t)i * n + q] == col[(size_t)i * n + r];
            if (!same)
                continue;
            used[q] = 1;
            cnt++;
            if (ist >= 0 && col[(size_t)ist * n + q] != OP_RUN_DONE)
                continue;
            ndone++;
            for (int k = 0; k < n_shown; k++) {
                double v = idx_shown[k] >= 0
                               ? col[(size_t)idx_shown[k] * n + q] : NAN;
                if (k == imiss && v == missing[idx_shown[k]]) {
                    never++;
                    continue;
                }
                if (!isfinite(v))
                    continue;
                sum[k] += v;
                sq[k] += v * v;
                nk[k]++;
            }
        }
        for (int i = 0; i < nc; i++) {
            if (!grp[i])
                continue;
            double v = col[(size_t)i * n + r];
            const char *lab = NULL;
            int len = 0;
            for (int j = 0; labels[i] && j < nlab[i]; j++)
                if (codes[i][j] == v) {
                    lab = labels[i][j];
                    len = (int)strlen(lab);
                }
            if (lab)
                fprintf(out, "%12.*s ", len, lab);
            else
                fprintf(out, "%12.6g ", v);
        }
        fprintf(out, "%6d %6d", cnt, ndone);
        for (int k = 0; k < n_shown; k++) {
            if (nk[k] == 0) {
                fprintf(out, " %16s", "-");
                continue;
            }
            double m = sum[k] / nk[k];
            double sd = nk[k] > 1
                            ? sqrt(fmax(0, (sq[k] - nk[k] * m * m) / (nk[k] - 1)))
                            : 0;
            char b[64];
            if (nk[k] > 1 && sd > 0)
                snprintf(b, sizeof b, "%.4g±%.2g", m, sd);
            else
                snprintf(b, sizeof b, "%.4g", m);
            fprintf(out, " %16s", b);
        }
        fprintf(out, " %6d\n", never);
        printed++;
    }
    for (int i = 0; i < OP_RUNS_COLS_MAX; i++) {
        free(labels[i]);
        free(codes[i]);
    }
    free(roles);
    free(axes);
    free(missing);
    if (printed == 200)
        fprintf(out, "... (first 200 configurations shown)\n");
    /* Kernels, if any: test accuracy per ridge, the limit of the nets. */
    if (H5Lexists(f, "kernels", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "kernels", H5P_DEFAULT);
        H5G_info_t gi;
        if (g >= 0 && H5Gget_info(g, &gi) >= 0 && gi.nlinks > 0) {
            fprintf(out, "\nkernels   %llu in /kernels\n",
                    (unsigned long long)gi.nlinks);
            for (hsize_t i = 0; i < gi.nlinks; i++)
                print_kernel(g, i, out);
        }
        if (g >= 0)
            H5Gclose(g);
    }
    free(used);
    free(col);
    for (int i = 0; i < nc; i++)
        H5free_memory(names[i]);
    H5Dclose(d);
    H5Fclose(f);
    free(job_file);
    free(ver);
    free(rev);
    free(t0);
    free(t1);
    return OP_OK;
}

typedef struct {
    hid_t b;
    double ktol;
    FILE *out;
    long n_diff;
    long n_checked;
} compare_state;

static int same_value(double x, double y, double tol, double scale)
{
    if (x == y) /* also equal infinities */
        return 1;
    if (isnan(x) || isnan(y))
        return isnan(x) && isnan(y);
    return tol > 0 ? fabs(x - y) <= tol * scale : x == y;
}

static void compare_arrays(compare_state *cs, const char *what,
                           const double *x, const double *y, hsize_t n,
                           double tol)
{
    double scale = 0;
    for (hsize_t i = 0; i < n; i++)
        if (isfinite(x[i]) && fabs(x[i]) > scale)
            scale = fabs(x[i]);
    long shown = 0;
    for (hsize_t i = 0; i < n; i++) {
        cs->n_checked++;
        if (!same_value(x[i], y[i], tol, scale)) {
            if (shown++ < 3)
                fprintf(cs->out, "differs: %s[%llu]: %.17g vs %.17g\n", what,
                        (unsigned long long)i, x[i], y[i]);
            cs->n_diff++;
        }
    }
}

static herr_t compare_visit(hid_t a, const char *name, const H5O_info_t *info,
                            void *data)
{
    compare_state *cs = data;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    double tol = !strncmp(name, "kernels/", 8) ? cs->ktol : 0;
    hid_t da = H5Dopen2(a, name, H5P_DEFAULT);
    /* Timings and worker ranks are not results: the file's roles
     * (schema.h) name them. */
    char *role = op_h5_attr_read_string(da, "role");
    int timing = role && !strcmp(role, "timing");
    free(role);
    if (timing) {
        H5Dclose(da);
        return 0;
    }
    hid_t db = -1;
    H5E_BEGIN_TRY { db = H5Dopen2(cs->b, name, H5P_DEFAULT); }
    H5E_END_TRY;
    if (db < 0) {
        fprintf(cs->out, "differs: %s missing in the second archive\n", name);
        cs->n_diff++;
        H5Dclose(da);
        return 0;
    }
    hid_t sa = H5Dget_space(da), sb = H5Dget_space(db);
    hssize_t na = H5Sget_simple_extent_npoints(sa);
    hssize_t nb = H5Sget_simple_extent_npoints(sb);
    hid_t ta = H5Dget_type(da);
    H5T_class_t cls = H5Tget_class(ta);
    if (na != nb) {
        fprintf(cs->out, "differs: %s has %lld vs %lld elements\n", name,
                (long long)na, (long long)nb);
        cs->n_diff++;
    } else if (na > 0 && cls == H5T_COMPOUND) {
        double *x = OP_XMALLOC(sizeof(double) * (size_t)na);
        double *y = OP_XMALLOC(sizeof(double) * (size_t)na);
        int nm = H5Tget_nmembers(ta), nr = 0;
        char **roles = op_h5_attr_read_strings(da, "column_roles", &nr);
        for (int i = 0; i < nm; i++) {
            char *m = H5Tget_member_name(ta, (unsigned)i);
            const char *r = i < nr ? roles[i] : "";
            if (strcmp(r, "timing") && strcmp(r, "worker")) {
                char what[256];
                snprintf(what, sizeof what, "%s.%s", name, m);
                if (read_member(da, m, x) || read_member(db, m, y)) {
                    fprintf(cs->out, "differs: %s missing\n", what);
                    cs->n_diff++;
                } else {
                    compare_arrays(cs, what, x, y, (hsize_t)na, tol);
                }
            }
            H5free_memory(m);
        }
        free(roles);
        free(x);
        free(y);
    } else if (na > 0 && (cls == H5T_FLOAT || cls == H5T_INTEGER)) {
        double *x = OP_XMALLOC(sizeof(double) * (size_t)na);
        double *y = OP_XMALLOC(sizeof(double) * (size_t)na);
        if (H5Dread(da, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) <
                0 ||
            H5Dread(db, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) <
                0) {
            fprintf(cs->out, "differs: %s unreadable\n", name);
            cs->n_diff++;
        } else {
            compare_arrays(cs, name, x, y, (hsize_t)na, tol);
        }
        free(x);
        free(y);
    }
    H5Tclose(ta);
    H5Sclose(sa);
    H5Sclose(sb);
    H5Dclose(da);
    H5Dclose(db);
    return 0;
}

op_status op_archive_compare(const char *a, const char *b, double ktol,
                             FILE *out, long *n_diff)
{
    hid_t fa, fb;
    op_status s = open_archive_serial(a, &fa);
    if (s != OP_OK)
        return s;
    s = open_archive_serial(b, &fb);
    if (s != OP_OK) {
        H5Fclose(fa);
        return s;
    }
    compare_state cs = {fb, ktol, out, 0, 0};
    H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_NATIVE, compare_visit, &cs);
    /* Datasets only in b count too. */
    compare_state rev = {fa, ktol, fopen("/dev/null", "w"), 0, 0};
    H5Ovisit(fb, H5_INDEX_NAME, H5_ITER_NATIVE, compare_visit, &rev);
    if (rev.out)
        fclose(rev.out);
    if (rev.n_diff > cs.n_diff)
        cs.n_diff = rev.n_diff;
    fprintf(out, "compared %ld values: %ld differ\n", cs.n_checked, cs.n_diff);
    *n_diff = cs.n_diff;
    H5Fclose(fa);
    H5Fclose(fb);
    return OP_OK;
}
