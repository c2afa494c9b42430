#!/bin/sh
# The break catalogue (issue 15): a sweep attacked as a hostile user would.
# Each case names the defect it guards; it failed before its fix. A resumed
# or recovered archive must equal the uninterrupted one, bad input must
# exit 2 without touching anything, and nothing may hang (every command
# that could block runs under timeout).
set -e
. tests/lib.sh
cleanup() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
JOB=tests/jobs/slow.ini
KJOB=tests/jobs/kernel.ini
run() { $MPIRUN -np 2 $B run "$@"; }
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && cat "$T/err"; exit 1; }
cases=0
ok() { cases=$((cases + 1)); printf '%-4s %s\n' "$1" "$2"; }
# expect_input CMD...: exit 2 within 20 s (a hang is a failure, not a wait).
expect_input() {
    rc=0; timeout 60 "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ $rc -eq 2 ] || fail "$* exited $rc, want 2"
}
fresh() { rm -f "$T"/k.h5*; }

run $JOB -o "$T/ref.h5" --quiet
n_runs=$($B info "$T/ref.h5" | sed -n 's/.*: \([0-9]*\) runs,.*/\1/p')
run $KJOB -o "$T/kref.h5" --quiet 2>/dev/null
same() { $B compare "$1" "$2" >"$T/cmp" || { cat "$T/cmp"; fail "$3: differs from the uninterrupted run"; }; }

# 1. A resume of a finished kernel job computes no kernel again (the
#    journal check stopped at the first kernel record and cut the rest).
cp "$T/kref.h5" "$T/k1.h5"; cp "$T/kref.h5.journal" "$T/k1.h5.journal"
run $KJOB -o "$T/k1.h5" --resume 2>"$T/err"
grep -q "^\[overparam\] kernel " "$T/err" && fail "1: kernels recomputed on resume"
grep -q "kernels 4/4" "$T/err" || fail "1: kernels not all done"
ok 1 "$(grep 'runs done' "$T/err")"

# 2. SIGUSR1 during the kernel phase: the phase stops after the depth in
#    progress, exit 3, and --resume computes only the kernels left.
cat >"$T/kstop.ini" <<'EOF'
[job]
seed = 5
[data]
source = sphere
dim = 8
classes = 2
n_train = 500
n_test = 50
[model]
activation = relu
width = 16
[train]
loss = mse
lr = 0.1
epochs = 2
[kernel]
kernels = nngp, ntk
depth = 1, 2, 3, 4, 5, 6
ridge = 0, 1e-3
EOF
run "$T/kstop.ini" -o "$T/ksref.h5" --quiet 2>/dev/null
run "$T/kstop.ini" -o "$T/ks.h5" --quiet 2>"$T/err" &
bg=$!
i=0; while ! grep -q "kernel nngp" "$T/err" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
pkill -USR1 -f "overparam run $T/kstop.ini -o $T/ks.h5" || true
rc=0; wait $bg || rc=$?
[ $rc -eq 3 ] || fail "2: exit $rc after SIGUSR1 in the kernel phase, want 3"
grep -q "kernels 12/12" "$T/err" && fail "2: every kernel computed after the stop"
k2=$(grep -o 'kernels [0-9]*/12' "$T/err")
run "$T/kstop.ini" -o "$T/ks.h5" --resume --quiet 2>"$T/err2" || fail "2: resume"
$B compare "$T/ksref.h5" "$T/ks.h5" >/dev/null || fail "2: resumed kernels differ"
ok 2 "SIGUSR1 in the kernel phase: exit 3 with $k2; resumed to identical"

# 2b. Inside a depth: with --stop-margin 0 the depth in progress is
#     abandoned at its next step boundary (after a ridge solve, before the
#     eigendecomposition) instead of running to its end; exit 3, nothing of
#     it written, and --resume computes it to identical.
cat >"$T/kdepth.ini" <<'EOF'
[job]
seed = 6
[data]
source = sphere
dim = 16
classes = 2
n_train = 2000
n_test = 100
[model]
width = 16
[train]
epochs = 1
[kernel]
kernels = ntk
depth = 2
ridge = 1e-4, 1e-3, 1e-2, 1e-1
time = 10, inf
EOF
run "$T/kdepth.ini" -o "$T/kdref.h5" --quiet 2>/dev/null
run "$T/kdepth.ini" -o "$T/kd.h5" --stop-margin 0 2>"$T/err" &
bg=$!
i=0; while ! grep -q "kernels 1/1: depth 2" "$T/err" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
pkill -USR1 -f "overparam run $T/kdepth.ini -o $T/kd.h5" || true
rc=0; wait $bg || rc=$?
[ $rc -eq 3 ] || fail "2b: exit $rc after SIGUSR1 inside a kernel depth, want 3"
grep -q "^\[overparam\] kernel ntk_relu_d2" "$T/err" && fail "2b: the depth ran to its end after the stop"
grep -q "eigen64 done" "$T/err" && fail "2b: the eigendecomposition ran after the stop"
run "$T/kdepth.ini" -o "$T/kd.h5" --resume --quiet 2>"$T/err2" || fail "2b: resume"
$B compare "$T/kdref.h5" "$T/kd.h5" >/dev/null || fail "2b: resumed kernel differs"
ok 2b "SIGUSR1 inside a kernel depth, margin 0: abandoned at a step boundary, exit 3; resumed to identical"

# 3. A kill while the archive's layout is being written: the journal exists
#    first, so --resume rebuilds instead of refusing.
fresh
OVERPARAM_FAULT=layout:1 $MPIRUN -np 2 -x OVERPARAM_FAULT $B run $JOB -o "$T/k.h5" --quiet 2>"$T/err" &&
    fail "3: fault layout:1 did not fire"
grep -q "killed at layout:1" "$T/err" || fail "3: not killed during creation"
# Resumed through a symlink: the torn file is moved aside, not the link.
mkdir -p "$T/d3"; ln -s "$T/k.h5" "$T/d3/alias.h5"
run $JOB -o "$T/d3/alias.h5" --resume --quiet 2>"$T/err" || fail "3: resume after a kill during creation"
[ -L "$T/d3/alias.h5" ] || fail "3: the symlink was moved instead of the file"
same "$T/ref.h5" "$T/k.h5" 3
ok 3 "$(grep -o 'rebuilding from.*' "$T/err" || head -1 "$T/err")"

# 4a. The journal deleted: the finished rows of /runs are kept, not rerun.
fresh; cp "$T/ref.h5" "$T/k.h5"
run $JOB -o "$T/k.h5" --resume 2>"$T/err" || fail "4a: resume without journal"
grep -q "$n_runs runs done ($n_runs resumed)" "$T/err" || fail "4a: runs recomputed"
grep -q "$n_runs from /runs rows" "$T/err" || fail "4a: not said where the runs came from"
same "$T/ref.h5" "$T/k.h5" 4a
ok 4a "$(grep resumed "$T/err" | head -1)"

# 4b/6. The archive reached through a symlink: its journal and lock are
#    found beside the file, not beside the link.
fresh; cp "$T/ref.h5" "$T/k.h5"; cp "$T/ref.h5.journal" "$T/k.h5.journal"
mkdir -p "$T/d"; ln -s "$T/k.h5" "$T/d/alias.h5"
run $JOB -o "$T/d/alias.h5" --resume 2>"$T/err" || fail "4b: resume through a symlink"
grep -q "$n_runs runs done ($n_runs resumed)" "$T/err" || fail "4b: runs recomputed through a symlink"
ls "$T/d" | grep -q journal && fail "4b: a journal beside the link"
ok 4b "$(grep resumed "$T/err" | head -1)"
fresh
run $JOB -o "$T/k.h5" --quiet 2>/dev/null &
bg=$!
i=0; while [ ! -s "$T/k.h5.journal" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
rc=0; run $JOB -o "$T/d/alias.h5" --resume --quiet 2>"$T/err" || rc=$?
wait $bg || fail "6: the first job failed"
[ $rc -eq 2 ] && grep -q "another overparam process" "$T/err" || fail "6: a second job wrote the archive through a symlink (exit $rc)"
same "$T/ref.h5" "$T/k.h5" 6
ok 6 "$(grep -o 'another overparam process.*' "$T/err")"

# 5. Two bytes flipped in record 10 of the journal: only that record is
#    lost; every later one is kept (here the archive is gone, so the
#    journal is all there is).
fresh; cp "$T/ref.h5.journal" "$T/k.h5.journal"
size=$(stat -c %s "$T/k.h5.journal"); rec=$(( (size - 40) / n_runs ))
printf '\377\377' | dd of="$T/k.h5.journal" bs=1 seek=$((40 + 9 * rec + 40)) conv=notrunc 2>/dev/null
run $JOB -o "$T/k.h5" --resume 2>"$T/err" || fail "5: resume with a corrupt record"
grep -q "1 corrupt journal record skipped" "$T/err" || fail "5: corrupt record not reported"
grep -q "resumed .*: $((n_runs - 1)) finished runs kept" "$T/err" || fail "5: valid records after the corrupt one dropped"
same "$T/ref.h5" "$T/k.h5" 5
ok 5 "$(grep -o '[0-9]* corrupt journal record skipped' "$T/err"); $(grep -o 'resumed .*: [0-9]* finished runs kept' "$T/err")"

# 7. A healthy archive held open elsewhere (h5py r+) is busy, not torn:
#    exit 2 naming the holder, nothing moved or changed.
fresh; cp "$T/ref.h5" "$T/k.h5"; cp "$T/ref.h5.journal" "$T/k.h5.journal"
$PY -c "import h5py,sys,time; f=h5py.File(sys.argv[1],'r+'); open(sys.argv[2],'w').close(); time.sleep(60)" "$T/k.h5" "$T/held" &
holder=$!
i=0; while [ ! -f "$T/held" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
sum0=$(cksum <"$T/k.h5")
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/k.h5" --resume --quiet
kill $holder; wait $holder 2>/dev/null || true; holder=
grep -q "holds its HDF5 file lock" "$T/err" || fail "7: no word about the lock holder"
[ -e "$T/k.h5.torn" ] && fail "7: a held archive was moved aside"
[ "$(cksum <"$T/k.h5")" = "$sum0" ] || fail "7: the held archive changed"
ok 7 "$(grep -o 'open in another process.*lock' "$T/err")"

# 8. Checks that can be made before the first run are made then: a kernel
#    grid that cannot tile the ranks (with the job file's line), an archive
#    larger than the free disk. Nothing is written.
sed 's/^block = 16/block = 16\ngrid_rows = 3/' $KJOB >"$T/grid.ini"
expect_input $MPIRUN -np 2 $B run "$T/grid.ini" -o "$T/g.h5" --quiet
grep -q "grid.ini:[0-9]*: \[kernel\] grid_rows = 3" "$T/err" || fail "8: grid refusal without file:line"
grep -q "runs done\|runs [0-9]*/" "$T/err" && fail "8: the sweep ran before the grid check"
[ -e "$T/g.h5" ] && fail "8: an archive was written"
g8=$(head -1 "$T/err")
printf '[data]\nsource = gaussian\ndim = 784\nclasses = 10\nn_train = 100\nn_test = 10\n[train]\nepochs = 1\n[grid]\nwidth = 100000\nseed = range(0, 4000, 1)\n[output]\nsave_weights = init_final\n' >"$T/big.ini"
expect_input $MPIRUN -np 2 $B run "$T/big.ini" -o "$T/big.h5" --quiet
grep -q "ENOSPC ahead" "$T/err" || fail "8: archive larger than the disk not refused"
[ -e "$T/big.h5" ] || [ -e "$T/big.h5.journal" ] && fail "8: files written"
g8d=$(head -1 "$T/err")
printf '[data]\nsource = gaussian\ndim = 8\nn_train = 10\nn_test = 10\n[model]\ndepth = 3\n[grid]\nwidth = 4, 2000000\n' >"$T/mem.ini"
expect_input $MPIRUN -np 2 $B run "$T/mem.ini" -o "$T/mem.h5" --quiet
grep -q "run 1 (width 2000000, depth 3) needs at least" "$T/err" || fail "8: a network larger than memory not refused"
[ -e "$T/mem.h5" ] && fail "8: an archive was written"
ok 8 "$g8 / $g8d / $(head -1 "$T/err")"

# 9. The journal cannot be written (disk full from the 5th write on): no
#    further run starts, the runs in hand reach /runs, the exit says why,
#    and --resume after that loses nothing.
fresh
rc=0; OVERPARAM_FAULT=full:5 $MPIRUN -np 2 -x OVERPARAM_FAULT $B run $JOB -o "$T/k.h5" --quiet 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "9: exit $rc after the journal filled up, want 1"
grep -q "No space left on device; no further run started" "$T/err" || fail "9: no clear message"
done9=$($B info "$T/k.h5" | sed -n 's/.*done \([0-9]*\),.*/\1/p')
[ "$done9" -lt "$n_runs" ] || fail "9: the sweep kept running"
run $JOB -o "$T/k.h5" --resume 2>"$T/err2" || fail "9: resume"
grep -q "resumed .*: $done9 finished runs kept" "$T/err2" || { cat "$T/err2"; fail "9: finished results lost ($done9 in /runs)"; }
same "$T/ref.h5" "$T/k.h5" 9
ok 9 "$(grep -o 'No space left on device; no further run started, [0-9]* finished results written to /runs only' "$T/err"); then $(grep -o 'resumed .*' "$T/err2")"

# 10. A FIFO as archive, job file or data file: exit 2, no hang.
mkfifo "$T/fifo.h5" "$T/fifo.ini"
expect_input $B info "$T/fifo.h5"
grep -q "not a regular file" "$T/err" || fail "10: info on a FIFO"
expect_input $B validate "$T/fifo.ini"
grep -q "not a regular file" "$T/err" || fail "10: validate on a FIFO"
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/fifo.h5" --quiet
grep -q "not a regular file" "$T/err" || fail "10: run into a FIFO"
mkfifo "$T/l.h5.lock"
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/l.h5" --quiet
grep -q "l.h5.lock: not a regular file" "$T/err" || fail "10: a FIFO as the lock file"
mkdir "$T/fm"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do mkfifo "$T/fm/$f"; done
printf '[data]\nsource = fashion_mnist\npath = %s\n' "$T/fm" >"$T/fm.ini"
expect_input $B validate "$T/fm.ini"
grep -q "not a regular file" "$T/err" || fail "10: data file FIFO"
ok 10 "$(head -1 "$T/err")"

# 11. Job files that validated as another job: text after a header,
#     CR-only line endings, an empty file (details: tests/test_job_break.c).
printf '[data] source = sphere\n[grid]\nwidth = 4, 8\n' >"$T/hdr.ini"
expect_input $B validate "$T/hdr.ini"
grep -q "hdr.ini:1: text after the section header" "$T/err" || fail "11: text after a header"
m11=$(head -1 "$T/err")
printf '[data]\rsource = sphere\r' >"$T/cr.ini"
expect_input $B validate "$T/cr.ini"
grep -q "carriage return" "$T/err" || fail "11: CR-only line endings"
: >"$T/empty.ini"
expect_input $B validate "$T/empty.ini"
grep -q "empty job file" "$T/err" || fail "11: empty job file"
ok 11 "$m11 / $(head -1 "$T/err")"

# 13. A grid n_train larger than the data: refused before the sweep (exit
#     2, no archive), not a failed run with exit 0.
if $PY -c 'import gzip' 2>/dev/null; then
    $PY - "$T/fm30" <<'PYEOF2'
import gzip, os, struct, sys
d = sys.argv[1]; os.makedirs(d)
def put(name, dims, body):
    hdr = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims)
    open(os.path.join(d, name), "wb").write(gzip.compress(hdr + body))
for split, n in (("train", 30), ("t10k", 20)):
    put(split + "-images-idx3-ubyte.gz", [n, 28, 28], bytes((i * 7) % 256 for i in range(n * 784)))
    put(split + "-labels-idx1-ubyte.gz", [n], bytes(i % 10 for i in range(n)))
PYEOF2
    printf '[data]\npath = %s\nn_train = 20\nn_test = 20\n[model]\nwidth = 4\n[train]\nepochs = 1\n[grid]\nn_train = 20, 50\n' "$T/fm30" >"$T/fm30.ini"
    expect_input $MPIRUN -np 2 $B run "$T/fm30.ini" -o "$T/fm30.h5" --quiet
    grep -q "n_train = 50 but the file holds 30" "$T/err" || fail "13: grid n_train beyond the data"
    [ -e "$T/fm30.h5" ] && fail "13: an archive was written"
    ok 13n "$(head -1 "$T/err")"
fi

# 12. --force replaces only overparam archives (or empty files): never a
#     device node, a FIFO or someone's data.
mknod "$T/null" c 1 3 2>/dev/null || mkfifo "$T/null"
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/null" --force --quiet
[ -c "$T/null" ] || [ -p "$T/null" ] || fail "12: --force removed a device node"
echo "precious" >"$T/data.txt"
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/data.txt" --force --quiet
grep -q precious "$T/data.txt" || fail "12: --force replaced a text file"
echo "notes" >"$T/j.h5.journal"
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/j.h5" --force --quiet
grep -q notes "$T/j.h5.journal" || fail "12: --force removed a file named like a journal"
ok 12 "$(head -1 "$T/err")"

# 13. -o '' and a dangling symlink: exit 2, no stray lock file.
mkdir "$T/e"; cd "$T/e"
rc=0; timeout 20 $MPIRUN -np 2 "$OLDPWD/$B" run "$OLDPWD/$JOB" -o '' --quiet 2>"$T/err" || rc=$?
cd "$OLDPWD"
[ $rc -eq 2 ] || fail "13: -o '' exit $rc"
[ -z "$(ls -A "$T/e")" ] || fail "13: -o '' left $(ls -A "$T/e")"
ln -s "$T/nowhere/x.h5" "$T/dangling.h5"
expect_input $MPIRUN -np 2 $B run $JOB -o "$T/dangling.h5" --quiet
[ -e "$T/dangling.h5.lock" ] && fail "13: a dangling symlink left a lock"
ok 13l "$(head -1 "$T/err")"

# 13. A resume under another BLAS thread count or kernel set would finish
#     the sweep with other arithmetic than it began: refused, saying how to
#     resume alike. (--bind-to none: bound to one core, OpenBLAS would cap
#     itself at one thread.)
cp "$T/kref.h5" "$T/kb.h5"; cp "$T/kref.h5.journal" "$T/kb.h5.journal"
expect_input env OPENBLAS_NUM_THREADS=2 $MPIRUN --bind-to none -np 2 -x OPENBLAS_NUM_THREADS $B run $KJOB -o "$T/kb.h5" --resume --quiet
grep -q "resumed with 2: results would change" "$T/err" || fail "13: thread count change not refused"
m13=$(head -1 "$T/err")
core=$($PY -c "import h5py,sys; c=h5py.File(sys.argv[1],'r').attrs['blas_core']; print(c.decode() if isinstance(c, bytes) else c)" "$T/kb.h5")
other=Sandybridge; [ "$core" = Sandybridge ] && other=Haswell
expect_input env OPENBLAS_CORETYPE=$other $MPIRUN -np 2 -x OPENBLAS_CORETYPE $B run $KJOB -o "$T/kb.h5" --resume --quiet
grep -q "begun with the OpenBLAS $core kernels, resumed with $other" "$T/err" || fail "13: BLAS core change not refused"
ok 13b "$m13 / $(head -1 "$T/err")"

# MPI errors return to OP_MPI_CHECK (MPI_ERRORS_RETURN), which names the
# call, file:line and hint before aborting every rank; with MPI's default
# handler it never ran. An invalid broadcast is injected (mpi:1).
fresh
rc=0; OVERPARAM_FAULT=mpi:1 timeout 60 $MPIRUN -np 2 -x OVERPARAM_FAULT $B run $JOB -o "$T/k.h5" --quiet 2>"$T/err" || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "mpi: exit $rc"
grep -q "src/archive.c:[0-9]*: MPI_Bcast.* failed (MPI error [0-9]*): archive status" "$T/err" || fail "mpi: no hint printed"
grep -q "MPI_ERRORS_ARE_FATAL" "$T/err" && fail "mpi: MPI aborted before the check"
ok mpi "$(grep -m1 'failed (MPI error' "$T/err" | sed 's/(&v.*)) failed/(...) failed/')"

echo "break catalogue: $cases cases held"
