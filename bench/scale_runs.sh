#!/bin/sh
# scale_runs.sh — the measured points behind bench/RESULTS.md's model of
# time and memory per rank and the rows mixed_vs_f64_relerr,
# fmnist_full_minutes: jobs/fmnist_full.ini (NTK regression, Fashion-MNIST,
# 10,000 test images) at each n of SCALE_N in mixed precision and, up to
# SCALE_F64_MAX, in float64 on SCALE_NP ranks; one line per run into
# bench/scale.txt (bench/table.py reads it). SCALE_EIG=1 also asks the
# float64 runs for the eigenvalues ([kernel] eig64, values only: the
# default solver, ELPA two-stage where built), issue 18's "regression plus
# eigenvalues" (eig 1 on the line, t_eig64 its time). Long: not part of
# `make bench`.
#   SCALE_N="5000 10000 20000" sh bench/scale_runs.sh
#   SCALE_N=60000 sh bench/scale_runs.sh        # the full job
#   SCALE_N=40000 SCALE_F64_MAX=40000 SCALE_EIG=1 sh bench/scale_runs.sh
set -u
BUILD=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
NP=${SCALE_NP:-2}
NS=${SCALE_N:-5000 10000 20000}
F64_MAX=${SCALE_F64_MAX:-20000}
EIG=${SCALE_EIG:-0}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
OUT=${SCALE_OUT:-bench/scale.txt}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for n in $NS; do
  for p in mixed float64; do
    [ "$p" = float64 ] && [ "$n" -gt "$F64_MAX" ] && continue
    eig=false
    [ "$p" = float64 ] && [ "$EIG" = 1 ] && eig=true
    sed "s/^n_train = .*/n_train = $n/; s/^precision = .*/precision = $p/; s/^eig64 = .*/eig64 = $eig/" \
      jobs/fmnist_full.ini > "$T/job.ini"
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%e %M" -o "$T/time" env OPENBLAS_NUM_THREADS=1 \
      $MPIRUN -np "$NP" "$BUILD/overparam" run "$T/job.ini" -o "$T/$p.h5" --force 2> "$T/err" || { cat "$T/err" >&2; exit 1; }
    set -- $(cat "$T/time")
    $PY - "$T/$p.h5" "$n" "$p" "$NP" "$1" "$2" "$load" >> "$OUT" <<'PY'
import sys, h5py
f, n, p, np_, wall, rss, load = sys.argv[1:]
g = h5py.File(f)["/kernels/ntk_relu_d2"]
a = g.attrs
m = g["metrics_ridge"][()][0]
eig = "eigenvalues64" in g
line = ("run n %s precision %s ranks %s wall_s %s maxrss_kb %s load %s t_kernel %.2f t_ridge %.2f "
        "acc %.4f status %d berr %.3g solves %d" % (n, p, np_, wall, rss, load, a["t_kernel"],
        a["t_ridge"], m["acc"], m["status"], a["ridge_backward_error"][0], a["ridge_refine_solves"][0]))
if eig:
    w = g["eigenvalues64"][()]
    line += " eig 1 t_eig64 %.2f eigensolver %s lambda_max %.6g lambda_min %.3g" % (
        a["t_eig64"], a["eigensolver"], w.max(), w.min())
print(line)
PY
  done
  if [ -e "$T/float64.h5" ] && [ -e "$T/mixed.h5" ]; then
    $PY - "$T/mixed.h5" "$T/float64.h5" "$n" >> "$OUT" <<'PY'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1])["/kernels/ntk_relu_d2/pred_ridge"][()]
b = h5py.File(sys.argv[2])["/kernels/ntk_relu_d2/pred_ridge"][()]
print("relerr n %s max_abs_diff_over_max_abs %.3e" % (sys.argv[3], np.max(np.abs(a - b)) / np.max(np.abs(b))))
PY
  fi
  rm -f "$T/float64.h5" "$T/mixed.h5"
done
