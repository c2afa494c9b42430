/* kernel_io.c — one kernel's configuration, spectra, predictions, metrics
 * and (optionally) its matrix into /kernels/<id>/ of a parallel HDF5 file
 * (contract in kernel_io.h). Every call is collective; small arrays are
 * written by rank 0 with the other ranks selecting nothing, inside the same
 * collective transfer, so the metadata stays consistent on all ranks. */
#include "overparam/kernel_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "overparam/h5attr.h"

extern void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow,
                            int *mycol);

#define H5C(call) OP_H5_CHECK(call, "writing a kernel group")

static hid_t collective_dxpl(void)
{
    hid_t dx = H5Pcreate(H5P_DATASET_XFER);
    H5C(dx);
    H5C(H5Pset_dxpl_mpio(dx, H5FD_MPIO_COLLECTIVE));
    return dx;
}

/* A dataset whose whole contents `buf` rank 0 writes; every rank creates
 * it and joins the collective write with an empty selection. */
static void write_small(hid_t loc, const char *name, hid_t ftype,
                        hid_t mtype, int ndim, const hsize_t *dims,
                        const void *buf, int writer)
{
    hsize_t total = 1;
    for (int i = 0; i < ndim; i++)
        total *= dims[i];
    hid_t fs = H5Screate_simple(ndim, dims, NULL);
    H5C(fs);
    hid_t ds = H5Dcreate2(loc, name, ftype, fs, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    H5C(ds);
    if (total > 0) {
        hid_t ms = H5Scopy(fs);
        H5C(ms);
        if (!writer) {
            H5C(H5Sselect_none(fs));
            H5C(H5Sselect_none(ms));
        }
        hid_t dx = collective_dxpl();
        static const double dummy[1] = {0};
        H5C(H5Dwrite(ds, mtype, ms, fs, dx, writer && buf ? buf : dummy));
        H5C(H5Pclose(dx));
        H5C(H5Sclose(ms));
    }
    H5C(H5Dclose(ds));
    H5C(H5Sclose(fs));
}

typedef struct {
    double value, epsilon, mse, acc;
    int status;
} ridge_row;

typedef struct {
    double time, mse, acc;
    int status;
} time_row;

static void write_metrics(hid_t grp, const op_kernel_result *res, int writer)
{
    if (res->n_ridge > 0) {
        hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(ridge_row));
        H5C(t);
        H5C(H5Tinsert(t, "ridge", HOFFSET(ridge_row, value), H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "epsilon", HOFFSET(ridge_row, epsilon),
                      H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "mse", HOFFSET(ridge_row, mse), H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "acc", HOFFSET(ridge_row, acc), H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "status", HOFFSET(ridge_row, status),
                      H5T_NATIVE_INT));
        ridge_row rows[OP_LIST_MAX];
        for (int i = 0; i < res->n_ridge; i++)
            rows[i] = (ridge_row){res->ridge[i], res->epsilon[i],
                                  res->ridge_mse[i], res->ridge_acc[i],
                                  res->ridge_status[i]};
        hsize_t dim = (hsize_t)res->n_ridge;
        write_small(grp, "metrics_ridge", t, t, 1, &dim, rows, writer);
        H5C(H5Tclose(t));
    }
    if (res->n_time > 0) {
        hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(time_row));
        H5C(t);
        H5C(H5Tinsert(t, "time", HOFFSET(time_row, time), H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "mse", HOFFSET(time_row, mse), H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "acc", HOFFSET(time_row, acc), H5T_NATIVE_DOUBLE));
        H5C(H5Tinsert(t, "status", HOFFSET(time_row, status),
                      H5T_NATIVE_INT));
        time_row rows[OP_LIST_MAX];
        for (int i = 0; i < res->n_time; i++)
            rows[i] = (time_row){res->time[i], res->time_mse[i],
                                 res->time_acc[i], res->time_status[i]};
        hsize_t dim = (hsize_t)res->n_time;
        write_small(grp, "metrics_time", t, t, 1, &dim, rows, writer);
        H5C(H5Tclose(t));
    }
}

/* The global indices one process row (or column) owns in a block-cyclic
 * distribution with source 0, as a regular run of full blocks plus the
 * trailing partial block: (start, stride, count, block) pairs. */
typedef struct {
    hsize_t start[2], stride[2], count[2], block[2];
    int n; /* 0, 1 or 2 pieces */
} owned;

static owned owned_range(int m, int nb, int p, int np)
{
    owned o;
    memset(&o, 0, sizeof o);
    int nfull = m / nb, rem = m % nb;
    if (nfull > p) {
        o.start[o.n] = (hsize_t)p * nb;
        o.stride[o.n] = (hsize_t)np * nb;
        o.count[o.n] = (hsize_t)((nfull - p - 1) / np + 1);
        o.block[o.n] = (hsize_t)nb;
        o.n++;
    }
    if (rem > 0 && nfull % np == p) {
        o.start[o.n] = (hsize_t)nfull * nb;
        o.stride[o.n] = 1;
        o.count[o.n] = 1;
        o.block[o.n] = (hsize_t)rem;
        o.n++;
    }
    return o;
}

static void write_matrix(hid_t grp, const op_pmatrix *A)
{
    int nprow, npcol, myrow, mycol;
    Cblacs_gridinfo(A->desc[1], &nprow, &npcol, &myrow, &mycol);
    int nb = A->desc[4]; /* MB_; square blocks */
    hsize_t dims[2] = {(hsize_t)A->m, (hsize_t)A->n};
    hid_t fs = H5Screate_simple(2, dims, NULL);
    H5C(fs);
    hid_t ds = H5Dcreate2(grp, "matrix", H5T_IEEE_F64LE, fs, H5P_DEFAULT,
                          H5P_DEFAULT, H5P_DEFAULT);
    H5C(ds);
    /* The file selection is iterated in row-major order of the global
     * matrix; block-cyclic ownership preserves the order of rows and of
     * columns, so it meets the local blocks in row-major local order: the
     * local column-major array is transposed into that order once. */
    owned r = owned_range(A->m, nb, myrow, nprow);
    owned c = owned_range(A->n, nb, mycol, npcol);
    int first = 1;
    H5C(H5Sselect_none(fs));
    for (int i = 0; i < r.n; i++)
        for (int j = 0; j < c.n; j++) {
            hsize_t st[2] = {r.start[i], c.start[j]};
            hsize_t sd[2] = {r.stride[i], c.stride[j]};
            hsize_t ct[2] = {r.count[i], c.count[j]};
            hsize_t bl[2] = {r.block[i], c.block[j]};
            H5C(H5Sselect_hyperslab(fs, first ? H5S_SELECT_SET : H5S_SELECT_OR,
                                    st, sd, ct, bl));
            first = 0;
        }
    size_t nloc = (size_t)A->mloc * A->nloc;
    hssize_t sel = H5Sget_select_npoints(fs);
    H5C(sel);
    if ((size_t)sel != nloc)
        op_abort_all(__FILE__, __LINE__, "block-cyclic selection",
                     "selected points != local elements", "internal error");
    hsize_t mdims[2] = {(hsize_t)(A->mloc > 0 ? A->mloc : 1),
                        (hsize_t)(A->nloc > 0 ? A->nloc : 1)};
    hid_t ms = H5Screate_simple(2, mdims, NULL);
    H5C(ms);
    double *buf = OP_XMALLOC(sizeof(double) * (nloc ? nloc : 1));
    if (nloc == 0) {
        H5C(H5Sselect_none(ms));
    } else {
        for (int li = 0; li < A->mloc; li++)
            for (int lj = 0; lj < A->nloc; lj++)
                buf[(size_t)li * A->nloc + lj] = A->a[li + (size_t)lj * A->lld];
    }
    hid_t dx = collective_dxpl();
    H5C(H5Dwrite(ds, H5T_NATIVE_DOUBLE, ms, fs, dx, buf));
    H5C(H5Pclose(dx));
    free(buf);
    H5C(H5Sclose(ms));
    H5C(H5Dclose(ds));
    H5C(H5Sclose(fs));
}

static int file_rank(hid_t file)
{
    hid_t fapl = H5Fget_access_plist(file);
    H5C(fapl);
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Info info = MPI_INFO_NULL;
    H5C(H5Pget_fapl_mpio(fapl, &comm, &info));
    int rank = 0;
    OP_MPI_CHECK(MPI_Comm_rank(comm, &rank), "archive communicator");
    OP_MPI_CHECK(MPI_Comm_free(&comm), "archive communicator");
    if (info != MPI_INFO_NULL)
        MPI_Info_free(&info);
    H5C(H5Pclose(fapl));
    return rank;
}

op_status op_kernel_io_write(hid_t file, const char *id,
                             const op_kernel_cfg *cfg,
                             const op_kernel_spec *spec,
                             const op_kernel_result *res)
{
    int writer = file_rank(file) == 0;
    htri_t has = H5Lexists(file, "/kernels", H5P_DEFAULT);
    H5C(has);
    hid_t top = has > 0 ? H5Gopen2(file, "/kernels", H5P_DEFAULT)
                        : H5Gcreate2(file, "/kernels", H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT);
    H5C(top);
    htri_t dup = H5Lexists(top, id, H5P_DEFAULT);
    H5C(dup);
    if (dup > 0) {
        H5C(H5Gclose(top));
        return op_error(OP_ERR_IO, "kernel archive: /kernels/%s exists", id);
    }
    hid_t g = H5Gcreate2(top, id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5C(g);

    op_h5_attr_string(g, "kind", res->kind == OP_KERNEL_NTK ? "ntk" : "nngp");
    op_h5_attr_string(g, "activation", spec->act == OP_ACT_RELU ? "relu" : "erf");
    op_h5_attr_string(g, "parameterization",
             spec->param == OP_PARAM_NTK ? "ntk" : "standard");
    op_h5_attr_long(g, "depth", spec->depth);
    op_h5_attr_long(g, "width", spec->width);
    op_h5_attr_double(g, "sigma_w2", spec->sigma_w2);
    op_h5_attr_double(g, "sigma_b2", spec->sigma_b2);
    op_h5_attr_long(g, "input_dim", spec->d);
    op_h5_attr_long(g, "n_train", res->n_train);
    op_h5_attr_long(g, "n_test", res->n_test);
    op_h5_attr_long(g, "outputs", res->k);
    op_h5_attr_long(g, "ridge_relative", cfg->ridge_relative);
    op_h5_attr_doubles(g, "ridge", res->ridge, res->n_ridge);
    op_h5_attr_doubles(g, "epsilon", res->epsilon, res->n_ridge);
    op_h5_attr_doubles(g, "time", res->time, res->n_time);
    op_h5_attr_long(g, "block", res->block);
    op_h5_attr_long(g, "grid_rows", res->grid_rows);
    op_h5_attr_long(g, "grid_cols", res->grid_cols);
    op_h5_attr_double(g, "mean_diag", res->mean_diag);
    op_h5_attr_double(g, "fit_exponent64", res->fit_exp64);
    op_h5_attr_double(g, "fit_prefactor64", res->fit_pref64);
    op_h5_attr_double(g, "fit_exponent32", res->fit_exp32);
    op_h5_attr_double(g, "fit_prefactor32", res->fit_pref32);
    op_h5_attr_long(g, "fit_lo", res->fit_lo);
    op_h5_attr_long(g, "fit_hi", res->fit_hi);
    op_h5_attr_string(g, "precision",
                      res->precision == OP_KPREC_MIXED ? "mixed" : "float64");
    op_h5_attr_string(g, "eigensolver",
                      res->eigensolver == OP_EIGEN_ELPA && op_pkernel_have_elpa()
                          ? "elpa-2stage" : "scalapack");
    /* Mixed precision: each ridge's backward error and refinement solves
     * (NaN / 0 in float64). */
    op_h5_attr_doubles(g, "ridge_backward_error", res->ridge_berr,
                       res->n_ridge);
    double solves[OP_LIST_MAX];
    for (int i = 0; i < res->n_ridge; i++)
        solves[i] = res->ridge_iters[i];
    op_h5_attr_doubles(g, "ridge_refine_solves", solves, res->n_ridge);
    op_h5_attr_double(g, "t_kernel", res->t_kernel);
    op_h5_attr_double(g, "t_ridge", res->t_ridge);
    op_h5_attr_double(g, "t_eig64", res->t_eig64);
    op_h5_attr_double(g, "t_eig32", res->t_eig32);
    op_h5_attr_double(g, "t_gd", res->t_gd);
    op_h5_attr_double(g, "t_total", res->t_total);
    op_h5_attr_string(g, "mse_convention",
             "0.5 * mean over test samples of the squared error summed over "
             "outputs");
    op_h5_attr_string(g, "time_convention",
             "gradient flow on 0.5*mean_i |f(x_i)-y_i|^2, learning rate 1, "
             "f_0 = 0: f_t = Kt V diag((1-exp(-lambda t/n))/lambda) V^T y");
    op_h5_attr_string(g, "eigen_order", "descending");

    hsize_t n = (hsize_t)res->n_train;
    if (res->eig64)
        write_small(g, "eigenvalues64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1,
                    &n, res->eig64, writer);
    if (res->eig32)
        write_small(g, "eigenvalues32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1,
                    &n, res->eig32, writer);
    if (res->n_ridge > 0) {
        hsize_t d3[3] = {(hsize_t)res->n_ridge, (hsize_t)res->n_test,
                         (hsize_t)res->k};
        write_small(g, "pred_ridge", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, d3,
                    res->pred_ridge, writer);
    }
    if (res->n_time > 0) {
        hsize_t d3[3] = {(hsize_t)res->n_time, (hsize_t)res->n_test,
                         (hsize_t)res->k};
        write_small(g, "pred_time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, d3,
                    res->pred_time, writer);
    }
    write_metrics(g, res, writer);
    if (res->has_matrix)
        write_matrix(g, &res->matrix);

    H5C(H5Gclose(g));
    H5C(H5Gclose(top));
    return OP_OK;
}
