#!/bin/sh
# bench/run.sh — `make bench`: runs every benchmark once and prints one
# table of ratios (bench/report.py), also written to bench/RESULTS.md.
# Environment: BUILD, MPIRUN, PYTHON (from the Makefile), BENCH_N (kernel
# n, default 2048), BENCH_SCHED (job file, default bench/sched.ini).
set -e
BUILD=${BUILD:-build}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
PYTHON=${PYTHON:-/usr/bin/python3}
N=${BENCH_N:-2048}
JOBF=${BENCH_SCHED:-bench/sched.ini}
TMP=$(mktemp -d /tmp/opbench.XXXXXX)
RAW=$TMP/raw.txt
B=$BUILD/bench
: > "$RAW"
log() { echo "+ $*" >&2; echo "cmd $*" >> "$RAW"; }

# 1. training step (default OpenBLAS threads: one process)
for p in 4 8; do
    for m in 1024 4096; do
        steps=20
        [ $m = 4096 ] && steps=5
        [ $m = 4096 ] && [ $p = 8 ] && steps=3
        log $B/train_bench $p $m $steps
        $B/train_bench $p $m $steps >> "$RAW"
    done
done

# 2. kernels: 1 rank vs bare GEMM, numpy, then 2 ranks vs LAPACK
log $MPIRUN -np 1 $B/pkernel_bench kernel $N $TMP/x.bin
$MPIRUN -np 1 $B/pkernel_bench kernel $N $TMP/x.bin >> "$RAW"
log $PYTHON bench/kernel_numpy.py $TMP/x.bin
$PYTHON bench/kernel_numpy.py $TMP/x.bin >> "$RAW"
log OPENBLAS_NUM_THREADS=1 $MPIRUN -np 2 $B/pkernel_bench linalg $N
OPENBLAS_NUM_THREADS=1 $MPIRUN -np 2 $B/pkernel_bench linalg $N >> "$RAW"

# 3./4. scheduling sweep and its archive
log $MPIRUN -np 2 $BUILD/overparam run $JOBF -o $TMP/sched.h5 --force --quiet
t0=$($PYTHON -c 'import time; print(time.time())')
$MPIRUN -np 2 $BUILD/overparam run $JOBF -o $TMP/sched.h5 --force --quiet \
    > $TMP/sched.log 2>&1 || { cat $TMP/sched.log; exit 1; }
t1=$($PYTHON -c 'import time; print(time.time())')
echo "schedwall $t0 $t1" >> "$RAW"
grep -o '[0-9.]*s on [0-9]* ranks' $TMP/sched.log | sed 's/s on / /; s/ ranks//; s/^/schedself /' >> "$RAW"
log $PYTHON bench/report.py $RAW $TMP/sched.h5
$PYTHON bench/report.py "$RAW" "$TMP/sched.h5" bench/RESULTS.md
rm -rf "$TMP"
