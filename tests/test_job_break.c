/* test_job_break.c — job files that used to validate as a different job
 * than written (issue 15, defects 11 and 13): text after a section header,
 * CR-only line endings, an empty file, a seed above 2^53, a section value
 * the [grid] overrides. Each is refused with file:line, or read exactly. */
#include <stdio.h>
#include <string.h>

#include "overparam/job.h"
#include "testutil.h"

static void expect_error(const char *text, int line, const char *what)
{
    op_job job;
    op_status s = op_job_load_string(&job, "t.ini", text);
    ck_assert_int_eq(s, OP_ERR_INPUT);
    char where[32];
    snprintf(where, sizeof where, "t.ini:%d:", line);
    const char *msg = op_error_message();
    ck_assert_msg(strstr(msg, where) != NULL, "want '%s' in: %s", where, msg);
    ck_assert_msg(strstr(msg, what) != NULL, "want '%s' in: %s", what, msg);
}

START_TEST(text_after_section_header)
{
    expect_error("[job]\nseed = 1\n[data] source = sphere\ndim = 4\n", 3,
                 "text after the section header");
    expect_error("[grid]garbage\nwidth = 4, 8\n", 1,
                 "text after the section header");
    /* A comment after the header is fine. */
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini",
                                        "[data] ; the set\nsource = sphere\n"
                                        "[grid] # sweep\nwidth = 4, 8\n"),
                     OP_OK);
    ck_assert_int_eq(job.base.data.source, OP_SRC_SPHERE);
    ck_assert_int_eq(job.n_runs, 2);
    op_job_free(&job);
}
END_TEST

START_TEST(cr_only_line_endings)
{
    expect_error("[data]\rsource = sphere\r[grid]\rwidth = 4, 8\r", 1,
                 "carriage return inside a line");
    /* CRLF stays accepted. */
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini",
                                        "[data]\r\nsource = sphere\r\n"
                                        "[grid]\r\nwidth = 4, 8\r\n"),
                     OP_OK);
    ck_assert_int_eq(job.n_runs, 2);
    op_job_free(&job);
}
END_TEST

START_TEST(empty_job_file)
{
    expect_error("", 1, "empty job file");
    expect_error("\n\n  \n", 1, "empty job file");
    expect_error("# only a comment\n; and another\n", 1, "empty job file");
    op_job job; /* a job of defaults says so */
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", "[job]\n"), OP_OK);
    op_job_free(&job);
}
END_TEST

START_TEST(seed_above_2_53_is_exact)
{
    op_job a, b;
    ck_assert_int_eq(op_job_load_string(&a, "t.ini",
                                        "[job]\nseed = 9007199254740992\n"),
                     OP_OK);
    ck_assert_int_eq(op_job_load_string(&b, "t.ini",
                                        "[job]\nseed = 9007199254740993\n"),
                     OP_OK);
    ck_assert_uint_eq(a.base.seed, 9007199254740992ull);
    ck_assert_uint_eq(b.base.seed, 9007199254740993ull);
    op_job_free(&a);
    op_job_free(&b);
    ck_assert_int_eq(op_job_load_string(&a, "t.ini",
                                        "[job]\nseed = 18000000000000000001\n"),
                     OP_OK);
    ck_assert_uint_eq(a.base.seed, 18000000000000000001ull);
    op_job_free(&a);
    expect_error("[job]\nseed = 1.8e16\n", 2, "in digits");
}
END_TEST

START_TEST(section_value_overridden_by_grid)
{
    expect_error("[model]\nwidth = 100\n[grid]\nwidth = 4, 16\n", 2,
                 "overridden by [grid] width at line 4");
    expect_error("[grid]\nwidth = 4, 16\n[model]\nwidth = 100\n", 4,
                 "overridden by [grid] width at line 2");
    /* A value the grid sweeps anyway changes nothing: accepted. */
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini",
                                        "[train]\nlr = 0.05\n[grid]\n"
                                        "lr = 0.05, 0.1\n"),
                     OP_OK);
    op_job_free(&job);
}
END_TEST

static Suite *job_break_suite(void)
{
    Suite *s = suite_create("job_break");
    TCase *tc = tcase_create("job_break");
    tcase_add_test(tc, text_after_section_header);
    tcase_add_test(tc, cr_only_line_endings);
    tcase_add_test(tc, empty_job_file);
    tcase_add_test(tc, seed_above_2_53_is_exact);
    tcase_add_test(tc, section_value_overridden_by_grid);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(job_break_suite)
