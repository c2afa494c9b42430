#!/bin/sh
# t_kvar.sh — [kernel] sigma_w2 and sigma_b2 as lists: one kernel per
# (depth, sigma_w2, sigma_b2), ids naming the variances, each equal to the
# kernel the same job computes with those variances alone (jobs/nngp_vs_ntk
# sweeps them); an empty list, too many kernels and two kernels alike (one
# archive group) are refused with exit 2.
. tests/lib.sh
[ -x "$B" ] || { echo "FAIL $B not built"; exit 1; }
export OPENBLAS_NUM_THREADS=1
job() { # file sigma_w2-line sigma_b2-line
    cat >"$1" <<EOT
[job]
seed = 3
[data]
source = sphere
dim = 8
classes = 2
n_train = 120
n_test = 40
[model]
width = 8
sigma_w2 = 2
sigma_b2 = 0.1
[train]
epochs = 0
[kernel]
kernels = nngp, ntk
depth = 1, 2
$2
$3
ridge = 0, 1e-2
time = 10, inf
EOT
}
job "$T/list.ini" "sigma_w2 = 1, 2" "sigma_b2 = 0, 0.5"
check "variance lists run" 0 $MPIRUN -np 2 $B run "$T/list.ini" -o "$T/list.h5" --quiet
n=0
for w in 1 2; do for b in 0 0.5; do
    job "$T/one.ini" "sigma_w2 = $w" "sigma_b2 = $b"
    check "w$w b$b alone" 0 $MPIRUN -np 2 $B run "$T/one.ini" -o "$T/one_${w}_${b}.h5" --quiet
    $PY - "$T/list.h5" "$T/one_${w}_${b}.h5" "$w" "$b" <<'PYEOF' && n=$((n + 1)) || failed "w$w b$b: kernels differ from the list's"
import sys, h5py, numpy as np
lst, one, w, b = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with h5py.File(lst) as L, h5py.File(one) as O:
    for kind in ("nngp", "ntk"):
        for d in (1, 2):
            g1 = O["kernels"][f"{kind}_relu_d{d}"]        # alone: no variances in the id
            g2 = L["kernels"][f"{kind}_relu_d{d}_w{w}_b{b}"]
            assert float(g2.attrs["sigma_w2"]) == float(w) and float(g2.attrs["sigma_b2"]) == float(b)
            for name, ds in g1.items():
                if isinstance(ds, h5py.Dataset) and ds.dtype.names:
                    a, c = ds[:], g2[name][:]
                    for f in ds.dtype.names:
                        if f in ("seconds", "wall_s"):
                            continue
                        x, y = np.asarray(a[f], float), np.asarray(c[f], float)
                        assert np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True), (kind, d, name, f)
    assert len(L["kernels"]) == 16, list(L["kernels"])
PYEOF
done; done
[ $n = 4 ] && pass "16 kernels (2 kinds x 2 depths x 2 x 2 variances) equal the kernels computed alone"
job "$T/empty.ini" "sigma_w2 =" ""
expect "empty sigma_w2 list" 2 "sigma_w2: empty list" $B run "$T/empty.ini" -o "$T/e.h5"
[ ! -e "$T/e.h5" ] && pass "nothing written for the empty list" || failed "archive written for a refused job"
job "$T/many.ini" "sigma_w2 = 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8" "sigma_b2 = 0, 0.1, 0.2, 0.3"
expect "too many kernels" 2 "at most 64" $B run "$T/many.ini" -o "$T/m.h5"
job "$T/dup.ini" "sigma_w2 = 1, 2, 1.0000001" ""
expect "variances equal to 6 digits" 2 "twice: each kernel once" $B run "$T/dup.ini" -o "$T/d.h5"
finish t_kvar
