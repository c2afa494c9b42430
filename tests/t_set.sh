#!/bin/sh
# --set SECTION.KEY=VALUE: overrides checked like the file's own lines, with
# errors naming the override; the archive's job text records them so that
# running that text alone reproduces the archive; resume takes the same set.
. tests/lib.sh
EXPECT_TIMEOUT=120
J=tests/jobs/tiny.ini
expect "validate, two overrides" 0 "tiny.ini: 60 runs over width (3: 4 16 64), depth (2: 1 2), seed (5: 0 1 2 3 4)" \
    $B validate $J --set train.epochs=3 --set grid.seed='range(0,5)'
expect "--set=value spelling" 0 "seed (3: 0 1 2)" $B validate $J --set=grid.seed='range(0, 3)'
expect "replaced line kept as comment" 0 ";seed = 0, 1" $B validate $J --set grid.seed=7 --print
expect "not a number" 2 "tiny.ini: --set train.lr=abc: [train] lr = abc: not a number" $B validate $J --set train.lr=abc
expect "out of bounds" 2 "--set model.depth=0: [model] depth = 0: out of range" $B validate $J --set model.depth=0
expect "bad range" 2 "--set grid.seed=range(5,0): [grid] seed = range(5,0): empty range" $B validate $J --set 'grid.seed=range(5,0)'
expect "unknown section" 2 "--set trian.lr=1: unknown section [trian]" $B validate $J --set trian.lr=1
expect "unknown key" 2 "--set train.lrr=1: [train] lrr: unknown key" $B validate $J --set train.lrr=1
expect "not swept" 2 "--set grid.path=x: [grid] path: not a key that can be swept" $B validate $J --set grid.path=x
expect "cross-key check" 2 "--set train.loss=xent: [train] loss = xent: needs a classification" $B validate $J --set data.source=sines --set train.loss=xent
expect "no dot" 2 "--set lr=1: want SECTION.KEY=VALUE" $B validate $J --set lr=1
expect "set twice" 2 "grid.width set twice" $B validate $J --set grid.width=4,8 --set grid.width=3
expect "missing value" 2 "needs a value" $B validate $J --set
expect "run: bad override" 2 "--set train.lr=abc" $MPIRUN -np 2 $B run $J -o "$T/bad.h5" --set train.lr=abc
[ ! -e "$T/bad.h5" ] || { echo "FAIL: archive written for a bad override"; fails=$((fails + 1)); }
# A run with overrides on 2 ranks (rank 1 parses the shared text).
$MPIRUN -np 2 $B run $J -o "$T/a.h5" -q --set grid.seed='range(3, 5)' --set train.epochs=4 || { echo "FAIL: run with --set"; fails=$((fails + 1)); }
expect "archive holds the grid" 0 "tiny.ini" $B info "$T/a.h5"
if $PY -c 'import h5py' 2>/dev/null; then
    $PY -c "import h5py,sys; t = h5py.File('$T/a.h5','r').attrs['job_text']; sys.stdout.write(t.decode() if isinstance(t, bytes) else t)" > "$T/replay.ini"
    grep -qF "seed = range(3, 5)" "$T/replay.ini" && grep -qF "epochs = 4" "$T/replay.ini" || { echo "FAIL: job text lacks the overrides"; cat "$T/replay.ini"; fails=$((fails + 1)); }
    # The recorded text alone reproduces the archive.
    $MPIRUN -np 1 $B run "$T/replay.ini" -o "$T/b.h5" -q || { echo "FAIL: replay run"; fails=$((fails + 1)); }
    $B compare "$T/a.h5" "$T/b.h5" >/dev/null && echo "replayed job text: identical archive" || { echo "FAIL: replayed job text gives a different archive"; fails=$((fails + 1)); }
fi
expect "resume, same overrides" 0 "resumed" $MPIRUN -np 1 $B run $J -o "$T/a.h5" --resume --set grid.seed='range(3, 5)' --set train.epochs=4
expect "resume, no overrides" 2 "[train] epochs: 4 -> 60" $MPIRUN -np 1 $B run $J -o "$T/a.h5" --resume
finish t_set
