/* stage.c — finished results waiting for their batched HDF5 write (see
 * stage.h).
 *
 * Why batches: per result, the HDF5 and MPI-IO calls (a selection and an
 * H5Dwrite per dataset) cost the coordinator ~40 us, more than the bytes;
 * the journal already makes the result durable, so the HDF5 part waits in
 * a staging buffer and goes out as one H5Dwrite per dataset for many
 * results (op_stage_flush). */
#include "overparam/stage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/fault.h"

#define H5HINT "check the archive path, free disk space and file locking " \
               "(HDF5_USE_FILE_LOCKING=FALSE on parallel file systems)"

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

double op_stage_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t stage_value_bytes(const op_stage *st)
{
    return sizeof(double) * (size_t)st->layout->total;
}

/* Where field i of staged slot j lives. */
static double *stage_field(const op_stage *st, int i, int j)
{
    const op_field *f = &st->layout->f[i];
    return st->values + (size_t)st->cap * (size_t)f->offset +
           (size_t)j * (size_t)f->size;
}

/* Sizes and allocates the staging buffers, once, at open. */
void op_stage_alloc(op_stage *st, const op_job *job, const op_layout *layout,
                    const op_runs_schema *rs)
{
    memset(st, 0, sizeof *st);
    st->job = job;
    st->layout = layout;
    st->rs = rs;
    st->runs = st->row_type = -1;
    size_t vbytes = stage_value_bytes(st);
    size_t per = st->rs->row_bytes + vbytes;
    size_t cap = STAGE_BYTES / per;
    st->cap = cap < 1 ? 1 : cap > STAGE_RESULTS ? STAGE_RESULTS : (int)cap;
    st->n = 0;
    size_t c = (size_t)st->cap;
    st->run = OP_XMALLOC(sizeof(long) * c);
    st->rows = OP_XMALLOC(st->rs->row_bytes * c);
    st->values = OP_XMALLOC(vbytes * c);
    st->key = OP_XMALLOC(sizeof(struct stage_key) * c);
    st->from = OP_XMALLOC(sizeof(int) * c);
    st->moved = OP_XMALLOC(c);
    st->tmp = OP_XMALLOC(vbytes > st->rs->row_bytes ? vbytes : st->rs->row_bytes);
    size_t widest = st->rs->row_bytes;
    for (int i = 0; i < st->layout->n; i++)
        if (sizeof(double) * (size_t)st->layout->f[i].size > widest)
            widest = sizeof(double) * (size_t)st->layout->f[i].size;
    st->gap_bytes = widest * (size_t)st->job->n_runs;
    if (st->gap_bytes > STAGE_BYTES)
        st->gap_bytes = STAGE_BYTES;
    st->gap = OP_XMALLOC(st->gap_bytes);
}

void op_stage_free(op_stage *st)
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
static void stage_write(op_stage *st, hid_t dset, hid_t mtype,
                        hsize_t elems, size_t width, const void *buf, int m,
                        int blocks)
{
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
op_status op_stage_flush(op_stage *st)
{
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
    permute_slots(st->rows, st->rs->row_bytes, st->from, n, st->tmp, st->moved);
    for (int i = 0; i < st->layout->n; i++)
        permute_slots((unsigned char *)stage_field(st, i, 0),
                      sizeof(double) * (size_t)st->layout->f[i].size,
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
     * has no record (archive.c's recover_rows). */
    for (int i = 0; i < st->layout->n; i++) {
        const op_field *f = &st->layout->f[i];
        stage_write(st, st->fields[i], H5T_NATIVE_DOUBLE, (hsize_t)f->size,
                    sizeof(double) * (size_t)f->size, stage_field(st, i, 0),
                    m, blocks);
    }
    for (int j = 0; j < m; j++) /* one hit per run, as the kill tests count */
        op_fault_point("arrays");
    stage_write(st, st->runs, st->row_type, 1, st->rs->row_bytes, st->rows, m,
                blocks);
    for (int j = 0; j < m; j++)
        op_fault_point("row");
    st->n = 0;
    return OP_OK;
}

/* Stages one result (its journal record is already written); flushes when
 * the buffer is full or the oldest staged result has waited STAGE_AGE. */
op_status op_stage_put(op_stage *st, const op_result *res)
{
    double t = op_stage_clock();
    if (st->n == 0)
        st->since = t;
    int j = st->n++;
    st->run[j] = res->row.run;
    unsigned char *row = st->rows + (size_t)j * st->rs->row_bytes;
    op_runs_pack(st->rs, st->job, res->row.run, &res->row, row);
    const double *field[OP_FIELDS_MAX];
    for (int i = 0; i < st->layout->n; i++) {
        const op_field *f = &st->layout->f[i];
        memcpy(stage_field(st, i, j), res->values + f->offset,
               sizeof(double) * (size_t)f->size);
        field[i] = res->values + f->offset;
    }
    op_runs_set_crc(st->rs, row,
                    op_runs_crc(st->rs, st->layout, row, field));
    if (st->n == st->cap || t - st->since >= STAGE_AGE)
        return op_stage_flush(st);
    return OP_OK;
}

void op_stage_bind(op_stage *st, hid_t runs, hid_t row_type,
                   const hid_t *fields)
{
    st->runs = runs;
    st->row_type = row_type;
    st->fields = fields;
}

op_status op_stage_poll(op_stage *st, int *flushed)
{
    *flushed = 0;
    if (st->n == 0 || op_stage_clock() - st->since < STAGE_AGE)
        return OP_OK;
    *flushed = 1;
    return op_stage_flush(st);
}
