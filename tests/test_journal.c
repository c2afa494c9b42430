/* test_journal.c — the journal on its own (journal.h): results appended in
 * one batch come back through the replay callback in order, then the NULL
 * call; a kernel record marks its kernel; a torn last record is cut and a
 * corrupt middle one skipped with the rest kept; another job's journal is
 * refused; op_journal_probe tells ours from anything else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "overparam/journal.h"
#include "testutil.h"

static const char *JOB =
    "[data]\nsource = gaussian\ndim = 4\nclasses = 2\nn_train = 8\n"
    "n_test = 8\n[train]\nepochs = 10\nlog_every = 5\n"
    "[grid]\nwidth = 4, 8\nseed = 0, 1\n";

typedef struct {
    long runs[16];
    double first[16];
    int n, ended;
} seen;

static op_status collect(void *ctx, const op_result *res)
{
    seen *s = ctx;
    if (!res) {
        s->ended++;
        return OP_OK;
    }
    s->runs[s->n] = res->row.run;
    s->first[s->n++] = res->values[0];
    return OP_OK;
}

/* A journal of `job` at DIR/a.h5.journal with runs 2, 0, 3 (one batch)
 * and kernel 1. */
static void write_some(op_journal *j, const op_job *job, const op_layout *lay,
                       const char *archive)
{
    op_journal_init(j, archive, job, lay, 0);
    ck_assert_int_eq(op_journal_open_append(j, 1), OP_OK);
    op_result r[3];
    const long runs[3] = {2, 0, 3};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(op_result_alloc(&r[i], lay), OP_OK);
        op_result_reset(&r[i], lay, runs[i]);
        r[i].row.status = OP_RUN_DONE;
        r[i].values[0] = 10.0 + (double)runs[i];
    }
    ck_assert_int_eq(op_journal_append_runs(j, r, 3), OP_OK);
    ck_assert_int_eq(op_journal_append_kernel(j, 1), OP_OK);
    for (int i = 0; i < 3; i++)
        op_result_free(&r[i]);
    op_journal_free(j);
}

START_TEST(replay_in_order_then_cut_and_skip)
{
    char dir[] = "/tmp/test_journal_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char archive[256], path[300];
    snprintf(archive, sizeof archive, "%s/a.h5", dir);
    op_job job;
    ck_assert_int_eq(op_job_load_string(&job, "t.ini", JOB), OP_OK);
    op_layout lay;
    ck_assert_int_eq(op_layout_build(&job, &lay), OP_OK);
    op_journal j;
    write_some(&j, &job, &lay, archive);
    snprintf(path, sizeof path, "%s.journal", archive);
    ck_assert_int_eq(op_journal_probe(path), 1);

    unsigned char done[4], dk[2];
    seen s = {0};
    long n = 0;
    op_journal_init(&j, archive, &job, &lay, 0);
    memset(done, 0, sizeof done);
    memset(dk, 0, sizeof dk);
    ck_assert_int_eq(op_journal_replay(&j, done, dk, 2, collect, &s, &n),
                     OP_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(s.n, 3);
    ck_assert_int_eq(s.ended, 1);
    ck_assert_int_eq(s.runs[0], 2);
    ck_assert_int_eq(s.runs[2], 3);
    ck_assert(s.first[1] == 10.0);
    ck_assert(done[0] && !done[1] && done[2] && done[3]);
    ck_assert(!dk[0] && dk[1]);

    /* A torn tail (half a record) is cut; a flipped byte inside the
     * second record skips that one only. */
    size_t hdr = op_journal_header_bytes(), rec = j.rec_bytes;
    FILE *f = fopen(path, "ab");
    fwrite("torn", 1, 4, f);
    fclose(f);
    f = fopen(path, "r+b");
    fseek(f, (long)(hdr + rec + 20), SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    memset(done, 0, sizeof done);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(op_journal_replay(&j, done, dk, 2, collect, &s, &n),
                     OP_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(done[2] && !done[0] && done[3]);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    ck_assert_int_eq(ftell(f), (long)(hdr + 4 * rec));
    fclose(f);
    op_journal_free(&j);

    /* Another job's journal is refused. */
    op_job other;
    ck_assert_int_eq(op_job_load_string(&other, "o.ini", "[train]\nepochs = 3\n"
                                        "[grid]\nwidth = 4, 8\n"), OP_OK);
    op_layout olay;
    ck_assert_int_eq(op_layout_build(&other, &olay), OP_OK);
    op_journal_init(&j, archive, &other, &olay, 0);
    ck_assert_int_eq(op_journal_replay(&j, done, NULL, 0, NULL, NULL, &n),
                     OP_ERR_INPUT);
    op_journal_free(&j);
    op_job_free(&other);

    /* Anything else is not ours; nothing is nothing. */
    f = fopen(path, "wb");
    fputs("not a journal", f);
    fclose(f);
    ck_assert_int_eq(op_journal_probe(path), -1);
    unlink(path);
    ck_assert_int_eq(op_journal_probe(path), 0);
    rmdir(dir);
    op_job_free(&job);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");
    tcase_add_test(tc, replay_in_order_then_cut_and_skip);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(journal_suite)
