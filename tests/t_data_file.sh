#!/bin/sh
# [data] source = file: a data set the user made (here written by numpy and
# h5py): a CIFAR-shaped uint8 .npy directory (32x32x3, 10 classes, learnable)
# through run with downsample, standardize, ZCA and label noise; an HDF5
# file of float32 rows with real targets (regression); and every malformed
# file refused with exit 2 naming the file and the dataset, no archive.
. tests/lib.sh
$PY -c 'import numpy, h5py' 2>/dev/null || { echo "t_data_file: numpy/h5py missing, skipped"; exit 0; }
$PY - "$T" <<'PYEOF'
import os, sys, numpy as np, h5py
T = sys.argv[1]
rng = np.random.default_rng(5)
def cifar(n, classes=10):
    # class c: a bright c-th horizontal band in channel c % 3, plus noise
    y = rng.integers(0, classes, n)
    x = rng.normal(100, 30, (n, 32, 32, 3))
    for i, c in enumerate(y):
        x[i, 3 * c:3 * c + 3, :, c % 3] += 120
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)
def save_dir(d, xtr, ytr, xte, yte):
    os.makedirs(d, exist_ok=True)
    for name, a in (("x_train", xtr), ("y_train", ytr), ("x_test", xte), ("y_test", yte)):
        np.save(os.path.join(d, name + ".npy"), a)
xtr, ytr = cifar(600); xte, yte = cifar(200)
save_dir(T + "/cifar", xtr, ytr, xte, yte)
# regression in HDF5: y = sin(w . x), float32 rows of d = 12
def reg(n):
    x = rng.normal(0, 1, (n, 12)).astype(np.float32)
    return x, np.sin(x @ np.linspace(-1, 1, 12)).astype(np.float64)
with h5py.File(T + "/reg.h5", "w") as f:
    for split, n in (("train", 300), ("test", 100)):
        x, y = reg(n); f["x_" + split] = x; f["y_" + split] = y
# malformed .npy directories, one defect each
bad = {
    "wrong_shape": lambda: save_dir(T + "/wrong_shape", xtr[:, :16], ytr, xte, yte),
    "nan": lambda: save_dir(T + "/nan", np.where(np.arange(600)[:, None, None, None] == 7, np.nan, xtr.astype(np.float32)), ytr, xte.astype(np.float32), yte),
    "label_range": lambda: save_dir(T + "/label_range", xtr, np.where(np.arange(600) == 9, 10, ytr), xte, yte),
    "negative_label": lambda: save_dir(T + "/negative_label", xtr, ytr, xte, np.where(np.arange(200) == 3, -1, yte)),
    "lengths": lambda: save_dir(T + "/lengths", xtr, ytr[:599], xte, yte),
    "float_labels": lambda: save_dir(T + "/float_labels", xtr, ytr + 0.5, xte, yte),
}
for f in bad.values(): f()
# truncated and trailing bodies, a text file, a Fortran-ordered array
for name in ("truncated", "trailing", "text", "fortran"):
    save_dir(T + "/" + name, xtr, ytr, xte, yte)
p = T + "/truncated/x_train.npy"; b = open(p, "rb").read(); open(p, "wb").write(b[:-100])
p = T + "/trailing/y_test.npy"; open(p, "ab").write(b"xx")
open(T + "/text/x_test.npy", "w").write("not numpy\n")
np.save(T + "/fortran/x_test.npy", np.asfortranarray(xte.reshape(200, -1)))
# HDF5: a missing dataset, a truncated file
with h5py.File(T + "/missing.h5", "w") as f:
    f["x_train"] = xtr; f["y_train"] = ytr; f["x_test"] = xte
b = open(T + "/reg.h5", "rb").read(); open(T + "/cut.h5", "wb").write(b[:len(b) // 2])
PYEOF
cat > "$T/cifar.ini" <<EOF
[job]
seed = 3
[data]
source = file
path = $T/cifar
shape = 32, 32, 3
classes = 10
n_train = 400
n_test = 100
downsample = 4
label_noise = 0.1
zca = 0.1
[model]
width = 128
[train]
loss = mse
optimizer = adam
lr = 0.002
epochs = 60
batch = 100
[grid]
seed = 0, 1
EOF
$B validate "$T/cifar.ini" || { echo "FAIL: validate cifar.ini"; fails=$((fails + 1)); }
$MPIRUN -np 2 $B run "$T/cifar.ini" -o "$T/cifar.h5" -q || { echo "FAIL: run on the .npy set"; fails=$((fails + 1)); }
$B info "$T/cifar.h5" | tail -n 2
acc=$($B info "$T/cifar.h5" | awk '$0 ~ /test_acc/ { for (i = 1; i <= NF; i++) if ($i == "test_acc") c = i; getline; print $c }')
awk -v a="$acc" 'BEGIN { exit !(a > 0.25) }' || { echo "FAIL: CIFAR-shaped set not learned (test_acc $acc, chance 0.1)"; fails=$((fails + 1)); }
# The report reads an archive of the user's own set like any other.
if $PY -c 'import matplotlib' 2>/dev/null; then
    $PY -m analysis.report "$T/cifar.h5" -o "$T/report" >"$T/rep.out" 2>&1 && [ -f "$T/report/report.html" ] &&
        echo "report: $(ls "$T/report" | wc -l) files" || { echo "FAIL: report on the file set"; tail -5 "$T/rep.out"; fails=$((fails + 1)); }
fi
cat > "$T/reg.ini" <<EOF
[data]
source = file
path = $T/reg.h5
dim = 12
classes = 1
regression = true
n_train = 300
n_test = 100
[train]
epochs = 40
[grid]
width = 16, 256
EOF
$MPIRUN -np 1 $B run "$T/reg.ini" -o "$T/reg.h5out" -q || { echo "FAIL: run on the HDF5 regression set"; fails=$((fails + 1)); }
$B info "$T/reg.h5out" | sed -n 3p
# Bad input: exit 2, file and dataset named, no archive.
check() { # name fragment ini
    $MPIRUN -np ${NP:-1} $B run "$3" -o "$T/$1.out.h5" >"$T/out" 2>&1; rc=$?
    if [ $rc -ne 2 ] || ! grep -qF -- "$2" "$T/out" || [ -e "$T/$1.out.h5" ]; then
        echo "FAIL $1: exit $rc, want 2 and '$2', no archive; got:"; grep -m2 overparam "$T/out"; fails=$((fails + 1))
    else
        printf '%-16s %s\n' "$1" "$(grep -m1 'overparam:' "$T/out" | sed "s|$T/||g" | cut -c1-150)"
    fi
}
for b in wrong_shape:"wrong_shape/x_train.npy: rows of 1536 values, the job wants 3072" \
         nan:"nan/x_train.npy: value" \
         label_range:"label_range/y_train.npy: label 9 is 10" \
         negative_label:"negative_label/y_test.npy: label 3 is -1" \
         lengths:"lengths/y_train.npy: 599 rows, but" \
         float_labels:"float_labels/y_train.npy: label 0 is" \
         truncated:"truncated/x_train.npy: truncated" \
         trailing:"trailing/y_test.npy: trailing bytes" \
         text:"text/x_test.npy: not a .npy file" \
         fortran:"fortran/x_test.npy: Fortran-ordered"; do
    name=${b%%:*}; frag=${b#*:}
    sed "s|^path = .*|path = $T/$name|" "$T/cifar.ini" > "$T/$name.ini"
    NP=1; [ "$name" = nan ] && NP=2 # every rank checks the data
    check "$name" "$frag" "$T/$name.ini"
done
sed "s|^path = .*|path = $T/missing.h5|" "$T/cifar.ini" > "$T/missing.ini"
check missing_dataset "missing.h5: dataset /y_test missing" "$T/missing.ini"
sed "s|^path = .*|path = $T/cut.h5|" "$T/reg.ini" > "$T/cut.ini"
check truncated_h5 "cut.h5" "$T/cut.ini"
sed "s|^dim = 12|dim = 13|" "$T/reg.ini" > "$T/dim.ini"
check dim_mismatch "reg.h5: dataset /x_train: rows of 12 values, the job wants 13" "$T/dim.ini"
sed "s|^path = .*|path = $T/nowhere|" "$T/reg.ini" > "$T/nowhere.ini"
$B validate "$T/nowhere.ini" >"$T/out" 2>&1; rc=$?
{ [ $rc -eq 2 ] && grep -q "nowhere.ini:.*\[data\] path = $T/nowhere: cannot read it" "$T/out"; } || { echo "FAIL: validate of a missing path: exit $rc"; cat "$T/out"; fails=$((fails + 1)); }
finish t_data_file
