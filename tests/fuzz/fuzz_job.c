/* fuzz_job.c — libFuzzer target for the job-file parser: any bytes must
 * give OP_OK or OP_ERR_INPUT with a message, never a crash or a hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1 << 16))
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    op_job job;
    op_status s = op_job_load_string(&job, "fuzz.ini", text);
    if (s == OP_OK) {
        /* Expansion of the first and last run must be in bounds. */
        op_config c;
        op_job_config(&job, 0, &c);
        op_job_config(&job, job.n_runs - 1, &c);
        op_job_free(&job);
    } else if (s != OP_ERR_INPUT && s != OP_ERR_NOMEM) {
        abort();
    } else if (op_error_message()[0] == '\0') {
        abort(); /* an error must say something */
    }
    free(text);
    return 0;
}
