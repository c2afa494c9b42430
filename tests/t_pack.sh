#!/bin/sh
# Packs in the sweep (pack.h, issue 19): runs that share data and
# first-layer shape train together, and the archive is what unpacked
# training writes: identical to [train] pack = off on 1 and 2 ranks (rows,
# curves, measures, saved weights; members with their own lr, batch,
# label noise, seed and init scale, leaving at different epochs). Kills
# and stops land inside packs: every resume completes the archive to the
# uninterrupted numbers with each run journaled once (a pack with finished
# members trains whole and reports only its missing runs), and a grid
# extension that adds members to finished packs matches a fresh sweep.
set -e
B=${BUILD:-build}/overparam
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
JOB=tests/jobs/packs.ini
# 1. Packed = unpacked, on 1 and 2 ranks.
# Packs are opt-in: the default trains one by one.
$MPIRUN -np 1 $B run $JOB -o "$T/off.h5" --quiet 2>"$T/err0"
if grep -q "packs)" "$T/err0"; then echo "FAIL: the default (pack = off) trained packs"; exit 1; fi
P="--set train.pack=16"
n_runs=$($B info "$T/off.h5" | sed -n 's/.*: \([0-9]*\) runs,.*/\1/p')
for np in 1 2 4; do
    $MPIRUN -np $np $B run $JOB -o "$T/p$np.h5" --quiet $P 2>"$T/err"
    grep -q "(64 runs in 4 packs)" "$T/err" || { echo "FAIL: $np ranks: want 64 runs in 4 packs:"; cat "$T/err"; exit 1; }
    $B compare "$T/off.h5" "$T/p$np.h5" >"$T/cmp" || { echo "FAIL: packed on $np ranks differs from pack = off"; tail -4 "$T/cmp"; exit 1; }
done
$MPIRUN -np 2 $B run $JOB -o "$T/pauto.h5" --quiet --set train.pack=auto 2>"$T/err"
grep -q "(64 runs in 16 packs)" "$T/err" || { echo "FAIL: pack = auto: want 64 runs in 16 packs"; cat "$T/err"; exit 1; }
$B compare "$T/off.h5" "$T/pauto.h5" >/dev/null || { echo "FAIL: pack = auto differs from pack = off"; exit 1; }
echo "packs: $n_runs runs, packed (16 and 4 a pack) = unpacked (the default) on 1, 2 and 4 ranks"
# A job array whose tasks each train their share of the runs in packs:
# the merged archive is the unpacked sweep's.
for i in 0 1 2; do
    $MPIRUN -np 2 $B run $JOB -o "$T/a$i.h5" --array $i/3 --quiet $P 2>/dev/null
done
$B merge "$T/amerged.h5" "$T/a0.h5" "$T/a1.h5" "$T/a2.h5" >/dev/null 2>&1
$B compare "$T/off.h5" "$T/amerged.h5" >"$T/cmp" || { echo "FAIL: a packed job array, merged, differs from pack = off"; tail -4 "$T/cmp"; exit 1; }
echo "packs: a job array of 3 tasks, packed and merged = unpacked"
# Measurements and saved weights of members (and init scales in a pack).
M="--set grid.seed=0,1,2 --set grid.init_scale=1,0.5 --set output.save_weights=init_final"
$MPIRUN -np 2 $B run tests/jobs/measure.ini -o "$T/moff.h5" --quiet $M --set train.pack=off 2>/dev/null
$MPIRUN -np 2 $B run tests/jobs/measure.ini -o "$T/m.h5" --quiet $M $P 2>"$T/err"
grep -q "(6 runs in 1 packs)" "$T/err" || { echo "FAIL: measure.ini: want 6 runs in 1 packs"; cat "$T/err"; exit 1; }
$B compare "$T/moff.h5" "$T/m.h5" >"$T/cmp" || { echo "FAIL: measures or weights of a pack differ"; tail -4 "$T/cmp"; exit 1; }
echo "packs: measures and saved weights of members = unpacked"
# 2. Kill -9 at moments spread over the sweep (most land inside a pack),
# resume, compare; the journal holds each run once.
t0=$(date +%s.%N)
$MPIRUN -np 2 $B run $JOB -o "$T/ref.h5" --quiet $P 2>/dev/null
full=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
kept_total=0
for i in 1 2 3 4 5; do
    rm -f "$T/k.h5" "$T/k.h5.journal" "$T/k.h5.torn"
    delay=$(awk -v a="$full" -v i="$i" 'BEGIN{printf "%.2f", a*i/6}')
    setsid $MPIRUN -np 2 $B run $JOB -o "$T/k.h5" --quiet $P 2>/dev/null &
    pid=$!
    sleep "$delay"
    kill -KILL -"$pid" 2>/dev/null || true
    pkill -KILL -f "overparam run $JOB -o $T/k.h5" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    while pgrep -f "overparam run $JOB -o $T/k.h5" >/dev/null; do sleep 0.05; done
    $MPIRUN -np 2 $B run $JOB -o "$T/k.h5" --resume --quiet $P 2>"$T/err" || { cat "$T/err"; exit 1; }
    kept=$(sed -n 's/.*resumed .*: \([0-9]*\) finished runs kept.*/\1/p' "$T/err")
    kept_total=$((kept_total + ${kept:-0}))
    $B compare "$T/ref.h5" "$T/k.h5" >"$T/cmp" || { echo "FAIL: kill at ${delay}s: resumed archive differs"; tail -4 "$T/cmp"; exit 1; }
    $B info "$T/k.h5" | grep -q "done $n_runs," || { echo "FAIL: kill at ${delay}s: not all done"; exit 1; }
    size=$(stat -c %s "$T/k.h5.journal")
    rec=$(( (size - 40) / n_runs ))
    [ $(( 40 + rec * n_runs )) -eq "$size" ] || { echo "FAIL: kill at ${delay}s: journal holds a duplicate or torn record"; exit 1; }
done
echo "packs: killed 5 times (${kept_total} finished runs kept), each resume identical, each run journaled once"
# 3. Stop request: margin 0 abandons the packs in flight, 30 finishes them.
for margin in 0 30; do
    rm -f "$T/s.h5" "$T/s.h5.journal"
    $MPIRUN -np 2 $B run $JOB -o "$T/s.h5" --stop-margin $margin --quiet $P 2>"$T/err" &
    pid=$!
    i=0; while [ ! -s "$T/s.h5.journal" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    sleep 0.2
    pkill -USR1 -f "overparam run $JOB -o $T/s.h5" || true
    rc=0; wait $pid || rc=$?
    [ $rc -eq 3 ] || { echo "FAIL: stop margin $margin: exit $rc, want 3"; cat "$T/err"; exit 1; }
    $MPIRUN -np 2 $B run $JOB -o "$T/s.h5" --resume --quiet $P 2>/dev/null
    $B compare "$T/ref.h5" "$T/s.h5" >/dev/null || { echo "FAIL: stop margin $margin: resumed archive differs"; exit 1; }
    echo "packs: stop with margin ${margin}s: exit 3 ($(grep 'runs done' "$T/err" | sed 's/.*: \([0-9]* runs done\).* \([0-9]* abandoned\).*/\1, \2/')), resumed to identical"
done
# 4. Seeds added to finished packs: the packs train whole again, only the
# new runs are recorded, and the archive equals a fresh sweep.
$MPIRUN -np 2 $B run $JOB -o "$T/e.h5" --quiet $P --set "grid.seed=range(0,2)" 2>/dev/null
$MPIRUN -np 2 $B run $JOB -o "$T/e.h5" --resume --quiet $P 2>"$T/err" || { cat "$T/err"; exit 1; }
grep -q "runs done (48 resumed)" "$T/err" || { echo "FAIL: extension did not run exactly the new runs"; cat "$T/err"; exit 1; }
$B compare "$T/ref.h5" "$T/e.h5" >/dev/null || { echo "FAIL: extended archive differs from a fresh sweep"; exit 1; }
echo "packs: 2 seeds added to finished packs: identical to a fresh sweep"
