/* leak_gate.c — built and run only by the sanitized leg (make check SAN=1),
 * through tests/san_gate.sh, to prove that the leg still catches a leak in
 * overparam's own code with MPI initialized, MPI's suppressions in force
 * and every library kept loaded (tests/san_keep_loaded.c).
 *
 * Contract: loads a job from a string through the library and returns
 * without op_job_free(), so the job text and grid axes (allocated by
 * op_job_load_string) leak; exit 0 from main itself. LeakSanitizer must
 * turn that into a non-zero exit and a report naming op_job_load_string. */
#include <mpi.h>
#include <stdio.h>

#include "overparam/job.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    op_job job;
    op_status s = op_job_load_string(&job, "leak_gate.ini",
                                     "[grid]\nwidth = 8, 16\nseed = 0, 1\n");
    printf("leak_gate: job loaded (status %d, %ld runs); not freed on purpose\n",
           (int)s, job.n_runs);
    MPI_Finalize();
    return 0;
}
