#!/bin/sh
# t_lcurve.sh — kernel learning curves ([kernel] n_train, issue 17 item 1)
# and [data] n_train as a grid axis of finite networks:
#   l1. every (kernel, n) group of a learning curve equals the same kernel
#       job run alone with [data] n_train = n (same seed): spectra, ridge
#       and gradient-flow predictions and metrics, to rounding;
#   l2. a job without [kernel] n_train keeps its group ids (no _n suffix);
#   l3. a learning curve killed after its 5th sealed (kernel, n) group
#       (OVERPARAM_FAULT=kernel:5) and once mid-computation resumes keeping
#       the finished groups and ends equal to the uninterrupted archive;
#   l4. bad [kernel] n_train lists are refused (exit 2, file and line);
#   l5. the loader's learning_curve(): n_train a column, one row per
#       (curve, coordinate, n);
#   l6. [grid] n_train sweeps finite networks: each run equals the same
#       run of a job with that [data] n_train;
#   l7. the training sets are nested: unstandardized inputs, saved
#       matrices, each smaller K(train, train) is a principal submatrix of
#       the next one's (its points are among the larger set's).
. tests/lib.sh
export OPENBLAS_NUM_THREADS=1
[ -x "$B" ] || { echo "FAIL $B not built"; exit 1; }
run() { $MPIRUN -np 2 $B run "$@"; }

cat >"$T/lc.ini" <<'JOB'
[job]
seed = 5
[data]
source = fashion_mnist
n_train = 120
n_test = 100
downsample = 4
[model]
depth = 2
width = 64
sigma_w2 = 2
sigma_b2 = 0.05
[train]
epochs = 0
[kernel]
kernels = nngp, ntk
n_train = 60, 120, 250
depth = 1, 2
ridge = 0, 1e-3, 1e-1
time = 10, 1000, inf
block = 16
JOB
run "$T/lc.ini" -o "$T/lc.h5" --force --quiet 2>"$T/err" || { cat "$T/err"; failed "l1: learning-curve run"; }
for n in 60 120 250; do
    sed -e '/^n_train = 60, 120, 250$/d' -e "s/^n_train = 120$/n_train = $n/" "$T/lc.ini" >"$T/a$n.ini"
    run "$T/a$n.ini" -o "$T/a$n.h5" --force --quiet 2>>"$T/err" || failed "l1: alone run n=$n"
done
check "l1: each (kernel, n) equals the job run alone at that n" 0 $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
t = sys.argv[1]
lc = h5py.File(f"{t}/lc.h5", "r")
assert len(lc["kernels"]) == 12, sorted(lc["kernels"])
worst = 0.0
for n in (60, 120, 250):
    a = h5py.File(f"{t}/a{n}.h5", "r")
    assert len(a["kernels"]) == 4
    for k, g in a["kernels"].items():
        h = lc["kernels"][f"{k}_n{n}"]
        assert h.attrs["n_train"] == n == g.attrs["n_train"]
        assert sorted(g) == sorted(h), (sorted(g), sorted(h))
        for d in g:
            x, y = g[d][()], h[d][()]
            cols = x.dtype.names or [None]
            for c in cols:
                u = np.asarray(x[c] if c else x, float)
                v = np.asarray(y[c] if c else y, float)
                assert u.shape == v.shape and np.array_equal(np.isnan(u), np.isnan(v)), (k, n, d, c)
                m = ~np.isnan(u)
                if m.any():
                    worst = max(worst, float(np.max(np.abs(u[m] - v[m]) / (np.abs(u[m]) + 1e-300))))
assert worst <= 1e-12, worst
print(f"12 groups, every dataset within {worst:.1e} relative of the alone runs")
PYEOF
has "l1: figures" "12 groups"
cat "$T/out" | tail -1

check "l2: without [kernel] n_train the ids are unchanged" 0 $PY -c "
import h5py, sys; k = sorted(h5py.File('$T/a60.h5', 'r')['kernels'])
assert k == ['nngp_relu_d1', 'nngp_relu_d2', 'ntk_relu_d1', 'ntk_relu_d2'], k"

# l3. kill after the 5th finished group, then at a moment inside the work.
rm -f "$T/k.h5" "$T/k.h5.journal"
OVERPARAM_FAULT=kernel:5 $MPIRUN -np 2 -x OVERPARAM_FAULT $B run "$T/lc.ini" -o "$T/k.h5" --quiet \
    >/dev/null 2>&1 && failed "l3: fault kernel:5 did not fire"
run "$T/lc.ini" -o "$T/k.h5" --resume 2>"$T/err" || { cat "$T/err"; failed "l3: resume"; }
done_again=$(grep -c '^\[overparam\] kernel [a-z]' "$T/err")
[ "$done_again" = 7 ] && pass "l3: resumed after 5 of 12 groups: 7 computed, 5 kept" ||
    { cat "$T/err"; failed "l3: $done_again groups computed on resume (want 7)"; }
check "l3: killed and resumed = uninterrupted" 0 $B compare "$T/lc.h5" "$T/k.h5"
rm -f "$T/k.h5" "$T/k.h5.journal"
setsid $MPIRUN -np 2 $B run "$T/lc.ini" -o "$T/k.h5" --quiet >/dev/null 2>&1 &
pid=$!
# kill once the first group of n = 120 is being written or later
i=0
while [ $i -lt 200 ] && ! $PY -c "
import h5py, sys
try:
    f = h5py.File('$T/k.h5', 'r', locking=False)
    sys.exit(0 if any(k.endswith('_n120') for k in f.get('kernels', {})) else 1)
except Exception:
    sys.exit(1)" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -KILL -"$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
# the ranks, if any outlived mpirun: by their ids, then wait for them
i=0
while pids=$(pgrep -f "overparam run $T/lc.ini -o $T/k.h5") && [ $i -lt 100 ]; do
    [ $i = 20 ] && kill -KILL $pids 2>/dev/null
    sleep 0.1; i=$((i + 1))
done
run "$T/lc.ini" -o "$T/k.h5" --resume 2>"$T/err" || { cat "$T/err"; failed "l3: resume after kill -9"; }
check "l3: kill -9 mid-curve and resumed = uninterrupted" 0 $B compare "$T/lc.h5" "$T/k.h5"
pass "l3: kill -9 mid-curve: $(grep -c '^\[overparam\] kernel [a-z]' "$T/err") of 12 groups computed on resume"

# l4. bad lists
sed 's/^n_train = 60, 120, 250$/n_train = 120, 60/' "$T/lc.ini" >"$T/bad1.ini"
expect "l4: decreasing list" 2 "bad1.ini:17: [kernel] n_train: not increasing" $B validate "$T/bad1.ini"
sed 's/^n_train = 60, 120, 250$/n_train = 60, 0/' "$T/lc.ini" >"$T/bad2.ini"
expect "l4: a size below 1" 2 "bad2.ini:17" $B validate "$T/bad2.ini"

# l5. the loader
check "l5: loader learning_curve()" 0 $PY - "$T/lc.h5" <<'PYEOF'
import sys
sys.path.insert(0, ".")
from analysis.loader import open_archive
a = open_archive(sys.argv[1])
lc = a.learning_curve()
assert set(lc["curve"]) == {"nngp_relu_d1", "nngp_relu_d2", "ntk_relu_d1", "ntk_relu_d2"}
assert sorted(set(lc["n_train"])) == [60, 120, 250]
r0 = lc[(lc["curve"] == "ntk_relu_d1") & (lc["by"] == "ridge") & (lc["ridge"] == 0)]
assert list(r0["n_train"]) == [60, 120, 250], r0
assert len(lc) == 4 * 3 * (3 + 3)
print("curve ntk_relu_d1 ridge 0:", ", ".join(f"n={n} mse {m:.4f}" for n, m in zip(r0["n_train"], r0["test_mse"])))
PYEOF
tail -1 "$T/out"
# overparam info lists a curve's groups by n (HDF5's name order would put
# _n120 and _n250 before _n60)
$B info "$T/lc.h5" >"$T/info.txt" 2>&1
check "l5: info lists ntk_relu_d1's groups by n" 0 sh -c \
    "grep -o 'ntk_relu_d1_n[0-9]*' '$T/info.txt' | tr '\n' ' ' | grep -qx 'ntk_relu_d1_n60 ntk_relu_d1_n120 ntk_relu_d1_n250 '"

# the report draws each curve (figure kernel_learning_curves), a row per n
check "l5: report draws the learning curves" 0 $PY -m analysis.report "$T/lc.h5" -o "$T/rep" --strict
check "l5: kernel_learning_curves figure, one row per n" 0 $PY - "$T/rep" <<'PYEOF'
import json, os, sys
d = sys.argv[1]
rep = json.load(open(os.path.join(d, "report.json")))
assert "kernel_learning_curves" in rep["figures"], rep["figures"]
md = open(os.path.join(d, "report.md")).read()
ns = [int(l.split("|")[3]) for l in md.splitlines() if l.startswith("| ntk_relu_d1 | ridge |")]
assert ns == [60, 120, 250], ns
PYEOF

# l6. [grid] n_train for finite networks
cat >"$T/g.ini" <<'JOB'
[job]
seed = 9
[data]
source = fashion_mnist
n_test = 100
downsample = 4
[model]
width = 32
depth = 1
[train]
epochs = 5
batch = 20
[grid]
n_train = 60, 140
JOB
run "$T/g.ini" -o "$T/g.h5" --force --quiet 2>"$T/err" || { cat "$T/err"; failed "l6: grid run"; }
for n in 60 140; do
    sed -e '/^\[grid\]$/d' -e '/^n_train = 60, 140$/d' -e "s/^\[data\]$/[data]\nn_train = $n/" "$T/g.ini" >"$T/g$n.ini"
    run "$T/g$n.ini" -o "$T/g$n.h5" --force --quiet 2>>"$T/err" || failed "l6: alone n=$n"
done
check "l6: each [grid] n_train run equals the run alone at that n" 0 $PY - "$T" <<'PYEOF'
import sys
sys.path.insert(0, ".")
from analysis.loader import open_archive
t = sys.argv[1]
g = open_archive(f"{t}/g.h5").runs
assert sorted(g["n_train"]) == [60, 140], g["n_train"]
out = []
for n in (60, 140):
    a = open_archive(f"{t}/g{n}.h5").runs
    x, y = g[g["n_train"] == n].iloc[0], a.iloc[0]
    for c in ("train_loss", "test_loss", "train_acc", "test_acc"):
        assert x[c] == y[c], (n, c, x[c], y[c])
    out.append(f"n={n}: test_acc {x['test_acc']:.3f}")
assert g["test_loss"].nunique() == 2
print("; ".join(out))
PYEOF
tail -1 "$T/out"
# l7. nested training sets
cat >"$T/nest.ini" <<'JOB'
[job]
seed = 11
[data]
source = fashion_mnist
n_train = 40
n_test = 20
downsample = 4
standardize = false
[train]
epochs = 0
[kernel]
kernels = nngp
n_train = 40, 95, 200
ridge =
time =
eig32 = false
eig64 = false
save_matrix = true
block = 16
JOB
run "$T/nest.ini" -o "$T/nest.h5" --force --quiet 2>"$T/err" || { cat "$T/err"; failed "l7: run"; }
check "l7: smaller training sets nested in larger ones" 0 $PY - "$T/nest.h5" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
K = {n: f[f"kernels/nngp_relu_d1_n{n}/matrix"][()] for n in (40, 95, 200)}
for a, b in ((40, 95), (95, 200)):
    ka, kb = K[a], K[b]
    # each point of the smaller set is the point of the larger one whose
    # kernel row matches (diagonal first, then the whole row)
    idx = []
    for i in range(a):
        c = np.flatnonzero(np.abs(np.diag(kb) - ka[i, i]) <= 1e-12 * abs(ka[i, i]))
        assert len(c) >= 1, (a, b, i)
        idx.append(c[0])
    idx = np.array(idx)
    assert len(set(idx)) == a
    sub = kb[np.ix_(idx, idx)]
    assert np.allclose(sub, ka, rtol=1e-12, atol=0), np.abs(sub - ka).max()
print("K(40) within K(95) within K(200): principal submatrices")
PYEOF
tail -1 "$T/out"
finish t_lcurve
