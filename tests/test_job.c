/* test_job.c — job-file parsing, good and bad, and grid expansion. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "overparam/job.h"
#include "testutil.h"

static op_status load(op_job *job, const char *text)
{
    return op_job_load_string(job, "t.ini", text);
}

/* Expects OP_ERR_INPUT with a message holding "t.ini:LINE:" and `what`. */
static void expect_error(const char *text, int line, const char *what)
{
    op_job job;
    op_status s = load(&job, text);
    ck_assert_int_eq(s, OP_ERR_INPUT);
    char where[32];
    snprintf(where, sizeof where, "t.ini:%d:", line);
    const char *msg = op_error_message();
    ck_assert_msg(strstr(msg, where) != NULL, "want '%s' in: %s", where, msg);
    ck_assert_msg(strstr(msg, what) != NULL, "want '%s' in: %s", what, msg);
}

START_TEST(defaults_and_values)
{
    op_job job;
    const char *text = "# comment\n"
                       "[job]\nseed = 42\n"
                       "[data]\nsource = gaussian\ndim = 8\nn_train = 100\n"
                       "[model]\nwidth = 16\nactivation = erf\n"
                       "parameterization = ntk\n"
                       "[train]\nlr = 0.5 ; inline comment\n"
                       "precision = float64\n";
    ck_assert_int_eq(load(&job, text), OP_OK);
    ck_assert_int_eq(job.n_runs, 1);
    ck_assert_uint_eq(job.base.seed, 42);
    ck_assert_int_eq(job.base.data.source, OP_SRC_GAUSSIAN);
    ck_assert_int_eq(job.base.data.dim, 8);
    ck_assert_int_eq(job.base.model.width, 16);
    ck_assert_int_eq(job.base.model.activation, OP_ACT_ERF);
    ck_assert_int_eq(job.base.model.param, OP_PARAM_NTK);
    ck_assert(job.base.train.lr == 0.5);
    ck_assert_int_eq(job.base.train.precision, 8);
    ck_assert_int_eq(job.base.train.epochs, 100); /* default */
    ck_assert_int_eq(job.base.data.n_freq, 3);
    op_job_free(&job);
}
END_TEST

START_TEST(grid_expansion)
{
    op_job job;
    /* Lines in reverse table order: indices must follow the table. */
    const char *text = "[data]\nsource = sphere\n"
                       "[grid]\nseed = 0, 1\nlr = 0.1, 0.01, 0.001\n"
                       "width = 8, 16\n";
    ck_assert_int_eq(load(&job, text), OP_OK);
    ck_assert_int_eq(job.n_runs, 12);
    ck_assert_int_eq(job.n_axes, 3);
    ck_assert_str_eq(job.axes[0].name, "width");
    ck_assert_str_eq(job.axes[1].name, "seed");
    ck_assert_str_eq(job.axes[2].name, "lr");
    op_config c;
    op_job_config(&job, 0, &c);
    ck_assert_int_eq(c.model.width, 8);
    ck_assert_int_eq(c.seed_index, 0);
    ck_assert(c.train.lr == 0.1);
    op_job_config(&job, 1, &c); /* last axis fastest */
    ck_assert(c.train.lr == 0.01);
    op_job_config(&job, 11, &c);
    ck_assert_int_eq(c.model.width, 16);
    ck_assert_int_eq(c.seed_index, 1);
    ck_assert(c.train.lr == 0.001);
    ck_assert(op_job_axis_value(&job, 7, 0) == 16);
    ck_assert(op_job_axis_value(&job, 7, 1) == 0);
    ck_assert(op_job_axis_value(&job, 7, 2) == 0.01);
    /* Every run distinct. */
    for (long a = 0; a < job.n_runs; a++)
        for (long b = a + 1; b < job.n_runs; b++) {
            op_config x, y;
            op_job_config(&job, a, &x);
            op_job_config(&job, b, &y);
            ck_assert(x.model.width != y.model.width ||
                      x.seed_index != y.seed_index || x.train.lr != y.train.lr);
        }
    op_job_free(&job);
}
END_TEST

START_TEST(ranges)
{
    op_job job;
    const char *text = "[data]\nsource = sphere\n"
                       "[grid]\nwidth = geomspace(8, 1024, 8)\n"
                       "label_noise = linspace(0, 1, 6)\n"
                       "depth = range(1, 5, 1)\n"
                       "parameterization = standard, ntk\n";
    ck_assert_int_eq(load(&job, text), OP_OK);
    int a = op_job_axis_find(&job, "width");
    ck_assert_int_eq(job.axes[a].n, 8);
    ck_assert(job.axes[a].values[0] == 8 && job.axes[a].values[7] == 1024);
    ck_assert(job.axes[a].values[3] == 64);
    a = op_job_axis_find(&job, "label_noise");
    ck_assert_int_eq(job.axes[a].n, 6);
    ck_assert(fabs(job.axes[a].values[1] - 0.2) < 1e-15);
    a = op_job_axis_find(&job, "depth");
    ck_assert_int_eq(job.axes[a].n, 4);
    ck_assert_int_eq(job.n_runs, 8 * 6 * 4 * 2);
    a = op_job_axis_find(&job, "parameterization");
    char b[32];
    ck_assert_str_eq(op_job_axis_label(&job, a, job.axes[a].values[1], b,
                                       sizeof b), "ntk");
    op_job_free(&job);
    /* Rounded geomspace of integers drops repeats instead of duplicating
     * runs. */
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "width = geomspace(1, 4, 10)\n"), OP_OK);
    ck_assert_int_eq(job.n_runs, 4);
    op_job_free(&job);
}
END_TEST

/* range() excludes its stop as Python and numpy do; logspace is 10^linspace;
 * generated ends are exactly the written ones. */
START_TEST(ranges_like_numpy)
{
    op_job job;
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "seed = range(0, 3, 1)\n"), OP_OK);
    ck_assert_int_eq(job.n_runs, 3);
    ck_assert(job.axes[0].values[2] == 2);
    op_job_free(&job);
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "seed = range(0, 5)\n"), OP_OK);
    ck_assert_int_eq(job.n_runs, 5);
    op_job_free(&job);
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "width = range(10, 0, -3)\n"), OP_OK);
    ck_assert_int_eq(job.n_runs, 4); /* 10 7 4 1 */
    ck_assert(job.axes[0].values[3] == 1);
    op_job_free(&job);
    /* 0.1 steps to 1: ten values, 1 itself excluded despite rounding. */
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "label_noise = range(0, 1, 0.1)\n"), OP_OK);
    ck_assert_int_eq(job.n_runs, 10);
    ck_assert(fabs(job.axes[0].values[9] - 0.9) < 1e-12);
    op_job_free(&job);
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "lr = logspace(-3, -1, 3)\n"), OP_OK);
    ck_assert_int_eq(job.n_runs, 3);
    ck_assert(fabs(job.axes[0].values[0] - 1e-3) < 1e-18);
    ck_assert(fabs(job.axes[0].values[1] - 1e-2) < 1e-17);
    ck_assert(job.axes[0].values[2] == 0.1);
    op_job_free(&job);
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "lr = geomspace(0.001, 0.1, 3)\n"), OP_OK);
    ck_assert(job.axes[0].values[2] == 0.1);
    op_job_free(&job);
    ck_assert_int_eq(load(&job, "[data]\nsource = sphere\n[grid]\n"
                                "label_noise = linspace(0, 0.3, 4)\n"),
                     OP_OK);
    ck_assert(job.axes[0].values[3] == 0.3);
    op_job_free(&job);
}
END_TEST

START_TEST(kernel_inherits_model)
{
    op_job job;
    const char *text = "[data]\nsource = sphere\n"
                       "[model]\nactivation = erf\nsigma_w2 = 1.5\n"
                       "parameterization = ntk\n"
                       "[grid]\ndepth = 1, 2, 3\n"
                       "[kernel]\nkernels = nngp\n";
    ck_assert_int_eq(load(&job, text), OP_OK);
    const op_kernel_cfg *k = &job.base.kernel;
    ck_assert(k->enabled && k->nngp && !k->ntk);
    ck_assert_int_eq(k->activation, OP_ACT_ERF);
    ck_assert(k->sigma_w2 == 1.5);
    ck_assert_int_eq(k->n_depths, 3);
    ck_assert_int_eq(k->depths[2], 3);
    op_job_free(&job);
}
END_TEST

START_TEST(errors)
{
    expect_error("[data]\nsource = sphere\n[modle]\nwidth = 3\n", 3,
                 "unknown section [modle]");
    expect_error("[data]\nsource = sphere\n[model]\nwidht = 3\n", 4,
                 "widht: unknown key (allowed: activation");
    expect_error("[data]\nsource = sphere\n[model]\nwidth = -3\n", 4,
                 "width = -3: out of range");
    expect_error("[data]\nsource = sphere\n[model]\nwidth = 3.5\n", 4,
                 "not an integer");
    expect_error("[data]\nsource = sphere\n[train]\nlr = fast\n", 4,
                 "lr = fast: not a number");
    expect_error("[data]\nsource = sphere\n[train]\nlr = 1e999\n", 4,
                 "not a number");
    expect_error("[data]\nsource = sphere\n[model]\nactivation = gelu\n", 4,
                 "unknown value (allowed: one of relu, erf, tanh)");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth =\n", 4,
                 "empty axis");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = 8, , 16\n", 4,
                 "value '' is empty");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = 8, -16\n", 4,
                 "out of range");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = 8, 8\n", 4,
                 "listed twice");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = 8\nwidth = 9\n",
                 5, "duplicate key (first at line 4)");
    expect_error("[data]\nsource = sphere\n\n[model]\nwidth = 8\nwidth = 9\n",
                 6, "duplicate key (first at line 5)");
    expect_error("[data]\nsource = sphere\n[grid]\nactivation = relu\n"
                 "path = x\n", 5, "not a key that can be swept");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = geomspace(0, 8, 4)\n",
                 4, "positive");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = linspace(1, 8)\n",
                 4, "three numbers");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = range(8)\n",
                 4, "two or three numbers");
    expect_error("[data]\nsource = sphere\n[grid]\nseed = range(3, 3)\n",
                 4, "empty range");
    expect_error("[data]\nsource = sphere\n[grid]\nlr = logspace(0, 400, 3)\n",
                 4, "beyond");
    expect_error("[data]\nsource = sphere\n[grid]\nwidth = range(1, 9e9, 1)\n",
                 4, "at most 1000000");
    expect_error("[data]\nsource = sphere\n[grid]\n"
                 "width = range(1, 1001)\ndepth = range(1, 65)\n"
                 "seed = range(0, 1000)\n", 6, "runs, at most");
    expect_error("width = 3\n", 1, "outside any section");
    expect_error("[data]\nsource = sphere\nthis line is garbage\n", 3,
                 "syntax error");
    expect_error("[data]\nsource = sines\n[train]\nloss = xent\n", 4,
                 "needs a classification set");
    expect_error("[data]\nsource = sines\nfrequencies = 1, 2\n", 3,
                 "2 frequencies");
    expect_error("[data]\nn_train = 70000\n", 2, "60000");
    expect_error("[data]\ndownsample = 3\n", 2, "must divide 28");
    expect_error("[data]\npath = /nonexistent/fmnist\n", 2,
                 "cannot read /nonexistent/fmnist/train-images-idx3-ubyte.gz");
    expect_error("[data]\nsource = sphere\n[data2]\n", 3, "unknown section");
    expect_error("[data]\nsource = sphere\n[model]\nactivation = tanh\n"
                 "[kernel]\nkernels = ntk\n", 4, "no closed-form kernel");
    expect_error("[data]\nsource = sphere\n[kernel]\nkernels = gp\n", 4,
                 "unknown kernel 'gp'");
    /* A line longer than any value may be. */
    char longline[3000];
    int n = snprintf(longline, sizeof longline,
                     "[data]\nsource = sphere\n[grid]\nwidth = 1");
    for (int i = 0; i < 600; i++)
        n += snprintf(longline + n, sizeof longline - (size_t)n, ",%d", i + 2);
    snprintf(longline + n, sizeof longline - (size_t)n, "\n");
    expect_error(longline, 4, "line longer than");
    expect_error("[data]\nsource = sphere\x01\n", 2, "control character");
}
END_TEST

START_TEST(file_errors)
{
    op_job job;
    ck_assert_int_eq(op_job_load(&job, "/nonexistent/job.ini"), OP_ERR_INPUT);
    ck_assert(strstr(op_error_message(), "/nonexistent/job.ini") != NULL);
    char path[] = "/tmp/op_job_XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    const char bin[] = "[data]\nsource = sphere\n\0\x01\x02garbage";
    ck_assert(write(fd, bin, sizeof bin) == (ssize_t)sizeof bin);
    close(fd);
    ck_assert_int_eq(op_job_load(&job, path), OP_ERR_INPUT);
    ck_assert_msg(strstr(op_error_message(), ":3: NUL byte") != NULL, "%s",
                  op_error_message());
    unlink(path);
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, defaults_and_values);
    tcase_add_test(tc, grid_expansion);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, ranges_like_numpy);
    tcase_add_test(tc, kernel_inherits_model);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, file_errors);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(job_suite)
