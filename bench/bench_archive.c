/* bench_archive.c — the coordinator's cost per finished run, from outside
 * the library (it has no timing hooks): run on 2 ranks,
 *
 *   bench_archive JOB.ini OUT.h5 [BATCH]
 *
 *  1. ping-pong between rank 0 and 1 with the protocol's message sizes
 *     (a packed result, answered by one long), as sched.c exchanges them;
 *  2. rank 0 alone (MPI_COMM_SELF) creates an archive for JOB and calls
 *     op_archive_put (journal record, then staging for the batched HDF5
 *     write) for every run, with results of the job's real layout, then
 *     op_archive_flush: the staged tail's write and the file flush are
 *     part of the cost, so t_put_total is every archive write the sweep's
 *     results need. Runs go in index order (as the sweep hands out runs of
 *     equal cost: stretches of consecutive indices), then once more into
 *     OUT.h5.shuffled.h5 in a random order, the worst case for the batched
 *     write (one block per run); both archives must compare equal;
 *  3. the same in index order through op_archive_put_n, BATCH results per
 *     call (default 32: the sweep's results per message), into
 *     OUT.h5.batched.h5: one journal write per batch. From 1 and 3 the
 *     per-message and per-result parts of the coordinator's cost follow.
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
    int batch = argc > 3 ? atoi(argv[3]) : 32;
    if (batch < 1)
        batch = 1;

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
        long *order = malloc(sizeof(long) * (size_t)job.n_runs);
        for (long r = 0; r < job.n_runs; r++)
            order[r] = r;
        char path[4096];
        double t_open = 0, t_put = 0, t_flush = 0, t_close = 0;
        double t_put_shuf = 0, t_put_batch = 0;
        op_result *res = calloc((size_t)batch, sizeof(op_result));
        for (int j = 0; j < batch; j++)
            op_result_alloc(&res[j], &layout);
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 1) { /* Fisher-Yates with a fixed LCG: repeatable */
                unsigned long long x = 12345;
                for (long r = job.n_runs - 1; r > 0; r--) {
                    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                    long k = (long)((x >> 33) % (unsigned long long)(r + 1));
                    long t = order[r];
                    order[r] = order[k];
                    order[k] = t;
                }
            }
            if (pass == 2)
                for (long r = 0; r < job.n_runs; r++)
                    order[r] = r;
            snprintf(path, sizeof path,
                     pass == 1 ? "%s.shuffled.h5"
                               : pass == 2 ? "%s.batched.h5" : "%s",
                     argv[2]);
            double t0 = now();
            op_archive *ar = NULL;
            unsigned char *done = calloc((size_t)job.n_runs + 1, 1);
            if (op_archive_open(&ar, path, &job, &layout, MPI_COMM_SELF,
                                OP_ARCHIVE_FORCE, done, NULL, 0) != OP_OK) {
                fprintf(stderr, "bench_archive: %s\n", op_error_message());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            if (pass == 0)
                t_open = now() - t0;
            int per = pass == 2 ? batch : 1;
            double tp = 0;
            for (long i = 0; i < job.n_runs; i += per) {
                int n = job.n_runs - i < per ? (int)(job.n_runs - i) : per;
                for (int j = 0; j < n; j++) {
                    long run = order[i + j];
                    op_result *q = &res[j];
                    op_result_reset(q, &layout, run);
                    q->row.status = OP_RUN_DONE;
                    q->row.n_params = 1000 + run;
                    q->row.train_loss = 0.1;
                    q->row.test_loss = 0.2;
                    q->row.train_acc = 1.0;
                    q->row.test_acc = 0.9;
                    q->row.epochs = 8;
                    q->row.fit_epoch = 4;
                    q->row.seconds = 0.01;
                    for (long k = 0; k < layout.total; k++)
                        q->values[k] = 1.0 / (double)(k + run + 1);
                }
                double t1 = now();
                if (op_archive_put_n(ar, res, n) != OP_OK) {
                    fprintf(stderr, "bench_archive: %s\n",
                            op_error_message());
                    MPI_Abort(MPI_COMM_WORLD, 1);
                }
                tp += now() - t1;
            }
            /* The staged tail: written by the next flush or the close. */
            double t2 = now();
            if (op_archive_flush(ar) != OP_OK) {
                fprintf(stderr, "bench_archive: %s\n", op_error_message());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            double tf = now() - t2;
            t2 = now();
            op_archive_close(ar);
            if (pass == 0) {
                t_put = tp + tf;
                t_flush = tf;
                t_close = now() - t2;
            } else if (pass == 1) {
                t_put_shuf = tp + tf;
            } else {
                t_put_batch = tp + tf;
            }
            free(done);
        }
        for (int j = 0; j < batch; j++)
            op_result_free(&res[j]);
        free(res);
        printf("n_runs %ld\nlayout_doubles %ld\nt_open %.6g\n"
               "t_put_total %.6g\nput_us %.4g\nt_final_flush %.6g\n"
               "t_close %.6g\nt_put_shuffled %.6g\nput_shuffled_us %.4g\n"
               "batch %d\nt_put_batched %.6g\nput_batched_us %.4g\n",
               job.n_runs, layout.total, t_open, t_put,
               1e6 * t_put / (double)job.n_runs, t_flush, t_close,
               t_put_shuf, 1e6 * t_put_shuf / (double)job.n_runs, batch,
               t_put_batch, 1e6 * t_put_batch / (double)job.n_runs);
        free(order);
    }
    op_job_free(&job);
    MPI_Finalize();
    return 0;
}
