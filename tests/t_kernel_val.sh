#!/bin/sh
# t_kernel_val.sh — [kernel] n_val and [kernel] zca on Fashion-MNIST, as
# the engine computes them (jobs/nngp_vs_ntk.ini and jobs/zca.ini use
# both):
#   - each kernel group holds metrics_ridge_val (role "validation", the
#     fit on the training set less its last n_val points, scored on them),
#     which the loader keeps out of the test rows, and its test metrics
#     are those of the same job without n_val (the whole training set);
#   - the ridge choice (analysis.signatures.kernel_at_val_ridge) never
#     reads the test set: scrambling the stored test metrics leaves every
#     choice as it was, scrambling the validation ones does not;
#   - ZCA with zeta -> inf gives the kernels of the unwhitened inputs
#     (src/data.c keeps the inputs' variance; before, zeta = 1e6 shrank
#     them 1000-fold and the kernel was the bias's constant), while full
#     whitening (zeta = 0) changes them;
#   - a job killed after a few groups resumes to the same archive;
#   - n_val above half of n_train, and a zca value listed twice, are
#     refused with exit 2, nothing written.
. tests/lib.sh
[ -x "$B" ] || { echo "FAIL $B not built"; exit 1; }
export OPENBLAS_NUM_THREADS=1
job() { # file extra-kernel-lines...
    f=$1
    shift
    cat >"$f" <<EOT
[job]
seed = 5
[data]
source = fashion_mnist
n_train = 120
n_test = 60
downsample = 4
[model]
width = 8
sigma_w2 = 2
sigma_b2 = 0.1
[train]
epochs = 0
[kernel]
kernels = nngp, ntk
depth = 1, 2
ridge = 0, 1e-2, 1e-1, 1
time =
eig32 = false
eig64 = false
EOT
    for l in "$@"; do echo "$l" >>"$f"; done
}
job "$T/val.ini" "n_val = 40" "zca = -1, 0, 1e6"
check "n_val and zca lists run" 0 $MPIRUN -np 2 $B run "$T/val.ini" -o "$T/val.h5" --quiet
job "$T/plain.ini"
check "the same kernels without n_val run" 0 $MPIRUN -np 2 $B run "$T/plain.ini" -o "$T/plain.h5" --quiet

PYTHONPATH=. $PY - "$T/val.h5" "$T/plain.h5" <<'PYEOF' && pass "validation groups, test metrics unchanged, zeta -> inf = unwhitened" || failed "validation groups / zca kernels"
import sys, h5py, numpy as np
from analysis.loader import open_archive
val, plain = sys.argv[1], sys.argv[2]
with h5py.File(val) as V, h5py.File(plain) as P:
    ids = sorted(V["kernels"])
    assert len(ids) == 12, ids          # 2 kinds x 2 depths x 3 zeta
    for kid in ids:
        g = V["kernels"][kid]
        d = g["metrics_ridge_val"]
        assert d.attrs["role"] in (b"validation", "validation"), d.attrs["role"]
        assert int(g.attrs["n_val"]) == 40 and int(g.attrs["n_fit_val"]) == 80, kid
        assert np.all(np.isfinite(d["acc"])) and np.all(d["status"] == 0), kid
    for kind in ("nngp", "ntk"):
        for dp in (1, 2):
            off, inf, full = (V["kernels"][f"{kind}_relu_d{dp}_z{z}"] for z in ("-1", "1e+06", "0"))
            ref = P["kernels"][f"{kind}_relu_d{dp}"]
            # test metrics: the whole training set's fit, n_val or not
            for f in ("mse", "acc"):
                assert np.allclose(off["metrics_ridge"][f], ref["metrics_ridge"][f], rtol=1e-12, atol=0), (kind, dp, f)
            # zeta -> inf: the unwhitened inputs (their kernel, scale included)
            assert abs(inf.attrs["mean_diag"] / off.attrs["mean_diag"] - 1) < 1e-5, (inf.attrs["mean_diag"], off.attrs["mean_diag"])
            assert np.allclose(inf["pred_ridge"][:], off["pred_ridge"][:], rtol=0, atol=1e-4), (kind, dp)
            # full whitening changes the predictions
            assert np.abs(full["pred_ridge"][:] - off["pred_ridge"][:]).max() > 1e-2, (kind, dp)
a = open_archive(val)
assert len(a.kernels) == 12 * 4, len(a.kernels)          # test rows only
assert a.kernels["val_acc"].notna().all()
PYEOF

# Killed after the 5th sealed group (ids with _z, validation data inside),
# resumed: 7 computed, 5 kept, the archive equal to the uninterrupted one.
OVERPARAM_FAULT=kernel:5 $MPIRUN -np 2 -x OVERPARAM_FAULT $B run "$T/val.ini" -o "$T/k.h5" --quiet \
    >/dev/null 2>&1 && failed "fault kernel:5 did not fire"
$MPIRUN -np 2 $B run "$T/val.ini" -o "$T/k.h5" --resume 2>"$T/err" || { cat "$T/err"; failed "resume"; }
again=$(grep -c '^\[overparam\] kernel [a-z]' "$T/err")
[ "$again" = 7 ] && pass "resumed after 5 of 12 groups: 7 computed, 5 kept" ||
    { cat "$T/err"; failed "$again groups computed on resume (want 7)"; }
check "killed and resumed = uninterrupted" 0 $B compare "$T/val.h5" "$T/k.h5"

# The ridge choice reads the validation columns only.
cp "$T/val.h5" "$T/scrambled.h5"
cp "$T/val.h5" "$T/valscrambled.h5"
PYTHONPATH=. $PY - "$T/val.h5" "$T/scrambled.h5" "$T/valscrambled.h5" <<'PYEOF' && pass "the ridge choice never reads the test set" || failed "the ridge choice depends on test metrics"
import sys, h5py, numpy as np
from analysis.loader import open_archive
from analysis.signatures import kernel_at_val_ridge
rng = np.random.default_rng(0)
for path, ds in ((sys.argv[2], "metrics_ridge"), (sys.argv[3], "metrics_ridge_val")):
    with h5py.File(path, "r+") as f:
        for kid in f["kernels"]:
            d = f["kernels"][kid][ds]
            x = d[:]
            x["acc"] = rng.permutation(x["acc"]) + rng.uniform(-0.2, 0.2, len(x))
            x["mse"] = rng.permutation(x["mse"]) * rng.uniform(0.5, 2, len(x))
            d[...] = x
choose = lambda p: kernel_at_val_ridge(open_archive(p).kernels)[["ridge_acc", "ridge_mse"]]
orig, test_scr, val_scr = (choose(p) for p in sys.argv[1:4])
assert orig.equals(test_scr), (orig, test_scr)
assert not orig.equals(val_scr)
PYEOF

job "$T/bad.ini" "n_val = 70"
expect "n_val above half of n_train" 2 "[kernel] n_val = 70" $MPIRUN -np 2 $B run "$T/bad.ini" -o "$T/bad.h5" --quiet
[ ! -e "$T/bad.h5" ] && pass "refused n_val: no archive" || failed "refused n_val left an archive"
job "$T/dup.ini" "zca = 0.1, 1, 0.1"
expect "a zca value twice" 2 "[kernel] zca lists 0.1 twice" $MPIRUN -np 2 $B run "$T/dup.ini" -o "$T/dup.h5" --quiet
[ ! -e "$T/dup.h5" ] && pass "refused zca list: no archive" || failed "refused zca list left an archive"
finish t_kernel_val
