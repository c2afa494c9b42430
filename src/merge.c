/* merge.c — `overparam merge` (see merge.h). */
#include "overparam/merge.h"

op_status op_merge(const char *out, const char *const *inputs, int n,
                   int force, FILE *log)
{
    (void)inputs; (void)n; (void)force; (void)log;
    return op_error(OP_ERR_INTERNAL, "%s: merge is not built yet", out);
}
