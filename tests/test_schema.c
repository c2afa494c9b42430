/* test_schema.c — the archive's one schema (schema.h): the /runs columns of
 * a job (configuration from the job or its axes, a clashing swept key
 * prefixed, results from the X-macro), a packed row read back, the result
 * comparison merge uses, and the per-run datasets the layout declares. */
#include <string.h>

#include "overparam/job.h"
#include "overparam/result.h"
#include "overparam/schema.h"
#include "testutil.h"

static const char *JOB =
    "[data]\nsource = gaussian\ndim = 4\nclasses = 2\nn_train = 8\n"
    "n_test = 8\n[train]\nepochs = 10\nlog_every = 5\n"
    "[grid]\nwidth = 4, 8\nepochs = 5, 10\nactivation = relu, tanh\n"
    "seed = 0, 1\n";

static int find(const op_runs_schema *rs, const char *name)
{
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->c[i].def.name, name))
            return i;
    return -1;
}

START_TEST(runs_columns_of_a_job)
{
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", JOB), OP_OK);
    op_runs_schema rs;
    op_runs_build(&job, &rs);
    ck_assert_str_eq(rs.c[0].def.name, "run");
    ck_assert_str_eq(rs.c[0].def.role, "id");
    /* Fixed configuration columns, swept or not. */
    int w = find(&rs, "width"), d = find(&rs, "depth"), s = find(&rs, "seed");
    ck_assert(w > 0 && w < rs.n_config && d > 0 && d < rs.n_config);
    ck_assert_int_ge(rs.c[w].axis, 0);
    ck_assert_int_eq(rs.c[d].axis, -1);
    ck_assert_str_eq(rs.c[s].def.role, "replicate");
    /* A swept key named like a result column is prefixed; the result
     * column keeps its name. */
    int ce = find(&rs, "cfg_epochs"), e = find(&rs, "epochs");
    ck_assert(ce > 0 && ce < rs.n_config);
    ck_assert_int_ge(e, rs.n_config);
    ck_assert_int_ge(find(&rs, "activation"), 0);
    ck_assert_int_lt(find(&rs, "activation"), rs.n_config);
    ck_assert_str_eq(rs.c[rs.status].def.name, "status");
    ck_assert_int_eq(rs.row_bytes, 8 * (size_t)rs.n);
    /* Names unique. */
    for (int i = 0; i < rs.n; i++)
        for (int j = i + 1; j < rs.n; j++)
            ck_assert_str_ne(rs.c[i].def.name, rs.c[j].def.name);
    /* info's summary: six columns, fit_epoch's missing value -1. */
    const char *shown[OP_RUNS_COLS_MAX];
    int n = op_runs_summary(shown, OP_RUNS_COLS_MAX);
    ck_assert_int_eq(n, 6);
    ck_assert_str_eq(shown[0], "n_params");
    ck_assert_str_eq(shown[5], "fit_epoch");
    ck_assert(rs.c[find(&rs, "fit_epoch")].def.missing == -1);
    ck_assert(isnan(rs.c[find(&rs, "test_acc")].def.missing));
    op_job_free(&job);
}
END_TEST

START_TEST(runs_row_round_trip)
{
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", JOB), OP_OK);
    op_runs_schema rs;
    op_runs_build(&job, &rs);
    unsigned char *buf = malloc(rs.row_bytes);
    op_row row = {.run = 5, .status = OP_RUN_DONE, .rank = 1, .n_params = 42,
                  .train_loss = 0.25, .test_loss = 0.5, .train_acc = 1,
                  .test_acc = 0.75, .epochs = 10, .fit_epoch = 7,
                  .seconds = 0.125};
    op_runs_pack(&rs, &job, 5, &row, buf);
    op_row back;
    memset(&back, 0, sizeof back);
    op_runs_unpack(&rs, buf, &back);
    ck_assert_int_eq(back.run, 5);
    ck_assert(op_runs_same_result(&row, &back));
    ck_assert_int_eq(back.rank, 1);
    ck_assert(back.seconds == 0.125);
    /* The configuration columns hold run 5's axis values. */
    int64_t width;
    memcpy(&width, buf + rs.c[find(&rs, "width")].def.offset, 8);
    ck_assert_int_eq(width, (int64_t)op_job_axis_value(
                                &job, 5, op_job_axis_find(&job, "width")));
    /* Timing and worker columns are no results; a metric is. */
    back.seconds = 9;
    back.rank = 0;
    ck_assert(op_runs_same_result(&row, &back));
    back.test_acc = 0.5;
    ck_assert(!op_runs_same_result(&row, &back));
    /* A pending row: status 0, fit_epoch -1, NaN losses. */
    op_runs_pack(&rs, &job, 3, NULL, buf);
    op_runs_unpack(&rs, buf, &back);
    ck_assert_int_eq(back.status, OP_RUN_PENDING);
    ck_assert_int_eq(back.fit_epoch, -1);
    ck_assert(isnan(back.test_loss));
    free(buf);
    op_job_free(&job);
}
END_TEST

START_TEST(layout_fields_are_declared)
{
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", JOB), OP_OK);
    op_layout lay;
    ck_assert_int_eq(op_layout_build(&job, &lay), OP_OK);
    for (int i = 0; i < lay.n; i++) {
        const op_field *f = &lay.f[i];
        ck_assert_ptr_nonnull(f->def);
        ck_assert_str_eq(f->def->name, f->name);
        ck_assert_str_eq(f->def->units, f->units);
    }
    ck_assert_str_eq(lay.f[OP_F_TEST_ACC].name, "test_acc");
    ck_assert_str_eq(lay.f[OP_F_EPOCH].def->dims[0], "epoch");
    const op_dataset_def *fe = op_schema_dataset(OP_D_MEASURE_FREQ_ERROR);
    ck_assert_str_eq(fe->name, "freq_error");
    ck_assert_str_eq(fe->dims[0], "epoch");
    ck_assert_str_eq(fe->dims[1], "frequency");
    ck_assert_ptr_null(op_schema_dataset(OP_D_MEASURE_LIP_LO)->dims[1]);
    op_job_free(&job);
}
END_TEST

static Suite *schema_suite(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = tcase_create("schema");
    tcase_add_test(tc, runs_columns_of_a_job);
    tcase_add_test(tc, runs_row_round_trip);
    tcase_add_test(tc, layout_fields_are_declared);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(schema_suite)
