/* kphase.c — drives the kernel phase (see kphase.h). */
#include "overparam/kphase.h"

int op_kphase_count(const op_job *job)
{
    return job->base.kernel.enabled ? job->base.kernel.n_depths : 0;
}

op_status op_kphase_run(const op_job *job, op_archive *ar, MPI_Comm comm,
                        const op_dataset *train, const op_dataset *test,
                        const unsigned char *done, int *n_done)
{
    (void)ar; (void)comm; (void)train; (void)test; (void)done;
    *n_done = 0;
    if (op_kphase_count(job) == 0)
        return OP_OK;
    return op_error(OP_ERR_INTERNAL, "kernel phase not built yet");
}
