/* journal.c — the archive's journal (see journal.h).
 *
 * Why a journal: HDF5 cannot promise a readable file after a kill in the
 * middle of a metadata write, and rows written through MPI-IO may sit in
 * buffers. The coordinator appends each finished result here (fixed-size
 * records with a CRC) before touching the HDF5 file; resume truncates a
 * torn last record, rebuilds the HDF5 file if it cannot be opened, and
 * replays every record. */
#include "overparam/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "overparam/fault.h"
#include "overparam/schema.h" /* OP_FORMAT_VERSION */

#define JOURNAL_MAGIC "OPJRNL01"
#define RECORD_MAGIC 0x4f505243u /* "OPRC" */
#define REC_RUN 1u
#define REC_KERNEL 2u

typedef struct {
    char magic[8];
    uint32_t format;
    uint32_t job_crc;
    int64_t n_runs;
    int64_t total;
    uint32_t row_size;
    uint32_t pad;
} journal_header;

static void header_make(const op_journal *j, journal_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, JOURNAL_MAGIC, 8);
    h->format = OP_FORMAT_VERSION;
    h->job_crc = (uint32_t)crc32(0L, (const Bytef *)j->job->text,
                                 (uInt)strlen(j->job->text));
    h->n_runs = j->job->n_runs;
    h->total = j->layout->total;
    h->row_size = sizeof(op_row);
}

size_t op_journal_header_bytes(void) { return sizeof(journal_header); }

void op_journal_init(op_journal *j, const char *archive, const op_job *job,
                     const op_layout *layout, int fsync)
{
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s.journal", archive);
    j->job = job;
    j->layout = layout;
    j->fsync = fsync;
    /* magic, kind, index, row, values, crc */
    j->rec_bytes = 4 + 4 + 8 + sizeof(op_row) +
                   sizeof(double) * (size_t)layout->total + 4;
    j->rec = OP_XMALLOC(j->rec_bytes);
}

void op_journal_free(op_journal *j)
{
    if (j->f)
        fclose(j->f);
    free(j->rec);
    free(j->buf);
    j->f = NULL;
    j->rec = j->buf = NULL;
    j->buf_cap = 0;
}

op_status op_journal_open_append(op_journal *j, int fresh)
{
    j->f = fopen(j->path, fresh ? "wb" : "ab");
    if (!j->f)
        return op_error(OP_ERR_IO, "%s: cannot open journal: %s", j->path,
                        strerror(errno));
    if (fresh) {
        journal_header h;
        header_make(j, &h);
        if (fwrite(&h, sizeof h, 1, j->f) != 1 || fflush(j->f) != 0)
            return op_error(OP_ERR_IO, "%s: cannot write journal: %s",
                            j->path, strerror(errno));
    }
    return OP_OK;
}

/* One record at p: magic, kind, index, the result (zeros without one),
 * CRC of everything between magic and CRC. */
static void encode(const op_journal *j, unsigned char *p, uint32_t kind,
                   int64_t index, const op_result *res)
{
    uint32_t magic = RECORD_MAGIC;
    memset(p, 0, j->rec_bytes);
    memcpy(p, &magic, 4);
    memcpy(p + 4, &kind, 4);
    memcpy(p + 8, &index, 8);
    if (res) {
        memcpy(p + 16, &res->row, sizeof(op_row));
        memcpy(p + 16 + sizeof(op_row), res->values,
               sizeof(double) * (size_t)j->layout->total);
    }
    uint32_t crc = (uint32_t)crc32(0L, p + 4, (uInt)(j->rec_bytes - 8));
    memcpy(p + j->rec_bytes - 4, &crc, 4);
}

/* Appends n encoded records with one write: a batch of results costs one
 * system call, not one per result. A kill inside the write leaves whole
 * records and at most one torn one, which replay cuts off. */
static op_status write_records(op_journal *j, const unsigned char *p,
                               size_t n)
{
    /* write(2) on the stream's descriptor (its buffer is always empty
     * here: every write through it is flushed): stdio would split a batch
     * larger than its buffer into several system calls. */
    int fd = fileno(j->f);
    size_t left = j->rec_bytes * n;
    while (left > 0) {
        ssize_t w = op_fault_fails("full") ? (errno = ENOSPC, -1)
                                           : write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return op_error(OP_ERR_IO, "%s: cannot append to journal: %s",
                            j->path, w < 0 ? strerror(errno) : "no space");
        p += w;
        left -= (size_t)w;
    }
    if (j->fsync)
        fsync(fileno(j->f));
    return OP_OK;
}

op_status op_journal_append_runs(op_journal *j, const op_result *res, int n)
{
    if ((size_t)n > j->buf_cap) {
        free(j->buf);
        j->buf = OP_XMALLOC(j->rec_bytes * (size_t)n);
        j->buf_cap = (size_t)n;
    }
    for (int i = 0; i < n; i++)
        encode(j, j->buf + j->rec_bytes * (size_t)i, REC_RUN, res[i].row.run,
               &res[i]);
    return write_records(j, j->buf, (size_t)n);
}

op_status op_journal_append_kernel(op_journal *j, int index)
{
    encode(j, j->rec, REC_KERNEL, index, NULL);
    return write_records(j, j->rec, 1);
}

op_status op_journal_replay(op_journal *j, unsigned char *done,
                            unsigned char *done_kernels, int n_kernels,
                            op_journal_run_fn fn, void *ctx,
                            long *n_replayed)
{
    *n_replayed = 0;
    FILE *f = fopen(j->path, "rb");
    if (!f)
        return OP_OK; /* no journal: nothing finished yet */
    journal_header want, got;
    header_make(j, &want);
    if (fread(&got, sizeof got, 1, f) != 1) {
        fclose(f); /* torn header: the journal held nothing */
        return OP_OK;
    }
    if (memcmp(got.magic, JOURNAL_MAGIC, 8) != 0) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: not an overparam journal",
                        j->path);
    }
    if (got.format != want.format || got.job_crc != want.job_crc ||
        got.n_runs != want.n_runs || got.total != want.total ||
        got.row_size != want.row_size) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: journal of a different job or "
                        "program version (runs %lld vs %lld); use --force to "
                        "start over", j->path, (long long)got.n_runs,
                        (long long)want.n_runs);
    }
    op_result res;
    res.values = (double *)(j->rec + 16 + sizeof(op_row));
    /* Records are fixed-size and self-checking: a bad one (a flipped bit,
     * a sector lost) is skipped and reported, the records after it kept.
     * Only the tail is cut: a partial record, or bad records with no good
     * one after them (a kill mid-append). Kernel records are accepted on
     * every pass, with or without a buffer to mark them in: stopping at
     * the first one would cut every later record off the journal. */
    long good_end = (long)sizeof got, pos = (long)sizeof got, bad = 0;
    long bad_after_good = 0;
    while (fread(j->rec, j->rec_bytes, 1, f) == 1) {
        pos += (long)j->rec_bytes;
        uint32_t magic, kind, crc;
        int64_t index;
        memcpy(&magic, j->rec, 4);
        memcpy(&kind, j->rec + 4, 4);
        memcpy(&index, j->rec + 8, 8);
        memcpy(&crc, j->rec + j->rec_bytes - 4, 4);
        int ok = magic == RECORD_MAGIC &&
                 crc == (uint32_t)crc32(0L, j->rec + 4,
                                        (uInt)(j->rec_bytes - 8));
        if (ok && kind == REC_RUN && index >= 0 && index < j->job->n_runs) {
            done[index] = 1;
            if (fn) {
                /* res.values points into the record itself: fn copies it
                 * before the next read. */
                memcpy(&res.row, j->rec + 16, sizeof(op_row));
                op_status s = fn(ctx, &res);
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
    if (bad_after_good > 0 && fn)
        fprintf(stderr, "overparam: %s: %ld corrupt journal record%s "
                "skipped (their runs are recomputed unless /runs holds "
                "them); every other record kept\n", j->path,
                bad_after_good, bad_after_good == 1 ? "" : "s");
    fclose(f);
    /* The replayed runs in the HDF5 file before anything else happens. */
    if (fn) {
        op_status s = fn(ctx, NULL);
        if (s != OP_OK)
            return s;
    }
    /* Cut a torn tail so later appends start on a record boundary. */
    if (truncate(j->path, good_end) != 0)
        return op_error(OP_ERR_IO, "%s: cannot truncate journal: %s",
                        j->path, strerror(errno));
    return OP_OK;
}

int op_journal_probe(const char *path)
{
    char magic[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(magic, 1, 8, f);
    fclose(f);
    if (n == 0)
        return 0;
    return n == 8 && !memcmp(magic, JOURNAL_MAGIC, 8) ? 1 : -1;
}
