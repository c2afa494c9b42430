#!/bin/sh
# What resume recovers without the journal, and who may write an archive
# (issue 15, the gaps left after t_break.sh): finished /runs rows and
# kernel groups are verified by the checksum written with them, a hard
# link does not get around the lock, and a full disk while the layout is
# written says so and stays resumable. Each case failed before its fix.
set -e
. tests/lib.sh
export OPENBLAS_NUM_THREADS=1
JOB=tests/jobs/slow.ini
KJOB=tests/jobs/kernel.ini
run() { $MPIRUN -np 2 $B run "$@"; }
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && cat "$T/err"; exit 1; }
ok() { printf '%-4s %s\n' "$1" "$2"; }
same() { $B compare "$1" "$2" >"$T/cmp" || { cat "$T/cmp"; fail "$3: differs from the uninterrupted run"; }; }

run $JOB -o "$T/ref.h5" --quiet
n_runs=$($B info "$T/ref.h5" | sed -n 's/.*: \([0-9]*\) runs,.*/\1/p')

# r1. /runs rows recovered without a journal are verified by their crc
#     column: one curve value off by 1e-12 (run 7) and one result column
#     changed (run 12) fail it; those two runs are rerun and named, the
#     other rows kept, and the archive ends equal to the uninterrupted one.
cp "$T/ref.h5" "$T/k.h5"
$PY - "$T/k.h5" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r+")
c = f["curves/train_loss"][7]; c[3] += 1e-12; f["curves/train_loss"][7] = c
r = f["runs"][12]; r["test_acc"] = 0.5; f["runs"][12] = r
PYEOF
run $JOB -o "$T/k.h5" --resume 2>"$T/err" || fail "r1: resume"
grep -q "2 finished /runs rows failed their checksum (runs 7, 12): rerun" "$T/err" ||
    fail "r1: damaged rows not caught"
grep -q "$((n_runs - 2)) from /runs rows" "$T/err" || fail "r1: good rows not kept"
same "$T/ref.h5" "$T/k.h5" r1
ok r1 "$(grep -o '2 finished /runs rows failed.*' "$T/err") / $(grep -o 'resumed .*' "$T/err")"


# r2. A finished kernel job resumed without its journal: every kernel
#     group whose crc32 matches its data is kept (none computed again),
#     the one changed by a single value (ntk_relu_d2) is recomputed, and
#     each is said with where it came from. The kept ones are journaled
#     then: the next resume recovers nothing.
run $KJOB -o "$T/kref.h5" --quiet 2>/dev/null
cp "$T/kref.h5" "$T/k2.h5"
$PY - "$T/k2.h5" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r+")
d = f["kernels/ntk_relu_d2/pred_ridge"]; v = d[...]; v[0, 0, 0] += 1e-9; d[...] = v
PYEOF
run $KJOB -o "$T/k2.h5" --resume 2>"$T/err" || fail "r2: resume"
grep -q "^\[overparam\] kernel nngp_relu_d1:" "$T/err" && fail "r2: a verified kernel recomputed"
[ "$(grep -c 'kept from .*/kernels/.*crc32 matches' "$T/err")" = 3 ] || fail "r2: verified kernels not kept"
grep -q "kernel ntk_relu_d2 in .* fails its crc32: recomputed" "$T/err" || fail "r2: the changed kernel not caught"
grep -q "^\[overparam\] kernel ntk_relu_d2:" "$T/err" || fail "r2: the changed kernel not recomputed"
grep -q "3 finished kernels kept from /kernels" "$T/err" || fail "r2: not said what was recovered"
same "$T/kref.h5" "$T/k2.h5" r2
run $KJOB -o "$T/k2.h5" --resume 2>"$T/err2" || fail "r2: second resume"
grep -q "kept from\|^\[overparam\] kernel " "$T/err2" && fail "r2: the recovered kernels were not journaled"
ok r2 "$(grep -o '3 finished kernels kept.*' "$T/err") / $(grep -o 'kernel ntk_relu_d2 in .*' "$T/err")"

# r3. The lock belongs to the file, not to a name of it: a second job
#     reaching the archive through a hard link (its own PATH.lock, no
#     journal beside it) is refused while the first writes, exit 2 naming
#     the holder; the first ends undisturbed.
rm -f "$T"/k.h5*
#     The first job's ranks are stopped (SIGSTOP) while the second tries,
#     so the test does not depend on which job is faster: a stopped
#     process keeps its open file and so its lock.
run $JOB -o "$T/k.h5" --quiet 2>/dev/null &
bg=$!
i=0; while [ ! -s "$T/k.h5.journal" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
ranks=$(for d in /proc/[0-9]*; do
    tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q "^$B run $JOB -o $T/k.h5 " && echo "${d#/proc/}"
done; true)
[ -n "$ranks" ] || fail "r3: the first job's ranks not found (finished already?)"
kill -STOP $ranks
ln "$T/k.h5" "$T/hard.h5"
rc=0; run $JOB -o "$T/hard.h5" --resume --quiet 2>"$T/err" || rc=$?
kill -CONT $ranks
wait $bg || fail "r3: the first job failed"
[ $rc -eq 2 ] || fail "r3: a second job wrote the archive through a hard link (exit $rc)"
grep -q "hard.h5: another overparam process is writing this file (pid [0-9]* (overparam), writing it as $T/k.h5)" "$T/err" ||
    fail "r3: the holder not named"
[ -e "$T/hard.h5.lock" ] && fail "r3: a stray lock file"
same "$T/ref.h5" "$T/k.h5" r3
ok r3 "$(grep -o 'another overparam process.*' "$T/err")"

# r4. The disk fills while the layout is written (OVERPARAM_FAULT
#     layoutfull:N: the Nth layout write a rank makes fails with ENOSPC, as
#     a real full disk does; checked by hand on a 300 KB tmpfs too): one
#     plain line naming the file, the step and the free space, no HDF5
#     error stack, exit 1 like every archive I/O error, no other file
#     touched, and --resume afterwards ends equal to the uninterrupted run.
for n in 1 7; do
    rm -f "$T"/k.h5*
    sum0=$(cksum <"$T/ref.h5")
    rc=0; OVERPARAM_FAULT=layoutfull:$n $MPIRUN -np 2 -x OVERPARAM_FAULT $B run $JOB -o "$T/k.h5" --quiet >"$T/err" 2>&1 || rc=$?
    [ $rc -eq 1 ] || fail "r4: exit $rc after a full disk during the layout, want 1"
    grep -q "failed (No space left on device): disk full (ENOSPC) writing the layout of $T/k.h5: [0-9.e+]* MB free on $T; .*--resume" "$T/err" ||
        fail "r4: the full disk not said plainly"
    grep -q "HDF5-DIAG" "$T/err" && fail "r4: the HDF5 error stack printed"
    [ "$(cksum <"$T/ref.h5")" = "$sum0" ] || fail "r4: another file touched"
    [ -s "$T/k.h5.journal" ] || fail "r4: no journal before the layout"
    run $JOB -o "$T/k.h5" --resume --quiet 2>"$T/err2" || fail "r4: --resume after the full disk"
    same "$T/ref.h5" "$T/k.h5" r4
done
ok r4 "$(grep -o 'creating /curves.*' "$T/err")"

finish t_recover
