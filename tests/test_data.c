/* test_data.c — IDX reader on good and malformed files the test writes
 * itself, Fashion-MNIST subsets (when the data set is installed), synthetic
 * sets, label noise, corruptions and ZCA whitening. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "overparam/data.h"
#include "testutil.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/op_test_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes bytes[len] to tmpdir/name, gzipped or plain; returns the path. */
static const char *write_file(const char *name, const void *bytes, size_t len,
                              int gzip)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        ck_assert_ptr_nonnull(gz);
        if (len)
            ck_assert_int_eq(gzwrite(gz, bytes, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(gz), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
        fclose(f);
    }
    return path;
}

/* An IDX file of ndim dims with body bytes 0, 1, 2, ... (body_len of them),
 * followed by `extra` garbage bytes, into buf; returns its length. */
static size_t make_idx(uint8_t *buf, int ndim, const int *dims,
                       size_t body_len, size_t extra)
{
    size_t p = 0;
    buf[p++] = 0;
    buf[p++] = 0;
    buf[p++] = 8;
    buf[p++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        uint32_t v = (uint32_t)dims[i];
        buf[p++] = (uint8_t)(v >> 24);
        buf[p++] = (uint8_t)(v >> 16);
        buf[p++] = (uint8_t)(v >> 8);
        buf[p++] = (uint8_t)v;
    }
    for (size_t i = 0; i < body_len + extra; i++)
        buf[p++] = (uint8_t)(i * 7);
    return p;
}

static void expect_input_error(const char *path, const char *what)
{
    op_idx idx;
    op_status s = op_idx_read(path, &idx);
    const char *msg = op_error_message();
    ck_assert_msg(s == OP_ERR_INPUT, "status %d for %s: %s", s, path, msg);
    ck_assert_msg(strstr(msg, path) != NULL, "want path in: %s", msg);
    ck_assert_msg(strstr(msg, what) != NULL, "want '%s' in: %s", what, msg);
    ck_assert_ptr_null(idx.data);
}

START_TEST(idx_roundtrip)
{
    make_tmpdir();
    static uint8_t buf[1000];
    int dims[3] = {3, 4, 5};
    size_t len = make_idx(buf, 3, dims, 60, 0);
    for (int gz = 0; gz < 2; gz++) {
        const char *path = write_file(gz ? "a.gz" : "a.raw", buf, len, gz);
        op_idx idx;
        ck_assert_int_eq(op_idx_read(path, &idx), OP_OK);
        ck_assert_int_eq(idx.ndim, 3);
        ck_assert_int_eq(idx.dims[0], 3);
        ck_assert_int_eq(idx.dims[1], 4);
        ck_assert_int_eq(idx.dims[2], 5);
        ck_assert_int_eq(idx.count, 60);
        for (int i = 0; i < 60; i++)
            ck_assert_int_eq(idx.data[i], (uint8_t)(i * 7));
        op_idx_free(&idx);
        ck_assert_ptr_null(idx.data);
    }
    remove_tmpdir();
}
END_TEST

START_TEST(idx_malformed)
{
    make_tmpdir();
    static uint8_t buf[4096];
    int dims[3] = {60000, 28, 28};
    size_t len;

    len = make_idx(buf, 3, dims, 100, 0);
    buf[2] = 0x0d; /* float IDX: not ours */
    expect_input_error(write_file("magic.gz", buf, len, 1), "bad IDX magic");
    buf[2] = 8;
    buf[3] = 5;
    expect_input_error(write_file("ndim.gz", buf, len, 1), "dimensions");

    len = make_idx(buf, 3, dims, 1234, 0);
    expect_input_error(write_file("trunc.gz", buf, len, 1),
                       "header says 60000x28x28 = 47040000 bytes, file "
                       "holds 1234");

    int small[2] = {10, 10};
    len = make_idx(buf, 2, small, 100, 3);
    expect_input_error(write_file("trail.gz", buf, len, 1),
                       "trailing garbage");

    int huge[4] = {2000000000, 2000000000, 2000000000, 2000000000};
    len = make_idx(buf, 4, huge, 10, 0);
    expect_input_error(write_file("overflow.gz", buf, len, 1), "overflow");
    int neg[1] = {-1}; /* 0xffffffff: above INT_MAX */
    len = make_idx(buf, 1, neg, 10, 0);
    expect_input_error(write_file("neg.gz", buf, len, 1), "too large");

    len = make_idx(buf, 3, dims, 0, 0);
    expect_input_error(write_file("hdr.gz", buf, 10, 1), "header truncated");
    expect_input_error(write_file("empty.gz", buf, 0, 1), "too short");

    /* Not gzip at all: read as a plain file whose magic is wrong. */
    const char *text = "hello, this is not an IDX file\n";
    expect_input_error(write_file("text.gz", text, strlen(text), 0),
                       "bad IDX magic");

    /* A gzip stream with its deflate data damaged, and one cut short. */
    len = make_idx(buf, 2, small, 100, 0);
    const char *path = write_file("good.gz", buf, len, 1);
    FILE *f = fopen(path, "rb");
    static uint8_t gzbytes[4096];
    size_t glen = fread(gzbytes, 1, sizeof gzbytes, f);
    fclose(f);
    ck_assert_uint_gt(glen, 30);
    static uint8_t bad[4096];
    memcpy(bad, gzbytes, glen);
    for (size_t i = 12; i < glen - 8; i++)
        bad[i] ^= 0xa5;
    expect_input_error(write_file("corrupt.gz", bad, glen, 0), "gzip");
    expect_input_error(write_file("cut.gz", gzbytes, glen - 12, 0), "gzip");
    /* Only the CRC damaged: the data decode but do not check. */
    memcpy(bad, gzbytes, glen);
    bad[glen - 6] ^= 0xff;
    expect_input_error(write_file("crc.gz", bad, glen, 0), "gzip");

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-file.gz", tmpdir);
    expect_input_error(missing, "cannot open");
    remove_tmpdir();
}
END_TEST

/* ---- configurations ---------------------------------------------------- */

static op_config config(const char *text)
{
    op_job job;
    op_status s = op_job_load_string(&job, "t.ini", text);
    ck_assert_msg(s == OP_OK, "%s", op_error_message());
    op_config cfg = job.base;
    op_job_free(&job);
    return cfg;
}

static void check_shape(const op_config *cfg, const op_dataset *tr,
                        const op_dataset *te)
{
    int d, k;
    op_data_shape(cfg, &d, &k);
    ck_assert_int_eq(tr->d, d);
    ck_assert_int_eq(tr->k, k);
    ck_assert_int_eq(te->d, d);
    ck_assert_int_eq(te->k, k);
    ck_assert_int_eq(tr->n, cfg->data.n_train);
    ck_assert_int_eq(te->n, cfg->data.n_test);
}

static int same_set(const op_dataset *a, const op_dataset *b)
{
    if (a->n != b->n || a->d != b->d || a->k != b->k)
        return 0;
    size_t bytes = ((size_t)a->n * a->d + (size_t)a->n * a->k) *
                       sizeof(double) + (size_t)a->n * sizeof(int);
    return memcmp(a->block_, b->block_, bytes) == 0;
}

START_TEST(fashion_mnist)
{
    if (access(FMNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        fprintf(stderr, "test_data: %s absent, Fashion-MNIST test skipped\n",
                FMNIST_DIR);
        return;
    }
    op_config cfg = config("[job]\nseed = 3\n[data]\nsource = fashion_mnist\n"
                           "path = " FMNIST_DIR "\nn_train = 200\n"
                           "n_test = 105\ndownsample = 2\n");
    op_dataset tr, te, tr2, te2;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    check_shape(&cfg, &tr, &te);
    ck_assert_int_eq(tr.d, 196);
    ck_assert_int_eq(tr.side, 14);
    int count[10] = {0}, tcount[10] = {0};
    for (int i = 0; i < tr.n; i++) {
        count[tr.label[i]]++;
        ck_assert(tr.y[i * 10 + tr.label[i]] == 1.0);
    }
    for (int i = 0; i < te.n; i++)
        tcount[te.label[i]]++;
    for (int c = 0; c < 10; c++) {
        ck_assert_int_eq(count[c], 20);
        ck_assert_int_eq(tcount[c], c < 5 ? 11 : 10); /* 105 = 10*10 + 5 */
    }
    /* Standardized with train statistics: mean 0, variance at most 1 (below
     * 1 for a near-constant feature under the variance floor, 0 for a
     * constant one; standardize_floor checks the exact values). */
    for (int j = 0; j < tr.d; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < tr.n; i++)
            m += tr.x[i * tr.d + j];
        m /= tr.n;
        for (int i = 0; i < tr.n; i++)
            v += (tr.x[i * tr.d + j] - m) * (tr.x[i * tr.d + j] - m);
        v /= tr.n;
        ck_assert_msg(fabs(m) < 1e-9, "feature %d mean %g", j, m);
        ck_assert_msg(v < 1 + 1e-9, "feature %d var %g", j, v);
    }
    /* Same configuration, same sets (from the cache this time). */
    ck_assert_int_eq(op_data_load(&cfg, &tr2, &te2), OP_OK);
    ck_assert(same_set(&tr, &tr2));
    ck_assert(same_set(&te, &te2));
    op_data_free(&tr2);
    op_data_free(&te2);
    /* Another seed, another subset. */
    cfg.seed = 4;
    ck_assert_int_eq(op_data_load(&cfg, &tr2, &te2), OP_OK);
    ck_assert(!same_set(&tr, &tr2));
    op_data_free(&tr2);
    op_data_free(&te2);
    /* Unstandardized pixels lie in [0, 1]. */
    cfg.data.standardize = 0;
    cfg.data.downsample = 1;
    ck_assert_int_eq(op_data_load(&cfg, &tr2, &te2), OP_OK);
    check_shape(&cfg, &tr2, &te2);
    double lo = 1, hi = 0;
    for (long i = 0; i < (long)tr2.n * tr2.d; i++) {
        lo = tr2.x[i] < lo ? tr2.x[i] : lo;
        hi = tr2.x[i] > hi ? tr2.x[i] : hi;
    }
    ck_assert(lo >= 0 && hi <= 1 && hi > 0.9);
    op_data_free(&tr2);
    op_data_free(&te2);
    op_data_free(&tr);
    op_data_free(&te);

    cfg.data.downsample = 5;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_ERR_INPUT);
    op_data_cache_clear();
}
END_TEST

/* The variance floor: a pixel almost constant on the training subset must
 * not be blown up to unit variance (it made test errors jump 50x between
 * job seeds). Standardized variance = var_j / max(var_j, 0.1 mean_j var_j),
 * and the test set gets the same (train) mean and scale. */
START_TEST(standardize_floor)
{
    if (access(FMNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0)
        return;
    op_config cfg = config("[job]\nseed = 5\n[data]\nsource = fashion_mnist\n"
                           "path = " FMNIST_DIR "\nn_train = 200\n"
                           "n_test = 50\n");
    op_dataset tr, te, rtr, rte;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    cfg.data.standardize = 0;
    ck_assert_int_eq(op_data_load(&cfg, &rtr, &rte), OP_OK);
    int d = tr.d, n = tr.n, floored = 0;
    double mean_var = 0;
    double *mean = calloc((size_t)d, sizeof(double));
    double *var = calloc((size_t)d, sizeof(double));
    for (int j = 0; j < d; j++) {
        for (int i = 0; i < n; i++)
            mean[j] += rtr.x[i * d + j] / n;
        for (int i = 0; i < n; i++)
            var[j] += (rtr.x[i * d + j] - mean[j]) * (rtr.x[i * d + j] - mean[j]) / n;
        mean_var += var[j] / d;
    }
    for (int j = 0; j < d; j++) {
        double v = var[j] > 0.1 * mean_var ? var[j] : 0.1 * mean_var;
        double scale = v > 1e-12 ? 1 / sqrt(v) : 1;
        floored += var[j] > 1e-12 && var[j] < 0.1 * mean_var;
        for (int i = 0; i < n; i++)
            ck_assert_msg(fabs(tr.x[i * d + j] - (rtr.x[i * d + j] - mean[j]) * scale) < 1e-9,
                          "train feature %d (raw var %g, mean var %g)", j, var[j], mean_var);
        for (int i = 0; i < te.n; i++)
            ck_assert_msg(fabs(te.x[i * d + j] - (rte.x[i * d + j] - mean[j]) * scale) < 1e-9,
                          "test feature %d", j);
    }
    ck_assert_msg(floored > 0, "no near-constant pixel: the test checks nothing");
    free(mean);
    free(var);
    op_data_free(&tr);
    op_data_free(&te);
    op_data_free(&rtr);
    op_data_free(&rte);
    op_data_cache_clear();
}
END_TEST

START_TEST(fashion_missing_file)
{
    make_tmpdir();
    op_config cfg = config("[data]\nsource = fashion_mnist\nn_train = 10\n"
                           "n_test = 10\n");
    snprintf(cfg.data.path, sizeof cfg.data.path, "%s", tmpdir);
    op_dataset tr, te;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_ERR_INPUT);
    ck_assert_msg(strstr(op_error_message(), "train-images-idx3-ubyte.gz"),
                  "%s", op_error_message());
    ck_assert_ptr_null(tr.block_);
    remove_tmpdir();
}
END_TEST

/* ---- synthetic sets ---------------------------------------------------- */

START_TEST(sphere_and_gaussian)
{
    op_config cfg = config("[job]\nseed = 5\n[data]\nsource = sphere\n"
                           "dim = 20\nclasses = 3\nn_train = 500\n"
                           "n_test = 50\n");
    op_dataset tr, te;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    check_shape(&cfg, &tr, &te);
    for (int i = 0; i < tr.n; i++) {
        double s = 0;
        for (int j = 0; j < tr.d; j++)
            s += tr.x[i * tr.d + j] * tr.x[i * tr.d + j];
        ck_assert(op_close(s, 1.0, 0, 1e-12));
        ck_assert(tr.label[i] >= 0 && tr.label[i] < 3);
        ck_assert(tr.y[i * 3 + tr.label[i]] == 1.0);
    }
    op_data_free(&tr);
    op_data_free(&te);

    cfg.data.source = OP_SRC_GAUSSIAN;
    cfg.data.classes = 1;
    cfg.data.dim = 50;
    cfg.data.n_train = 2000;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    check_shape(&cfg, &tr, &te);
    ck_assert_int_eq(tr.k, 1);
    double s = 0, s2 = 0;
    long cnt = (long)tr.n * tr.d;
    for (long i = 0; i < cnt; i++) {
        s += tr.x[i];
        s2 += tr.x[i] * tr.x[i];
    }
    double var = s2 / cnt - (s / cnt) * (s / cnt);
    ck_assert_msg(op_close(var, 1.0 / 50, 0.03, 0), "var %g", var);
    int pos = 0;
    for (int i = 0; i < tr.n; i++) {
        ck_assert(tr.y[i] == (tr.label[i] ? 1.0 : -1.0));
        pos += tr.label[i];
    }
    ck_assert(pos > 900 && pos < 1100);
    op_dataset tr2, te2;
    ck_assert_int_eq(op_data_load(&cfg, &tr2, &te2), OP_OK);
    ck_assert(same_set(&tr, &tr2));
    ck_assert(same_set(&te, &te2));
    ck_assert(memcmp(tr.x, te.x, 10 * sizeof(double)) != 0);
    op_data_free(&tr2);
    op_data_free(&te2);
    op_data_free(&tr);
    op_data_free(&te);
}
END_TEST

START_TEST(sines)
{
    op_config cfg = config("[data]\nsource = sines\nfrequencies = 1, 3\n"
                           "amplitudes = 2, 0.5\nlo = -1\nhi = 2\n"
                           "n_train = 7\nn_test = 6\n[train]\nloss = mse\n");
    op_dataset tr, te;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    check_shape(&cfg, &tr, &te);
    ck_assert(tr.x[0] == -1.0);
    ck_assert(op_close(tr.x[6], 2.0, 0, 1e-15));
    ck_assert(op_close(tr.x[1], -0.5, 0, 1e-15));
    ck_assert(op_close(te.x[0], -0.75, 0, 1e-15)); /* half a cell of 0.5 */
    ck_assert(op_close(te.x[5], 1.75, 0, 1e-15));
    for (int i = 0; i < 7; i++) {
        double x = tr.x[i];
        ck_assert(op_close(tr.y[i], 2 * sin(x) + 0.5 * sin(3 * x), 0, 1e-14));
        ck_assert_int_eq(tr.label[i], -1);
    }
    double x = 0.3, y;
    op_data_sines_eval(&cfg.data, &x, &y, 1);
    ck_assert(op_close(y, 2 * sin(0.3) + 0.5 * sin(0.9), 0, 1e-15));
    op_data_free(&tr);
    op_data_free(&te);
}
END_TEST

START_TEST(teacher)
{
    op_config cfg = config("[data]\nsource = teacher\ndim = 10\n"
                           "teacher_width = 20\nn_train = 300\nn_test = 40\n"
                           "[train]\nloss = mse\n");
    op_dataset tr, te, tr2, te2;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    check_shape(&cfg, &tr, &te);
    double m = 0, v = 0;
    for (int i = 0; i < tr.n; i++)
        m += tr.y[i];
    m /= tr.n;
    for (int i = 0; i < tr.n; i++)
        v += (tr.y[i] - m) * (tr.y[i] - m);
    v /= tr.n;
    ck_assert(op_close(m, 0, 0, 1e-12));
    ck_assert(op_close(v, 1, 1e-12, 0));
    ck_assert_int_eq(tr.label[0], -1);
    ck_assert_int_eq(op_data_load(&cfg, &tr2, &te2), OP_OK);
    ck_assert(same_set(&tr, &tr2) && same_set(&te, &te2));
    op_data_free(&tr2);
    op_data_free(&te2);
    op_data_free(&tr);
    op_data_free(&te);
}
END_TEST

/* ---- label noise and corruptions ---------------------------------------- */

static op_config noise_cfg(void)
{
    return config("[job]\nseed = 9\n[data]\nsource = gaussian\ndim = 6\n"
                  "classes = 5\nn_train = 4000\nn_test = 10\n");
}

/* Fraction of labels of b differing from a; checks y matches labels. */
static double changed(const op_dataset *a, const op_dataset *b)
{
    int n = 0;
    for (int i = 0; i < a->n; i++) {
        n += a->label[i] != b->label[i];
        for (int c = 0; c < b->k; c++)
            ck_assert(b->y[i * b->k + c] ==
                      (b->k == 1 ? (b->label[i] ? 1.0 : -1.0)
                                 : (c == b->label[i] ? 1.0 : 0.0)));
    }
    return (double)n / a->n;
}

START_TEST(label_noise)
{
    op_config cfg = noise_cfg();
    op_dataset tr, te, n0, n1, n3, n5, n3b, n3s;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    cfg.data.label_noise = 0;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n0), OP_OK);
    ck_assert(same_set(&tr, &n0));
    cfg.data.label_noise = 1;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n1), OP_OK);
    ck_assert(changed(&tr, &n1) == 1.0);
    cfg.data.label_noise = 0.3;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n3), OP_OK);
    double f3 = changed(&tr, &n3);
    ck_assert_msg(fabs(f3 - 0.3) < 0.03, "fraction %g", f3);
    ck_assert(memcmp(tr.x, n3.x, sizeof(double) * tr.n * tr.d) == 0);
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n3b), OP_OK);
    ck_assert(same_set(&n3, &n3b));
    cfg.data.label_noise = 0.5;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n5), OP_OK);
    /* Nested: every label flipped at 0.3 is flipped, to the same class, at
     * 0.5 and at 1. */
    for (int i = 0; i < tr.n; i++)
        if (n3.label[i] != tr.label[i]) {
            ck_assert_int_eq(n5.label[i], n3.label[i]);
            ck_assert_int_eq(n1.label[i], n3.label[i]);
        }
    cfg.data.label_noise = 0.3;
    cfg.seed_index = 1;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n3s), OP_OK);
    ck_assert(!same_set(&n3, &n3s));
    ck_assert(fabs(changed(&tr, &n3s) - 0.3) < 0.03);
    op_dataset *all[] = {&tr, &te, &n0, &n1, &n3, &n5, &n3b, &n3s};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        op_data_free(all[i]);

    /* k == 1: +-1 labels flip sign. */
    cfg = noise_cfg();
    cfg.data.classes = 1;
    cfg.data.label_noise = 1;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n1), OP_OK);
    for (int i = 0; i < tr.n; i++)
        ck_assert(n1.y[i] == -tr.y[i]);
    ck_assert(changed(&tr, &n1) == 1.0);
    op_data_free(&n1);
    op_data_free(&tr);
    op_data_free(&te);

    /* Regression sets have no labels to flip. */
    cfg = config("[data]\nsource = sines\nn_train = 10\nn_test = 10\n"
                 "[train]\nloss = mse\n");
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    cfg.data.label_noise = 0.5;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &n1), OP_ERR_INPUT);
    op_data_free(&tr);
    op_data_free(&te);
}
END_TEST

/* Sorted copy of row i, to compare rows as multisets. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sorted_row(const op_dataset *ds, int i, double *out)
{
    memcpy(out, ds->x + (size_t)i * ds->d, sizeof(double) * ds->d);
    qsort(out, ds->d, sizeof(double), cmp_double);
}

START_TEST(corruptions)
{
    op_config cfg = noise_cfg();
    cfg.data.dim = 16;
    cfg.data.n_train = 3000;
    op_dataset tr, te, c;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    int d = tr.d;
    double a[16], b[16];

    cfg.data.corruption = OP_CORRUPT_RANDOM_LABELS;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &c), OP_OK);
    double f = changed(&tr, &c);
    ck_assert_msg(fabs(f - 0.8) < 0.04, "fraction %g", f); /* 1 - 1/5 */
    ck_assert(memcmp(tr.x, c.x, sizeof(double) * tr.n * d) == 0);
    op_data_free(&c);

    /* Shuffled pixels: one permutation, the same for every image. */
    cfg.data.corruption = OP_CORRUPT_SHUFFLED_PIXELS;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &c), OP_OK);
    int perm[16];
    for (int j = 0; j < d; j++) {
        perm[j] = -1;
        for (int m = 0; m < d; m++)
            if (c.x[j] == tr.x[m])
                perm[j] = m;
        ck_assert(perm[j] >= 0);
    }
    int moved = 0;
    for (int j = 0; j < d; j++)
        moved += perm[j] != j;
    ck_assert(moved > 0);
    for (int i = 0; i < tr.n; i++)
        for (int j = 0; j < d; j++)
            ck_assert(c.x[i * d + j] == tr.x[i * d + perm[j]]);
    ck_assert(changed(&tr, &c) == 0.0);
    op_data_free(&c);
    /* ... and the test images get the same permutation. */
    ck_assert_int_eq(op_data_corrupt_test(&cfg, &te, &c), OP_OK);
    for (int i = 0; i < te.n; i++)
        for (int j = 0; j < d; j++)
            ck_assert(c.x[i * d + j] == te.x[i * d + perm[j]]);
    op_data_free(&c);

    /* Random pixels: each image a permutation of itself, not all alike. */
    cfg.data.corruption = OP_CORRUPT_RANDOM_PIXELS;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &c), OP_OK);
    int differ = 0;
    for (int i = 0; i < tr.n; i++) {
        sorted_row(&tr, i, a);
        sorted_row(&c, i, b);
        ck_assert(memcmp(a, b, sizeof(double) * d) == 0);
        for (int j = 0; j < d; j++)
            if (c.x[i * d + j] != tr.x[i * d + perm[j]]) {
                differ++;
                break;
            }
    }
    ck_assert(differ > tr.n * 9 / 10);
    op_data_free(&c);

    /* Gaussian: per-feature mean and variance kept, values new. */
    cfg.data.corruption = OP_CORRUPT_GAUSSIAN;
    ck_assert_int_eq(op_data_corrupt(&cfg, &tr, &c), OP_OK);
    for (int j = 0; j < d; j++) {
        double m0 = 0, v0 = 0, m1 = 0, v1 = 0;
        for (int i = 0; i < tr.n; i++) {
            m0 += tr.x[i * d + j];
            v0 += tr.x[i * d + j] * tr.x[i * d + j];
            m1 += c.x[i * d + j];
            v1 += c.x[i * d + j] * c.x[i * d + j];
        }
        m0 /= tr.n, m1 /= tr.n;
        v0 = v0 / tr.n - m0 * m0;
        v1 = v1 / tr.n - m1 * m1;
        double sd = sqrt(v0);
        ck_assert(fabs(m1 - m0) < 4 * sd / sqrt(tr.n));
        ck_assert_msg(op_close(v1, v0, 0.1, 0), "var %g vs %g", v1, v0);
    }
    ck_assert(c.x[0] != tr.x[0]);
    op_data_free(&c);
    op_data_free(&tr);
    op_data_free(&te);
}
END_TEST

/* ---- ZCA ---------------------------------------------------------------- */

START_TEST(zca)
{
    op_config cfg = noise_cfg();
    cfg.data.dim = 12;
    cfg.data.n_train = 400;
    cfg.data.n_test = 30;
    op_dataset tr, te;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    int n = tr.n, d = tr.d;
    /* Correlate the features so whitening has work to do. */
    for (int i = 0; i < n; i++)
        for (int j = 1; j < d; j++)
            tr.x[i * d + j] += 0.8 * tr.x[i * d + j - 1] + 0.3;
    /* mv: the mean feature variance (tr Sigma / d), which whitening keeps;
     * x0: the centered inputs, which zeta -> inf recovers. */
    double *x0 = malloc((size_t)n * d * sizeof(double));
    ck_assert_ptr_nonnull(x0);
    double mv = 0;
    for (int p = 0; p < d; p++) {
        double mu = 0, v = 0;
        for (int i = 0; i < n; i++)
            mu += tr.x[i * d + p] / n;
        for (int i = 0; i < n; i++) {
            x0[i * d + p] = tr.x[i * d + p] - mu;
            v += x0[i * d + p] * x0[i * d + p] / n;
        }
        mv += v / d;
    }
    double *x1 = malloc((size_t)n * d * sizeof(double));
    ck_assert_ptr_nonnull(x1);
    memcpy(x1, tr.x, (size_t)n * d * sizeof(double));
    op_dataset big = tr;   /* a view of x1 for the zeta -> inf check */
    big.x = x1;
    op_dataset none = te;
    none.n = 0;
    ck_assert_int_eq(op_data_zca(&big, &none, 1e8), OP_OK);
    for (int i = 0; i < n * d; i++)
        ck_assert_msg(fabs(x1[i] - x0[i]) < 1e-6 * sqrt(mv), "zeta 1e8: x[%d] "
                      "%g, centered %g", i, x1[i], x0[i]);
    free(x1);
    free(x0);
    double te0 = te.x[0];
    ck_assert_int_eq(op_data_zca(&tr, &te, 0.0), OP_OK);
    ck_assert(te.x[0] != te0);
    for (int p = 0; p < d; p++) {
        double m = 0;
        for (int i = 0; i < n; i++)
            m += tr.x[i * d + p];
        ck_assert(fabs(m / n) < 1e-10);
        for (int q = 0; q < d; q++) {
            double c = 0;
            for (int i = 0; i < n; i++)
                c += tr.x[i * d + p] * tr.x[i * d + q];
            c /= n;
            ck_assert_msg(op_close(c, p == q ? mv : 0.0, 0, 1e-9 * mv),
                          "cov[%d][%d] = %g (m = %g)", p, q, c, mv);
        }
    }
    /* Whitened data are isotropic: any zeta leaves them as they are (the
     * total variance is kept; before the fix zeta = 1 halved it). */
    ck_assert_int_eq(op_data_zca(&tr, &te, 1.0), OP_OK);
    double v = 0;
    for (int i = 0; i < n; i++)
        v += tr.x[i * d] * tr.x[i * d];
    ck_assert_msg(op_close(v / n, mv, 1e-9, 0), "var %g, m %g", v / n, mv);
    op_data_free(&tr);
    op_data_free(&te);

    /* n < d: a rank-deficient covariance whitens in its range, finitely. */
    cfg.data.n_train = 5;
    ck_assert_int_eq(op_data_load(&cfg, &tr, &te), OP_OK);
    ck_assert_int_eq(op_data_zca(&tr, &te, 0.0), OP_OK);
    for (int i = 0; i < tr.n * tr.d; i++)
        ck_assert(isfinite(tr.x[i]));
    for (int i = 0; i < te.n * te.d; i++)
        ck_assert(isfinite(te.x[i]));
    op_data_free(&tr);
    op_data_free(&te);
}
END_TEST

START_TEST(alloc_one_block)
{
    op_dataset ds;
    ck_assert_int_eq(op_data_alloc(&ds, 5, 3, 2), OP_OK);
    ck_assert_ptr_eq(ds.x, ds.block_);
    ck_assert_ptr_eq(ds.y, ds.x + 15);
    ck_assert_ptr_eq((void *)ds.label, (void *)(ds.y + 10));
    op_data_free(&ds);
    ck_assert_ptr_null(ds.block_);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, idx_roundtrip);
    tcase_add_test(tc, idx_malformed);
    tcase_add_test(tc, fashion_mnist);
    tcase_add_test(tc, standardize_floor);
    tcase_add_test(tc, fashion_missing_file);
    tcase_add_test(tc, sphere_and_gaussian);
    tcase_add_test(tc, sines);
    tcase_add_test(tc, teacher);
    tcase_add_test(tc, label_noise);
    tcase_add_test(tc, corruptions);
    tcase_add_test(tc, zca);
    tcase_add_test(tc, alloc_one_block);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(data_suite)
