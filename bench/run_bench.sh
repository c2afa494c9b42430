#!/bin/sh
# run_bench.sh — called by `make bench` (bench/bench.mk): runs every
# measurement into $OUT (key value files), then bench/table.py prints the
# table and writes bench/RESULTS.md. Environment: BUILD, BENCH_N,
# BENCH_EIG_N, BENCH_THREADS, BENCH_NP, PYTHON, MPIRUN.
set -u
BUILD=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
NP=${BENCH_NP:-2}
T=${BENCH_THREADS:-1}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
OUT=${BENCH_OUT:-$BUILD/bench/out}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=passive
rm -rf "$OUT" && mkdir -p "$OUT"
t_start=$(date +%s)
log() { echo "[bench] $*" >&2; }

{
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu_model $(lscpu | sed -n 's/^Model name: *//p' | head -n1 | tr ' ' '_')"
  echo "cpus $(nproc)"
  echo "load_before $(cut -d' ' -f1 /proc/loadavg)"
  echo "git $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  echo "n $BENCH_N"
  echo "eig_n $BENCH_EIG_N"
  echo "threads $T"
  echo "np $NP"
  echo "coretype_env ${OPENBLAS_CORETYPE:-unset}"
} > "$OUT/machine.txt"

log "0/8 BLAS core: OpenBLAS's generic fallback vs the core overparam selects"
# What src/blas.c saves a user whose OpenBLAS falls back to Prescott: the
# selection as it runs on such a machine (OVERPARAM_BLAS_ASSUME stands in
# for the fallback), then the DGEMM rate of each core.
env -u OPENBLAS_CORETYPE OVERPARAM_BLAS_ASSUME=Prescott "$BUILD/overparam" blas > "$OUT/blas_select.txt" 2>&1
SEL=$(sed -n 's/.*using \([A-Za-z0-9]*\).*/\1/p' "$OUT/blas_select.txt")
{
  echo "selected ${SEL:-?}"
  echo "detect_line $(tr ' ' '_' < "$OUT/blas_select.txt")"
  OPENBLAS_CORETYPE=Prescott "$BUILD/bench/bench_blas" | sed 's/^/generic_/'
  [ -n "$SEL" ] && OPENBLAS_CORETYPE=$SEL "$BUILD/bench/bench_blas" | sed 's/^/selected_/'
} > "$OUT/blas.txt"

log "1/8 training step vs GEMM (OPENBLAS_NUM_THREADS=$T)"
OPENBLAS_NUM_THREADS=$T "$BUILD/bench/bench_train" > "$OUT/train.txt" || log "bench_train failed"

log "2/8 PyTorch step (torch.set_num_threads($T))"
if ! $PY -c "import torch" 2>/dev/null; then
  sh tests/deps.sh python3-torch >&2 || true
fi
OPENBLAS_NUM_THREADS=$T BENCH_THREADS=$T $PY bench/torch_step.py > "$OUT/torch.txt" 2>"$OUT/torch.err" ||
  echo "torch_missing $(tail -n1 "$OUT/torch.err" | tr ' ' '_')" > "$OUT/torch.txt"

log "2b/8 packed training: bench_pack (32 members) and its PyTorch references"
OPENBLAS_NUM_THREADS=$T "$BUILD/bench/bench_pack" 32 > "$OUT/pack.txt" || log "bench_pack failed"
OMP_WAIT_POLICY=passive OPENBLAS_NUM_THREADS=$T BENCH_THREADS=$T $PY bench/torch_pack.py 32 > "$OUT/torch_pack.txt" 2>"$OUT/torch_pack.err" ||
  echo "torch_missing $(tail -n1 "$OUT/torch_pack.err" | tr ' ' '_')" > "$OUT/torch_pack.txt"
# the double-descent job's training phase, run by run and in its packs
# (one process, 300 of its 2000 epochs: the packing's own gain, no scheduling)
OPENBLAS_NUM_THREADS=1 "$BUILD/bench/bench_pack_job" jobs/double_descent.ini 300 > "$OUT/pack_job.txt" 2> "$OUT/pack_job.err" || true
log "2c/8 jobs/double_descent.ini on $NP ranks: pack = off, then packed"
BUILD=$BUILD PYTHON=$PY BENCH_NP=$NP MPIRUN="$MPIRUN" sh bench/dd_speedup.sh "$OUT" || log "dd_speedup failed"

sweep() { # name job
  log "sweep $1: $MPIRUN -np $NP $BUILD/overparam run $2"
  t0=$(date +%s.%N)
  OPENBLAS_NUM_THREADS=1 $MPIRUN -np "$NP" "$BUILD/overparam" run "$2" -o "$OUT/$1.h5" --force --verbose 2> "$OUT/$1.err"
  t1=$(date +%s.%N)
  echo "wall $(echo "$t1 - $t0" | bc)" > "$OUT/$1.txt"
  sed -n 's/.*; \([0-9.]*\)s on \([0-9]*\) ranks.*/job_s \1\nranks \2/p' "$OUT/$1.err" >> "$OUT/$1.txt"
  # the training phase's own line: makespan, batches, archive write time
  sed -n 's/.*sweep \([0-9.]*\)s: \([0-9]*\) results in \([0-9]*\) batches (\([0-9]*\) messages), archive writes \([0-9.]*\)s, flush \([0-9.]*\)s.*/sweep_s \1\nresults \2\nbatches \3\nmessages \4\narchive_s \5\nsync_s \6/p' "$OUT/$1.err" >> "$OUT/$1.txt"
  $PY bench/h5stats.py "$OUT/$1.h5" "$OUT/$1.costs" >> "$OUT/$1.txt"
}
log "3/8 small-width runs through the real trainer"
sweep small bench/small.ini
log "4/8 scheduling sweep (2,000 runs, 3 rounds: the table takes the median)"
for i in 1 2 3; do sweep sched_$i bench/sched.ini; done

log "5/8 archive writes and message round trip"
# batched puts at the sweep's mean results per journal write
B=$(awk '/^results/{r=$2} /^batches/{b=$2} END{if (b > 0) printf "%d", r / b + 0.5; else print 32}' "$OUT/sched_1.txt")
OPENBLAS_NUM_THREADS=1 $MPIRUN -np 2 "$BUILD/bench/bench_archive" bench/sched.ini "$OUT/archive.h5" "$B" > "$OUT/archive.txt"

log "6/8 scheduling simulator"
# The coordinator's cost of a message of n results is X_MSG + X_J + n X_RES:
# from bench_archive's single puts (J + r each) and batched puts (J/B + r
# per result), r = (B pb - ps)/(B - 1) and J = ps - r; X_MSG, the message
# handling, is half a round trip. Many workers return results in a
# scattered order, so ps is the worse of the in-order and the shuffled
# single put.
XS=$(awk '/^put_us/{p=$2} /^put_shuffled_us/{q=$2} /^put_batched_us/{pb=$2} /^batch /{b=$2} /^rtt_us/{t=$2}
  END{if (q > p) p = q; r = (b > 1) ? (b * pb - p) / (b - 1) : p; if (r < 0) r = 0; j = p - r; if (j < 0) j = 0; print t/2, j, r}' "$OUT/archive.txt")
LAT=$(awk '/^rtt_us/{print $2/2}' "$OUT/archive.txt")
$PY bench/schedsim.py "$OUT/sched_1.costs" $XS "$LAT" 40 64 256 1024 4096 > "$OUT/sim.txt"
$PY bench/schedsim.py "$OUT/small.costs" $XS "$LAT" 40 64 256 1024 4096 | sed 's/^sim /simsmall /' > "$OUT/simsmall.txt"

log "7/8 kernels on $NP ranks, n = $BENCH_N (eigen n = $BENCH_EIG_N)"
OPENBLAS_NUM_THREADS=1 $MPIRUN -np "$NP" "$BUILD/bench/bench_kernel" "$BENCH_N" "$BENCH_EIG_N" > "$OUT/kernel.txt" 2> "$OUT/kernel.err"

log "7b/8 empirical NTK (width 1024, depth 3) vs the analytic build on $NP ranks, n = $BENCH_N"
OPENBLAS_NUM_THREADS=1 $MPIRUN -np "$NP" "$BUILD/bench/bench_entk" "$BENCH_N" 1 1 > "$OUT/entk.txt" 2> "$OUT/entk.err" || log "bench_entk failed"

log "8/8 numpy reference of the kernel recursion (OPENBLAS_NUM_THREADS=$NP)"
OPENBLAS_NUM_THREADS=$NP $PY bench/kernel_numpy.py "$BENCH_N" > "$OUT/numpy.txt"

echo "bench_seconds $(( $(date +%s) - t_start ))" >> "$OUT/machine.txt"
echo "load_after $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/machine.txt"
$PY bench/table.py "$OUT" bench/RESULTS.md
