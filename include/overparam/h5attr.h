/* h5attr.h — the HDF5 helpers every writer and reader of the archive
 * uses, in one place: attributes (created replacing any of the same name,
 * and read), groups, a silent read-only open, a compound member read.
 *
 * Contract: writers are collective in a parallel file (every rank passes
 * the same value) and abort all ranks through OP_H5_CHECK on failure;
 * readers are silent and return NULL or the default when the attribute is
 * missing or of another type. Strings are fixed-length (h5dump shows them
 * plainly); numbers are 64-bit; lists are 1-D even when empty. */
#ifndef OVERPARAM_H5ATTR_H
#define OVERPARAM_H5ATTR_H

#include <hdf5.h>

void op_h5_attr_string(hid_t obj, const char *name, const char *value);
void op_h5_attr_long(hid_t obj, const char *name, long long value);
void op_h5_attr_double(hid_t obj, const char *name, double value);
void op_h5_attr_doubles(hid_t obj, const char *name, const double *v, int n);
/* A 1-D array of n fixed-length strings (h5py reads it as bytes). */
void op_h5_attr_strings(hid_t obj, const char *name, const char *const *v,
                        int n);

/* malloc'ed copy of a fixed-length string attribute, or NULL. */
char *op_h5_attr_read_string(hid_t obj, const char *name);
/* A string array attribute as one malloc'ed block of *n pointers (free
 * the returned pointer only), or NULL (and *n = 0). */
char **op_h5_attr_read_strings(hid_t obj, const char *name, int *n);
/* A numeric array attribute as malloc'ed doubles (*n of them), or NULL. */
double *op_h5_attr_read_doubles(hid_t obj, const char *name, int *n);
long long op_h5_attr_read_long(hid_t obj, const char *name, long long dflt);

/* Creates group `name` (aborting all ranks through OP_H5_CHECK). */
hid_t op_h5_group_create(hid_t parent, const char *name);
/* Opens `path` read-only without HDF5's error stack: -1 when it is not a
 * readable HDF5 file. */
hid_t op_h5_open_readonly(const char *path);
/* Member `name` of a 1-D compound dataset as doubles (HDF5 converts
 * integer members): 0, or -1 when there is no such member. */
int op_h5_read_member(hid_t d, const char *name, double *out);

#endif
