#!/bin/sh
# Kill anywhere: SIGKILL a sweep at 20 different moments — 12 spread over
# its run time, 8 inside the archive's critical sections by fault injection
# (OVERPARAM_FAULT) — resume each time, and check the final archive holds
# exactly the numbers of an uninterrupted run, with every run done once.
set -e
. tests/lib.sh
JOB=tests/jobs/slow.ini
NP=2
t0=$(date +%s.%N)
$MPIRUN -np $NP $B run $JOB -o "$T/ref.h5" --quiet
full=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
n_runs=$($B info "$T/ref.h5" | sed -n 's/.*: \([0-9]*\) runs,.*/\1/p')
echo "uninterrupted: $n_runs runs in ${full}s"
moments=0; kept_total=0
resume_and_check() { # label
    rm -f "$T/err"
    $MPIRUN -np $NP $B run $JOB -o "$T/k.h5" --resume --quiet 2>"$T/err" || { cat "$T/err"; exit 1; }
    kept=$(sed -n 's/.*resumed .*: \([0-9]*\) finished runs kept.*/\1/p' "$T/err")
    kept=${kept:-0}
    $B compare "$T/ref.h5" "$T/k.h5" >"$T/cmp" || { echo "FAIL after $1"; cat "$T/cmp"; exit 1; }
    $B info "$T/k.h5" | grep -q "done $n_runs," || { echo "FAIL after $1: not all done once"; $B info "$T/k.h5" | head -3; exit 1; }
    # Every run is journaled exactly once: header + n_runs records.
    size=$(stat -c %s "$T/k.h5.journal")
    rec=$(( (size - 40) / n_runs ))
    [ $(( 40 + rec * n_runs )) -eq "$size" ] || { echo "FAIL after $1: journal holds a duplicate or torn record"; exit 1; }
    moments=$((moments + 1)); kept_total=$((kept_total + kept))
    printf '%-24s kept %3s of %s finished runs, resumed to identical\n' "$1" "$kept" "$n_runs"
}
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    rm -f "$T/k.h5" "$T/k.h5.journal" "$T/k.h5.torn"
    delay=$(awk -v a="$full" -v i="$i" 'BEGIN{printf "%.2f", a*i/13}')
    setsid $MPIRUN -np $NP $B run $JOB -o "$T/k.h5" --quiet 2>/dev/null &
    pid=$!
    sleep "$delay"
    # A scheduler kills every process of the job: mpirun and the ranks
    # (which may have left mpirun's process group).
    kill -KILL -"$pid" 2>/dev/null || true
    pkill -KILL -f "overparam run $JOB -o $T/k.h5" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    while pgrep -f "overparam run $JOB -o $T/k.h5" >/dev/null; do sleep 0.05; done
    resume_and_check "kill -9 at ${delay}s"
done
for fault in create:1 journal:1 row:2 arrays:3 journal:17 row:25 journal:$n_runs close:1; do
    rm -f "$T/k.h5" "$T/k.h5.journal" "$T/k.h5.torn"
    OVERPARAM_FAULT=$fault $MPIRUN -np $NP -x OVERPARAM_FAULT $B run $JOB -o "$T/k.h5" --quiet 2>/dev/null && { echo "FAIL: fault $fault did not fire"; exit 1; }
    resume_and_check "fault $fault"
done
echo "kill anywhere: $moments moments, $kept_total finished runs kept across kills, every archive identical to the uninterrupted one"
