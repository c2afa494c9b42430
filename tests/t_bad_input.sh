#!/bin/sh
# The bad-input catalogue: every malformed job file in tests/bad/ and every
# wrong archive gives exit code 2, a message naming the file (and line) and
# the problem, and writes nothing — an existing archive stays untouched.
. tests/lib.sh
while IFS='|' read -r file msg; do
    expect "validate $file" 2 "tests/bad/$file" $B validate "tests/bad/$file"
    grep -qF -- "$msg" "$T/out" || { echo "FAIL $file: message lacks '$msg'"; fails=$((fails + 1)); }
done < tests/bad/expect.txt
# run: same errors on every rank, nothing written, existing archive kept.
$MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/keep.h5" --quiet || { echo "FAIL: tiny run"; exit 1; }
sum=$(md5sum < "$T/keep.h5")
expect "run bad job (2 ranks)" 2 "unknown section" $MPIRUN -np 2 $B run tests/bad/unknown_section.ini -o "$T/keep.h5"
expect "run over an archive" 2 "archive exists; use --resume" $MPIRUN -np 2 $B run tests/jobs/tiny.ini -o "$T/keep.h5"
[ "$(md5sum < "$T/keep.h5")" = "$sum" ] || { echo "FAIL: existing archive modified"; fails=$((fails + 1)); }
expect "kernel beyond memory" 2 "GiB per rank on 2 ranks" $MPIRUN -np 2 $B run tests/bad/kernel_too_big.ini -o "$T/big.h5"
[ ! -e "$T/big.h5" ] || { echo "FAIL: archive created for a kernel that cannot fit"; fails=$((fails + 1)); }
expect "run missing job" 2 "/nonexistent/job.ini" $MPIRUN -np 1 $B run /nonexistent/job.ini -o "$T/new.h5"
[ ! -e "$T/new.h5" ] || { echo "FAIL: archive created for a bad job"; fails=$((fails + 1)); }
sed 's/^epochs = .*/epochs = 7/' tests/jobs/tiny.ini > "$T/other.ini"
expect "resume other job" 2 "key other than [grid] values changed ([train] epochs: 60 -> 7)" $MPIRUN -np 1 $B run "$T/other.ini" -o "$T/keep.h5" --resume
[ "$(md5sum < "$T/keep.h5")" = "$sum" ] || { echo "FAIL: archive modified by a refused resume"; fails=$((fails + 1)); }
echo "not hdf5" > "$T/text.h5"
expect "info text file" 2 "$T/text.h5: not an HDF5 file" $B info "$T/text.h5"
expect "resume text file" 2 "text.h5" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/text.h5" --resume
expect "info missing" 2 "no such archive" $B info "$T/missing.h5"
if $PY -c 'import h5py' 2>/dev/null; then
    $PY -c "import h5py; f = h5py.File('$T/foreign.h5', 'w'); f['x'] = [1, 2, 3]; f.close()"
    fsum=$(md5sum < "$T/foreign.h5")
    expect "info foreign hdf5" 2 "not an overparam archive" $B info "$T/foreign.h5"
    expect "resume foreign hdf5" 2 "not an overparam archive" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/foreign.h5" --resume
    [ "$(md5sum < "$T/foreign.h5")" = "$fsum" ] || { echo "FAIL: foreign file modified"; fails=$((fails + 1)); }
    $PY -c "
import h5py
f = h5py.File('$T/keep.h5', 'a'); f.attrs['format_version'] = 99; f.close()"
    expect "info other version" 2 "format version 99" $B info "$T/keep.h5"
    expect "resume other version" 2 "format version 99" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/keep.h5" --resume
fi
# Inputs the fuzzers found slow or crashing: each must end quickly with 0 or 2.
for f in tests/fuzz/regress/*; do
    [ -f "$f" ] || continue
    checks=$((checks + 1))
    timeout 10 $B validate "$f" >/dev/null 2>&1; rc=$?
    case $rc in 0|2) ;; *) echo "FAIL fuzz regression $f: exit $rc"; fails=$((fails + 1)) ;; esac
done
# Data files: a small fake Fashion-MNIST directory, good, then broken in
# each way a download or a disk can break it.
if $PY -c 'import gzip' 2>/dev/null; then
    mkfm() { # dir images_n labels_n [mode]
        $PY - "$@" <<'PYEOF'
import gzip, os, struct, sys
d, ni, nl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "good"
os.makedirs(d, exist_ok=True)
def idx(dims, body, magic=8):
    return bytes([0, 0, magic, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + body
def put(name, data):
    open(os.path.join(d, name), "wb").write(gzip.compress(data))
for split, n_i, n_l in (("train", ni, nl), ("t10k", 20, 20)):
    put(split + "-images-idx3-ubyte.gz", idx([n_i, 28, 28], bytes((i * 7) % 256 for i in range(n_i * 784))))
    put(split + "-labels-idx1-ubyte.gz", idx([n_l], bytes(i % 10 for i in range(n_l))))
p = os.path.join(d, "train-images-idx3-ubyte.gz")
raw = open(p, "rb").read()
if mode == "truncated":
    open(p, "wb").write(raw[: len(raw) // 2])
elif mode == "corrupted":
    b = bytearray(raw); b[len(b) // 2 : len(b) // 2 + 16] = b"\xff" * 16; open(p, "wb").write(bytes(b))
elif mode == "plain_text":
    open(p, "wb").write(b"this is not an IDX file\n")
elif mode == "bad_magic":
    put("train-images-idx3-ubyte.gz", idx([ni, 28, 28], bytes(ni * 784), magic=13))
elif mode == "short_body":
    put("train-images-idx3-ubyte.gz", idx([ni, 28, 28], bytes(ni * 784 - 10)))
elif mode == "trailing":
    put("train-images-idx3-ubyte.gz", idx([ni, 28, 28], bytes(ni * 784 + 5)))
PYEOF
    }
    fmjob() { # dir -> job file path
        printf '[data]\npath = %s\nn_train = 50\nn_test = 20\n[model]\nwidth = 4\n[train]\nepochs = 1\n' "$1" > "$1.ini"
        echo "$1.ini"
    }
    mkfm "$T/fm_good" 100 100
    $MPIRUN -np 1 $B run "$(fmjob "$T/fm_good")" -o "$T/fm_good.h5" --quiet 2>"$T/out" || { echo "FAIL: good fake data set refused"; cat "$T/out"; fails=$((fails + 1)); }
    for mode in truncated corrupted plain_text bad_magic short_body trailing; do
        mkfm "$T/fm_$mode" 100 100 $mode
        expect "data $mode" 2 "train-images-idx3-ubyte.gz" $MPIRUN -np 2 $B run "$(fmjob "$T/fm_$mode")" -o "$T/fm_$mode.h5"
        [ ! -e "$T/fm_$mode.h5" ] || { echo "FAIL: archive written for $mode data"; fails=$((fails + 1)); }
    done
    mkfm "$T/fm_count" 100 99
    expect "data label count" 2 "labels" $MPIRUN -np 1 $B run "$(fmjob "$T/fm_count")" -o "$T/fm_count.h5"
    mkfm "$T/fm_few" 30 30
    expect "data fewer than n_train" 2 "fm_few" $MPIRUN -np 1 $B run "$(fmjob "$T/fm_few")" -o "$T/fm_few.h5"
fi
echo "bad input: $checks cases, $fails failed"
[ $fails -eq 0 ]
