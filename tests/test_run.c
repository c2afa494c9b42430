/* test_run.c — one run (run.c): the initialization saved in /weights/init
 * is the one training started from, because both draw it from the one
 * stream op_run_rng owns; and a run's result depends on its index only. */
#include <string.h>

#include "overparam/net.h"
#include "overparam/run.h"
#include "testutil.h"

static const char job_text[] =
    "[job]\nseed = 7\n"
    "[data]\nsource = gaussian\ndim = 6\nclasses = 3\nn_train = 40\n"
    "n_test = 10\n"
    "[model]\nactivation = tanh\n"
    "[train]\nloss = mse\nlr = 0.05\nepochs = 5\nbatch = 8\n"
    "precision = float64\n"
    "[grid]\nwidth = 5, 9\nseed = 0, 1\n"
    "[output]\nsave_weights = init_final\n";

START_TEST(saved_init_is_the_trained_init)
{
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", job_text), OP_OK);
    op_layout lay;
    ck_assert_int_eq(op_layout_build(&job, &lay), OP_OK);
    int fi = op_layout_find(&lay, "weights", "init");
    int ff = op_layout_find(&lay, "weights", "final");
    ck_assert(fi >= 0 && ff >= 0);
    op_run_ctx ctx = {0};
    op_run_setup(&ctx, &job, &lay);
    for (long run = 0; run < job.n_runs; run++) {
        op_run_compute(&ctx, &job, run, &ctx.res, 0);
        ck_assert_int_eq(ctx.res.row.status, OP_RUN_DONE);
        op_config cfg;
        op_job_config(&job, run, &cfg);
        /* The network training drew, drawn again from the run's stream. */
        op_net net;
        memset(&net, 0, sizeof net);
        ck_assert_int_eq(op_net_setup(&net, &cfg.model, ctx.train.d,
                                      ctx.train.k, 8, 8, 0), OP_OK);
        op_rng r;
        op_run_rng(&r, &cfg, run, OP_RUN_STREAM_INIT, 0);
        op_net_init_params(&net, &r);
        double *want = malloc(sizeof(double) * (size_t)net.n_total);
        op_net_params_copy(&net, want);
        const double *init = op_result_field(&ctx.res, &lay, fi);
        const double *fin = op_result_field(&ctx.res, &lay, ff);
        long moved = 0;
        for (long i = 0; i < net.n_total; i++) {
            ck_assert_msg(init[i] == want[i], "run %ld param %ld: %.17g vs "
                          "%.17g", run, i, init[i], want[i]);
            moved += fin[i] != init[i];
        }
        ck_assert_msg(moved > 0, "run %ld: training did not move", run);
        free(want);
        op_net_free(&net);
    }
    op_run_free(&ctx);
    op_job_free(&job);
}
END_TEST

START_TEST(result_depends_on_the_run_index_only)
{
    /* Run 3 computed first or after the others gives the same numbers:
     * no stream carries state from one run to the next. */
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", job_text), OP_OK);
    op_layout lay;
    ck_assert_int_eq(op_layout_build(&job, &lay), OP_OK);
    op_run_ctx a = {0}, b = {0};
    op_run_setup(&a, &job, &lay);
    op_run_setup(&b, &job, &lay);
    op_run_compute(&a, &job, 3, &a.res, 0);
    for (long run = 0; run < 4; run++)
        op_run_compute(&b, &job, run, &b.res, 0);
    ck_assert(a.res.row.train_loss == b.res.row.train_loss);
    ck_assert(memcmp(a.res.values, b.res.values,
                     sizeof(double) * (size_t)lay.total) == 0);
    op_run_free(&a);
    op_run_free(&b);
    op_job_free(&job);
}
END_TEST

/* Packs in the sweep (run.c): op_run_plan follows [train] pack, and a
 * pack's members get exactly what op_run_compute writes for each (rows,
 * curves, saved weights), full-batch and mini-batch members, label noise
 * per member. */
START_TEST(pack_members_get_what_single_runs_get)
{
    static const char text[] =
        "[job]\nseed = 7\n"
        "[data]\nsource = gaussian\ndim = 6\nclasses = 3\nn_train = 40\n"
        "n_test = 10\n"
        "[model]\nactivation = tanh\n"
        "[train]\nloss = mse\nlr = 0.05\nepochs = 5\nprecision = float64\n"
        "pack = auto\n"
        "[grid]\nwidth = 5, 9\nlabel_noise = 0, 0.3\nbatch = 0, 8\n"
        "seed = 0, 1\n"
        "[output]\nsave_weights = init_final\n";
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", text), OP_OK);
    long pack_of[16], capped[16];
    ck_assert_int_eq(job.n_runs, 16);
    /* auto: packs of 4 in run order among each width's 8 runs */
    ck_assert_int_eq(op_run_plan(&job, 2, capped), 8); /* the cap */
    ck_assert_int_eq(op_run_plan(&job, 64, pack_of), 4);
    op_layout lay;
    ck_assert_int_eq(op_layout_build(&job, &lay), OP_OK);
    op_run_ctx a = {0}, b = {0};
    op_run_setup(&a, &job, &lay);
    op_run_setup(&b, &job, &lay);
    for (long p = 0; p < 4; p++) {
        long runs[16];
        int n = 0;
        for (long r = 0; r < 16; r++)
            if (pack_of[r] == p)
                runs[n++] = r;
        ck_assert_int_eq(n, 4);
        op_run_compute_pack(&a, &job, runs, n, 0);
        for (int j = 0; j < n; j++) {
            op_run_compute(&b, &job, runs[j], &b.res, 0);
            const op_result *x = &a.pack_res[j];
            ck_assert_int_eq(x->row.status, OP_RUN_DONE);
            ck_assert_int_eq(x->row.run, runs[j]);
            ck_assert(x->row.train_loss == b.res.row.train_loss);
            ck_assert(x->row.test_acc == b.res.row.test_acc);
            ck_assert(memcmp(x->values, b.res.values,
                             sizeof(double) * (size_t)lay.total) == 0);
        }
    }
    op_run_free(&a);
    op_run_free(&b);
    op_job_free(&job);
    /* off: one run a pack */
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", job_text), OP_OK);
    ck_assert_int_eq(op_run_plan(&job, 64, pack_of), job.n_runs);
    op_job_free(&job);
}
END_TEST

static Suite *run_suite(void)
{
    Suite *s = suite_create("run");
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, saved_init_is_the_trained_init);
    tcase_add_test(tc, result_depends_on_the_run_index_only);
    tcase_add_test(tc, pack_members_get_what_single_runs_get);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(run_suite)
