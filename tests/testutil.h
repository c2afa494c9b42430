/* testutil.h — shared helpers for the Check unit tests: a main() that runs
 * one suite, and tolerances. Included once per test binary. */
#ifndef OVERPARAM_TESTUTIL_H
#define OVERPARAM_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdlib.h>

#define OP_TEST_MAIN(suite_fn)                                                \
    int main(void)                                                            \
    {                                                                         \
        SRunner *sr = srunner_create(suite_fn());                             \
        srunner_run_all(sr, CK_NORMAL);                                       \
        int failed = srunner_ntests_failed(sr);                               \
        srunner_free(sr);                                                     \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                          \
    }

/* |a - b| <= atol + rtol*|b| */
static inline int op_close(double a, double b, double rtol, double atol)
{
    return fabs(a - b) <= atol + rtol * fabs(b);
}

#endif
