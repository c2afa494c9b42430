#!/bin/sh
# The bad-input catalogue: every malformed job file in tests/bad/ and every
# wrong archive gives exit code 2, a message naming the file (and line) and
# the problem, and writes nothing — an existing archive stays untouched.
B=${BUILD:-build}/overparam
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0; n=0
check() { # name expected-fragment command...
    name=$1; frag=$2; shift 2
    n=$((n + 1))
    timeout 60 "$@" >"$T/out" 2>&1
    rc=$?
    if [ $rc -ne 2 ] || ! grep -qF -- "$frag" "$T/out"; then
        echo "FAIL $name: exit $rc, want 2 and '$frag'; got:"; head -c 600 "$T/out"; echo
        fail=$((fail + 1))
    else
        printf '%-28s %s\n' "$name" "$(grep -m1 overparam "$T/out" | cut -c1-150)"
    fi
}
while IFS='|' read -r file frag; do
    check "validate $file" "tests/bad/$file" $B validate "tests/bad/$file"
    grep -qF -- "$frag" "$T/out" || { echo "FAIL $file: message lacks '$frag'"; fail=$((fail + 1)); }
done < tests/bad/expect.txt
# run: same errors on every rank, nothing written, existing archive kept.
$MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/keep.h5" --quiet || { echo "FAIL: tiny run"; exit 1; }
sum=$(md5sum < "$T/keep.h5")
check "run bad job (2 ranks)" "unknown section" $MPIRUN -np 2 $B run tests/bad/unknown_section.ini -o "$T/keep.h5"
check "run over an archive" "archive exists; use --resume" $MPIRUN -np 2 $B run tests/jobs/tiny.ini -o "$T/keep.h5"
[ "$(md5sum < "$T/keep.h5")" = "$sum" ] || { echo "FAIL: existing archive modified"; fail=$((fail + 1)); }
check "kernel beyond memory" "GiB per rank on 2 ranks" $MPIRUN -np 2 $B run tests/bad/kernel_too_big.ini -o "$T/big.h5"
[ ! -e "$T/big.h5" ] || { echo "FAIL: archive created for a kernel that cannot fit"; fail=$((fail + 1)); }
check "run missing job" "/nonexistent/job.ini" $MPIRUN -np 1 $B run /nonexistent/job.ini -o "$T/new.h5"
[ ! -e "$T/new.h5" ] || { echo "FAIL: archive created for a bad job"; fail=$((fail + 1)); }
sed 's/^epochs = .*/epochs = 7/' tests/jobs/tiny.ini > "$T/other.ini"
check "resume other job" "key other than [grid] values changed ([train] epochs: 60 -> 7)" $MPIRUN -np 1 $B run "$T/other.ini" -o "$T/keep.h5" --resume
[ "$(md5sum < "$T/keep.h5")" = "$sum" ] || { echo "FAIL: archive modified by a refused resume"; fail=$((fail + 1)); }
echo "not hdf5" > "$T/text.h5"
check "info text file" "$T/text.h5: not an HDF5 file" $B info "$T/text.h5"
check "resume text file" "text.h5" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/text.h5" --resume
check "info missing" "no such archive" $B info "$T/missing.h5"
if $PY -c 'import h5py' 2>/dev/null; then
    $PY -c "import h5py; f = h5py.File('$T/foreign.h5', 'w'); f['x'] = [1, 2, 3]; f.close()"
    fsum=$(md5sum < "$T/foreign.h5")
    check "info foreign hdf5" "not an overparam archive" $B info "$T/foreign.h5"
    check "resume foreign hdf5" "not an overparam archive" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/foreign.h5" --resume
    [ "$(md5sum < "$T/foreign.h5")" = "$fsum" ] || { echo "FAIL: foreign file modified"; fail=$((fail + 1)); }
    $PY -c "
import h5py
f = h5py.File('$T/keep.h5', 'a'); f.attrs['format_version'] = 99; f.close()"
    check "info other version" "format version 99" $B info "$T/keep.h5"
    check "resume other version" "format version 99" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/keep.h5" --resume
fi
# Inputs the fuzzers found slow or crashing: each must end quickly with 0 or 2.
for f in tests/fuzz/regress/*; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    timeout 10 $B validate "$f" >/dev/null 2>&1; rc=$?
    case $rc in 0|2) ;; *) echo "FAIL fuzz regression $f: exit $rc"; fail=$((fail + 1)) ;; esac
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
    $MPIRUN -np 1 $B run "$(fmjob "$T/fm_good")" -o "$T/fm_good.h5" --quiet 2>"$T/out" || { echo "FAIL: good fake data set refused"; cat "$T/out"; fail=$((fail + 1)); }
    for mode in truncated corrupted plain_text bad_magic short_body trailing; do
        mkfm "$T/fm_$mode" 100 100 $mode
        check "data $mode" "train-images-idx3-ubyte.gz" $MPIRUN -np 2 $B run "$(fmjob "$T/fm_$mode")" -o "$T/fm_$mode.h5"
        [ ! -e "$T/fm_$mode.h5" ] || { echo "FAIL: archive written for $mode data"; fail=$((fail + 1)); }
    done
    mkfm "$T/fm_count" 100 99
    check "data label count" "labels" $MPIRUN -np 1 $B run "$(fmjob "$T/fm_count")" -o "$T/fm_count.h5"
    mkfm "$T/fm_few" 30 30
    check "data fewer than n_train" "fm_few" $MPIRUN -np 1 $B run "$(fmjob "$T/fm_few")" -o "$T/fm_few.h5"
fi
echo "bad input: $n cases, $fail failed"
[ $fail -eq 0 ]
