#!/bin/sh
# [train] weight_decay_scaling end to end, on a tiny version of
# jobs/weight_decay_scaling.ini (its grid and signature, 64 training points,
# width 16, 30 epochs, weights saved): the archive records each run's rule
# (the column, its labels, the job text); a layerwise run starts from its
# uniform twin's initial weights (the key is not in the stream key); it
# ends with the same weights where the rule cannot matter (standard
# parameterization, weight_decay = 0) and with other weights where it must
# (ntk, weight_decay > 0); packed training agrees with one by one; the
# signature gives a verdict; a bad value is refused with its file and line
# and nothing is written.
. tests/lib.sh
EXPECT_TIMEOUT=300
export OPENBLAS_NUM_THREADS=1
awk '/^\[/ { sec = $0 }
    sec == "[data]" && $1 == "n_train" { print "n_train = 64"; next }
    sec == "[data]" && $1 == "n_test" { print "n_test = 100"; next }
    sec == "[model]" && $1 == "width" { print "width = 16"; next }
    sec == "[train]" && $1 == "epochs" { print "epochs = 30"; next }
    sec == "[train]" && $1 == "log_every" { print "log_every = 10"; next }
    $0 == "[output]" { print; print "save_weights = init_final"; next }
    { print }' jobs/weight_decay_scaling.ini >"$T/wd.ini"
grep -q "^weight_decay_scaling = uniform, layerwise" "$T/wd.ini" ||
    failed "jobs/weight_decay_scaling.ini no longer sweeps the rule"
expect "validate the tiny job" 0 "80 runs" $B validate "$T/wd.ini"
check "run one by one" 0 $MPIRUN -np 2 $B run "$T/wd.ini" -o "$T/wd.h5" -q
sed 's/^\[train\]/[train]\npack = 4/' "$T/wd.ini" >"$T/wdp.ini"
check "run packed" 0 $MPIRUN -np 2 $B run "$T/wdp.ini" -o "$T/wdp.h5" -q

if $PY - "$T/wd.h5" "$T/wdp.h5" <<'PYEOF'; then pass "archive: rule recorded, twins start alike, equal/different where they must, packed = single"; else failed "archive checks"; fi
import sys
import h5py
import numpy as np
from analysis.loader import open_archive

a = open_archive(sys.argv[1])
d = a.runs
assert set(d["weight_decay_scaling"].astype(str)) == {"uniform", "layerwise"}, d["weight_decay_scaling"].unique()
# the archived job text and key table (with its default) say it too
assert a.job_value("grid", "weight_decay_scaling") == "uniform, layerwise"
assert ("train", "weight_decay_scaling", "uniform") in [tuple(k[:3]) for k in a.keys], "key table"
with h5py.File(sys.argv[1], "r") as f:
    W0, W1 = f["weights/init"][...], f["weights/final"][...]
keys = ["parameterization", "lr", "weight_decay", "seed"]
u = d[d["weight_decay_scaling"] == "uniform"].set_index(keys)["run"]
w = d[d["weight_decay_scaling"] == "layerwise"].set_index(keys)["run"]
assert u.index.equals(w.index) and len(u) == 40
st = d.set_index("run")["status"]
differ = 0
for k in u.index:
    i, j = int(u[k]), int(w[k])
    assert np.array_equal(W0[i], W0[j], equal_nan=True), ("init differs", k)
    same = np.array_equal(W1[i], W1[j], equal_nan=True)
    par, lr, wd, seed = k
    if par == "standard" or wd == 0:
        assert same, ("rule changed a run it cannot change", k)
    elif st[i] == "done" and st[j] == "done":
        assert not same, ("layerwise equals uniform", k)
        differ += 1
assert differ >= 4, differ
# packed training: the same results to rounding (float32)
p = open_archive(sys.argv[2]).runs.set_index("run")
s = d.set_index("run")
assert (p["status"] == s["status"]).all()
ok = s["status"] == "done"
assert np.allclose(p.loc[ok, "test_loss"], s.loc[ok, "test_loss"], rtol=1e-4, atol=1e-6)
print(f"{len(u)} twin pairs, {differ} ntk pairs with wd > 0 differ")
PYEOF

$PY -m analysis.signatures "$T/wd.h5" >"$T/sig" 2>&1
rc=$?
if [ $rc -le 1 ] && grep -q "^weight_decay_scaling holds: " "$T/sig" &&
    grep -q "standard: layerwise equals uniform (wmul = 1): 20 run pairs identical" "$T/sig"; then
    pass "signature: a verdict, $(tail -1 "$T/sig")"
else cat "$T/sig"; failed "signature (exit $rc)"; fi

# A bad value: exit 2 naming the file, line and value; nothing written.
sed 's/^weight_decay_scaling = uniform, layerwise/weight_decay_scaling = uniform, per_layer/' "$T/wd.ini" >"$T/bad.ini"
line=$(grep -n "^weight_decay_scaling" "$T/bad.ini" | cut -d: -f1)
expect "bad rule refused" 2 "bad.ini:$line:" $B run "$T/bad.ini" -o "$T/bad.h5"
grep -q "per_layer" "$T/out" || failed "the message does not name the value"
[ -e "$T/bad.h5" ] && failed "a refused job wrote $T/bad.h5"
printf '[train]\nweight_decay_scaling = layerwise\n' >"$T/one.ini"
expect "single value accepted" 0 "1 run" $B validate "$T/one.ini"

finish t_wdscale
