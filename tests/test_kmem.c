/* test_kmem.c — the kernel phase's memory statement per rank
 * (op_kphase_bytes_per_rank, what the job is refused on before it starts)
 * follows pkernel.h's contract: regression with any number of ridges and
 * float64 eigenvalues without vectors in about one n^2 matrix per kind,
 * eigenvectors only when the gradient flow asks, mixed precision in half a
 * matrix; and NTK regression plus eigenvalues at n = 40,000 fits a 24 GB
 * machine. The refusal itself is tests/t_bad_input.sh's "kernel beyond
 * memory" and tests/t_kmem.sh's. */
#include <stdio.h>
#include <string.h>

#include "overparam/job.h"
#include "overparam/kphase.h"
#include "overparam/pkernel.h"
#include "testutil.h"

#define GIB 1073741824.0

static double bytes(const char *kernel_lines, int ranks)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[data]\nn_train = 40000\nn_test = 10000\n"
             "[kernel]\nkernels = ntk\n%s%s",
             strstr(kernel_lines, "eig32") ? "" : "eig32 = false\n",
             kernel_lines);
    op_job job;
    ck_assert_msg(op_job_load_string(&job, "t.ini", text) == OP_OK, "%s",
                  op_error_message());
    double b = op_kphase_bytes_per_rank(&job, ranks);
    op_job_free(&job);
    return b;
}

START_TEST(lean_regression_and_values)
{
    const double n2 = 8.0 * 40000.0 * 40000.0; /* one float64 K, bytes */
    const char *one = "time =\nridge = 1e-3\neig64 = true\n"
                      "eigensolver = scalapack\n";
    const char *five = "time =\nridge = 1e-6, 1e-4, 1e-3, 1e-2, 1\n"
                       "eig64 = true\neigensolver = scalapack\n";
    double b1 = bytes(one, 1), b5 = bytes(five, 1);
    fprintf(stderr, "n=40000 NTK regression + eigenvalues, 1 rank: %.2f GiB (1 ridge), "
           "%.2f GiB (5 ridges); K alone %.2f GiB\n", b1 / GIB, b5 / GIB,
           n2 / GIB);
    ck_assert(b1 == b5);            /* ridges cost no memory */
    /* About one n^2 matrix besides K(test, train) (nt n): the solver's
     * workspace, the mirroring panel and the data are the rest. */
    ck_assert(b1 - 8.0 * 10000.0 * 40000.0 < 1.3 * n2);
    ck_assert(b1 < 0.9 * 24e9);     /* the target fits this machine */
    /* float32 eigenvalues live in K's own storage. */
    char buf[256];
    snprintf(buf, sizeof buf, "%seig32 = true\n", one);
    ck_assert(bytes(buf, 1) == b1);
    /* Eigenvectors (gradient flow) only when asked: V + pdsyevd's work. */
    double bt = bytes("time = inf\nridge = 1e-3\neigensolver = scalapack\n", 1);
    ck_assert(bt >= b1 + 2.5 * n2);
    /* Per rank it falls as 1/P. */
    ck_assert(bytes(one, 4) < 0.3 * b1);
    /* Mixed precision: half a matrix, no K(test, train). */
    double bm = bytes("time =\nridge = 1e-3\neig64 = false\nprecision = mixed\n", 1);
    fprintf(stderr, "mixed: %.2f GiB\n", bm / GIB);
    ck_assert(bm < 0.55 * n2 && bm > 0.5 * n2);
    /* auto states the leaner solver's need (ELPA's workspace is larger). */
    double ba = bytes("time =\nridge = 1e-3\neig64 = true\n", 1);
    ck_assert(ba == b1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kmem");
    TCase *tc = tcase_create("kmem");
    tcase_add_test(tc, lean_regression_and_values);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
