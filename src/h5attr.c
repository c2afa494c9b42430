/* h5attr.c — create and read the archive's attributes (see h5attr.h). */
#include "overparam/h5attr.h"

#include <stdlib.h>
#include <string.h>

#include "overparam/error.h"

#define HINT "writing an attribute"

/* Creates attribute `name` of `type` and `space` on obj, replacing one of
 * that name, writes `value` (in memory type `mtype`) and closes it. */
static void attr_put(hid_t obj, const char *name, hid_t type, hid_t space,
                     hid_t mtype, const void *value)
{
    if (H5Aexists(obj, name) > 0)
        OP_H5_CHECK(H5Adelete(obj, name), "replacing an attribute");
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    OP_H5_CHECK(a, HINT);
    OP_H5_CHECK(H5Awrite(a, mtype, value), HINT);
    OP_H5_CHECK(H5Aclose(a), HINT);
    OP_H5_CHECK(H5Sclose(space), HINT);
}

void op_h5_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    OP_H5_CHECK(t, HINT);
    OP_H5_CHECK(H5Tset_size(t, strlen(value) + 1), HINT);
    attr_put(obj, name, t, H5Screate(H5S_SCALAR), t, value);
    H5Tclose(t);
}

void op_h5_attr_long(hid_t obj, const char *name, long long value)
{
    attr_put(obj, name, H5T_STD_I64LE, H5Screate(H5S_SCALAR),
             H5T_NATIVE_LLONG, &value);
}

void op_h5_attr_double(hid_t obj, const char *name, double value)
{
    attr_put(obj, name, H5T_IEEE_F64LE, H5Screate(H5S_SCALAR),
             H5T_NATIVE_DOUBLE, &value);
}

void op_h5_attr_doubles(hid_t obj, const char *name, const double *v, int n)
{
    hsize_t dim = (hsize_t)(n > 0 ? n : 0);
    static const double none[1] = {0};
    attr_put(obj, name, H5T_IEEE_F64LE, H5Screate_simple(1, &dim, NULL),
             H5T_NATIVE_DOUBLE, n > 0 ? (const void *)v : none);
}

void op_h5_attr_strings(hid_t obj, const char *name, const char *const *v,
                        int n)
{
    size_t w = 1;
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) + 1 > w)
            w = strlen(v[i]) + 1;
    char *buf = OP_XCALLOC((size_t)(n > 0 ? n : 1) * w, 1);
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * w, v[i], strlen(v[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    OP_H5_CHECK(t, HINT);
    OP_H5_CHECK(H5Tset_size(t, w), HINT);
    OP_H5_CHECK(H5Tset_strpad(t, H5T_STR_NULLPAD), HINT);
    hsize_t dim = (hsize_t)(n > 0 ? n : 0);
    attr_put(obj, name, t, H5Screate_simple(1, &dim, NULL), t, buf);
    H5Tclose(t);
    free(buf);
}

char **op_h5_attr_read_strings(hid_t obj, const char *name, int *n)
{
    char **out = NULL;
    *n = 0;
    H5E_BEGIN_TRY
    {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT)
                                           : -1;
        hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t m = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (ft >= 0 && m >= 0 && m < (1 << 20) &&
            H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft)) {
            size_t w = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, w);
            H5Tset_strpad(mt, H5T_STR_NULLPAD);
            char *raw = calloc((size_t)(m ? m : 1) * w, 1);
            /* One block: m pointers, then m NUL-terminated strings. */
            out = raw ? calloc(1, sizeof(char *) * (size_t)(m + 1) +
                                      (size_t)m * (w + 1))
                      : NULL;
            if (out && (m == 0 || H5Aread(a, mt, raw) >= 0)) {
                char *s = (char *)(out + m + 1);
                for (hssize_t i = 0; i < m; i++) {
                    out[i] = s + (size_t)i * (w + 1);
                    memcpy(out[i], raw + (size_t)i * w, w);
                }
                *n = (int)m;
            } else {
                free(out);
                out = NULL;
            }
            free(raw);
            H5Tclose(mt);
        }
        if (sp >= 0)
            H5Sclose(sp);
        if (ft >= 0)
            H5Tclose(ft);
        if (a >= 0)
            H5Aclose(a);
    }
    H5E_END_TRY;
    return out;
}

char *op_h5_attr_read_string(hid_t obj, const char *name)
{
    char *out = NULL;
    H5E_BEGIN_TRY
    {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT)
                                           : -1;
        hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
        if (ft >= 0 && H5Tget_class(ft) == H5T_STRING &&
            !H5Tis_variable_str(ft)) {
            size_t n = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n);
            out = calloc(n + 1, 1);
            if (out && H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
            H5Tclose(mt);
        }
        if (ft >= 0)
            H5Tclose(ft);
        if (a >= 0)
            H5Aclose(a);
    }
    H5E_END_TRY;
    return out;
}

long long op_h5_attr_read_long(hid_t obj, const char *name, long long dflt)
{
    long long v = dflt;
    H5E_BEGIN_TRY
    {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT)
                                           : -1;
        if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &v) < 0)
            v = dflt;
        if (a >= 0)
            H5Aclose(a);
    }
    H5E_END_TRY;
    return v;
}

double *op_h5_attr_read_doubles(hid_t obj, const char *name, int *n)
{
    double *out = NULL;
    *n = 0;
    H5E_BEGIN_TRY
    {
        hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT)
                                           : -1;
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t m = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (m >= 0 && m < (1 << 20)) {
            out = calloc((size_t)(m ? m : 1), sizeof(double));
            if (out && (m == 0 || H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0)) {
                *n = (int)m;
            } else {
                free(out);
                out = NULL;
            }
        }
        if (sp >= 0)
            H5Sclose(sp);
        if (a >= 0)
            H5Aclose(a);
    }
    H5E_END_TRY;
    return out;
}

hid_t op_h5_group_create(hid_t parent, const char *name)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    OP_H5_CHECK(g, "creating a group");
    return g;
}

hid_t op_h5_open_readonly(const char *path)
{
    hid_t f = -1;
    H5E_BEGIN_TRY
    {
        if (H5Fis_hdf5(path) > 0)
            f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5E_END_TRY;
    return f;
}

int op_h5_read_member(hid_t d, const char *name, double *out)
{
    hid_t ft = H5Dget_type(d);
    int idx = H5Tget_member_index(ft, name);
    H5Tclose(ft);
    if (idx < 0)
        return -1;
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(double));
    H5Tinsert(mt, name, 0, H5T_NATIVE_DOUBLE);
    herr_t e = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Tclose(mt);
    return e < 0 ? -1 : 0;
}
