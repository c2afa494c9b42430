#!/bin/sh
# The kernel phase's empirical NTKs (entk.h) through the engine
# (tests/jobs/entk.ini: three widths, three outputs, depth 2): the stored
# empirical_matrix is symmetric and reproduces the stored relative errors
# against the stored analytic matrix (ntk parameterization: the same at
# every width); the error falls from the narrowest to the widest net and
# the drift with every width; the matrices are the
# same on 1 rank, on 2 ranks (1x2) and on a 2x1 grid; the trained nets
# approach their linearizations (f_lin) as the width grows, and centered
# nets' linearizations start at 0; neural-tangents' time convention gives
# the same predictions at k times the time. [kernel] empirical_precision =
# float32 (float32 Grams) reaches the archive as the group's
# empirical_precision attribute ("float64" by default) and gives matrices
# and errors within 1e-5 (drifts: 1e-3 relative, a difference of two
# kernels) of float64's; an unknown value is refused (exit 2, the key
# named).
set -e
. tests/lib.sh
set +e
check "entk job, 2 ranks" 0 $MPIRUN -np 2 $B run tests/jobs/entk.ini -o "$T/a.h5" --quiet
check "entk job, 1 rank" 0 $MPIRUN -np 1 $B run tests/jobs/entk.ini -o "$T/b.h5" --quiet
check "entk job, 2x1 grid" 0 $MPIRUN -np 2 $B run tests/jobs/entk.ini -o "$T/c.h5" --quiet --set kernel.grid_rows=2
check "entk job, centered, t = 0" 0 $MPIRUN -np 2 $B run tests/jobs/entk.ini -o "$T/d.h5" --quiet --set train.center=true --set kernel.time=0,inf
check "entk job, neural-tangents times" 0 $MPIRUN -np 2 $B run tests/jobs/entk.ini -o "$T/e.h5" --quiet --set kernel.time_convention=neural_tangents --set kernel.time=30,inf
check "entk job, float32 Grams" 0 $MPIRUN -np 2 $B run tests/jobs/entk.ini -o "$T/f.h5" --quiet --set kernel.empirical_precision=float32
check "empirical_precision = float16 refused" 2 $B run tests/jobs/entk.ini -o "$T/g.h5" --quiet --set kernel.empirical_precision=float16
has "names the key" "empirical_precision"
check "archive checks" 0 "$PY" - "$T/a.h5" "$T/b.h5" "$T/c.h5" "$T/d.h5" "$T/e.h5" "$T/f.h5" <<'PY'
import sys
import h5py
import numpy as np

bad = []
f = [h5py.File(p, "r") for p in sys.argv[1:]]
g = f[0]["kernels/ntk_relu_d2"]
E = g["empirical_matrix"][...]
K = g["matrix"][...]
err = g["empirical_ntk_rel_error"][...]
drift = g["empirical_ntk_drift"][...]
widths = list(g.attrs["empirical_widths"])
if widths != [64, 256, 1024] or E.shape != (3, 40, 40):
    bad.append("shape %s widths %s" % (E.shape, widths))
for i in range(len(widths)):
    if not np.allclose(E[i], E[i].T, rtol=0, atol=1e-12 * abs(E[i]).max()):
        bad.append("empirical_matrix[%d] not symmetric" % i)
    e = np.linalg.norm(E[i] - K) / np.linalg.norm(K)
    if abs(e - err[i]) > 1e-10 * e:
        bad.append("width %d: stored error %r, from the matrices %r" % (widths[i], err[i], e))
# one draw per width: only the widest against the narrowest (the middle
# one may fluctuate above either)
if not err[2] < err[0]:
    bad.append("error does not fall with width: %s" % err)
if not (np.isfinite(drift).all() and (drift > 0).all() and (np.diff(drift) < 0).all()):
    bad.append("drift not positive and falling with width: %s" % drift)
# the linearized networks: the trained net approaches its linearization as
# the width grows; times are the kernel's, then the training's (lr x epochs)
gap = g["empirical_lin_net_gap"][...]
if not (np.isfinite(gap).all() and gap[2] < gap[0]):
    bad.append("|f - f_lin| / |f| does not fall with width: %s" % gap)
lt = g["empirical_lin_time"][...]
if lt.shape != (3, 3) or list(lt[0]) != [10, np.inf, 0.5 * 40]:
    bad.append("empirical_lin_time %s" % lt)
P = g["empirical_pred_lin"][...]
if P.shape != (3, 3, 20, 3) or not np.isfinite(P).all():
    bad.append("empirical_pred_lin shape %s or not finite" % (P.shape,))
for n in ("empirical_lin_mse", "empirical_lin_acc", "empirical_net_mse", "empirical_net_acc"):
    if not np.isfinite(g[n][...]).all():
        bad.append(n + " not finite")
# centered: the model is f - f0, so the linearization starts at exactly 0
gd = f[3]["kernels/ntk_relu_d2"]
P0 = gd["empirical_pred_lin"][:, 0]
if abs(P0).max() != 0:
    bad.append("centered f_lin(0) is not 0: %g" % abs(P0).max())
if not gd["empirical_lin_net_gap"][2] < gd["empirical_lin_net_gap"][0]:
    bad.append("centered gap does not fall: %s" % gd["empirical_lin_net_gap"][...])
# neural-tangents' times are k = 3 times the per-sample ones: t = 30 there
# is t = 10 here, and the training's own time is stored as 3 x 20
ge = f[4]["kernels/ntk_relu_d2"]
if list(ge["empirical_lin_time"][0]) != [30, np.inf, 60]:
    bad.append("neural_tangents empirical_lin_time %s" % ge["empirical_lin_time"][0])
dP = abs(ge["empirical_pred_lin"][...] - P).max() / abs(P).max()
if dP > 1e-10:
    bad.append("neural_tangents f_lin differs from per-sample by %.3g" % dP)
for h in f[1:3]:
    Eo = h["kernels/ntk_relu_d2/empirical_matrix"][...]
    d = abs(Eo - E).max() / abs(E).max()
    if d > 1e-12:
        bad.append("%s: empirical_matrix differs by %.3g" % (h.filename, d))
    do = h["kernels/ntk_relu_d2/empirical_ntk_drift"][...]
    if abs(do - drift).max() > 1e-9 * abs(drift).max():
        bad.append("%s: drift differs %s vs %s" % (h.filename, do, drift))
# float32 Grams: the attribute says which, and the numbers stay put
gf = f[5]["kernels/ntk_relu_d2"]
def sattr(grp, name):
    v = grp.attrs.get(name)
    return v.decode() if isinstance(v, bytes) else v
if sattr(g, "empirical_precision") != "float64" or sattr(gf, "empirical_precision") != "float32":
    bad.append("empirical_precision attributes %r / %r" % (sattr(g, "empirical_precision"), sattr(gf, "empirical_precision")))
E32 = gf["empirical_matrix"][...]
d32 = abs(E32 - E).max() / abs(E).max()
if not 0 < d32 < 1e-5:
    bad.append("float32 empirical_matrix differs by %.3g (want (0, 1e-5))" % d32)
if abs(gf["empirical_ntk_rel_error"][...] - err).max() > 1e-5:
    bad.append("float32 errors %s vs %s" % (gf["empirical_ntk_rel_error"][...], err))
dd = abs(gf["empirical_ntk_drift"][...] - drift) / drift
if dd.max() > 1e-3:
    bad.append("float32 drifts %s vs %s" % (gf["empirical_ntk_drift"][...], drift))
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("entk: errors", err, "drifts", drift, "float32 matrices within %.3g" % d32)
PY
cat "$T/out"
finish t_entk
