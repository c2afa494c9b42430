/* kphase.c — the kernel phase (see kphase.h): for every [kernel] depth and
 * every kernel asked for (nngp, ntk), build it on one BLACS grid over the
 * whole communicator, analyze it, write /kernels/<kind>_<act>_d<depth>/,
 * flush, seal it with its checksum (kernel_io.h), flush, and only then
 * journal it as done. A kill before the seal leaves a half-written group
 * that the resumed job deletes and writes again; a sealed group is kept
 * on resume even without its journal record (recover_kernels). */
#include "overparam/kphase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/entk.h"
#include "overparam/fault.h"
#include "overparam/kernel.h"
#include "overparam/kernel_io.h"
#include "overparam/pkernel.h"
#include "overparam/sched.h"

/* Kernel i of a job: training-set size index i / (depths kinds), depth
 * index (i / kinds) % depths, kind i % kinds (nngp first); with one size
 * (no [kernel] n_train) the indices are those of a job before learning
 * curves, so its journal and groups are unchanged. */
static int kinds_of(const op_kernel_cfg *kc, op_kernel_kind *kinds)
{
    int n = 0;
    if (kc->nngp)
        kinds[n++] = OP_KERNEL_NNGP;
    if (kc->ntk)
        kinds[n++] = OP_KERNEL_NTK;
    return n;
}

/* Data variants: each training-set size x each [kernel] zca (variant v:
 * size v / zcas, zeta v % zcas); one when neither list is written. */
static int zcas_of(const op_kernel_cfg *kc)
{
    return kc->n_zca > 0 ? kc->n_zca : 1;
}

static int variants_of(const op_kernel_cfg *kc)
{
    return (kc->n_n_train > 0 ? kc->n_n_train : 1) * zcas_of(kc);
}

int op_kphase_count(const op_job *job)
{
    const op_kernel_cfg *kc = &job->base.kernel;
    op_kernel_kind kinds[2];
    return kc->enabled ? variants_of(kc) * kc->n_depths * kinds_of(kc, kinds)
                       : 0;
}

/* The largest training set the kernels use (the last of the increasing
 * [kernel] n_train, or [data] n_train). */
int op_kphase_max_n(const op_job *job)
{
    const op_kernel_cfg *kc = &job->base.kernel;
    return kc->n_n_train > 0 ? kc->n_trains[kc->n_n_train - 1]
                             : job->base.data.n_train;
}

/* Size index ni's training and test sets: exactly the sets a job with
 * [data] n_train = n would use (same stream, same preprocessing fitted on
 * those n points, ZCA included). The pick scans one permutation per
 * (seed, set) and takes a point while its class quota has room; quotas
 * grow with n, so the smaller sets are nested in the larger ones, each
 * class-balanced where [data] balanced = true, and the test set is the
 * same for every n. Collective: every rank loads the same sets. */
static op_status curve_data(const op_job *job, int n, double zeta,
                            op_dataset *tr, op_dataset *te, MPI_Comm comm)
{
    op_config c = job->base;
    c.data.n_train = n;
    c.data.zca = zeta;
    op_status s = op_data_load(&c, tr, te);
    if (s == OP_OK && c.data.zca >= 0)
        s = op_data_zca(tr, te, c.data.zca);
    int ok = s == OP_OK;
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm),
                 "loading a learning-curve training set");
    if (ok)
        return OP_OK;
    op_data_free(tr);
    op_data_free(te);
    return s != OP_OK ? s : op_error(OP_ERR_INPUT, "[kernel] n_train = %d: "
                                     "the data failed to load on a rank", n);
}

static const char *act_name(op_activation a)
{
    return a == OP_ACT_ERF ? "erf" : a == OP_ACT_TANH ? "tanh" : "relu";
}

/* The kernel phase's progress lines (rank 0): each step of a depth
 * (build, ridge i/n, eigen, gradient flow) as op_pkernel_run reports it,
 * with an ETA from the modelled work (op_pkernel_work) of the whole phase
 * at the rate measured so far. Steps shorter than a second are folded into
 * the next line, so small kernels print one line a depth. */
typedef struct {
    int rank;
    double t0, last;          /* phase start, last line (MPI_Wtime) */
    double work_total;        /* modelled work of every pending depth */
    double work_before;       /* of the depths already finished */
    int depth, n_todo;
    const op_kernel_kind *todo;
} kprogress;

static int kphase_progress(void *ctx, const char *step, int kind, int i,
                           int n, double work_done)
{
    kprogress *p = ctx;
    double now = MPI_Wtime();
    /* A stop whose margin has passed abandons the depth at this step
     * boundary (exit 3; the depth is computed again on resume). */
    int abandon = op_sched_stop_overdue();
    if (p->rank != 0 || now - p->last < 1.0)
        return abandon;
    p->last = now;
    double done = p->work_before + work_done, el = now - p->t0;
    char eta[32] = "-";
    if (done > 0 && p->work_total > done)
        snprintf(eta, sizeof eta, "%.0fs", el * (p->work_total - done) / done);
    char what[48];
    if (n > 1)
        snprintf(what, sizeof what, "%s %d/%d", step, i, n);
    else
        snprintf(what, sizeof what, "%s", step);
    fprintf(stderr, "[overparam] kernels: depth %d %s: %s done; %.0f%% of "
            "the kernel work, elapsed %.0fs ETA %s\n", p->depth,
            p->todo[kind] == OP_KERNEL_NTK ? "ntk" : "nngp", what,
            100.0 * done / p->work_total, el, eta);
    fflush(stderr);
    return abandon;
}

/* Line of `key` in [section] of the job text (0 when not written): a
 * refusal names where the value came from. */
static int key_line(const char *text, const char *section, const char *key)
{
    int line = 1, in = 0;
    size_t kl = strlen(key), sl = strlen(section);
    for (const char *p = text; *p; line++) {
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '[')
            in = !strncmp(q + 1, section, sl) && q[1 + sl] == ']';
        else if (in && !strncmp(q, key, kl) &&
                 (q[kl] == ' ' || q[kl] == '\t' || q[kl] == '='))
            return line;
        p += strcspn(p, "\n");
        if (*p)
            p++;
    }
    return 0;
}

/* The BLACS grid of the job on `size` ranks: both given, or one given and
 * the other from the rank count, or near-square (both 0: pkernel.c). */
static void grid_shape(const op_kernel_cfg *kc, int size, int *rows,
                       int *cols)
{
    *rows = kc->grid_rows;
    *cols = kc->grid_cols;
    if (*rows > 0 && *cols <= 0)
        *cols = size % *rows ? 0 : size / *rows;
    else if (*cols > 0 && *rows <= 0)
        *rows = size % *cols ? 0 : size / *cols;
}

op_status op_kphase_check_grid(const op_job *job, MPI_Comm comm)
{
    const op_kernel_cfg *kc = &job->base.kernel;
    /* [kernel] n_val leaves at least as many points to fit as it holds
     * out, at every training-set size. */
    int n_min = kc->n_n_train > 0 ? kc->n_trains[0] : job->base.data.n_train;
    if (op_kphase_count(job) > 0 && kc->n_val > 0 && 2 * kc->n_val > n_min)
        return op_error(OP_ERR_INPUT, "%s:%d: [kernel] n_val = %d: holds out "
                        "more than half of n_train = %d (the ridge's "
                        "validation fit needs the rest); nothing was run",
                        job->file, key_line(job->text, "kernel", "n_val"),
                        kc->n_val, n_min);
    /* Two equal [kernel] zca values would name one archive group twice. */
    for (int i = 0; i < kc->n_zca; i++)
        for (int j = 0; j < i; j++)
            if (op_kphase_count(job) > 0 && kc->zcas[i] == kc->zcas[j])
                return op_error(OP_ERR_INPUT, "%s:%d: [kernel] zca lists %g "
                                "twice (one kernel group each); nothing was "
                                "run", job->file,
                                key_line(job->text, "kernel", "zca"),
                                kc->zcas[i]);
    if (op_kphase_count(job) == 0 || (kc->grid_rows <= 0 && kc->grid_cols <= 0))
        return OP_OK;
    int size, rows, cols;
    MPI_Comm_size(comm, &size);
    grid_shape(kc, size, &rows, &cols);
    if (rows > 0 && cols > 0 && (long)rows * cols == size)
        return OP_OK;
    const char *key = kc->grid_rows > 0 ? "grid_rows" : "grid_cols";
    return op_error(OP_ERR_INPUT, "%s:%d: [kernel] grid_rows = %d, grid_cols "
                    "= %d cannot tile %d ranks (rows x cols must equal the "
                    "rank count; 0 chooses); nothing was run", job->file,
                    key_line(job->text, "kernel", key), kc->grid_rows,
                    kc->grid_cols, size);
}

static int resolve_solver(const op_job *job, int ranks, double have);

/* The group of kernel `kind` of instance i: /kernels/<id>; the variances
 * join the id when [kernel] sweeps them (ntk_relu_d2_w2_b0.05), with
 * [kernel] zca the regularizer (_z0.1, _z-1 for off), and on a learning
 * curve ([kernel] n_train written) <id> ends in _n<n_train>. */
static void kernel_id(char *id, size_t len, op_kernel_kind kind,
                      const op_kernel_cfg *base, int i, int n_train,
                      double zeta)
{
    int n = snprintf(id, len, "%s_%s_d%d",
                     kind == OP_KERNEL_NTK ? "ntk" : "nngp",
                     act_name(base->activation), base->depths[i]);
    if (base->var_swept && n > 0 && (size_t)n < len)
        n += snprintf(id + n, len - (size_t)n, "_w%g_b%g", base->inst_w2[i],
                      base->inst_b2[i]);
    if (base->n_zca > 0 && n > 0 && (size_t)n < len)
        n += snprintf(id + n, len - (size_t)n, "_z%g", zeta);
    if (base->curve && n > 0 && (size_t)n < len)
        snprintf(id + n, len - (size_t)n, "_n%d", n_train);
}

/* Kernel index i's size, ZCA regularizer, instance and kind (see
 * kinds_of; variant i / per: size slowest, then zeta). */
static void kernel_of(const op_kernel_cfg *kc, const op_kernel_kind *kinds,
                      int n_kinds, int i, int *n, double *zeta, int *inst,
                      op_kernel_kind *kind)
{
    int per = kc->n_depths * n_kinds, v = i / per;
    *n = kc->n_n_train > 0 ? kc->n_trains[v / zcas_of(kc)] : 0;
    *zeta = kc->n_zca > 0 ? kc->zcas[v % zcas_of(kc)] : 0;
    *inst = (i % per) / n_kinds;
    *kind = kinds[i % n_kinds];
}

/* Kernels the journal does not hold (it was deleted or lost a record, or
 * a kill came between a group's seal and its record) that are complete
 * in the archive: a group whose crc32 matches its data is a finished
 * result, kept and journaled now; an unsealed or changed one is
 * recomputed (the loop below deletes it first). Collective. */
static op_status recover_kernels(op_archive *ar, MPI_Comm comm, int rank,
                                 const op_kernel_cfg *base,
                                 const op_kernel_kind *kinds, int n_kinds,
                                 unsigned char *done)
{
    hid_t file = op_archive_file(ar);
    char where[OP_PATH_MAX] = "";
    H5Fget_name(file, where, sizeof where);
    op_status s = OP_OK;
    int kept = 0;
    int total = base->n_depths * n_kinds * variants_of(base);
    for (int i = 0; i < total && s == OP_OK; i++) {
        if (done[i])
            continue;
        char id[64];
        int kn, ki;
        double kz;
        op_kernel_kind kk;
        kernel_of(base, kinds, n_kinds, i, &kn, &kz, &ki, &kk);
        kernel_id(id, sizeof id, kk, base, ki, kn, kz);
        int v = op_kernel_io_verify(file, id, comm);
        if (v == 1) {
            done[i] = 1;
            kept++;
            if (rank == 0)
                s = op_archive_put_kernel(ar, i);
            int st = s;
            OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, comm), "kernel status");
            s = (op_status)st;
        }
        if (rank == 0 && v == 1)
            fprintf(stderr, "overparam: kernel %s kept from %s /kernels/%s "
                    "(complete: its crc32 matches; the journal had no "
                    "record)\n", id, where, id);
        else if (rank == 0 && v < 0)
            fprintf(stderr, "overparam: kernel %s in %s /kernels/%s is "
                    "unfinished or fails its crc32: recomputed\n", id,
                    where, id);
    }
    if (rank == 0 && kept > 0)
        fprintf(stderr, "overparam: resumed %s: %d finished kernel%s kept "
                "from /kernels (verified by checksum, not in the journal)\n",
                where, kept, kept == 1 ? "" : "s");
    return s;
}

/* [kernel] n_val: the ridge is chosen on held-out training points, never
 * on the test set (Lee et al. 2020 choose theirs on a validation split).
 * The training set is drawn in a random order, so its last n_val points
 * are a random subset (with balanced quotas, leaning slightly to the
 * classes whose quota filled last); each kind is fitted on the others at every ridge
 * of kc (regression only: no times, spectra or matrix) and scored on
 * them (vres[j]'s "test" metrics). The input preprocessing was fitted on
 * the whole training set (labels unused). */
static op_status validation_fit(const op_pkernel_grid *g,
                                const op_kernel_spec *spec,
                                const op_kernel_cfg *kc, int n_todo,
                                const op_kernel_kind *todo,
                                const op_dataset *tr, op_kernel_result *vres)
{
    op_kernel_cfg vc = *kc;
    vc.n_time = 0;
    vc.eig32 = vc.eig64 = 0;
    vc.save_matrix = 0;
    vc.n_empirical = 0;
    if (vc.precision == OP_KPREC_COMPARE)
        vc.precision = OP_KPREC_F64;
    op_dataset fit = *tr, held = *tr;
    fit.n = tr->n - kc->n_val;
    held.n = kc->n_val;
    held.x = tr->x + (size_t)fit.n * (size_t)tr->d;
    held.y = tr->y + (size_t)fit.n * (size_t)tr->k;
    held.label = tr->label + fit.n;
    return op_pkernel_run(g, spec, &vc, n_todo, todo, &fit, &held, vres);
}

op_status op_kphase_run(const op_job *job, op_archive *ar, MPI_Comm comm,
                        const op_dataset *train, const op_dataset *test,
                        const unsigned char *journaled, int *n_done)
{
    const op_kernel_cfg *base = &job->base.kernel;
    op_kernel_kind kinds[2];
    int n_kinds = kinds_of(base, kinds);
    int total = op_kphase_count(job);
    int rank;
    MPI_Comm_rank(comm, &rank);
    unsigned char *done = OP_XMALLOC((size_t)total + 1);
    memcpy(done, journaled, (size_t)total);
    op_status s = recover_kernels(ar, comm, rank, base, kinds, n_kinds, done);
    *n_done = 0;
    for (int i = 0; i < total; i++)
        *n_done += done[i];
    if (s != OP_OK || *n_done == total) {
        free(done);
        return s;
    }

    op_pkernel_grid grid;
    int size, rows, cols;
    MPI_Comm_size(comm, &size);
    grid_shape(base, size, &rows, &cols);
    s = op_pkernel_grid_init(&grid, comm, rows, cols, base->block);
    if (s != OP_OK) {
        free(done);
        return s;
    }
    hid_t file = op_archive_file(ar);
    int solver = resolve_solver(job, size, op_kphase_rank_share(comm));
    int n_sizes = variants_of(base); /* data variants: size x zeta */
    int per = base->n_depths * n_kinds; /* kernels of one variant */
    /* Progress: the elapsed time over the modelled work done so far
     * (op_pkernel_work: n^3 in the size, so a learning curve's last sizes
     * weigh most) times the work left is the ETA, of each build's line
     * and of kphase_progress's. */
    int builds_left = 0, builds_done = 0;
    double t0 = MPI_Wtime();
    kprogress kp = {.rank = rank, .t0 = t0, .last = t0};
    for (int ni = 0; ni < n_sizes; ni++) {
        int n = base->n_n_train > 0 ? base->n_trains[ni / zcas_of(base)]
                                    : train->n;
        for (int di = 0; di < base->n_depths; di++) {
            int pending = 0;
            for (int ki = 0; ki < n_kinds; ki++)
                pending += !done[ni * per + di * n_kinds + ki];
            builds_left += pending > 0;
            if (pending)
                kp.work_total += op_pkernel_work(base, pending, n, test->n,
                                                 train->d, train->k);
        }
    }
    op_pkernel_set_progress(kphase_progress, &kp);
    /* Per variant, its training set (curve_data: the job's own when the
     * size is [data] n_train and [kernel] zca is not written); per depth,
     * every kind not yet done comes from one build; each is then written,
     * flushed and journaled on its own, in index order. */
    for (int ni = 0; ni < n_sizes && s == OP_OK; ni++) {
        int pend = 0;
        for (int j = 0; j < per; j++)
            pend += !done[ni * per + j];
        if (pend == 0)
            continue;
        int n = base->n_n_train > 0 ? base->n_trains[ni / zcas_of(base)]
                                    : train->n;
        double zeta = base->n_zca > 0 ? base->zcas[ni % zcas_of(base)]
                                      : job->base.data.zca;
        op_dataset ctr, cte;
        const op_dataset *tr = train, *te = test;
        int own = n != train->n || base->n_zca > 0;
        if (own) {
            s = curve_data(job, n, zeta, &ctr, &cte, comm);
            if (s != OP_OK)
                break;
            tr = &ctr;
            te = &cte;
        }
        for (int di = 0; di < base->n_depths && s == OP_OK; di++) {
            /* A stop request (walltime warning) is honoured between
             * depths: what is written and journaled stays, the rest is
             * computed on resume. Inside a depth, once the stop margin has
             * passed, the depth is abandoned at the next step boundary
             * (kphase_progress); a step itself (one ScaLAPACK call)
             * cannot be interrupted. */
            int stop = op_sched_stop_requested();
            OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT,
                                       MPI_MAX, comm), "sharing the stop flag");
            if (stop) {
                s = OP_ERR_STOPPED;
                break;
            }
            op_kernel_kind todo[2];
            int idx[2], n_todo = 0;
            for (int ki = 0; ki < n_kinds; ki++)
                if (!done[ni * per + di * n_kinds + ki]) {
                    idx[n_todo] = ni * per + di * n_kinds + ki;
                    todo[n_todo++] = kinds[ki];
                }
            if (n_todo == 0)
                continue;
            op_kernel_cfg kc = *base;
            kc.depth = base->depths[di];
            kc.sigma_w2 = base->inst_w2[di];
            kc.sigma_b2 = base->inst_b2[di];
            /* ELPA cannot run when a process row or column holds no part
             * of the matrix (n_train below a block or two): ScaLAPACK
             * then, and the archive records the solver that ran. */
            kc.eigensolver = op_pkernel_solver_for(&grid, solver, tr->n);
            op_kernel_spec spec;
            /* The standard parameterization's NTK depends on the hidden
             * width: the job's [model] width is the network it is the
             * limit of. */
            s = op_kernel_spec_init(&spec, &kc, kc.depth,
                                    job->base.model.width, tr->d);
            if (s != OP_OK)
                break;
            if (rank == 0) {
                double el = MPI_Wtime() - t0;
                char eta[32] = "-";
                if (builds_done > 0 && kp.work_before > 0)
                    snprintf(eta, sizeof eta, "%.0fs",
                             el / kp.work_before *
                                 (kp.work_total - kp.work_before));
                fprintf(stderr, "[overparam] kernels %d/%d: depth %d (%s%s), "
                        "n=%d: build, %d ridge%s, eigen; elapsed %.0fs ETA "
                        "%s\n", builds_done + 1, builds_left, kc.depth,
                        todo[0] == OP_KERNEL_NTK ? "ntk" : "nngp",
                        n_todo > 1 ? "+ntk" : "", tr->n, kc.n_ridge,
                        kc.n_ridge == 1 ? "" : "s", el, eta);
                fflush(stderr);
            }
            op_kernel_result res[2];
            kp.depth = kc.depth;
            kp.n_todo = n_todo;
            kp.todo = todo;
            s = op_pkernel_run(&grid, &spec, &kc, n_todo, todo, tr, te, res);
            kp.work_before += op_pkernel_work(&kc, n_todo, tr->n, te->n,
                                              tr->d, tr->k);
            builds_done++;
            if (s != OP_OK)
                break;
            op_kernel_result vres[2];
            int has_val = base->n_val > 0;
            if (has_val) {
                s = validation_fit(&grid, &spec, &kc, n_todo, todo, tr, vres);
                if (s != OP_OK) {
                    for (int j = 0; j < n_todo; j++)
                        op_kernel_result_free(&res[j]);
                    break;
                }
            }
            for (int j = 0; j < n_todo; j++) {
                if (s != OP_OK) {
                    op_kernel_result_free(&res[j]);
                    if (has_val)
                        op_kernel_result_free(&vres[j]);
                    continue;
                }
                op_kernel_kind kind = todo[j];
                char id[64];
                kernel_id(id, sizeof id, kind, base, di, tr->n, zeta);
                /* A group left unfinished by a kill (recover_kernels kept
                 * every sealed one): write anew. */
                char path[96];
                snprintf(path, sizeof path, "kernels/%s", id);
                htri_t exists = H5Lexists(file, "kernels", H5P_DEFAULT) > 0
                                    ? H5Lexists(file, path, H5P_DEFAULT)
                                    : 0;
                if (exists > 0)
                    OP_H5_CHECK(H5Ldelete(file, path, H5P_DEFAULT),
                                "removing a half-written kernel group");
                s = op_kernel_io_write(file, id, &kc, &spec, &res[j]);
                if (s == OP_OK && (has_val || base->n_zca > 0))
                    s = op_kernel_io_write_val(file, id,
                                               has_val ? &vres[j] : NULL, zeta);
                /* Empirical NTKs of finite widths beside the analytic NTK
                 * (entk.h), inside the group before it is flushed and
                 * journaled. */
                if (s == OP_OK && kind == OP_KERNEL_NTK && kc.n_empirical > 0)
                    s = op_entk_write(job, &kc, &grid, tr, te, file, path);
                /* Data on disk, then its checksum sealed and flushed, then
                 * the journal record: a resume without the record still
                 * knows a sealed group as finished (recover_kernels). */
                if (s == OP_OK)
                    s = op_archive_flush(ar);
                if (s == OP_OK)
                    s = op_kernel_io_seal(file, id, comm);
                if (s == OP_OK)
                    s = op_archive_flush(ar);
                if (s == OP_OK && rank == 0)
                    s = op_archive_put_kernel(ar, idx[j]);
                if (rank == 0 && s == OP_OK)
                    fprintf(stderr, "[overparam] kernel %s: n=%d, %.1fs "
                            "(build %.1fs%s, ridge %.1fs, eig %.1fs)\n", id,
                            tr->n, res[j].t_total, res[j].t_kernel,
                            n_todo > 1 ? " for both kinds" : "",
                            res[j].t_ridge, res[j].t_eig64 + res[j].t_eig32);
                op_kernel_result_free(&res[j]);
                if (has_val)
                    op_kernel_result_free(&vres[j]);
                int st = s;
                OP_MPI_CHECK(MPI_Bcast(&st, 1, MPI_INT, 0, comm),
                             "kernel status");
                s = (op_status)st;
                if (s == OP_OK)
                    (*n_done)++;
                /* A kill point between one finished kernel and the next
                 * (tests kill a learning curve here and resume it). */
                if (s == OP_OK)
                    op_fault_point("kernel");
            }
        }
        if (own) {
            op_data_free(&ctr);
            op_data_free(&cte);
        }
    }
    op_pkernel_set_progress(NULL, NULL);
    op_pkernel_grid_free(&grid);
    free(done);
    return s;
}

/* MemAvailable of this node, in bytes (0 when unknown). */
static double node_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024.0;
}

/* Peak bytes per rank with eigensolver `solver` (pkernel.h's memory
 * contract, in float64 words): K of each kind, the only n x n matrix of
 * regression, values-only spectra, float32 spectra and save_matrix
 * (factored in place, rebuilt); the eigensolver's workspace (measured:
 * ELPA 4 n^2/P values only, 3 with vectors; pdsyevd 2; pdsyev values only
 * 0.2) and the eigenvectors for the gradient flow; K(test, train) of each
 * kind; the mirroring panel (1024 n/P); the inputs every rank holds.
 * Mixed precision holds one float32 n x n (half a word per entry) and
 * 256-column float64 strips instead of K and K(test, train). */
static double bytes_with(const op_job *job, int ranks, int solver)
{
    if (op_kphase_count(job) == 0)
        return 0;
    int d, k;
    op_data_shape(&job->base, &d, &k);
    double n = op_kphase_max_n(job), nt = job->base.data.n_test;
    double p = ranks;
    const op_kernel_cfg *kc = &job->base.kernel;
    op_kernel_kind kinds[2];
    double nk = kinds_of(kc, kinds);
    double words = 0;
    if (kc->precision == OP_KPREC_MIXED) {
        words += 0.5 * n * n / p + 256.0 * (n + nt) / p + 4.0 * n * k;
    } else {
        words += nk * nt * n / p + 1024.0 * n / p;
        int elpa = solver != OP_EIGEN_SCALAPACK && op_pkernel_have_elpa();
        words += nk * n * n / p;
        /* compare: the float32 copy of K + eps I beside K while a ridge is
         * solved in both precisions. */
        if (kc->precision == OP_KPREC_COMPARE)
            words += 0.5 * n * n / p;
        if (kc->n_time > 0)
            words += (elpa ? 4.0 : 3.0) * n * n / p;
        else if (kc->eig64)
            words += (elpa ? 4.0 : 0.2) * n * n / p;
    }
    /* The empirical NTKs come after the analytic kernels are freed. */
    double emp = 0;
    for (int i = 0; i < kc->n_depths; i++) {
        op_kernel_cfg at = *kc;
        at.depth = kc->depths[i];
        emp = fmax(emp, op_entk_phase_bytes_per_rank(&at, d, k, (int)n,
                                                     (int)nt, ranks));
    }
    /* A build's transients (pkernel.h): this rank's rows of X when the
     * grid has several process rows (at most (n + nt) d / nprow, nprow ~
     * sqrt(P) on the default grid) and a panel of X's columns of at most
     * 32 MiB. */
    double build = p > 1 ? 8 * (n + nt) * d / floor(sqrt(p)) + 32.0 * 1048576
                         : 0;
    return fmax(8 * words + build, emp) + 8 * (n + nt) * (d + k);
}

/* The memory this node's ranks share, per rank, the smallest over the
 * nodes (collective; 0 when unknown). */
double op_kphase_rank_share(MPI_Comm comm)
{
    int rank, node_ranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm node;
    OP_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank,
                                     MPI_INFO_NULL, &node),
                 "grouping ranks by node");
    MPI_Comm_size(node, &node_ranks);
    MPI_Comm_free(&node);
    double have = node_available_bytes() / node_ranks;
    OP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &have, 1, MPI_DOUBLE, MPI_MIN,
                               comm), "sharing available memory");
    return have;
}

/* eigensolver = auto: ELPA when built, when only eigenvalues are needed
 * and its workspace fits in `have` bytes per rank (unknown: fits), else
 * ScaLAPACK. Why not ELPA for eigenvectors (the gradient-flow predictor,
 * [kernel] time): Debian's ELPA ships only its generic two-stage kernels,
 * and with vectors pdsyevd was faster here at every size measured
 * (bench/RESULTS.md: n = 2048, 0.90 s against 2.41 s on 2 ranks; n =
 * 3000, 18.4 s against 33.4 s), while for values only ELPA was ~3x faster
 * than pdsyev. */
static int resolve_solver(const op_job *job, int ranks, double have)
{
    int s = job->base.kernel.eigensolver;
    if (s != OP_EIGEN_AUTO)
        return s;
    if (!op_pkernel_have_elpa() || job->base.kernel.n_time > 0)
        return OP_EIGEN_SCALAPACK;
    return have <= 0 || bytes_with(job, ranks, OP_EIGEN_ELPA) <= 0.9 * have
               ? OP_EIGEN_ELPA
               : OP_EIGEN_SCALAPACK;
}

double op_kphase_bytes_per_rank(const op_job *job, int ranks)
{
    /* auto: the lean choice (what the memory check accepts at least). */
    int s = job->base.kernel.eigensolver;
    if (s == OP_EIGEN_AUTO) {
        double e = bytes_with(job, ranks, OP_EIGEN_ELPA),
               c = bytes_with(job, ranks, OP_EIGEN_SCALAPACK);
        return e < c ? e : c;
    }
    return bytes_with(job, ranks, s);
}

op_status op_kphase_check_memory(const op_job *job, MPI_Comm comm)
{
    int size;
    MPI_Comm_size(comm, &size);
    double have = op_kphase_rank_share(comm);
    double need = op_kphase_bytes_per_rank(job, size);
    if (need > 0 && have > 0 && need > 0.9 * have)
        return op_error(OP_ERR_INPUT, "%s: [kernel] with n_train = %d needs "
                        "%.2f GiB per rank on %d ranks, but only %.2f GiB "
                        "is available per rank: use more ranks (memory per "
                        "rank falls as 1/P) or a smaller n_train",
                        job->file, op_kphase_max_n(job), need / 1073741824.0,
                        size, have / 1073741824.0);
    return OP_OK;
}
