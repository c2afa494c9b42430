/* archive.c — the parallel HDF5 archive: open, create (its layout),
 * resume, and the coordinator's put/poll/flush/close (see archive.h for
 * the layout and the contract). It composes three parts, each with state
 * of its own: the journal (journal.h: durability first), the stage
 * (stage.h: batched HDF5 writes) and the /runs schema (schema.h). The
 * journal's replay hands runs back through a callback that stages them,
 * so neither part knows the archive. All metadata is created and flushed
 * collectively at open, so afterwards a row write is raw data only.
 * Reading for info and compare: archive_read.c. */
#include "overparam/archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "overparam/blas.h"
#include "overparam/fault.h"
#include "overparam/h5attr.h"
#include "overparam/journal.h"
#include "overparam/stage.h"
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

#define H5HINT "check the archive path, free disk space and file locking " \
               "(HDF5_USE_FILE_LOCKING=FALSE on parallel file systems)"

struct op_archive {
    MPI_Comm comm;
    int rank;
    char path[OP_PATH_MAX];
    const char *jpath;   /* jn.path */
    const op_job *job;
    const op_layout *layout;
    hid_t file;
    hid_t runs;          /* /runs dataset */
    hid_t row_type;      /* memory compound type */
    hid_t fields[OP_FIELDS_MAX];
    op_runs_schema rs;   /* the columns of /runs (schema.h) */
    op_stage st;         /* rank 0: results journaled, not yet in HDF5 */
    op_journal jn;       /* rank 0: PATH.journal */
    double seconds;          /* rank 0: time in put, poll's writes and the
                                staged tail's write in flush */
    double sync_seconds;     /* H5Fflush in op_archive_flush (a per-job
                                fixed cost: metadata and an fsync) */
    int jbroken;         /* rank 0: a journal write failed (disk full):
                            results go to /runs only from then on */
    long unjournaled;    /* results written with no journal record */
    char jerr[512];      /* why the journal write failed */
    int lock_fd;         /* rank 0: flock on PATH.lock while open */
    long resumed_journal; /* rank 0: finished runs kept from the journal */
    long resumed_rows;    /* and from /runs rows the journal lacked */
    char lpath[OP_PATH_MAX + 16];
    int file_lock_fd;    /* rank 0: OFD write lock on the archive file
                            itself (its inode, whatever name reaches it) */
};

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
        if (op_fault_fails("layoutfull"))                                       \
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
    /* The key table of the program that wrote the archive (`overparam
     * keys`): a reader takes the defaults of the keys the job text leaves
     * out from the file itself, not from whatever binary it finds. */
    char *keys = NULL;
    size_t keys_len = 0;
    FILE *kf = open_memstream(&keys, &keys_len);
    if (kf) {
        op_job_print_keys(kf);
        if (fclose(kf) == 0)
            op_h5_attr_string(root, "job_keys", keys);
    }
    free(keys);
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

    hid_t grid = op_h5_group_create(root, "grid");
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
    hid_t groups[2] = {op_h5_group_create(root, "curves"), op_h5_group_create(root, "measures")};
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
                      : op_h5_group_create(root, f->group);
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
    hid_t k = op_h5_group_create(root, "kernels");
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
    OP_MPI_CHECK(MPI_Bcast(&v, op_fault_fails("mpi") ? -1 : 1, MPI_INT, 0,
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
 * arrays as they are in the file now (the stage writes a batch's arrays
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
            read_run_arrays(ar, r, vals);
            if ((int64_t)op_runs_crc(&ar->rs, ar->layout, row, field) == crc) {
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
op_status op_archive_check_regular(const char *p)
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
    hid_t f = op_h5_open_readonly(ar->path);
    char *prog = f >= 0 ? op_h5_attr_read_string(f, "program") : NULL;
    int ours = prog && !strcmp(prog, "overparam");
    free(prog);
    if (f >= 0)
        H5Fclose(f);
    if (!ours)
        ours = op_journal_probe(ar->jpath) == 1;
    if (!ours)
        return op_error(OP_ERR_INPUT, "%s: not an overparam archive; --force "
                        "replaces only overparam archives (or empty files)",
                        ar->path);
    return OP_OK;
}

/* The same for the journal --force removes: ours (its magic), or empty. */
static op_status check_journal_replaceable(const op_archive *ar)
{
    if (op_journal_probe(ar->jpath) >= 0)
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
                          n * (double)ar->jn.rec_bytes) +
                  1048576.0;
    if (need > avail)
        return op_error(OP_ERR_INPUT, "%s: the archive and its journal need "
                        "about %.3g MB but %s has %.3g MB free (ENOSPC ahead); "
                        "free space, choose another -o or save fewer values",
                        ar->path, need / 1e6, dir, avail / 1e6);
    return OP_OK;
}

/* The journal's replay stages each run it holds; NULL: all handed over,
 * write them to the file before anything else happens. */
static op_status replay_run(void *ctx, const op_result *res)
{
    op_archive *ar = ctx;
    return res ? op_stage_put(&ar->st, res) : op_stage_flush(&ar->st);
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
    ar->job = job;
    ar->layout = layout;
    ar->file = -1;
    op_runs_build(job, &ar->rs);
    ar->row_type = op_runs_type(&ar->rs);
    if (ar->rank == 0) /* only the coordinator writes results */
        op_stage_alloc(&ar->st, job, layout, &ar->rs);
    op_journal_init(&ar->jn, ar->path, job, layout, job->base.output.fsync);
    ar->jpath = ar->jn.path;
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
        s = op_archive_check_regular(ar->path);
    if (ar->rank == 0 && s == OP_OK)
        s = op_archive_check_regular(ar->jpath);
    if (ar->rank == 0 && s == OP_OK) /* a FIFO here would block the open */
        s = op_archive_check_regular(ar->lpath);
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
            s = op_journal_replay(&ar->jn, tmp, NULL, 0, NULL, NULL, &n);
            free(tmp);
        }
        /* The journal exists before the layout is written: a kill or a
         * full disk during creation leaves a journal, so --resume knows
         * the half-made file as ours and rebuilds it. */
        if (s == OP_OK && act == ACT_CREATE)
            s = op_journal_open_append(&ar->jn, 1);
    }
    s = bcast_status(ar, s);
    int a = (int)act;
    OP_MPI_CHECK(MPI_Bcast(&a, 1, MPI_INT, 0, comm), "archive action");
    act = a;
    if (s != OP_OK) {
        op_journal_free(&ar->jn);
        release_lock(ar);
        H5Tclose(ar->row_type);
        op_stage_free(&ar->st);
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
        op_fault_point("layout");
    if (act == ACT_OPEN)
        open_layout(ar);
    else
        create_layout(ar);
    if (ar->rank == 0)
        op_stage_bind(&ar->st, ar->runs, ar->row_type, ar->fields);

    long replayed = 0, recovered = 0, bad_rows = 0;
    if (ar->rank == 0) {
        if (act != ACT_CREATE) {
            s = op_journal_replay(&ar->jn, done, done_kernels, n_kernels,
                                  replay_run, ar, &replayed);
            if (s == OP_OK && act == ACT_OPEN)
                recovered = recover_rows(ar, done, &bad_rows);
            if (s == OP_OK)
            {
                /* A journal torn inside its header holds nothing: restart
                 * it rather than append records to a headless file. */
                struct stat sb;
                int fresh = stat(ar->jpath, &sb) != 0 ||
                            sb.st_size < (off_t)op_journal_header_bytes();
                s = op_journal_open_append(&ar->jn, fresh);
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
        op_fault_point("create");
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
    ar->resumed_journal = replayed;
    ar->resumed_rows = recovered;
    *out = ar;
    return OP_OK;
}

void op_archive_report_resumed(const op_archive *ar, FILE *out)
{
    if (ar->rank == 0 && ar->resumed_journal + ar->resumed_rows > 0)
        fprintf(out, "overparam: resumed %s: %ld finished runs kept (%ld "
                "from the journal %s, %ld from /runs rows the journal "
                "lacked)\n", ar->path, ar->resumed_journal + ar->resumed_rows,
                ar->resumed_journal, ar->jpath, ar->resumed_rows);
}

/* ---- writing --------------------------------------------------------- */

static op_status put_n(op_archive *ar, const op_result *res, int n)
{
    op_status s = ar->jbroken ? OP_ERR_IO
                              : op_journal_append_runs(&ar->jn, res, n);
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
            op_fault_point("journal");
    else
        ar->unjournaled += n;
    op_status sp = OP_OK;
    for (int j = 0; j < n && sp == OP_OK; j++)
        sp = op_stage_put(&ar->st, &res[j]);
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
    double t0 = op_stage_clock();
    op_status s = put_n(ar, res, n);
    ar->seconds += op_stage_clock() - t0;
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
    double t0 = op_stage_clock();
    int flushed;
    op_status s = op_stage_poll(&ar->st, &flushed);
    if (flushed)
        ar->seconds += op_stage_clock() - t0;
    return s;
}

op_status op_archive_put_kernel(op_archive *ar, int index)
{
    return op_journal_append_kernel(&ar->jn, index);
}

op_status op_archive_flush(op_archive *ar)
{
    /* Staged results first (rank 0), then the collective flush: every rank
     * must reach H5Fflush whatever the coordinator's outcome. */
    double t0 = op_stage_clock();
    op_status s = op_stage_flush(&ar->st);
    double t1 = op_stage_clock();
    OP_H5_CHECK(H5Fflush(ar->file, H5F_SCOPE_GLOBAL), H5HINT);
    ar->seconds += t1 - t0;
    ar->sync_seconds += op_stage_clock() - t1;
    return s;
}

op_status op_archive_close(op_archive *ar)
{
    /* Every staged result reaches the file before it closes, on every path
     * that closes it (end, stop, error). */
    op_status s = op_stage_flush(&ar->st);
    char stamp[32];
    now_string(ar->comm, stamp, sizeof stamp);
    if (ar->rank == 0)
        op_fault_point("close");
    op_h5_attr_string(ar->file, "end_time", stamp);
    for (int i = 0; i < ar->layout->n; i++)
        H5Dclose(ar->fields[i]);
    H5Dclose(ar->runs);
    H5Tclose(ar->row_type);
    OP_H5_CHECK(H5Fclose(ar->file), H5HINT);
    op_journal_free(&ar->jn);
    release_lock(ar);
    op_stage_free(&ar->st);
    free(ar);
    return s;
}

hid_t op_archive_file(const op_archive *ar) { return ar->file; }

