#!/bin/sh
# Every [measure] on a small sines job (tests/jobs/measure.ini): the
# archive holds each /measures dataset with finite values at the logged
# epochs, and the NTK group holds the empirical NTK errors per width.
set -e
. tests/lib.sh
$MPIRUN -np 2 $B run tests/jobs/measure.ini -o "$T/m.h5" --quiet
$B info "$T/m.h5" | grep -q "done 2, diverged 0, failed 0" || { $B info "$T/m.h5"; echo "expected 2 runs done"; exit 1; }
"$PY" - "$T/m.h5" <<'PY'
import sys
import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
ep = f["curves/epoch"][...]
logged = np.isfinite(ep)                       # [runs][n_log]
names = ["lip_lower", "lip_upper", "freq_values", "freq_error",
         "freq_converge_epoch", "filter_low", "filter_high",
         "cond_rel_change", "cond_clusters", "cond_mean_abs_cos",
         "cond_dirs_init", "cond_dirs_end", "lazy_rel_change", "ntk_drift"]
widths = [16, 64]                              # the job's grid, run order
bad = []
for n in names:
    if n not in f["measures"]:
        bad.append(n + ": missing")
        continue
    a = f["measures"][n][...]
    if n in ("lip_lower", "lip_upper", "filter_low", "filter_high",
             "cond_rel_change", "cond_clusters", "cond_mean_abs_cos",
             "ntk_drift", "freq_error", "lazy_rel_change"):
        ok = np.isfinite(a[logged]).all()      # every logged epoch
    elif n.startswith("cond_dirs"):
        ok = all(np.isfinite(a[r, :w]).all() for r, w in enumerate(widths))
        ok = ok and np.allclose(np.linalg.norm(a[0, :16], axis=1), 1)
    elif n == "freq_converge_epoch":
        ok = np.isfinite(a[:, 0]).all()        # the low frequency converges
    else:
        ok = np.isfinite(a).all()
    if not ok:
        bad.append(n + ": not finite where expected")
lo, hi = f["measures/lip_lower"][...], f["measures/lip_upper"][...]
if not (lo[logged] <= hi[logged] * (1 + 1e-9)).all():
    bad.append("lip_lower > lip_upper")
if not (f["measures/ntk_drift"][:, 0] == 0).all():
    bad.append("ntk_drift at init is not 0")
g = f["kernels/ntk_relu_d1"]
e = g["empirical_ntk_rel_error"][...]
if list(g.attrs["empirical_widths"]) != [16, 256, 4096] or not np.isfinite(e).all() or not e[2] < e[0]:
    bad.append("empirical_ntk_rel_error %s" % e)
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("measures: all 14 datasets finite at logged epochs; empirical NTK error", e)
PY
