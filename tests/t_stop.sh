#!/bin/sh
# The walltime warning without Slurm: SIGUSR1 mid-sweep stops the hand-out;
# with --stop-margin 0 the runs in flight are abandoned (not journaled),
# the archive closes consistent with exit code 3, and --resume completes it
# to exactly the uninterrupted numbers.
set -e
. tests/lib.sh
JOB=tests/jobs/slow.ini
$MPIRUN -np 2 $B run $JOB -o "$T/ref.h5" --quiet
for margin in 0 30; do
    rm -f "$T/s.h5" "$T/s.h5.journal"
    $MPIRUN -np 2 $B run $JOB -o "$T/s.h5" --stop-margin $margin --progress 0.2 2>"$T/err" &
    pid=$!
    # Signal once the sweep is under way (its archive exists).
    i=0; while [ ! -s "$T/s.h5.journal" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    sleep 0.3
    pkill -USR1 -f "overparam run $JOB -o $T/s.h5" || true
    rc=0; wait $pid || rc=$?
    [ $rc -eq 3 ] || { echo "FAIL: margin $margin: exit $rc, want 3"; cat "$T/err"; exit 1; }
    summary=$(grep "runs done" "$T/err" | tail -1)
    $B info "$T/s.h5" | sed -n 3p
    $MPIRUN -np 2 $B run $JOB -o "$T/s.h5" --resume --quiet 2>/dev/null
    $B compare "$T/ref.h5" "$T/s.h5" >/dev/null || { echo "FAIL: margin $margin: resumed archive differs"; exit 1; }
    echo "stop margin ${margin}s: exit 3 ($summary), resumed to identical"
done
