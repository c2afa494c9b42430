/* test_measure.c — each measurement on a case with a known answer. */
#include <math.h>
#include <string.h>

#include "overparam/measure.h"
#include "testutil.h"

START_TEST(spectral_norm_of_known_matrix)
{
    /* A = U diag(3, 1) V^T with rotations: norm 3. */
    double c = cos(0.3), s = sin(0.3), c2 = cos(1.1), s2 = sin(1.1);
    double u[4] = {c, -s, s, c}, v[4] = {c2, -s2, s2, c2}, a[4];
    double d[2] = {3, 1};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            a[i * 2 + j] = u[i * 2 + 0] * d[0] * v[j * 2 + 0] +
                           u[i * 2 + 1] * d[1] * v[j * 2 + 1];
    double work[4];
    ck_assert(op_close(op_measure_spectral_norm(a, 2, 2, 500, work), 3, 1e-9,
                       0));
    /* Rectangular: a rank-one 3x5 outer product has norm |p||q|. */
    double p[3] = {1, 2, 2}, q[5] = {1, 0, 0, 0, 0}, r[15];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            r[i * 5 + j] = p[i] * q[j];
    double w2[8];
    ck_assert(op_close(op_measure_spectral_norm(r, 3, 5, 500, w2), 3, 1e-9,
                       0));
}
END_TEST

START_TEST(frequency_of_pure_sine)
{
    enum { N = 128 };
    double f[N], h[N];
    for (int i = 0; i < N; i++) {
        double x = -M_PI + 2 * M_PI * i / N;
        f[i] = sin(3 * x) + 0.5 * sin(7 * x);
        h[i] = sin(3 * x); /* has learned only the low frequency */
    }
    int idx[2] = {op_measure_freq_index(3, 2 * M_PI),
                  op_measure_freq_index(7, 2 * M_PI)};
    ck_assert_int_eq(idx[0], 3);
    ck_assert_int_eq(idx[1], 7);
    double delta[2];
    op_measure_freq_error(h, f, N, idx, 2, delta);
    ck_assert(delta[0] < 1e-12);
    ck_assert(op_close(delta[1], 1.0, 1e-12, 0));
    for (int i = 0; i < N; i++)
        h[i] = 0.9 * f[i];
    op_measure_freq_error(h, f, N, idx, 2, delta);
    ck_assert(op_close(delta[0], 0.1, 1e-9, 0) && op_close(delta[1], 0.1, 1e-9, 0));
}
END_TEST

START_TEST(clusters_of_planted_directions)
{
    /* 300 directions near 3 planted ones (within 0.01 rad), 10 dead rows. */
    enum { M = 310, D = 3 };
    static double dirs[M * D];
    static int assign[M], count[M];
    double planted[3][3] = {{1, 0, 0}, {0, 1, 0}, {0.6, 0, 0.8}};
    unsigned x = 12345;
    for (int i = 0; i < 300; i++)
        for (int k = 0; k < D; k++) {
            x = x * 1103515245u + 12345u;
            double e = ((double)(x >> 8) / (1 << 24) - 0.5) * 0.01;
            dirs[i * D + k] = planted[i % 3][k] * (1 + (i % 5)) + e;
        }
    memset(dirs + 300 * D, 0, sizeof(double) * 10 * D);
    ck_assert_int_eq(op_measure_normalize_rows(dirs, M, D), 300);
    double mac;
    int n = op_measure_clusters(dirs, M, D, 0.05, 0.9, assign, count, &mac);
    ck_assert_int_eq(n, 3);
    /* Orthogonal-ish spread: random directions need many clusters. */
    for (int i = 0; i < M * D; i++) {
        x = x * 1103515245u + 12345u;
        dirs[i] = (double)(x >> 8) / (1 << 24) - 0.5;
    }
    op_measure_normalize_rows(dirs, M, D);
    n = op_measure_clusters(dirs, M, D, 0.05, 0.9, assign, count, &mac);
    ck_assert_int_gt(n, 50);
    ck_assert(mac > 0.3 && mac < 0.7); /* E|cos| = 1/2 in 3-D */
}
END_TEST

START_TEST(filter_split)
{
    /* 1-D points: a smooth target is all "low"; with h = y both errors 0;
     * with h = 0 both are 1. */
    enum { N = 64 };
    double x[N], y[N], h[N], g[N * N], work[2 * N], lo, hi;
    for (int i = 0; i < N; i++) {
        x[i] = (double)i / N;
        y[i] = sin(2 * M_PI * x[i]) + 0.3 * sin(2 * M_PI * 20 * x[i]);
        h[i] = y[i];
    }
    op_measure_filter_matrix(x, N, 1, 0.03, g);
    op_measure_filter_error(g, y, h, N, 1, work, &lo, &hi);
    ck_assert(lo < 1e-12 && hi < 1e-12);
    for (int i = 0; i < N; i++)
        h[i] = sin(2 * M_PI * x[i]); /* low part learned only */
    op_measure_filter_error(g, y, h, N, 1, work, &lo, &hi);
    ck_assert_msg(lo < 0.35 && hi > 0.6, "lo %g hi %g", lo, hi);
}
END_TEST

static Suite *measure_suite(void)
{
    Suite *s = suite_create("measure");
    TCase *tc = tcase_create("known answers");
    tcase_add_test(tc, spectral_norm_of_known_matrix);
    tcase_add_test(tc, frequency_of_pure_sine);
    tcase_add_test(tc, clusters_of_planted_directions);
    tcase_add_test(tc, filter_split);
    suite_add_tcase(s, tc);
    return s;
}

OP_TEST_MAIN(measure_suite)
