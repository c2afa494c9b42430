#!/bin/sh
# t_precision.sh — [kernel] precision = compare (issue 17 item 2): each
# ridge solved in float64 and again in float32 alone (pspotrf/pspotrs).
#   p1. a kernel matrix singular in float32 but not in float64 (twin
#       training points 1e-5 apart in angle: K's smallest eigenvalues ~1e-10
#       of its largest, far below float32's 6e-8, far above float64's
#       1e-16, for the NNGP): at ridge 0 the float32 solve has status
#       not_positive_definite (pspotrf failed), its metrics NaN only there
#       and named by the status; float64 solves it (status ok, finite, small
#       residual); a ridge of 1e-2 makes both precisions agree;
#   p2. the loader's a.precision: a NaN float32 metric always has a status
#       other than ok, an ok one is finite;
#   p3. without compare, no metrics_ridge32 and metrics_ridge unchanged;
#   p4. the float32 residual of a well-conditioned system is ~eps32, its
#       float64 residual ~eps64;
#   p5. the report draws the comparison (figure kernel_precision) and its
#       table names the failed float32 solve by its status.
. tests/lib.sh
export OPENBLAS_NUM_THREADS=1
[ -x "$B" ] || { echo "FAIL $B not built"; exit 1; }
$PY - "$T/near.h5" <<'PYEOF'
import sys, h5py, numpy as np
r = np.random.default_rng(7)
x = r.normal(size=(20, 8))
twin = x * (1 + 1e-5 * r.normal(size=(20, 1))) + 1e-5 * np.linalg.norm(x, axis=1, keepdims=True) * r.normal(size=(20, 8))
with h5py.File(sys.argv[1], "w") as f:
    f["x_train"] = np.concatenate([x, twin])
    f["y_train"] = np.concatenate([r.integers(0, 3, 20)] * 2).astype(np.int64)
    f["x_test"] = r.normal(size=(30, 8))
    f["y_test"] = r.integers(0, 3, 30).astype(np.int64)
PYEOF
cat >"$T/p.ini" <<JOB
[job]
seed = 1
[data]
source = file
path = $T/near.h5
dim = 8
classes = 3
balanced = false
standardize = false
n_train = 40
n_test = 30
[model]
depth = 1
width = 64
sigma_w2 = 2
sigma_b2 = 0.1
[train]
epochs = 0
[kernel]
kernels = nngp, ntk
precision = compare
ridge = 0, 1e-2
time =
eig32 = false
eig64 = false
block = 8
JOB
$MPIRUN -np 2 $B run "$T/p.ini" -o "$T/p.h5" --force --quiet 2>"$T/err" || { cat "$T/err"; failed "p1: run"; }
check "p1: float32 singular -> status, float64 solves it" 0 $PY - "$T/p.h5" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
# the NTK's 1 - k ~ theta (its arc-cosine J0 term) keeps the twins'
# eigenvalues ~1e-5: float32 solves it; the NNGP's 1 - k ~ theta^2 does not
g = f["kernels"]["ntk_relu_d1"]
assert g["metrics_ridge32"]["status"][0] == 0
for k in ("nngp_relu_d1",):
    g = f["kernels"][k]
    m64, m32 = g["metrics_ridge"][()], g["metrics_ridge32"][()]
    lab = [s.decode() if isinstance(s, bytes) else s for s in g["metrics_ridge32"].attrs["status_labels"]]
    assert g.attrs["precision"] in (b"compare", "compare")
    # ridge 0: float64 ok and finite, residual tiny; float32 failed, said so
    assert m64["status"][0] == 0 and np.isfinite(m64["mse"][0]), (k, m64)
    assert m32["residual64"][0] < 1e-6, (k, m32)
    assert lab[m32["status"][0]] == "not_positive_definite", (k, m32, lab)
    assert np.isnan(m32["mse"][0]) and np.isnan(m32["residual"][0])
    # ridge 1e-2: both fine and agreeing
    assert m32["status"][1] == 0 and m64["status"][1] == 0
    assert abs(m32["mse"][1] / m64["mse"][1] - 1) < 1e-3, (m32["mse"][1], m64["mse"][1])
    print(f"{k}: ridge 0 float64 mse {m64['mse'][0]:.4f} residual {m32['residual64'][0]:.1e}, "
          f"float32 {lab[m32['status'][0]]}; ridge 1e-2 gap {abs(m32['mse'][1] / m64['mse'][1] - 1):.1e}")
PYEOF
sed -n 1,2p "$T/out"

check "p2: loader: a NaN float32 metric has a status, an ok one is finite" 0 $PY - "$T/p.h5" <<'PYEOF'
import sys
sys.path.insert(0, ".")
import numpy as np
from analysis.loader import open_archive
p = open_archive(sys.argv[1]).precision
assert len(p) == 4, p
nan = p["test_mse32"].isna() | p["residual32"].isna()
assert (p.loc[nan, "status32"] != "ok").all(), p
assert np.isfinite(p.loc[p["status32"] == "ok", ["test_mse32", "residual32"]].to_numpy()).all(), p
assert (p["status64"] == "ok").all()
print(p[["kernel", "ridge", "status32", "test_mse64", "test_mse32"]].to_string(index=False))
PYEOF

sed 's/^precision = compare$//' "$T/p.ini" >"$T/p64.ini"
$MPIRUN -np 2 $B run "$T/p64.ini" -o "$T/p64.h5" --force --quiet 2>"$T/err" || { cat "$T/err"; failed "p3: run"; }
check "p3: without compare: no metrics_ridge32, float64 metrics identical" 0 $PY - "$T/p.h5" "$T/p64.h5" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in b["kernels"]:
    assert "metrics_ridge32" not in b["kernels"][k]
    x, y = a["kernels"][k]["metrics_ridge"][()], b["kernels"][k]["metrics_ridge"][()]
    for c in x.dtype.names:
        assert np.array_equal(x[c], y[c], equal_nan=True), (k, c, x[c], y[c])
PYEOF

# p4. a well-conditioned system: sphere data, a ridge of 1e-1
cat >"$T/w.ini" <<'JOB'
[job]
seed = 2
[data]
source = sphere
dim = 16
classes = 3
n_train = 200
n_test = 50
[model]
depth = 2
[train]
epochs = 0
[kernel]
kernels = ntk
precision = compare
ridge = 1e-1
time =
eig32 = false
eig64 = false
block = 16
JOB
$MPIRUN -np 2 $B run "$T/w.ini" -o "$T/w.h5" --force --quiet 2>"$T/err" || { cat "$T/err"; failed "p4: run"; }
check "p4: residuals ~ machine precision of each" 0 $PY - "$T/w.h5" <<'PYEOF'
import sys, h5py
m = h5py.File(sys.argv[1], "r")["kernels/ntk_relu_d2/metrics_ridge32"][()]
assert m["status"][0] == 0
assert 1e-9 < m["residual"][0] < 1e-5, m
assert m["residual64"][0] < 1e-13, m
print(f"residual float32 {m['residual'][0]:.1e}, float64 {m['residual64'][0]:.1e}")
PYEOF
tail -1 "$T/out"

# p5. the report of the engine's archive
check "p5: report draws float32 vs float64" 0 $PY -m analysis.report "$T/p.h5" -o "$T/prep" --strict
check "p5: kernel_precision figure, failed solve named" 0 $PY - "$T/prep" <<'PYEOF'
import json, os, sys
d = sys.argv[1]
rep = json.load(open(os.path.join(d, "report.json")))
assert "kernel_precision" in rep["figures"], rep["figures"]
assert os.path.getsize(os.path.join(d, "kernel_precision.png")) > 10000
md = open(os.path.join(d, "report.md")).read()
rows = [l for l in md.splitlines() if l.startswith("| nngp") and "not_positive_definite" in l]
assert rows, md[-2000:]
print(rows[0])
PYEOF
tail -1 "$T/out"
finish t_precision
