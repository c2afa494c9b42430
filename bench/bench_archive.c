/* bench_archive.c — the coordinator's cost per finished run, from outside
 * the library (it has no timing hooks): run on 2 ranks,
 *
 *   bench_archive JOB.ini OUT.h5
 *
 *  1. ping-pong between rank 0 and 1 with the protocol's message sizes
 *     (a packed result, answered by one long), as sched.c exchanges them;
 *  2. rank 0 alone (MPI_COMM_SELF) creates an archive for JOB and calls
 *     op_archive_put (journal record + HDF5 row and arrays) for every run,
 *     with results of the job's real layout.
 * The total put time is compared with the real sweep's makespan (row 4),
 * and put + half a round trip is the per-request coordinator cost X the
 * scheduling simulator uses.
 *
 * Output: "key value" lines, read by bench/table.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "overparam/archive.h"
#include "overparam/job.h"
#include "overparam/result.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3) {
        if (rank == 0)
            fprintf(stderr, "usage: bench_archive JOB.ini OUT.h5\n");
        MPI_Finalize();
        return 2;
    }
    op_job job;
    op_layout layout;
    if (op_job_load(&job, argv[1]) != OP_OK ||
        op_layout_build(&job, &layout) != OP_OK) {
        fprintf(stderr, "bench_archive: %s\n", op_error_message());
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t bytes = sizeof(op_row) + sizeof(double) * (size_t)layout.total;

    /* 1. ping-pong, result-sized message one way, a long back */
    if (size >= 2 && rank < 2) {
        unsigned char *buf = calloc(bytes, 1);
        long run = 0;
        int reps = 2000;
        for (int pass = 0; pass < 2; pass++) { /* warm-up, then timed */
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now();
            for (int i = 0; i < reps; i++) {
                if (rank == 1) {
                    MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 12, MPI_COMM_WORLD);
                    MPI_Recv(&run, 1, MPI_LONG, 0, 13, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                } else {
                    MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 12, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                    MPI_Send(&run, 1, MPI_LONG, 1, 13, MPI_COMM_WORLD);
                }
            }
            double rtt = (now() - t0) / reps;
            if (pass == 1 && rank == 0)
                printf("msg_bytes %zu\nrtt_us %.4g\n", bytes, 1e6 * rtt);
        }
        free(buf);
    } else if (rank >= 2) {
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
    }

    /* 2. every run's result through op_archive_put on rank 0 alone */
    if (rank == 0) {
        double t0 = now();
        op_archive *ar = NULL;
        unsigned char *done = calloc((size_t)job.n_runs + 1, 1);
        if (op_archive_open(&ar, argv[2], &job, &layout, MPI_COMM_SELF,
                            OP_ARCHIVE_FORCE, done, NULL, 0) != OP_OK) {
            fprintf(stderr, "bench_archive: %s\n", op_error_message());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double t_open = now() - t0;
        op_result res;
        op_result_alloc(&res, &layout);
        double t_put = 0;
        for (long run = 0; run < job.n_runs; run++) {
            op_result_reset(&res, &layout, run);
            res.row.status = OP_RUN_DONE;
            res.row.n_params = 1000 + run;
            res.row.train_loss = 0.1;
            res.row.test_loss = 0.2;
            res.row.train_acc = 1.0;
            res.row.test_acc = 0.9;
            res.row.epochs = 8;
            res.row.fit_epoch = 4;
            res.row.seconds = 0.01;
            for (long i = 0; i < layout.total; i++)
                res.values[i] = 1.0 / (double)(i + run + 1);
            double t1 = now();
            if (op_archive_put(ar, &res) != OP_OK) {
                fprintf(stderr, "bench_archive: %s\n", op_error_message());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            t_put += now() - t1;
        }
        double t2 = now();
        op_archive_close(ar);
        double t_close = now() - t2;
        printf("n_runs %ld\nlayout_doubles %ld\nt_open %.6g\nt_put_total %.6g\n"
               "put_us %.4g\nt_close %.6g\n", job.n_runs, layout.total,
               t_open, t_put, 1e6 * t_put / (double)job.n_runs, t_close);
        op_result_free(&res);
        free(done);
    }
    op_job_free(&job);
    MPI_Finalize();
    return 0;
}
