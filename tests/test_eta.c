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
     * left is (1 + 2 + ... + 256) x 10 x 1e-3 = 5.11 s, 1.28 s on 4
     * ranks, and largest-first list scheduling ends within one run of
     * that. */
    op_sched_fit f = {0};
    for (int i = 0; i < 10; i++)
        op_sched_fit_add(&f, 512, 0.512);
    double a, b;
    op_sched_fit_line(&f, &a, &b);
    double est[90], busy[4] = {0, 0, 0, 0}, work = 0;
    int n = 0;
    for (int w = 8; w >= 0; w--)
        for (int s = 0; s < 10; s++) {
            est[n] = a + b * (double)(1 << w);
            work += est[n++];
        }
    double eta = op_sched_eta(busy, 4, est, n);
    ck_assert_msg(eta >= work / 4 - 1e-12 && eta <= work / 4 + 0.256,
                  "eta %g, work / 4 = %g", eta, work / 4);
    double naive = 10 * 0.512 / 10 * 90 / 4;
    ck_assert(naive > 8 * eta);
}
END_TEST

START_TEST(eta_critical_path)
{
    /* Early in a width sweep: one rank holds the widest run (10 s left),
     * three are free, 30 narrow runs of 0.1 s wait. They end on the three
     * free ranks after 1 s; the sweep ends with the wide run, at 10 s.
     * (work / procs said (10 + 3) / 4 = 3.25 s.) */
    double busy[4] = {10, 0, 0, 0}, est[30];
    for (int i = 0; i < 30; i++)
        est[i] = 0.1;
    ck_assert_msg(op_close(op_sched_eta(busy, 4, est, 30), 10, 1e-12, 0),
                  "critical path");
    /* Balanced: 8 units of 1 s on 4 free ranks: 2 s. */
    double idle[4] = {0, 0, 0, 0}, ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert(op_close(op_sched_eta(idle, 4, ones, 8), 2, 1e-12, 0));
    /* Nothing left to hand out: the longest hold. */
    double held[2] = {1, 3};
    ck_assert(op_close(op_sched_eta(held, 2, NULL, 0), 3, 1e-12, 0));
    /* Largest first onto the rank free first: 3, 2, 2 on 2 ranks = 4. */
    double two[2] = {0, 0}, lpt[3] = {3, 2, 2};
    ck_assert(op_close(op_sched_eta(two, 2, lpt, 3), 4, 1e-12, 0));
}
END_TEST

static Suite *eta_suite(void)
{
    Suite *s = suite_create("eta");
    TCase *tc = tcase_create("eta");
    tcase_add_test(tc, eta_from_cost_fit);
    tcase_add_test(tc, eta_critical_path);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(eta_suite)
