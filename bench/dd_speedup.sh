#!/bin/sh
# dd_speedup.sh OUT_DIR — issue 19's double_descent_sweep_speedup: the wall
# time of `overparam run jobs/double_descent.ini` on $BENCH_NP ranks with
# [train] pack = off (the default), then pack = auto, back to back in one
# process tree, written as key/value lines to OUT_DIR/dd.txt with how many
# runs trained in packs and how far the two archives are apart (compare's
# count; the largest relative difference of a /runs float). Called by
# run_bench.sh; runs alone too (build first: make).
set -u
OUT=$1
BUILD=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
NP=${BENCH_NP:-2}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
JOB=${DD_JOB:-jobs/double_descent.ini}
mkdir -p "$OUT"
: > "$OUT/dd.txt"
echo "load_before $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/dd.txt"
for p in off auto; do
  t0=$(date +%s.%N)
  OPENBLAS_NUM_THREADS=1 $MPIRUN -np "$NP" "$BUILD/overparam" run "$JOB" \
    -o "$OUT/dd_$p.h5" --force --quiet --set train.pack=$p 2> "$OUT/dd_$p.err"
  t1=$(date +%s.%N)
  echo "wall_$p $(echo "$t1 - $t0" | bc)" >> "$OUT/dd.txt"
done
echo "load_after $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/dd.txt"
echo "np $NP" >> "$OUT/dd.txt"
sed -n 's/.*(\([0-9]*\) runs in \([0-9]*\) packs).*/packed_runs \1\npacks \2/p' "$OUT/dd_auto.err" >> "$OUT/dd.txt"
sed -n 's/.*: \([0-9]*\) runs done.*/runs \1/p' "$OUT/dd_off.err" >> "$OUT/dd.txt"
"$BUILD/overparam" compare "$OUT/dd_off.h5" "$OUT/dd_auto.h5" |
  sed -n 's/^compared \([0-9]*\) values: \([0-9]*\) differ.*/compared \1\ndiffer \2/p' >> "$OUT/dd.txt"
$PY - "$OUT/dd_off.h5" "$OUT/dd_auto.h5" >> "$OUT/dd.txt" <<'PYEOF' || true
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["runs"][:] for p in sys.argv[1:3])
worst, where = 0.0, "-"
for f in ("train_loss", "test_loss", "train_acc", "test_acc"):
    x, y = a[f], b[f]
    r = np.abs(x - y) / np.maximum(np.abs(x), 1e-300)
    if r.max() > worst:
        worst, where = float(r.max()), "%s@width=%g" % (f, a["width"][r.argmax()])
    print("rel_%s %.3g" % (f, r.max()))
print("max_rel_diff %.3g" % worst)
print("max_rel_where %s" % where)
PYEOF
