/* test_sched.c — the coordinator's chunk sizing: the online cost fit and
 * the chunk-length rule (the protocol itself is exercised end to end by
 * the t_* sweeps on 1, 2 and 4 ranks). */
#include "overparam/sched.h"
#include "testutil.h"

START_TEST(fit_recovers_line)
{
    /* seconds = 2e-4 + 3e-12 * cost over costs spanning 1e3..1e12: the
     * centered updates must not cancel. */
    op_sched_fit f = {0};
    for (int i = 0; i < 200; i++) {
        double c = pow(10.0, 3.0 + 9.0 * i / 199.0);
        op_sched_fit_add(&f, c, 2e-4 + 3e-12 * c);
    }
    double a, b;
    op_sched_fit_line(&f, &a, &b);
    ck_assert_msg(op_close(a, 2e-4, 1e-9, 1e-12), "a = %g", a);
    ck_assert_msg(op_close(b, 3e-12, 1e-9, 0), "b = %g", b);
}
END_TEST

START_TEST(fit_degenerate_cases)
{
    op_sched_fit f = {0};
    double a, b;
    op_sched_fit_line(&f, &a, &b); /* nothing measured */
    ck_assert(a == 0 && b == 0);
    op_sched_fit_add(&f, 100, 0.5); /* one cost: proportional */
    op_sched_fit_add(&f, 100, 0.7);
    op_sched_fit_line(&f, &a, &b);
    ck_assert_msg(a == 0 && op_close(b, 0.006, 1e-12, 0), "a %g b %g", a, b);
    /* a falling line (noise) is not trusted: proportional again */
    op_sched_fit g = {0};
    op_sched_fit_add(&g, 10, 1.0);
    op_sched_fit_add(&g, 20, 0.5);
    op_sched_fit_line(&g, &a, &b);
    ck_assert_msg(a == 0 && op_close(b, 0.05, 1e-12, 0), "a %g b %g", a, b);
    ck_assert(a >= 0 && b >= 0);
}
END_TEST

START_TEST(chunk_lengths)
{
    const double u = 1.0 / 1024; /* ~1 ms runs, exact in binary */
    double est[64];
    for (int i = 0; i < 64; i++)
        est[i] = u;
    /* plenty of work left: the target (20 runs' worth) decides */
    ck_assert_int_eq(op_sched_chunk_runs(est, 10000, 10.0, 4, 20 * u, 64), 20);
    /* the cap on runs */
    ck_assert_int_eq(op_sched_chunk_runs(est, 10000, 10.0, 4, 1.0, 64), 64);
    /* guided tail: 40 runs left on 4 ranks -> at most 5 a chunk */
    ck_assert_int_eq(op_sched_chunk_runs(est, 40, 40 * u, 4, 20 * u, 64), 5);
    /* never more runs than are left, never none while some are */
    ck_assert_int_eq(op_sched_chunk_runs(est, 3, 10.0, 1, 0.02, 64), 3);
    ck_assert_int_eq(op_sched_chunk_runs(est, 1, 1e-9, 64, 0.02, 64), 1);
    ck_assert_int_eq(op_sched_chunk_runs(est, 0, 0, 4, 0.02, 64), 0);
    /* a run longer than the target goes alone */
    est[0] = 5.0;
    ck_assert_int_eq(op_sched_chunk_runs(est, 10000, 100.0, 4, 0.02, 64), 1);
}
END_TEST

static Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("chunks");
    tcase_add_test(tc, fit_recovers_line);
    tcase_add_test(tc, fit_degenerate_cases);
    tcase_add_test(tc, chunk_lengths);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(sched_suite)
