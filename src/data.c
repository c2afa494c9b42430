/* data.c — the data sets of a run: gzipped IDX files (Fashion-MNIST),
 * synthetic sets (Gaussian, sphere, sines, random teacher for regression or
 * classification), the user's own set (source = file: an HDF5 file or a
 * directory of .npy files), label noise and
 * Zhang et al.'s corruptions, standardization and ZCA whitening.
 *
 * Contract (see data.h): every function returns an op_status and leaves a
 * message naming the file and the problem; no input file can crash the
 * program. Sizes that a job file controls are allocated with malloc and a
 * refusal is OP_ERR_NOMEM (never an abort). Randomness comes only from
 * op_rng_derive streams:
 *   (seed, OP_STREAM_DATA, 0, 0)  train subset / synthetic train inputs
 *   (seed, OP_STREAM_DATA, 1, 0)  test subset / synthetic test inputs
 *   (seed, OP_STREAM_DATA, 2, 0)  teacher network weights
 *   (seed, OP_STREAM_NOISE, seed_index, 0)  label noise
 *   (seed, OP_STREAM_NOISE, seed_index, 1)  corruptions
 * so the clean data are identical for every run of a job and the noisy
 * labels are shared by every width of one seed. */
#include "overparam/data.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <hdf5.h>

#include "overparam/rng.h"

/* LAPACK symmetric eigensolver (divide and conquer), Fortran interface.
 * The trailing lengths are the hidden CHARACTER arguments gfortran passes;
 * giving them is harmless where the library ignores them. */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
             const int *lda, double *w, double *work, const int *lwork,
             int *iwork, const int *liwork, int *info, size_t jobz_len,
             size_t uplo_len);

/* ---- IDX files -------------------------------------------------------- */

/* Largest body accepted: far above any IDX data set, small enough that the
 * product of four 32-bit dimensions is checked before it can overflow. */
#define OP_IDX_MAX_BYTES (1L << 36)

/* Reads up to `want` bytes; *got is what arrived. A gzip error (corrupted
 * stream, I/O error, stream cut short) is OP_ERR_INPUT naming `path`. */
static op_status op_idx_gzread(gzFile gz, const char *path, uint8_t *buf,
                               size_t want, size_t *got)
{
    *got = 0;
    while (*got < want) {
        size_t chunk = want - *got;
        if (chunk > (1u << 30)) /* gzread takes an unsigned, returns int */
            chunk = 1u << 30;
        int r = gzread(gz, buf + *got, (unsigned)chunk);
        if (r < 0) {
            int errnum;
            const char *msg = gzerror(gz, &errnum);
            if (errnum == Z_ERRNO) /* the read itself failed (a directory) */
                return op_error(OP_ERR_INPUT, "%s: read error (%s)", path,
                                strerror(errno));
            return op_error(OP_ERR_INPUT, "%s: corrupted gzip stream (%s)",
                            path, msg);
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    if (*got < want) {
        /* zlib reports a gzip member cut short only through gzerror. */
        int errnum;
        const char *msg = gzerror(gz, &errnum);
        if (errnum != Z_OK)
            return op_error(OP_ERR_INPUT,
                            "%s: corrupted or truncated gzip stream (%s)",
                            path, msg);
    }
    return OP_OK;
}

static void op_idx_dims_text(const op_idx *idx, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < idx->ndim && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%d", i ? "x" : "",
                         idx->dims[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* The body of op_idx_read, with `gz` open; the caller closes it. */
static op_status op_idx_read_open(gzFile gz, const char *path, op_idx *out)
{
    uint8_t head[4];
    size_t got;
    op_status s = op_idx_gzread(gz, path, head, 4, &got);
    if (s != OP_OK)
        return s;
    if (got < 4)
        return op_error(OP_ERR_INPUT,
                        "%s: %zu bytes, too short for an IDX header", path,
                        got);
    if (head[0] != 0 || head[1] != 0 || head[2] != 0x08)
        return op_error(OP_ERR_INPUT,
                        "%s: bad IDX magic %02x %02x %02x %02x (expected 00 "
                        "00 08 NDIM: unsigned-byte IDX)",
                        path, head[0], head[1], head[2], head[3]);
    if (head[3] < 1 || head[3] > 4)
        return op_error(OP_ERR_INPUT,
                        "%s: IDX header has %d dimensions (allowed: 1 to 4)",
                        path, head[3]);
    out->ndim = head[3];

    uint8_t dimbuf[16];
    size_t dlen = 4u * (size_t)out->ndim;
    s = op_idx_gzread(gz, path, dimbuf, dlen, &got);
    if (s != OP_OK)
        return s;
    if (got < dlen)
        return op_error(OP_ERR_INPUT,
                        "%s: IDX header truncated (%d dimensions need %zu "
                        "bytes, file holds %zu)",
                        path, out->ndim, dlen, got);
    uint64_t prod = 1;
    for (int i = 0; i < out->ndim; i++) {
        const uint8_t *p = dimbuf + 4 * i;
        uint64_t v = ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) |
                     ((uint64_t)p[2] << 8) | (uint64_t)p[3];
        if (v > INT_MAX)
            return op_error(OP_ERR_INPUT,
                            "%s: IDX dimension %d is %llu (too large)", path,
                            i, (unsigned long long)v);
        out->dims[i] = (int)v;
        /* Both factors are below 2^36 and 2^31 here, so no overflow. */
        prod *= v;
        if (prod > (uint64_t)OP_IDX_MAX_BYTES)
            return op_error(OP_ERR_INPUT,
                            "%s: IDX dimensions overflow: the product exceeds "
                            "%ld bytes",
                            path, OP_IDX_MAX_BYTES);
    }
    out->count = (long)prod;
    char dims[128];
    op_idx_dims_text(out, dims, sizeof dims);

    /* Grow the buffer with the bytes actually present, so a header that
     * claims gigabytes does not make us allocate them for a tiny file. */
    size_t want = (size_t)prod, cap = want < (1u << 20) ? want : (1u << 20);
    uint8_t *data = malloc(cap ? cap : 1);
    if (!data)
        return op_error(OP_ERR_NOMEM, "%s: no memory for %zu bytes", path,
                        cap);
    size_t have = 0;
    for (;;) {
        s = op_idx_gzread(gz, path, data + have, cap - have, &got);
        have += got;
        if (s != OP_OK) {
            free(data);
            return s;
        }
        if (have < cap || cap == want)
            break;
        size_t ncap = cap * 2 < want ? cap * 2 : want;
        uint8_t *nd = realloc(data, ncap);
        if (!nd) {
            free(data);
            return op_error(OP_ERR_NOMEM, "%s: no memory for %zu bytes",
                            path, ncap);
        }
        data = nd;
        cap = ncap;
    }
    if (have < want) {
        free(data);
        return op_error(OP_ERR_INPUT,
                        "%s: truncated: header says %s = %zu bytes, file "
                        "holds %zu",
                        path, dims, want, have);
    }
    /* Count what follows the body, to name the amount of garbage. */
    uint8_t scratch[4096];
    size_t extra = 0;
    do {
        s = op_idx_gzread(gz, path, scratch, sizeof scratch, &got);
        extra += got;
    } while (s == OP_OK && got == sizeof scratch);
    if (s != OP_OK) {
        free(data);
        return s;
    }
    if (extra > 0) {
        free(data);
        return op_error(OP_ERR_INPUT,
                        "%s: trailing garbage: header says %s = %zu bytes, "
                        "file holds %zu more",
                        path, dims, want, extra);
    }
    out->data = data;
    return OP_OK;
}

op_status op_idx_read(const char *path, op_idx *out)
{
    memset(out, 0, sizeof *out);
    /* A FIFO or device would block the read forever: regular files only. */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return op_error(OP_ERR_INPUT, "%s: not a regular file", path);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return op_error(OP_ERR_INPUT, "%s: cannot open (%s)", path,
                        errno ? strerror(errno) : "out of memory");
    op_status s = op_idx_read_open(gz, path, out);
    int rc = gzclose(gz);
    if (s == OP_OK && rc != Z_OK) {
        /* gzclose reports a gzip member that ended mid-stream. */
        op_idx_free(out);
        return op_error(OP_ERR_INPUT, "%s: corrupted or truncated gzip "
                        "stream (gzclose: %d)", path, rc);
    }
    if (s != OP_OK)
        op_idx_free(out);
    return s;
}

void op_idx_free(op_idx *idx)
{
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* ---- data set storage -------------------------------------------------- */

op_status op_data_alloc(op_dataset *ds, int n, int d, int k)
{
    memset(ds, 0, sizeof *ds);
    if (n < 0 || d < 0 || k < 0)
        return op_error(OP_ERR_INTERNAL, "op_data_alloc: n=%d d=%d k=%d", n,
                        d, k);
    /* One block: x[n][d] doubles, then y[n][k] doubles, then label[n] ints,
     * so the doubles stay aligned and a copy is one memcpy. */
    size_t nx = (size_t)n * (size_t)d, ny = (size_t)n * (size_t)k;
    if (d && nx / (size_t)d != (size_t)n)
        return op_error(OP_ERR_NOMEM, "data set %d x %d: size overflows", n,
                        d);
    size_t bytes = (nx + ny) * sizeof(double) + (size_t)n * sizeof(int);
    void *block = malloc(bytes ? bytes : 1);
    if (!block)
        return op_error(OP_ERR_NOMEM,
                        "data set %d x %d (+%d outputs): no memory for %zu "
                        "bytes",
                        n, d, k, bytes);
    ds->n = n;
    ds->d = d;
    ds->k = k;
    ds->block_ = block;
    ds->x = block;
    ds->y = ds->x + nx;
    ds->label = (int *)(ds->y + ny);
    ds->side = 0;
    return OP_OK;
}

void op_data_free(op_dataset *ds)
{
    free(ds->block_);
    memset(ds, 0, sizeof *ds);
}

static size_t op_data_bytes(const op_dataset *ds)
{
    return ((size_t)ds->n * (size_t)ds->d + (size_t)ds->n * (size_t)ds->k) *
               sizeof(double) +
           (size_t)ds->n * sizeof(int);
}

/* y[i] from label[i]: one-hot for k >= 2, +-1 for k == 1 (label 1 -> +1). */
static void op_data_set_target(op_dataset *ds, int i)
{
    double *y = ds->y + (size_t)i * (size_t)ds->k;
    if (ds->k == 1) {
        y[0] = ds->label[i] == 1 ? 1.0 : -1.0;
        return;
    }
    for (int c = 0; c < ds->k; c++)
        y[c] = 0.0;
    y[ds->label[i]] = 1.0;
}

void op_data_shape(const op_config *cfg, int *d_in, int *k_out)
{
    const op_data_cfg *dc = &cfg->data;
    switch (dc->source) {
    case OP_SRC_FASHION_MNIST: {
        int f = dc->downsample > 0 ? dc->downsample : 1;
        int side = 28 / f;
        *d_in = side * side;
        *k_out = 10;
        break;
    }
    case OP_SRC_GAUSSIAN:
    case OP_SRC_SPHERE:
    case OP_SRC_TEACHER_CLASS:
        *d_in = dc->dim;
        *k_out = dc->classes >= 2 ? dc->classes : 1;
        break;
    case OP_SRC_SINES:
        *d_in = 1;
        *k_out = 1;
        break;
    case OP_SRC_FILE: {
        int f = dc->downsample > 0 ? dc->downsample : 1;
        if (dc->n_shape >= 2) {
            *d_in = (dc->shape[0] / f) * (dc->shape[1] / f) *
                    (dc->n_shape == 3 ? dc->shape[2] : 1);
        } else {
            *d_in = dc->dim;
        }
        *k_out = dc->classes >= 2 || dc->regression ? dc->classes : 1;
        break;
    }
    case OP_SRC_TEACHER:
    default:
        *d_in = dc->dim;
        *k_out = 1;
        break;
    }
}

/* Per-feature mean and variance of x[n][d] (population variance). */
static void op_data_moments(const op_dataset *ds, double *mean, double *var)
{
    int n = ds->n, d = ds->d;
    for (int j = 0; j < d; j++)
        mean[j] = var[j] = 0.0;
    for (int i = 0; i < n; i++) {
        const double *x = ds->x + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++)
            mean[j] += x[j];
    }
    for (int j = 0; j < d; j++)
        mean[j] /= n > 0 ? n : 1;
    for (int i = 0; i < n; i++) {
        const double *x = ds->x + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++) {
            double t = x[j] - mean[j];
            var[j] += t * t;
        }
    }
    for (int j = 0; j < d; j++)
        var[j] /= n > 0 ? n : 1;
}

/* Zero mean, unit variance per feature with the train statistics applied to
 * both sets (the test set must not leak into preprocessing).
 *
 * Variance floor: a pixel that is almost constant on the training subset
 * (var ~ 1e-6, one stray stroke among n images) would get a scale of ~1e3
 * and dominate every inner product; on another subset the same pixel is
 * harmless, so test errors jumped by 50x between `[job] seed` values (a
 * preprocessing artifact, not a model effect). Each feature's variance is
 * therefore floored at OP_DATA_VAR_FLOOR times the mean feature variance:
 * ordinary pixels are unaffected, near-constant ones are scaled no more
 * than 1/sqrt(floor) times an average pixel, constant ones only centered. */
#define OP_DATA_VAR_FLOOR 0.1
static op_status op_data_standardize(op_dataset *train, op_dataset *test)
{
    int d = train->d;
    double *mean = malloc(2 * (size_t)d * sizeof(double));
    if (!mean)
        return op_error(OP_ERR_NOMEM, "standardize: no memory for d = %d", d);
    double *scale = mean + d;
    op_data_moments(train, mean, scale);
    double mean_var = 0.0;
    for (int j = 0; j < d; j++)
        mean_var += scale[j];
    mean_var /= d > 0 ? d : 1;
    double floor_var = OP_DATA_VAR_FLOOR * mean_var;
    for (int j = 0; j < d; j++) {
        double v = scale[j] > floor_var ? scale[j] : floor_var;
        scale[j] = v > 1e-12 ? 1.0 / sqrt(v) : 1.0;
    }
    op_dataset *sets[2] = {train, test};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->n; i++) {
            double *x = sets[s]->x + (size_t)i * (size_t)d;
            for (int j = 0; j < d; j++)
                x[j] = (x[j] - mean[j]) * scale[j];
        }
    free(mean);
    return OP_OK;
}

/* ---- Fashion-MNIST ----------------------------------------------------- */

/* Decoded files of the last directory loaded: a sweep loads the same files
 * for every data configuration, and gunzipping 26 MB each time would cost
 * more than a small run. Not thread-safe (one loader per process). */
static struct {
    int valid;
    char dir[OP_PATH_MAX];
    op_idx images[2], labels[2]; /* [0] train, [1] test (t10k) */
} op_data_fmnist_cache;

void op_data_cache_clear(void)
{
    for (int s = 0; s < 2; s++) {
        op_idx_free(&op_data_fmnist_cache.images[s]);
        op_idx_free(&op_data_fmnist_cache.labels[s]);
    }
    op_data_fmnist_cache.valid = 0;
    op_data_fmnist_cache.dir[0] = '\0';
}

static op_status op_data_fmnist_file(const char *dir, const char *name,
                                     op_idx *out)
{
    char path[OP_PATH_MAX + 64];
    int w = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= sizeof path)
        return op_error(OP_ERR_INPUT, "%s/%s: path too long", dir, name);
    return op_idx_read(path, out);
}

static op_status op_data_fmnist_open(const char *dir)
{
    if (op_data_fmnist_cache.valid && strcmp(op_data_fmnist_cache.dir, dir) == 0)
        return OP_OK;
    op_data_cache_clear();
    static const char *img_names[2] = {"train-images-idx3-ubyte.gz",
                                       "t10k-images-idx3-ubyte.gz"};
    static const char *lab_names[2] = {"train-labels-idx1-ubyte.gz",
                                       "t10k-labels-idx1-ubyte.gz"};
    op_status s = OP_OK;
    for (int t = 0; t < 2 && s == OP_OK; t++) {
        op_idx *im = &op_data_fmnist_cache.images[t];
        op_idx *lb = &op_data_fmnist_cache.labels[t];
        s = op_data_fmnist_file(dir, img_names[t], im);
        if (s == OP_OK)
            s = op_data_fmnist_file(dir, lab_names[t], lb);
        if (s != OP_OK)
            break;
        if (im->ndim != 3 || im->dims[1] != 28 || im->dims[2] != 28)
            s = op_error(OP_ERR_INPUT,
                         "%s/%s: expected N x 28 x 28 images, header has %d "
                         "dimensions (%d x %d x ...)",
                         dir, img_names[t], im->ndim, im->dims[0],
                         im->ndim > 1 ? im->dims[1] : 0);
        else if (lb->ndim != 1 || lb->dims[0] != im->dims[0])
            s = op_error(OP_ERR_INPUT,
                         "%s/%s: expected %d labels (one per image), header "
                         "has %d dimensions, first %d",
                         dir, lab_names[t], im->dims[0], lb->ndim,
                         lb->dims[0]);
        else
            for (long i = 0; i < lb->count; i++)
                if (lb->data[i] > 9) {
                    s = op_error(OP_ERR_INPUT,
                                 "%s/%s: label %ld is %d (allowed: 0 to 9)",
                                 dir, lab_names[t], i, lb->data[i]);
                    break;
                }
    }
    if (s != OP_OK) {
        op_data_cache_clear();
        return s;
    }
    snprintf(op_data_fmnist_cache.dir, sizeof op_data_fmnist_cache.dir, "%s",
             dir);
    op_data_fmnist_cache.valid = 1;
    return OP_OK;
}

/* Chooses n of the N images into pick[n], from stream (seed, DATA, which):
 * a random permutation scanned in order, taking an image while its class
 * still has room. Balanced quotas are n/10 per class, the remainder going
 * to the first classes. */
static op_status op_data_fmnist_pick(const op_config *cfg, int which,
                                     const op_idx *labels, int n, int *pick)
{
    int total = labels->dims[0];
    const char *set = which ? "test" : "train";
    if (n > total)
        return op_error(OP_ERR_INPUT,
                        "%s/%s: n_%s = %d but the file holds %d images",
                        cfg->data.path, which ? "t10k-labels-idx1-ubyte.gz"
                                              : "train-labels-idx1-ubyte.gz",
                        set, n, total);
    int *perm = malloc((size_t)total * sizeof(int));
    if (!perm)
        return op_error(OP_ERR_NOMEM, "no memory for %d indices", total);
    op_rng r;
    op_rng_derive(&r, cfg->seed, OP_STREAM_DATA, (uint64_t)which, 0);
    op_rng_permutation(&r, perm, total);
    int quota[10], taken = 0;
    for (int c = 0; c < 10; c++)
        quota[c] = cfg->data.balanced ? n / 10 + (c < n % 10) : n;
    for (int i = 0; i < total && taken < n; i++) {
        int c = labels->data[perm[i]];
        if (quota[c] > 0) {
            quota[c]--;
            pick[taken++] = perm[i];
        }
    }
    free(perm);
    if (taken < n)
        return op_error(OP_ERR_INPUT,
                        "%s: balanced n_%s = %d: a class has too few images",
                        cfg->data.path, set, n);
    return OP_OK;
}

/* Fills ds from images[pick[i]]: pixels / 255, average-pooled f x f. */
static void op_data_fmnist_fill(op_dataset *ds, const op_idx *images,
                                const op_idx *labels, const int *pick, int f)
{
    int side = 28 / f;
    double norm = 1.0 / (255.0 * f * f);
    for (int i = 0; i < ds->n; i++) {
        const uint8_t *img = images->data + (size_t)pick[i] * 784u;
        double *x = ds->x + (size_t)i * (size_t)ds->d; /* [side][side] */
        for (int r = 0; r < side; r++)
            for (int c = 0; c < side; c++) {
                unsigned sum = 0;
                for (int a = 0; a < f; a++)
                    for (int b = 0; b < f; b++)
                        sum += img[(r * f + a) * 28 + c * f + b];
                x[r * side + c] = sum * norm;
            }
        ds->label[i] = labels->data[pick[i]];
        op_data_set_target(ds, i);
    }
    ds->side = side;
}

static op_status op_data_load_fmnist(const op_config *cfg, op_dataset *train,
                                     op_dataset *test)
{
    const op_data_cfg *dc = &cfg->data;
    int f = dc->downsample;
    if (f < 1 || 28 % f != 0)
        return op_error(OP_ERR_INPUT,
                        "[data] downsample = %d: must divide 28 (allowed: 1, "
                        "2, 4, 7, 14, 28)",
                        f);
    if (dc->n_train < 1 || dc->n_test < 0)
        return op_error(OP_ERR_INPUT, "[data] n_train = %d, n_test = %d",
                        dc->n_train, dc->n_test);
    op_status s = op_data_fmnist_open(dc->path);
    if (s != OP_OK)
        return s;
    int d, k;
    op_data_shape(cfg, &d, &k);
    op_dataset *sets[2] = {train, test};
    int ns[2] = {dc->n_train, dc->n_test};
    for (int t = 0; t < 2; t++) {
        int *pick = malloc((size_t)(ns[t] ? ns[t] : 1) * sizeof(int));
        if (!pick)
            return op_error(OP_ERR_NOMEM, "no memory for %d indices", ns[t]);
        s = op_data_fmnist_pick(cfg, t, &op_data_fmnist_cache.labels[t],
                                ns[t], pick);
        if (s == OP_OK)
            s = op_data_alloc(sets[t], ns[t], d, k);
        if (s == OP_OK)
            op_data_fmnist_fill(sets[t], &op_data_fmnist_cache.images[t],
                                &op_data_fmnist_cache.labels[t], pick, f);
        free(pick);
        if (s != OP_OK)
            return s;
    }
    if (dc->standardize)
        return op_data_standardize(train, test);
    return OP_OK;
}

/* ---- the user's own set: source = file ---------------------------------
 * path is an HDF5 file (datasets x_train y_train x_test y_test) or a
 * directory of x_train.npy y_train.npy x_test.npy y_test.npy. x: [n][...]
 * float32, float64 or uint8 (uint8 scaled by 1/255), its trailing
 * dimensions d = dim or the image [data] shape; y: [n] integer labels
 * 0..classes-1 (classes = 1: 0/1 labels, +-1 targets) or, with regression,
 * [n] or [n][classes] real targets. Every file is checked whole: a shape,
 * a length, a NaN, a label or a truncated body that does not fit names the
 * file and the dataset. The subset, balance, downsampling and
 * standardization then follow the Fashion-MNIST path. */

/* One array as read: values converted to double, and whether the stored
 * type was an integer (labels) or uint8 (pixels to scale). */
typedef struct {
    int ndim;
    long dims[8];
    long count;
    int is_int, is_u8;
    double *v;
} op_array;

static const char *const file_sets[4] = {"x_train", "y_train", "x_test",
                                         "y_test"};

/* Parses a .npy header: version 1-3, little-endian or byte-sized numbers
 * (u1 i1 i2 i4 i8 u2 u4 u8 f4 f8), C order. */
static op_status op_npy_read(const char *path, op_array *a)
{
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f)
        return op_error(OP_ERR_INPUT, "%s: cannot open: %s", path,
                        strerror(errno));
    unsigned char pre[12];
    op_status s = OP_OK;
    size_t hl = 0, pre_len = 10;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: not a .npy file (no \\x93NUMPY "
                        "magic)", path);
    }
    if (pre[6] == 1) {
        hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fclose(f);
            return op_error(OP_ERR_INPUT, "%s: truncated .npy header", path);
        }
        hl = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
             (size_t)pre[11] << 24;
        pre_len = 12;
    } else {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: .npy version %d.%d unknown", path,
                        pre[6], pre[7]);
    }
    if (hl > 65536) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: .npy header of %zu bytes", path,
                        hl);
    }
    char hdr[65537];
    if (fread(hdr, 1, hl, f) != hl) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: truncated .npy header", path);
    }
    hdr[hl] = '\0';
    char descr[16] = "";
    const char *p = strstr(hdr, "'descr'");
    if (p && (p = strchr(p + 7, '\'')) != NULL)
        snprintf(descr, sizeof descr, "%.*s", (int)strcspn(p + 1, "'"), p + 1);
    const char *fo = strstr(hdr, "'fortran_order'");
    const char *sh = strstr(hdr, "'shape'");
    if (!descr[0] || !fo || !sh || !strchr(sh, '(')) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: .npy header without descr, "
                        "fortran_order and shape", path);
    }
    if (strncmp(strchr(fo, ':') + 1 + strspn(strchr(fo, ':') + 1, " "),
                "False", 5) != 0) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: Fortran-ordered array (save it "
                        "with numpy.ascontiguousarray)", path);
    }
    /* The shape tuple. */
    const char *q = strchr(sh, '(') + 1;
    a->count = 1;
    while (*q && *q != ')') {
        while (*q == ' ' || *q == ',')
            q++;
        if (*q == ')')
            break;
        char *end;
        long v = strtol(q, &end, 10);
        if (end == q || v < 0 || a->ndim == 8) {
            fclose(f);
            return op_error(OP_ERR_INPUT, "%s: bad .npy shape", path);
        }
        a->dims[a->ndim++] = v;
        if (v > 0 && a->count > LONG_MAX / v) {
            fclose(f);
            return op_error(OP_ERR_INPUT, "%s: .npy shape too large", path);
        }
        a->count *= v;
        q = end;
    }
    char kind = descr[1];
    int size = atoi(descr + 2);
    int little = descr[0] == '<' || descr[0] == '|' ||
                 (descr[0] == '=' && 1);
    if (!little || (kind != 'f' && kind != 'i' && kind != 'u') ||
        !(size == 1 || size == 2 || size == 4 || size == 8) ||
        (kind == 'f' && size < 4)) {
        fclose(f);
        return op_error(OP_ERR_INPUT, "%s: dtype '%s' not supported "
                        "(float32, float64, uint8 or little-endian "
                        "integers)", path, descr);
    }
    a->is_int = kind != 'f';
    a->is_u8 = kind == 'u' && size == 1;
    size_t bytes = (size_t)a->count * (size_t)size;
    unsigned char *raw = malloc(bytes ? bytes : 1);
    a->v = malloc(sizeof(double) * (size_t)(a->count ? a->count : 1));
    if (!raw || !a->v) {
        free(raw);
        free(a->v);
        fclose(f);
        return op_error(OP_ERR_NOMEM, "%s: no memory for %ld values", path,
                        a->count);
    }
    size_t got = fread(raw, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != bytes || extra) {
        s = op_error(OP_ERR_INPUT, "%s: %s: header says %ld values (%zu "
                     "bytes), the file holds %s", path,
                     got != bytes ? "truncated" : "trailing bytes", a->count,
                     bytes, got != bytes ? "fewer" : "more");
        free(raw);
        free(a->v);
        a->v = NULL;
        return s;
    }
    (void)pre_len;
    for (long i = 0; i < a->count; i++) {
        const unsigned char *b = raw + (size_t)i * (size_t)size;
        double v = 0;
        if (kind == 'f' && size == 4) {
            float x;
            memcpy(&x, b, 4);
            v = x;
        } else if (kind == 'f') {
            memcpy(&v, b, 8);
        } else if (kind == 'u') {
            uint64_t x = 0;
            memcpy(&x, b, (size_t)size);
            v = (double)x;
        } else {
            int64_t x = 0;
            memcpy(&x, b, (size_t)size);
            int sh_bits = 64 - 8 * size; /* sign-extend */
            x = (int64_t)((uint64_t)x << sh_bits) >> sh_bits;
            v = (double)x;
        }
        a->v[i] = v;
    }
    free(raw);
    return OP_OK;
}

static op_status op_h5_array_read(hid_t file, const char *path,
                                  const char *name, op_array *a)
{
    memset(a, 0, sizeof *a);
    hid_t ds = -1;
    H5E_BEGIN_TRY { ds = H5Dopen2(file, name, H5P_DEFAULT); }
    H5E_END_TRY;
    if (ds < 0)
        return op_error(OP_ERR_INPUT, "%s: dataset /%s missing (want x_train "
                        "y_train x_test y_test)", path, name);
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    H5T_class_t cls = H5Tget_class(t);
    size_t tsize = H5Tget_size(t);
    H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(t) : H5T_SGN_NONE;
    hsize_t dims[8];
    int nd = H5Sget_simple_extent_ndims(sp);
    op_status s = OP_OK;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        s = op_error(OP_ERR_INPUT, "%s: dataset /%s: not numbers", path,
                     name);
    else if (nd < 1 || nd > 8)
        s = op_error(OP_ERR_INPUT, "%s: dataset /%s: %d dimensions", path,
                     name, nd);
    if (s == OP_OK) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        a->ndim = nd;
        a->count = 1;
        for (int i = 0; i < nd; i++) {
            a->dims[i] = (long)dims[i];
            a->count *= (long)dims[i];
        }
        a->is_int = cls == H5T_INTEGER;
        a->is_u8 = a->is_int && tsize == 1 && sign == H5T_SGN_NONE;
        a->v = malloc(sizeof(double) * (size_t)(a->count ? a->count : 1));
        if (!a->v)
            s = op_error(OP_ERR_NOMEM, "%s: /%s: no memory for %ld values",
                         path, name, a->count);
    }
    if (s == OP_OK) {
        herr_t e;
        H5E_BEGIN_TRY
        {
            e = H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        a->v);
        }
        H5E_END_TRY;
        if (e < 0) {
            s = op_error(OP_ERR_INPUT, "%s: dataset /%s unreadable "
                         "(truncated file?)", path, name);
            free(a->v);
            a->v = NULL;
        }
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    return s;
}

/* Reads the four arrays, naming in where[i] the file (and dataset) each
 * came from for messages. */
static op_status op_file_read_all(const char *path, op_array a[4],
                                  char where[4][OP_PATH_MAX + 32])
{
    struct stat sb;
    memset(a, 0, 4 * sizeof *a);
    if (stat(path, &sb) != 0)
        return op_error(OP_ERR_INPUT, "[data] path = %s: %s", path,
                        strerror(errno));
    op_status s = OP_OK;
    if (S_ISDIR(sb.st_mode)) {
        for (int i = 0; i < 4 && s == OP_OK; i++) {
            snprintf(where[i], sizeof where[i], "%s/%s.npy", path,
                     file_sets[i]);
            s = op_npy_read(where[i], &a[i]);
        }
        return s;
    }
    hid_t f = -1;
    H5E_BEGIN_TRY
    {
        if (H5Fis_hdf5(path) > 0)
            f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5E_END_TRY;
    if (f < 0)
        return op_error(OP_ERR_INPUT, "[data] path = %s: not an HDF5 file "
                        "(or a directory of .npy files)", path);
    for (int i = 0; i < 4 && s == OP_OK; i++) {
        snprintf(where[i], sizeof where[i], "%s: dataset /%s", path,
                 file_sets[i]);
        s = op_h5_array_read(f, path, file_sets[i], &a[i]);
    }
    H5Fclose(f);
    return s;
}

/* Checks a split's x and y against the job; returns the row count. */
static op_status op_file_check(const op_data_cfg *dc, const op_array *x,
                               const op_array *y, const char *wx,
                               const char *wy, int k_classes)
{
    long n = x->dims[0];
    long want_d = 1;
    char shape[64] = "";
    if (dc->n_shape >= 2) {
        for (int i = 0; i < dc->n_shape; i++)
            want_d *= dc->shape[i];
        snprintf(shape, sizeof shape, " ([data] shape = %d, %d%s%.0d)",
                 dc->shape[0], dc->shape[1], dc->n_shape == 3 ? ", " : "",
                 dc->n_shape == 3 ? dc->shape[2] : 0);
    } else {
        want_d = dc->dim;
        snprintf(shape, sizeof shape, " ([data] dim)");
    }
    long d = x->ndim >= 1 && n > 0 ? x->count / n : 0;
    if (x->ndim < 2)
        return op_error(OP_ERR_INPUT, "%s: %d dimension%s: want [n][d] or "
                        "[n][H][W][C]", wx, x->ndim, x->ndim == 1 ? "" : "s");
    if (d != want_d)
        return op_error(OP_ERR_INPUT, "%s: rows of %ld values, the job wants "
                        "%ld%s", wx, d, want_d, shape);
    if (dc->n_shape >= 2 && x->ndim > 2) {
        int ok = x->ndim - 1 == dc->n_shape;
        for (int i = 0; ok && i < dc->n_shape; i++)
            ok = x->dims[i + 1] == dc->shape[i];
        if (!ok)
            return op_error(OP_ERR_INPUT, "%s: image dimensions differ from "
                            "[data]%s (channels last)", wx, shape);
    }
    if (y->dims[0] != n)
        return op_error(OP_ERR_INPUT, "%s: %ld rows, but %s has %ld: lengths "
                        "differ", wy, y->dims[0], wx, n);
    for (long i = 0; i < x->count; i++)
        if (!isfinite(x->v[i]))
            return op_error(OP_ERR_INPUT, "%s: value %ld (row %ld) is %g",
                            wx, i, i / (d ? d : 1), x->v[i]);
    for (long i = 0; i < y->count; i++)
        if (!isfinite(y->v[i]))
            return op_error(OP_ERR_INPUT, "%s: value %ld is %g", wy, i,
                            y->v[i]);
    if (dc->regression) {
        long m = y->count / (n ? n : 1);
        if (!(y->ndim == 1 && dc->classes == 1) &&
            !(y->ndim == 2 && m == dc->classes))
            return op_error(OP_ERR_INPUT, "%s: %s targets; regression with "
                            "[data] classes = %d wants [n]%s", wy,
                            y->ndim == 1 ? "[n]" : "[n][m]", dc->classes,
                            dc->classes == 1 ? " (or [n][1])" : " x classes");
        return OP_OK;
    }
    if (y->ndim != 1)
        return op_error(OP_ERR_INPUT, "%s: %d dimensions: class labels are "
                        "[n] integers (set regression = true for real "
                        "targets)", wy, y->ndim);
    int top = k_classes >= 2 ? k_classes : 2;
    for (long i = 0; i < n; i++)
        if (y->v[i] != floor(y->v[i]) || y->v[i] < 0 || y->v[i] >= top)
            return op_error(OP_ERR_INPUT, "%s: label %ld is %g (allowed: "
                            "integers 0 to %d, [data] classes = %d)", wy, i,
                            y->v[i], top - 1, dc->classes);
    return OP_OK;
}

/* n of the total rows into pick[n] from stream (seed, DATA, which): a
 * random permutation scanned in order, taking a row while its class has
 * room (balanced: n/K per class, the remainder to the first classes). */
static op_status op_file_pick(const op_config *cfg, int which,
                              const op_array *y, int k, int n, int *pick,
                              const char *wy)
{
    long total = y->dims[0];
    if (n > total)
        return op_error(OP_ERR_INPUT, "%s: n_%s = %d but it holds %ld rows",
                        wy, which ? "test" : "train", n, total);
    int *perm = malloc(sizeof(int) * (size_t)(total ? total : 1));
    int *quota = calloc((size_t)(k > 0 ? k : 1), sizeof(int));
    if (!perm || !quota) {
        free(perm);
        free(quota);
        return op_error(OP_ERR_NOMEM, "no memory for %ld indices", total);
    }
    op_rng r;
    op_rng_derive(&r, cfg->seed, OP_STREAM_DATA, (uint64_t)which, 0);
    op_rng_permutation(&r, perm, (int)total);
    int classed = !cfg->data.regression && cfg->data.balanced;
    for (int c = 0; c < k; c++)
        quota[c] = classed ? n / k + (c < n % k) : n;
    int taken = 0;
    for (long i = 0; i < total && taken < n; i++) {
        int c = classed ? (int)y->v[perm[i]] : 0;
        if (quota[c] > 0) {
            quota[c]--;
            pick[taken++] = perm[i];
        }
    }
    free(perm);
    free(quota);
    if (taken < n)
        return op_error(OP_ERR_INPUT, "%s: balanced n_%s = %d: a class has "
                        "too few rows", wy, which ? "test" : "train", n);
    return OP_OK;
}

static op_status op_data_load_file(const op_config *cfg, op_dataset *train,
                                   op_dataset *test)
{
    const op_data_cfg *dc = &cfg->data;
    op_array a[4];
    char where[4][OP_PATH_MAX + 32];
    op_status s = op_file_read_all(dc->path, a, where);
    int d, k;
    op_data_shape(cfg, &d, &k);
    int kc = dc->regression ? 1 : (dc->classes >= 2 ? dc->classes : 2);
    for (int t = 0; t < 2 && s == OP_OK; t++)
        s = op_file_check(dc, &a[2 * t], &a[2 * t + 1], where[2 * t],
                          where[2 * t + 1], dc->classes);
    op_dataset *sets[2] = {train, test};
    int ns[2] = {dc->n_train, dc->n_test};
    int f = dc->downsample > 0 ? dc->downsample : 1;
    int H = dc->n_shape >= 2 ? dc->shape[0] : 1;
    int W = dc->n_shape >= 2 ? dc->shape[1] : 1;
    int C = dc->n_shape == 3 ? dc->shape[2] : 1;
    for (int t = 0; t < 2 && s == OP_OK; t++) {
        const op_array *x = &a[2 * t], *y = &a[2 * t + 1];
        long row = x->count / x->dims[0];
        int *pick = malloc(sizeof(int) * (size_t)(ns[t] ? ns[t] : 1));
        if (!pick) {
            s = op_error(OP_ERR_NOMEM, "no memory for %d indices", ns[t]);
            break;
        }
        s = op_file_pick(cfg, t, y, kc, ns[t], pick, where[2 * t + 1]);
        if (s == OP_OK)
            s = op_data_alloc(sets[t], ns[t], d, k);
        double scale = x->is_u8 ? 1.0 / 255.0 : 1.0;
        for (int i = 0; i < ns[t] && s == OP_OK; i++) {
            const double *src = x->v + (size_t)pick[i] * (size_t)row;
            double *dst = sets[t]->x + (size_t)i * (size_t)d;
            if (dc->n_shape >= 2 && f > 1) {
                /* average pooling f x f per channel, HWC order kept */
                int h = H / f, w = W / f;
                double norm = scale / (f * f);
                for (int r = 0; r < h; r++)
                    for (int c = 0; c < w; c++)
                        for (int ch = 0; ch < C; ch++) {
                            double sum = 0;
                            for (int u = 0; u < f; u++)
                                for (int v = 0; v < f; v++)
                                    sum += src[((size_t)(r * f + u) * W +
                                                (size_t)(c * f + v)) * C +
                                               ch];
                            dst[((size_t)r * w + c) * C + ch] = sum * norm;
                        }
            } else {
                for (int j = 0; j < d; j++)
                    dst[j] = src[j] * scale;
            }
            const double *yv = y->v + (size_t)pick[i] *
                                          (size_t)(y->count / y->dims[0]);
            if (dc->regression) {
                sets[t]->label[i] = -1;
                for (int c = 0; c < k; c++)
                    sets[t]->y[(size_t)i * (size_t)k + c] = yv[c];
            } else {
                sets[t]->label[i] = (int)yv[0];
                op_data_set_target(sets[t], i);
            }
        }
        if (s == OP_OK && dc->n_shape >= 2 && H == W && C == 1)
            sets[t]->side = H / f;
        free(pick);
    }
    for (int i = 0; i < 4; i++)
        free(a[i].v);
    if (s == OP_OK && dc->standardize)
        s = op_data_standardize(train, test);
    return s;
}

/* ---- synthetic sets ---------------------------------------------------- */

/* Gaussian N(0, I/d) or uniform-on-sphere inputs and random class labels
 * from stream (seed, DATA, which). */
static void op_data_fill_random(const op_config *cfg, op_dataset *ds,
                                int which, int sphere)
{
    op_rng r;
    op_rng_derive(&r, cfg->seed, OP_STREAM_DATA, (uint64_t)which, 0);
    int d = ds->d, classes = cfg->data.classes;
    double sd = 1.0 / sqrt((double)d);
    for (int i = 0; i < ds->n; i++) {
        double *x = ds->x + (size_t)i * (size_t)d;
        double norm2 = 0.0;
        for (int j = 0; j < d; j++) {
            x[j] = op_rng_normal(&r);
            norm2 += x[j] * x[j];
        }
        /* A normalized Gaussian vector is uniform on the sphere. */
        double s = sphere ? (norm2 > 0 ? 1.0 / sqrt(norm2) : 0.0) : sd;
        for (int j = 0; j < d; j++)
            x[j] *= s;
        ds->label[i] =
            (int)op_rng_below(&r, (uint64_t)(classes >= 2 ? classes : 2));
        op_data_set_target(ds, i);
    }
}

void op_data_sines_eval(const op_data_cfg *cfg, const double *x, double *y,
                        int n)
{
    for (int i = 0; i < n; i++) {
        double v = 0.0;
        for (int f = 0; f < cfg->n_freq && f < cfg->n_amp; f++)
            v += cfg->amp[f] * sin(cfg->freq[f] * x[i]);
        y[i] = v;
    }
}

/* Train: n points evenly spaced on [lo, hi], both ends included. Test: the
 * midpoints of n equal cells of [lo, hi], lo + (i + 1/2)(hi - lo)/n, so no
 * test point coincides with a train point. */
static void op_data_fill_sines(const op_data_cfg *dc, op_dataset *ds,
                               int test)
{
    int n = ds->n;
    for (int i = 0; i < n; i++) {
        if (test)
            ds->x[i] = dc->lo + (i + 0.5) * (dc->hi - dc->lo) / n;
        else
            ds->x[i] = n > 1 ? dc->lo + i * (dc->hi - dc->lo) / (n - 1)
                             : dc->lo;
        ds->label[i] = -1;
    }
    op_data_sines_eval(dc, ds->x, ds->y, n);
}

/* y = a . relu(W x) for a teacher with W[h][d] ~ N(0, 1) (x ~ N(0, I/d)
 * makes each pre-activation ~ N(0, 1)) and a ~ N(0, 1/h); train and test use
 * the same teacher, then y is centered and scaled to unit variance with the
 * train statistics.
 * classify (source = teacher_class): the teacher has K = classes readouts
 * a[K][h] and a point's label is the argmax of its K outputs; K = 1 labels
 * by the sign of the output less its train mean (+-1 targets). The labels
 * are thus a function of x a network can learn, unlike gaussian's. */
static op_status op_data_teacher(const op_config *cfg, op_dataset *train,
                                 op_dataset *test, int classify)
{
    int d = train->d, h = cfg->data.teacher_width;
    if (h < 1)
        return op_error(OP_ERR_INPUT, "[data] teacher_width = %d", h);
    int ko = classify && cfg->data.classes >= 2 ? cfg->data.classes : 1;
    int nmax = train->n > test->n ? train->n : test->n;
    size_t nw = (size_t)h * (size_t)d;
    size_t na = (size_t)ko * (size_t)h;
    double *w = malloc((nw + na + (size_t)nmax * (size_t)h +
                        (classify ? (size_t)nmax * (size_t)ko : 0)) *
                       sizeof(double));
    if (!w)
        return op_error(OP_ERR_NOMEM, "teacher %d x %d: no memory", h, d);
    double *a = w + nw;       /* [ko][h] */
    double *hid = a + na;     /* [n][h] */
    double *out = hid + (size_t)nmax * (size_t)h; /* [n][ko], classify */
    op_rng r;
    op_rng_derive(&r, cfg->seed, OP_STREAM_DATA, 2, 0);
    for (size_t i = 0; i < nw; i++)
        w[i] = op_rng_normal(&r);
    for (size_t i = 0; i < na; i++)
        a[i] = op_rng_normal(&r) / sqrt((double)h);
    op_dataset *sets[2] = {train, test};
    double threshold = 0.0; /* classify, K = 1: the train outputs' mean */
    for (int s = 0; s < 2; s++) {
        op_dataset *ds = sets[s];
        if (ds->n == 0)
            continue;
        /* hid[n][h] = x[n][d] W^T, then relu, then y[n] = hid a */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ds->n, h, d,
                    1.0, ds->x, d, w, d, 0.0, hid, h);
        for (size_t i = 0; i < (size_t)ds->n * (size_t)h; i++)
            hid[i] = hid[i] > 0 ? hid[i] : 0.0;
        if (!classify) {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, ds->n, h, 1.0, hid, h,
                        a, 1, 0.0, ds->y, 1);
            for (int i = 0; i < ds->n; i++)
                ds->label[i] = -1;
            continue;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ds->n, ko, h,
                    1.0, hid, h, a, h, 0.0, out, ko);
        if (ko == 1 && s == 0) {
            for (int i = 0; i < ds->n; i++)
                threshold += out[i];
            threshold /= ds->n;
        }
        for (int i = 0; i < ds->n; i++) {
            const double *o = out + (size_t)i * (size_t)ko;
            int best = 0;
            for (int c = 1; c < ko; c++)
                if (o[c] > o[best])
                    best = c;
            ds->label[i] = ko == 1 ? o[0] > threshold : best;
            op_data_set_target(ds, i);
        }
    }
    free(w);
    if (classify)
        return OP_OK;
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < train->n; i++)
        mean += train->y[i];
    mean /= train->n;
    for (int i = 0; i < train->n; i++)
        var += (train->y[i] - mean) * (train->y[i] - mean);
    var /= train->n;
    double scale = var > 1e-300 ? 1.0 / sqrt(var) : 1.0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->n; i++)
            sets[s]->y[i] = (sets[s]->y[i] - mean) * scale;
    return OP_OK;
}

static op_status op_data_load_synthetic(const op_config *cfg,
                                        op_dataset *train, op_dataset *test)
{
    const op_data_cfg *dc = &cfg->data;
    if (dc->n_train < 1 || dc->n_test < 0)
        return op_error(OP_ERR_INPUT, "[data] n_train = %d, n_test = %d",
                        dc->n_train, dc->n_test);
    if (dc->source != OP_SRC_SINES && dc->dim < 1)
        return op_error(OP_ERR_INPUT, "[data] dim = %d: must be >= 1",
                        dc->dim);
    if ((dc->source == OP_SRC_GAUSSIAN || dc->source == OP_SRC_SPHERE ||
         dc->source == OP_SRC_TEACHER_CLASS) &&
        dc->classes < 1)
        return op_error(OP_ERR_INPUT, "[data] classes = %d: must be >= 1",
                        dc->classes);
    int d, k;
    op_data_shape(cfg, &d, &k);
    op_status s = op_data_alloc(train, dc->n_train, d, k);
    if (s == OP_OK)
        s = op_data_alloc(test, dc->n_test, d, k);
    if (s != OP_OK) {
        op_data_free(train);
        return s;
    }
    switch (dc->source) {
    case OP_SRC_GAUSSIAN:
    case OP_SRC_SPHERE:
        op_data_fill_random(cfg, train, 0, dc->source == OP_SRC_SPHERE);
        op_data_fill_random(cfg, test, 1, dc->source == OP_SRC_SPHERE);
        break;
    case OP_SRC_SINES:
        op_data_fill_sines(dc, train, 0);
        op_data_fill_sines(dc, test, 1);
        break;
    default: /* teacher, teacher_class */
        op_data_fill_random(cfg, train, 0, 0);
        op_data_fill_random(cfg, test, 1, 0);
        s = op_data_teacher(cfg, train, test,
                            dc->source == OP_SRC_TEACHER_CLASS);
        break;
    }
    return s;
}

op_status op_data_load(const op_config *cfg, op_dataset *train,
                       op_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    op_status s;
    switch (cfg->data.source) {
    case OP_SRC_FASHION_MNIST:
        s = op_data_load_fmnist(cfg, train, test);
        break;
    case OP_SRC_GAUSSIAN:
    case OP_SRC_SPHERE:
    case OP_SRC_SINES:
    case OP_SRC_TEACHER:
    case OP_SRC_TEACHER_CLASS:
        s = op_data_load_synthetic(cfg, train, test);
        break;
    case OP_SRC_FILE:
        s = op_data_load_file(cfg, train, test);
        break;
    default:
        s = op_error(OP_ERR_INPUT, "[data] source = %d: unknown",
                     (int)cfg->data.source);
    }
    if (s != OP_OK) {
        op_data_free(train);
        op_data_free(test);
    }
    return s;
}

/* ---- label noise and corruptions --------------------------------------- */

/* Flips each label with probability p to a uniformly random other class
 * (k == 1: the other sign). u_i and the replacement c_i are drawn for every
 * sample whatever p is, so the flipped set grows monotonically with p and
 * the flips do not depend on anything but (seed, seed_index). */
static void op_data_label_noise(op_dataset *ds, double p, op_rng *r)
{
    int k = ds->k;
    for (int i = 0; i < ds->n; i++) {
        double u = op_rng_uniform(r);
        int c = k >= 2 ? (int)op_rng_below(r, (uint64_t)(k - 1)) : 0;
        if (!(u < p))
            continue;
        if (k >= 2)
            ds->label[i] = c < ds->label[i] ? c : c + 1; /* skip the true */
        else
            ds->label[i] = 1 - ds->label[i];
        op_data_set_target(ds, i);
    }
}

/* Permutes the features of row x[d] by perm: x'[j] = x[perm[j]]. */
static void op_data_permute_row(double *x, const int *perm, double *tmp,
                                int d)
{
    for (int j = 0; j < d; j++)
        tmp[j] = x[perm[j]];
    memcpy(x, tmp, (size_t)d * sizeof(double));
}

static op_status op_data_corruption(op_dataset *ds, op_corruption kind,
                                    op_rng *r)
{
    int n = ds->n, d = ds->d;
    if (kind == OP_CORRUPT_RANDOM_LABELS) {
        int k = ds->k >= 2 ? ds->k : 2;
        for (int i = 0; i < n; i++) {
            ds->label[i] = (int)op_rng_below(r, (uint64_t)k);
            op_data_set_target(ds, i);
        }
        return OP_OK;
    }
    /* perm[d] and a row buffer, or mean[d] and sd[d] */
    double *tmp = malloc(2 * (size_t)(d ? d : 1) * sizeof(double));
    int *perm = malloc((size_t)(d ? d : 1) * sizeof(int));
    if (!tmp || !perm) {
        free(tmp);
        free(perm);
        return op_error(OP_ERR_NOMEM, "corruption: no memory for d = %d", d);
    }
    switch (kind) {
    case OP_CORRUPT_SHUFFLED_PIXELS:
        /* The stream's first draw: op_data_corrupt_test repeats it. */
        op_rng_permutation(r, perm, d);
        for (int i = 0; i < n; i++)
            op_data_permute_row(ds->x + (size_t)i * (size_t)d, perm, tmp, d);
        break;
    case OP_CORRUPT_RANDOM_PIXELS:
        for (int i = 0; i < n; i++) {
            op_rng_permutation(r, perm, d);
            op_data_permute_row(ds->x + (size_t)i * (size_t)d, perm, tmp, d);
        }
        break;
    case OP_CORRUPT_GAUSSIAN: {
        double *mean = tmp, *sd = tmp + d;
        op_data_moments(ds, mean, sd);
        for (int j = 0; j < d; j++)
            sd[j] = sqrt(sd[j]);
        for (int i = 0; i < n; i++) {
            double *x = ds->x + (size_t)i * (size_t)d;
            for (int j = 0; j < d; j++)
                x[j] = mean[j] + sd[j] * op_rng_normal(r);
        }
        break;
    }
    default:
        break;
    }
    free(tmp);
    free(perm);
    return OP_OK;
}

op_status op_data_corrupt(const op_config *cfg, const op_dataset *src,
                          op_dataset *dst)
{
    const op_data_cfg *dc = &cfg->data;
    int labelled = src->n == 0 || src->label[0] >= 0;
    if ((dc->label_noise > 0 || dc->corruption == OP_CORRUPT_RANDOM_LABELS) &&
        !labelled)
        return op_error(OP_ERR_INPUT,
                        "[data] label_noise/random_labels: needs a "
                        "classification set (this one is regression)");
    if (dc->label_noise < 0 || dc->label_noise > 1)
        return op_error(OP_ERR_INPUT, "[data] label_noise = %g: not in [0, 1]",
                        dc->label_noise);
    op_status s = op_data_alloc(dst, src->n, src->d, src->k);
    if (s != OP_OK)
        return s;
    memcpy(dst->block_, src->block_, op_data_bytes(src));
    dst->side = src->side;
    op_rng r;
    if (dc->label_noise > 0) {
        op_rng_derive(&r, cfg->seed, OP_STREAM_NOISE,
                      (uint64_t)cfg->seed_index, 0);
        op_data_label_noise(dst, dc->label_noise, &r);
    }
    if (dc->corruption != OP_CORRUPT_NONE) {
        op_rng_derive(&r, cfg->seed, OP_STREAM_NOISE,
                      (uint64_t)cfg->seed_index, 1);
        s = op_data_corruption(dst, dc->corruption, &r);
        if (s != OP_OK)
            op_data_free(dst);
    }
    return s;
}

op_status op_data_corrupt_test(const op_config *cfg, const op_dataset *src,
                               op_dataset *dst)
{
    if (cfg->data.corruption != OP_CORRUPT_SHUFFLED_PIXELS)
        return op_error(OP_ERR_INTERNAL, "corrupt_test: only shuffled_pixels "
                                         "applies to the test set");
    op_status s = op_data_alloc(dst, src->n, src->d, src->k);
    if (s != OP_OK)
        return s;
    memcpy(dst->block_, src->block_, op_data_bytes(src));
    dst->side = src->side;
    int d = src->d;
    double *tmp = malloc((size_t)(d ? d : 1) * sizeof(double));
    int *perm = malloc((size_t)(d ? d : 1) * sizeof(int));
    if (!tmp || !perm) {
        free(tmp);
        free(perm);
        op_data_free(dst);
        return op_error(OP_ERR_NOMEM, "corruption: no memory for d = %d", d);
    }
    op_rng r;
    op_rng_derive(&r, cfg->seed, OP_STREAM_NOISE, (uint64_t)cfg->seed_index,
                  1);
    op_rng_permutation(&r, perm, d);
    for (int i = 0; i < dst->n; i++)
        op_data_permute_row(dst->x + (size_t)i * (size_t)d, perm, tmp, d);
    free(tmp);
    free(perm);
    return OP_OK;
}

/* ---- ZCA whitening ----------------------------------------------------- */

op_status op_data_zca(op_dataset *train, op_dataset *test, double zeta)
{
    int n = train->n, d = train->d;
    if (n < 1 || d < 1)
        return op_error(OP_ERR_INPUT, "zca: empty training set");
    if (test->d != d)
        return op_error(OP_ERR_INTERNAL, "zca: train d = %d, test d = %d", d,
                        test->d);
    int nmax = n > test->n ? n : test->n;
    size_t dd = (size_t)d * (size_t)d;
    /* mean[d], ones[nmax], cov/U[d][d], B[d][d], W[d][d], eig[d], out[n][d] */
    size_t count = (size_t)d + (size_t)nmax + 3 * dd + (size_t)d +
                   (size_t)nmax * (size_t)d;
    double *buf = malloc(count * sizeof(double));
    if (!buf)
        return op_error(OP_ERR_NOMEM, "zca: no memory for d = %d", d);
    double *mean = buf, *ones = mean + d, *u = ones + nmax, *b = u + dd,
           *w = b + dd, *eig = w + dd, *out = eig + d;
    for (int i = 0; i < nmax; i++)
        ones[i] = 1.0;

    /* mean = x^T 1 / n; x -= 1 mean^T (rank-1 update, no row loop) */
    cblas_dgemv(CblasRowMajor, CblasTrans, n, d, 1.0 / n, train->x, d, ones,
                1, 0.0, mean, 1);
    cblas_dger(CblasRowMajor, n, d, -1.0, ones, 1, mean, 1, train->x, d);
    if (test->n > 0)
        cblas_dger(CblasRowMajor, test->n, d, -1.0, ones, 1, mean, 1,
                   test->x, d);
    /* cov = x^T x / n, upper triangle in row-major = lower in column-major */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0 / n,
                train->x, d, 0.0, u, d);

    int info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0.0;
    dsyevd_("V", "L", &d, u, &d, eig, &wq, &lwork, &iwq, &liwork, &info, 1,
            1);
    OP_INFO_CHECK("dsyevd_ (workspace query)", info, "LAPACK bug");
    lwork = (int)wq + 1;
    liwork = iwq;
    double *work = malloc((size_t)lwork * sizeof(double));
    int *iwork = malloc((size_t)(liwork > 0 ? liwork : 1) * sizeof(int));
    if (!work || !iwork) {
        free(work);
        free(iwork);
        free(buf);
        return op_error(OP_ERR_NOMEM, "zca: no memory for LAPACK workspace");
    }
    dsyevd_("V", "L", &d, u, &d, eig, work, &lwork, iwork, &liwork, &info, 1,
            1);
    free(work);
    free(iwork);
    if (info != 0) {
        free(buf);
        return op_error(OP_ERR_INTERNAL,
                        "zca: dsyevd did not converge (info = %d)", info);
    }
    /* Column-major u: column j (u + j*d) is eigenvector j. Eigenvalues may
     * come out slightly negative; directions with no variance (d > n, or a
     * constant pixel at zeta = 0) get weight 0, a pseudo-inverse. */
    double smean = 0.0, smax = 0.0;
    for (int j = 0; j < d; j++) {
        if (eig[j] < 0)
            eig[j] = 0;
        smean += eig[j];
        smax = eig[j] > smax ? eig[j] : smax;
    }
    smean /= d;
    /* Scale c^2 = tr(Sigma) / sum_j s_j / (s_j + zeta m): the whitened
     * inputs keep the total (mean) variance of the inputs at every zeta,
     * so zeta only reshapes the spectrum. Without it (Sigma + zeta m
     * I)^{-1/2} gives direction j the variance s_j / (s_j + zeta m): the
     * inputs shrank towards 0 as zeta grew (1/11 of their variance at
     * zeta = 10), and a sweep over zeta compared input scales, not
     * whitening (jobs/zca.ini). With c, zeta -> inf tends to c -> sqrt(zeta
     * m), W -> I: the unwhitened (centered) inputs; zeta = 0 gives the
     * fully whitened inputs with variance m in every direction (1 for
     * standardized inputs, up to the variance floor). */
    double kept = 0.0;
    for (int j = 0; j < d; j++) {
        double v = eig[j] + zeta * smean;
        if (v > 1e-12 * smax && v > 0)
            kept += eig[j] / v;
    }
    double c = kept > 0 ? sqrt(smean * d / kept) : 1.0;
    for (int j = 0; j < d; j++) {
        double v = eig[j] + zeta * smean;
        double s = v > 1e-12 * smax && v > 0 ? c / sqrt(v) : 0.0;
        for (int i = 0; i < d; i++)
            b[(size_t)j * (size_t)d + (size_t)i] =
                u[(size_t)j * (size_t)d + (size_t)i] * s;
    }
    /* W = B U^T (symmetric, so its row- and column-major layouts agree) */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, d, d, d, 1.0, b, d,
                u, d, 0.0, w, d);
    op_dataset *sets[2] = {train, test};
    for (int s = 0; s < 2; s++) {
        if (sets[s]->n == 0)
            continue;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sets[s]->n, d,
                    d, 1.0, sets[s]->x, d, w, d, 0.0, out, d);
        memcpy(sets[s]->x, out, (size_t)sets[s]->n * (size_t)d * sizeof(double));
    }
    free(buf);
    return OP_OK;
}
