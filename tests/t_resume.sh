#!/bin/sh
# kill -9 in mid-sweep, then --resume: the archive holds exactly the numbers
# of an uninterrupted run, no finished run lost, none run twice.
set -e
. tests/lib.sh
JOB=tests/jobs/slow.ini
start=$(date +%s.%N)
$MPIRUN -np 2 $B run $JOB -o "$T/ref.h5" --quiet
full=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
echo "uninterrupted: ${full}s"
for frac in 0.2 0.5 0.8; do
    rm -f "$T/k.h5" "$T/k.h5.journal"
    delay=$(awk -v a="$full" -v f="$frac" 'BEGIN{printf "%.2f", a*f}')
    setsid $MPIRUN -np 2 $B run $JOB -o "$T/k.h5" --quiet &
    pid=$!
    sleep "$delay"
    # On a shared machine the sweep can end before 80% of the reference's
    # time: nothing is left to kill, and the resume must find it complete.
    kill -KILL -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null ||
        echo "(the sweep ended before the kill at ${delay}s)"
    wait "$pid" 2>/dev/null || true
    pkill -9 -f "overparam run $JOB -o $T/k.h5" 2>/dev/null || true
    while pgrep -f "overparam run $JOB -o $T/k.h5" >/dev/null; do sleep 0.05; done
    $MPIRUN -np 2 $B run $JOB -o "$T/k.h5" --resume --quiet 2>"$T/resume.err" || { cat "$T/resume.err"; exit 1; }
    grep "resumed" "$T/resume.err" || echo "(killed at ${delay}s: nothing finished yet)"
    $B compare "$T/ref.h5" "$T/k.h5"
done
echo "resume: identical after kill -9 at 20%, 50% and 80% of the sweep"
