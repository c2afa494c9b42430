#!/bin/sh
# Extending a finished sweep: run --resume with [grid] values added keeps
# every finished run and runs only the new points, and the result is
# identical to a fresh sweep of the extended job (after a kill too, and
# with kernels kept). Values may be added anywhere (two seeds on a grid
# that also sweeps widths moves finished runs to other indices: their
# random streams follow their configuration, so they keep their numbers).
# A change to a non-grid key is refused naming it; the archive stays as it
# was.
. tests/lib.sh
J=tests/jobs/tiny.ini
# 1. Widths added after the old ones (width is the first swept axis).
$MPIRUN -np 2 $B run $J -o "$T/a.h5" -q
$MPIRUN -np 2 $B run $J -o "$T/a.h5" --resume -q --set grid.width=4,16,64,256 2>"$T/err" || { echo "FAIL: extension refused"; cat "$T/err"; fails=$((fails + 1)); }
grep "grid extended" "$T/err"
grep -q "grid extended from 24 to 32 runs: 24 finished runs and 0 kernels kept, 8 runs to do" "$T/err" || { echo "FAIL: extension message"; cat "$T/err"; fails=$((fails + 1)); }
# Only the 8 new runs ran: 24 resumed, 32 recorded (done + diverged).
grep -q "runs done (24 resumed)" "$T/err" && $B info "$T/a.h5" | grep -q "status .*pending 0" || { echo "FAIL: not exactly the 8 new runs ran"; cat "$T/err"; fails=$((fails + 1)); }
$MPIRUN -np 2 $B run $J -o "$T/fresh.h5" -q --set grid.width=4,16,64,256 2>/dev/null
$B compare "$T/fresh.h5" "$T/a.h5" >/dev/null && echo "extended archive identical to a fresh sweep of the extended job" || { echo "FAIL: extended archive differs from a fresh sweep"; fails=$((fails + 1)); }
[ -f "$T/a.h5.pre-extend" ] || { echo "FAIL: the archive before was not kept"; fails=$((fails + 1)); }
# 2. A comment changed: accepted, nothing rerun.
cp $J "$T/commented.ini"; echo "; a comment" >> "$T/commented.ini"
$MPIRUN -np 1 $B run "$T/commented.ini" -o "$T/c.h5" -q 2>/dev/null
cp $J "$T/c2.ini"; echo "; another comment" >> "$T/c2.ini"
$MPIRUN -np 1 $B run "$T/c2.ini" -o "$T/c.h5" -q --resume 2>"$T/err" || { echo "FAIL: comment change refused"; cat "$T/err"; fails=$((fails + 1)); }
grep -q "job text changed, no run did" "$T/err" && grep -q "runs done (24 resumed)" "$T/err" && grep -q "0 abandoned" "$T/err" || { echo "FAIL: comment change reran runs"; cat "$T/err"; fails=$((fails + 1)); }
# 3. Refusals leave the archive untouched.
sum=$(md5sum < "$T/a.h5")
$MPIRUN -np 1 $B run $J -o "$T/a.h5" --resume -q --set grid.width=4,16,64,256 --set train.epochs=7 >"$T/err" 2>&1; rc=$?
{ [ $rc -eq 2 ] && grep -q "key other than \[grid\] values changed (\[train\] epochs: 60 -> 7)" "$T/err"; } || { echo "FAIL: non-grid change: exit $rc"; cat "$T/err"; fails=$((fails + 1)); }
grep -m1 "overparam:" "$T/err" | cut -c1-200
$MPIRUN -np 1 $B run $J -o "$T/a.h5" --resume -q --set grid.width=4,64,256 >"$T/err" 2>&1; rc=$?
{ [ $rc -eq 2 ] && grep -q "\[grid\] width no longer holds 16" "$T/err"; } || { echo "FAIL: removed value: exit $rc"; cat "$T/err"; fails=$((fails + 1)); }
[ "$(md5sum < "$T/a.h5")" = "$sum" ] || { echo "FAIL: a refused extension modified the archive"; fails=$((fails + 1)); }
# 3b. Two seeds added to a grid that also sweeps widths and depths: every
# finished run moves to another index, keeps its numbers, and only the new
# grid points run; identical to a fresh sweep of the extended job.
cp "$T/a.h5" "$T/s.h5"
$MPIRUN -np 2 $B run $J -o "$T/s.h5" --resume --set grid.width=4,16,64,256 --set "grid.seed=0,1,7,8" 2>"$T/err" || { echo "FAIL: seed extension refused"; cat "$T/err"; fails=$((fails + 1)); }
grep "grid extended" "$T/err"
grep "runs done" "$T/err"
grep -q "grid extended from 32 to 64 runs: 32 finished runs and 0 kernels kept, 32 runs to do" "$T/err" && grep -q "runs done (32 resumed)" "$T/err" || { echo "FAIL: seed extension did not run exactly the 32 new runs"; cat "$T/err"; fails=$((fails + 1)); }
$MPIRUN -np 2 $B run $J -o "$T/sfresh.h5" -q --set grid.width=4,16,64,256 --set "grid.seed=0,1,7,8" 2>/dev/null
$B compare "$T/sfresh.h5" "$T/s.h5" >/dev/null && echo "extended by two seeds: identical to a fresh sweep" || { echo "FAIL: seed extension differs from a fresh sweep"; $B compare "$T/sfresh.h5" "$T/s.h5" | tail -3; fails=$((fails + 1)); }
# 4. After a kill (fault injection after the 5th journal record): the
# journal's runs are kept too.
S="--set grid.seed=range(0,3)"
OVERPARAM_FAULT=row:5 $MPIRUN -np 2 -x OVERPARAM_FAULT $B run tests/jobs/slow.ini -o "$T/k.h5" -q $S 2>/dev/null && { echo "FAIL: fault did not fire"; fails=$((fails + 1)); }
$MPIRUN -np 2 $B run tests/jobs/slow.ini -o "$T/k.h5" --resume -q $S --set grid.width=32,64,128,256,512,1024 2>"$T/err" || { echo "FAIL: extension after a kill"; cat "$T/err"; fails=$((fails + 1)); }
grep "grid extended" "$T/err"
$MPIRUN -np 2 $B run tests/jobs/slow.ini -o "$T/kref.h5" -q $S --set grid.width=32,64,128,256,512,1024 2>/dev/null
$B compare "$T/kref.h5" "$T/k.h5" >/dev/null && echo "killed, extended, resumed: identical to a fresh sweep" || { echo "FAIL: extension after a kill differs"; fails=$((fails + 1)); }
# 5. Kernels are kept, not recomputed. (Saved weights are sized by the
# largest width: a wider grid changes every run's arrays and is refused.)
$MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/kn.h5" -q 2>/dev/null
$MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/kn.h5" --resume -q --set grid.width=16,256,512 >"$T/err" 2>&1; rc=$?
{ [ $rc -eq 2 ] && grep -q "change the shape of /weights/init" "$T/err"; } || { echo "FAIL: weights shape change: exit $rc"; cat "$T/err"; fails=$((fails + 1)); }
grep -m1 "overparam:" "$T/err" | cut -c1-200
W="--set output.save_weights=none"
$MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/kn.h5" -q --force $W 2>/dev/null
$MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/kn.h5" --resume -q $W --set grid.width=16,256,512 2>"$T/err" || { echo "FAIL: kernel job extension"; cat "$T/err"; fails=$((fails + 1)); }
grep "grid extended" "$T/err"
# The kernels the old journal records as done are carried over.
grep -q "4 finished runs and 4 kernels kept, 2 runs to do" "$T/err" || { echo "FAIL: kernel job extension message"; cat "$T/err"; fails=$((fails + 1)); }
$MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/knref.h5" -q $W --set grid.width=16,256,512 2>/dev/null
$B compare "$T/knref.h5" "$T/kn.h5" >/dev/null && echo "kernel job extended: identical to a fresh sweep" || { echo "FAIL: kernel job extension differs"; $B compare "$T/knref.h5" "$T/kn.h5" | tail -3; fails=$((fails + 1)); }
finish t_extend
