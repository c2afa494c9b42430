/* test_eta.c — the progress line's ETA: from the scheduler's cost fit, so
 * a width sweep handed out largest first is not overestimated early on
 * (elapsed / finished x left was ~10x too high there). */
#include "overparam/sched.h"
#include "testutil.h"

START_TEST(eta_from_cost_fit)
{
    /* 10 widths, cost 1..512 (x2 each), 10 seeds each, seconds = 1e-3 x
     * cost, on 4 ranks. After the 10 largest runs (cost 512) finished, a
     * per-run average predicts 90 x 0.512 / 4 = 11.5 s; the work truly
     * left is (1 + 2 + ... + 256) x 10 x 1e-3 / 4 = 1.28 s. */
    op_sched_fit f = {0};
    for (int i = 0; i < 10; i++)
        op_sched_fit_add(&f, 512, 0.512);
    double pending = 0;
    for (int w = 0; w < 9; w++)
        pending += 10.0 * (double)(1 << w);
    double eta = op_sched_eta(&f, 90, pending, 0, 0, 4);
    ck_assert_msg(op_close(eta, 2.555 / 2, 1e-9, 0), "eta %g", eta);
    double naive = 10 * 0.512 / 10 * 90 / 4;
    ck_assert(naive > 8 * eta);
    /* Runs in flight count half: 4 runs of cost 256 under way. */
    double eta2 = op_sched_eta(&f, 86, pending - 4 * 256, 4, 4 * 256, 4);
    ck_assert_msg(op_close(eta2, eta - 0.5 * 4 * 0.256 / 4, 1e-9, 0),
                  "eta2 %g", eta2);
    /* A fixed cost per run (a > 0) is charged to every run left. */
    op_sched_fit g = {0};
    for (int i = 1; i <= 50; i++)
        op_sched_fit_add(&g, i * 100.0, 0.25 + 0.01 * i * 100.0);
    double e = op_sched_eta(&g, 8, 8 * 100.0, 0, 0, 2);
    ck_assert_msg(op_close(e, (8 * 0.25 + 8.0) / 2, 1e-9, 0), "e %g", e);
}
END_TEST

START_TEST(eta_unknown_before_first_run)
{
    op_sched_fit f = {0};
    ck_assert(op_sched_eta(&f, 10, 1e6, 2, 10, 4) < 0);
    op_sched_fit_add(&f, 100, 1.0);
    ck_assert(op_sched_eta(&f, 0, 0, 0, 0, 4) == 0); /* nothing left */
}
END_TEST

static Suite *eta_suite(void)
{
    Suite *s = suite_create("eta");
    TCase *tc = tcase_create("eta");
    tcase_add_test(tc, eta_from_cost_fit);
    tcase_add_test(tc, eta_unknown_before_first_run);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(eta_suite)
