/* kphase.c — the kernel phase (see kphase.h): for every [kernel] depth and
 * every kernel asked for (nngp, ntk), build it on one BLACS grid over the
 * whole communicator, analyze it, write /kernels/<kind>_<act>_d<depth>/,
 * flush, and only then journal it as done. A kill in between leaves a
 * half-written group that the resumed job deletes and writes again. */
#include "overparam/kphase.h"

#include <stdio.h>

#include "overparam/kernel.h"
#include "overparam/kernel_io.h"
#include "overparam/pkernel.h"

/* Kernel i of a job: depth index i / kinds, kind i % kinds (nngp first). */
static int kinds_of(const op_kernel_cfg *kc, op_kernel_kind *kinds)
{
    int n = 0;
    if (kc->nngp)
        kinds[n++] = OP_KERNEL_NNGP;
    if (kc->ntk)
        kinds[n++] = OP_KERNEL_NTK;
    return n;
}

int op_kphase_count(const op_job *job)
{
    const op_kernel_cfg *kc = &job->base.kernel;
    op_kernel_kind kinds[2];
    return kc->enabled ? kc->n_depths * kinds_of(kc, kinds) : 0;
}

static const char *act_name(op_activation a)
{
    return a == OP_ACT_ERF ? "erf" : a == OP_ACT_TANH ? "tanh" : "relu";
}

op_status op_kphase_run(const op_job *job, op_archive *ar, MPI_Comm comm,
                        const op_dataset *train, const op_dataset *test,
                        const unsigned char *done, int *n_done)
{
    const op_kernel_cfg *base = &job->base.kernel;
    op_kernel_kind kinds[2];
    int n_kinds = kinds_of(base, kinds);
    int total = op_kphase_count(job);
    int rank;
    MPI_Comm_rank(comm, &rank);
    *n_done = 0;
    for (int i = 0; i < total; i++)
        *n_done += done[i];
    if (*n_done == total)
        return OP_OK;

    op_pkernel_grid grid;
    op_status s = op_pkernel_grid_init(&grid, comm, base->grid_rows,
                                       base->grid_cols, base->block);
    if (s != OP_OK)
        return s;
    hid_t file = op_archive_file(ar);
    for (int i = 0; i < total && s == OP_OK; i++) {
        if (done[i])
            continue;
        op_kernel_cfg kc = *base;
        kc.depth = base->depths[i / n_kinds];
        op_kernel_kind kind = kinds[i % n_kinds];
        char id[64];
        snprintf(id, sizeof id, "%s_%s_d%d",
                 kind == OP_KERNEL_NTK ? "ntk" : "nngp",
                 act_name(kc.activation), kc.depth);
        op_kernel_spec spec;
        /* The standard parameterization's NTK depends on the hidden width:
         * the job's [model] width is the network it is the limit of. */
        s = op_kernel_spec_init(&spec, &kc, kc.depth, job->base.model.width,
                                train->d);
        if (s != OP_OK)
            break;
        op_kernel_result res;
        s = op_pkernel_run(&grid, &spec, &kc, kind, train, test, &res);
        if (s != OP_OK)
            break;
        /* A group left by a kill before its journal record: write anew. */
        char path[96];
        snprintf(path, sizeof path, "kernels/%s", id);
        htri_t exists = H5Lexists(file, "kernels", H5P_DEFAULT) > 0
                            ? H5Lexists(file, path, H5P_DEFAULT)
                            : 0;
        if (exists > 0)
            OP_H5_CHECK(H5Ldelete(file, path, H5P_DEFAULT),
                        "removing a half-written kernel group");
        s = op_kernel_io_write(file, id, &kc, &spec, &res);
        if (s == OP_OK)
            s = op_archive_flush(ar);
        if (s == OP_OK && rank == 0)
            s = op_archive_put_kernel(ar, i);
        if (rank == 0 && s == OP_OK)
            fprintf(stderr, "[overparam] kernel %s: n=%d, %.1fs (build %.1fs, "
                    "ridge %.1fs, eig %.1fs)\n", id, train->n, res.t_total,
                    res.t_kernel, res.t_ridge, res.t_eig64 + res.t_eig32);
        op_kernel_result_free(&res);
        int st = s;
        OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, comm), "kernel status");
        s = (op_status)st;
        if (s == OP_OK)
            (*n_done)++;
    }
    op_pkernel_grid_free(&grid);
    return s;
}
