/* kernel_io.c — one kernel's configuration, spectra, predictions, metrics
 * and (optionally) its matrix into /kernels/<id>/ of a parallel HDF5 file
 * (contract in kernel_io.h). Every call is collective; small arrays are
 * written by rank 0 with the other ranks selecting nothing, inside the same
 * collective transfer, so the metadata stays consistent on all ranks. */
#include "overparam/kernel_io.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "overparam/h5attr.h"
#include "overparam/schema.h"

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
    op_schema_describe_kernel_dataset(ds, name);
    H5C(H5Dclose(ds));
    H5C(H5Sclose(fs));
}

/* metrics_ridge, metrics_ridge32 and metrics_time: their columns, row
 * structs and the value of each column are schema.h's OP_KERNEL_RIDGE /
 * OP_KERNEL_RIDGE32 / OP_KERNEL_TIME; one table of n rows each. */
#define WRITE_TABLE(dname, n, cols, ncols, row_t, LIST)                       \
    do {                                                                      \
        hid_t t = op_schema_compound(cols, ncols, sizeof(row_t));             \
        row_t rows[OP_LIST_MAX];                                              \
        for (int i = 0; i < (n); i++) {                                       \
            LIST(X_ROW)                                                       \
        }                                                                     \
        hsize_t dim = (hsize_t)(n);                                           \
        write_small(grp, dname, t, t, 1, &dim, rows, writer);                 \
        H5C(H5Tclose(t));                                                     \
    } while (0)
#define X_ROW(name, type, units, role, desc, value) rows[i].name = value;

static void write_metrics(hid_t grp, const op_kernel_result *res, int writer)
{
    if (res->n_ridge > 0)
        WRITE_TABLE("metrics_ridge", res->n_ridge, op_kernel_ridge_cols,
                    op_kernel_ridge_ncols, op_kernel_ridge_row,
                    OP_KERNEL_RIDGE);
    if (res->n_ridge > 0 && res->has_f32)
        WRITE_TABLE("metrics_ridge32", res->n_ridge, op_kernel_ridge32_cols,
                    op_kernel_ridge32_ncols, op_kernel_ridge32_row,
                    OP_KERNEL_RIDGE32);
    if (res->n_time > 0)
        WRITE_TABLE("metrics_time", res->n_time, op_kernel_time_cols,
                    op_kernel_time_ncols, op_kernel_time_row, OP_KERNEL_TIME);
}

/* [kernel] n_val's scores: metrics_ridge's columns, of the fit whose
 * "test" set was the held-out training points. */
static void write_val_metrics(hid_t grp, const op_kernel_result *res,
                              int writer)
{
    if (res->n_ridge > 0)
        WRITE_TABLE("metrics_ridge_val", res->n_ridge, op_kernel_ridge_cols,
                    op_kernel_ridge_ncols, op_kernel_ridge_row,
                    OP_KERNEL_RIDGE);
}
#undef X_ROW
#undef WRITE_TABLE

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

/* A into `name` of grp: [m][n] when count == 0, else slice `index` of a
 * [count][m][n] stack (created by the call with index 0). */
static void write_matrix_at(hid_t grp, const char *name, const op_pmatrix *A,
                            int index, int count)
{
    int nprow, npcol, myrow, mycol;
    Cblacs_gridinfo(A->desc[1], &nprow, &npcol, &myrow, &mycol);
    int nb = A->desc[4]; /* MB_; square blocks */
    int nd = count > 0 ? 3 : 2, o = nd - 2;
    hsize_t dims[3] = {(hsize_t)count, (hsize_t)A->m, (hsize_t)A->n};
    hid_t fs = H5Screate_simple(nd, count > 0 ? dims : dims + 1, NULL);
    H5C(fs);
    hid_t ds = index > 0 ? H5Dopen2(grp, name, H5P_DEFAULT)
                         : H5Dcreate2(grp, name, H5T_IEEE_F64LE, fs,
                                      H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
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
            hsize_t st[3] = {(hsize_t)index, 0, 0}, sd[3] = {1, 1, 1},
                    ct[3] = {1, 1, 1}, bl[3] = {1, 1, 1};
            st[o] = r.start[i];
            st[o + 1] = c.start[j];
            sd[o] = r.stride[i];
            sd[o + 1] = c.stride[j];
            ct[o] = r.count[i];
            ct[o + 1] = c.count[j];
            bl[o] = r.block[i];
            bl[o + 1] = c.block[j];
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
    if (index == 0)
        op_schema_describe_kernel_dataset(ds, name);
    H5C(H5Dclose(ds));
    H5C(H5Sclose(fs));
}

static void write_matrix(hid_t grp, const op_pmatrix *A)
{
    write_matrix_at(grp, "matrix", A, 0, 0);
}

void op_kernel_io_write_matrix(hid_t grp, const char *name,
                               const op_pmatrix *A, int index, int count)
{
    write_matrix_at(grp, name, A, index, count);
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
    /* The readout layer as the kernel was computed (its resolved
     * variances) and the bias rule, so a reader needs no job file. */
    double w2l, b2l;
    int hbl, hb0;
    op_dense_layer(spec->sigma_w2, spec->sigma_b2, spec->sigma_w2_last,
                   spec->sigma_b2_last, spec->last_set, spec->bias, 0, &w2l,
                   &b2l, &hb0);
    op_dense_layer(spec->sigma_w2, spec->sigma_b2, spec->sigma_w2_last,
                   spec->sigma_b2_last, spec->last_set, spec->bias, 1, &w2l,
                   &b2l, &hbl);
    op_h5_attr_double(g, "sigma_w2_last", w2l);
    op_h5_attr_double(g, "sigma_b2_last", b2l);
    op_h5_attr_string(g, "bias", spec->bias == OP_BIAS_ON    ? "on"
                                 : spec->bias == OP_BIAS_OFF ? "off"
                                                             : "auto");
    op_h5_attr_long(g, "bias_hidden", hb0);
    op_h5_attr_long(g, "bias_last", hbl);
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
                      res->precision == OP_KPREC_MIXED     ? "mixed"
                      : res->precision == OP_KPREC_COMPARE ? "compare"
                                                           : "float64");
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
    /* What the time coordinate means: its name ([kernel]
     * time_convention), the divisor of lambda t in the flow's exponent
     * (n, or n*k for neural-tangents), and the formula in words. */
    int nt_conv = cfg->time_convention == OP_TIME_NEURAL_TANGENTS;
    op_h5_attr_string(g, "time_convention",
                      nt_conv ? "neural_tangents" : "per_sample");
    op_h5_attr_double(g, "time_divisor",
                      (double)res->n_train * (nt_conv ? res->k : 1));
    op_h5_attr_string(g, "time_formula",
             nt_conv ? "gradient flow on 0.5*mean over the n*k outputs of "
                       "(f-y)^2 (neural-tangents' gradient_descent_mse), "
                       "learning rate 1, f_0 = 0: f_t = Kt V "
                       "diag((1-exp(-lambda t/(n k)))/lambda) V^T y"
                     : "gradient flow on 0.5*mean_i |f(x_i)-y_i|^2, "
                       "learning rate 1, f_0 = 0: f_t = Kt V "
                       "diag((1-exp(-lambda t/n))/lambda) V^T y");
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

/* metrics_ridge_val: the validation scores of the kernel fitted on the
 * training set less its last n_val points (val: the result of that fit,
 * its "test" set the held-out points), the columns of metrics_ridge. */
op_status op_kernel_io_write_val(hid_t file, const char *id,
                                 const op_kernel_result *val, double zeta)
{
    int writer = file_rank(file) == 0;
    char path[96];
    snprintf(path, sizeof path, "/kernels/%s", id);
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    H5C(g);
    op_h5_attr_double(g, "zca", zeta);
    if (val) {
        op_h5_attr_long(g, "n_val", val->n_test);
        op_h5_attr_long(g, "n_fit_val", val->n_train);
        write_val_metrics(g, val, writer);
    }
    H5C(H5Gclose(g));
    return OP_OK;
}

/* ---- the group's checksum: a finished kernel proves itself ----------- */

/* What op_kernel_io_checksum accumulates while it visits a group. */
typedef struct {
    uLong crc;
    int reader; /* this rank reads the data (rank 0); the others only
                   open what it opens, as collective metadata use wants */
} crc_walk;

/* Folds one dataset into the checksum: its name, then its raw bytes as
 * stored (file type, no conversion), read in slabs of whole rows of its
 * first dimension (~8 MiB each: a saved matrix is n^2 doubles). */
static herr_t crc_visit(hid_t g, const char *name, const H5L_info_t *info,
                        void *data)
{
    crc_walk *w = data;
    (void)info;
    H5O_info_t oi;
    H5C(H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT));
    if (oi.type != H5O_TYPE_DATASET)
        return 0;
    w->crc = crc32(w->crc, (const Bytef *)name, (uInt)strlen(name));
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    H5C(d);
    hid_t t = H5Dget_type(d);
    H5C(t);
    hid_t fs = H5Dget_space(d);
    H5C(fs);
    int nd = H5Sget_simple_extent_ndims(fs);
    H5C(nd);
    hsize_t dims[H5S_MAX_RANK];
    H5C(H5Sget_simple_extent_dims(fs, dims, NULL));
    size_t row = H5Tget_size(t);
    for (int k = 1; k < nd; k++)
        row *= (size_t)dims[k];
    hsize_t rows = nd > 0 ? dims[0] : 1;
    /* Variable-length data reads as pointers: only its name counts. */
    int plain = H5Tdetect_class(t, H5T_VLEN) <= 0 &&
                !(H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0);
    if (w->reader && plain && row > 0 && rows > 0) {
        hsize_t per = (hsize_t)((size_t)8 << 20) / row;
        per = per < 1 ? 1 : per > rows ? rows : per;
        unsigned char *buf = OP_XMALLOC(row * (size_t)per);
        for (hsize_t r0 = 0; r0 < rows; r0 += per) {
            hsize_t m = rows - r0 < per ? rows - r0 : per;
            hid_t ms;
            if (nd > 0) {
                hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
                for (int k = 0; k < nd; k++)
                    count[k] = dims[k];
                start[0] = r0;
                count[0] = m;
                H5C(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL,
                                        count, NULL));
                ms = H5Screate_simple(nd, count, NULL);
            } else {
                ms = H5Screate(H5S_SCALAR);
            }
            H5C(ms);
            H5C(H5Dread(d, t, ms, fs, H5P_DEFAULT, buf));
            H5C(H5Sclose(ms));
            w->crc = crc32(w->crc, buf, (uInt)(row * (size_t)m));
        }
        free(buf);
    }
    H5C(H5Sclose(fs));
    H5C(H5Tclose(t));
    H5C(H5Dclose(d));
    return 0;
}

/* CRC-32 of every dataset under /kernels/<id> (names and stored bytes,
 * in name order, subgroups included), on every rank of `comm`: rank 0
 * reads, the others follow its opens, the value is broadcast. Returns 0,
 * or -1 when there is no such group. */
static int group_checksum(hid_t file, const char *id, MPI_Comm comm,
                          uint32_t *out)
{
    char path[160];
    snprintf(path, sizeof path, "/kernels/%s", id);
    htri_t has = H5Lexists(file, "/kernels", H5P_DEFAULT);
    H5C(has);
    if (has > 0) {
        has = H5Lexists(file, path, H5P_DEFAULT);
        H5C(has);
    }
    if (has <= 0)
        return -1;
    int rank;
    OP_MPI_CHECK(MPI_Comm_rank(comm, &rank), "kernel checksum");
    crc_walk w = {crc32(0L, Z_NULL, 0), rank == 0};
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    H5C(g);
    H5C(H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, crc_visit, &w));
    H5C(H5Gclose(g));
    unsigned long long c = w.crc;
    OP_MPI_CHECK(MPI_Bcast(&c, 1, MPI_UNSIGNED_LONG_LONG, 0, comm),
                 "kernel checksum");
    *out = (uint32_t)c;
    return 0;
}

op_status op_kernel_io_seal(hid_t file, const char *id, MPI_Comm comm)
{
    uint32_t crc;
    if (group_checksum(file, id, comm, &crc) != 0)
        return op_error(OP_ERR_IO, "kernel archive: /kernels/%s missing", id);
    char path[160];
    snprintf(path, sizeof path, "/kernels/%s", id);
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    H5C(g);
    op_h5_attr_long(g, "crc32", (long long)crc);
    H5C(H5Gclose(g));
    return OP_OK;
}

int op_kernel_io_verify(hid_t file, const char *id, MPI_Comm comm)
{
    uint32_t crc;
    if (group_checksum(file, id, comm, &crc) != 0)
        return 0;
    char path[160];
    snprintf(path, sizeof path, "/kernels/%s", id);
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    H5C(g);
    long long want = op_h5_attr_read_long(g, "crc32", -1);
    H5C(H5Gclose(g));
    return want == (long long)crc ? 1 : -1;
}
