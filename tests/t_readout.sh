#!/bin/sh
# Networks as neural-tangents writes them, end to end: a job with separate
# readout variances and zero-initialized trained biases runs, and its kernel
# groups state the readout and the bias rule they were computed with; the
# gradient-descent time convention is stated in the archive (name, divisor,
# formula), and neural-tangents' convention at times k*t gives the
# per-sample predictions at t (k = 3 outputs), to rounding.
. tests/lib.sh
EXPECT_TIMEOUT=120
cat > "$T/ps.ini" <<'INI'
[job]
seed = 4
[data]
source = gaussian
n_train = 120
n_test = 20
dim = 6
classes = 3
[model]
parameterization = standard
width = 16
sigma_w2 = 2
sigma_b2 = 0.01
sigma_w2_last = 1
sigma_b2_last = 0
bias = on
[train]
epochs = 2
[kernel]
kernels = nngp, ntk
ridge = 0
time = 1, 10, 100, inf
block = 16
INI
sed -e 's/^time = .*/time = 3, 30, 300, inf/' -e 's/^\[kernel\]/[kernel]\ntime_convention = neural_tangents/' "$T/ps.ini" > "$T/nt.ini"
expect "validate readout job" 0 "1 run" $B validate "$T/ps.ini"
expect "keys documents them" 0 "| model | sigma_w2_last | same |" $B keys
grep -qF "| kernel | time_convention | per_sample |" "$T/out" || failed "keys lacks [kernel] time_convention"
check "run per_sample" 0 $MPIRUN -np 2 $B run "$T/ps.ini" -o "$T/ps.h5" -q
check "run neural_tangents" 0 $MPIRUN -np 2 $B run "$T/nt.ini" -o "$T/nt.h5" -q
if $PY -c 'import h5py, pandas' 2>/dev/null; then
    if $PY - "$T/ps.h5" "$T/nt.h5" <<'PYEOF'
import sys
import h5py, numpy as np
sys.path.insert(0, ".")
from analysis import open_archive
ps, nt = (h5py.File(p, "r") for p in sys.argv[1:3])
bad = []
for kid in ps["kernels"]:
    a, b = ps["kernels"][kid], nt["kernels"][kid]
    at, bt = dict(a.attrs), dict(b.attrs)
    s = lambda v: v.decode() if isinstance(v, bytes) else str(v)
    # the readout as computed, and the bias rule
    if not (at["sigma_w2_last"] == 1 and at["sigma_b2_last"] == 0 and at["sigma_w2"] == 2
            and s(at["bias"]) == "on" and at["bias_hidden"] == 1 and at["bias_last"] == 1):
        bad.append(f"{kid}: readout attributes {at['sigma_w2_last']} {at['sigma_b2_last']} {at['bias']}")
    # the time convention, stated
    n, k = int(at["n_train"]), int(at["outputs"])
    if s(at["time_convention"]) != "per_sample" or at["time_divisor"] != n:
        bad.append(f"{kid}: per_sample convention attributes {at['time_convention']} {at['time_divisor']}")
    if s(bt["time_convention"]) != "neural_tangents" or bt["time_divisor"] != n * k:
        bad.append(f"{kid}: neural_tangents attributes {bt['time_convention']} {bt['time_divisor']}")
    if k != 3 or not np.array_equal(np.asarray(bt["time"][:3]), 3 * np.asarray(at["time"][:3])):
        bad.append(f"{kid}: times {at['time']} {bt['time']}")
    # the same predictions at k times the time
    pa, pb = a["pred_time"][:], b["pred_time"][:]
    err = np.max(np.abs(pa - pb)) / np.max(np.abs(pa))
    print(f"{kid}: neural_tangents t = 3 t' against per_sample t': max rel diff {err:.2e}")
    if not err < 1e-12:
        bad.append(f"{kid}: predictions differ by {err}")
    # and not at the same time (the test would pass trivially otherwise)
    if not np.max(np.abs(pa[0] - pb[1])) > 1e-3 * np.max(np.abs(pa)):
        bad.append(f"{kid}: time scale has no effect")
# the loader exposes the attributes
info = open_archive(sys.argv[1]).kernel_info
for c in ("sigma_w2_last", "sigma_b2_last", "bias", "bias_last", "time_convention", "time_divisor"):
    if c not in info.columns:
        bad.append(f"loader kernel_info lacks {c}")
tc = set(open_archive(sys.argv[2]).kernels["time_convention"])
if tc != {"neural_tangents"}:
    bad.append(f"loader kernels time_convention {tc}")
print("\n".join(bad) or "ok")
sys.exit(1 if bad else 0)
PYEOF
    then pass "readout and time-convention attributes; conventions related by k"
    else failed "readout and time-convention attributes"; fi
fi
finish t_readout
