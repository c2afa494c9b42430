#!/bin/sh
# Progress lines: the ETA comes from the cost fit (unit-tested in
# test_eta.c; here a loose sanity bound against the real time), the kernel
# phase reports each build with an ETA, and the sweep's diagnostics line
# appears only with --verbose.
. tests/lib.sh
$MPIRUN -np 2 $B run tests/jobs/uneven.ini -o "$T/u.h5" --progress 0.2 2>"$T/err" || { echo "FAIL: uneven run"; fails=$((fails + 1)); }
grep '^\[overparam\] runs' "$T/err" | sed -n '1,3p;$p'
# The first line with runs finished and left: elapsed + ETA against the
# sweep's real length (loose: a shared machine's timing is noisy).
awk '/^\[overparam\] runs/ { split($3, r, "/"); if (r[1] > 0 && r[1] < r[2] && $NF != "-" && !p) { p = $(NF-2) + $NF; pr = $0 } el = $(NF-2) }
     END { sub("s", "", el); printf "first estimate %s -> predicted %.0fs, sweep took %ss\n", pr, p, el;
           exit !(p != "" && p <= 3 * el + 2) }' "$T/err" | sed 's/s\.0/s/' || { echo "FAIL: early ETA far above the real time"; fails=$((fails + 1)); }
grep -q "sweep .*results in" "$T/err" && { echo "FAIL: diagnostics line printed without --verbose"; fails=$((fails + 1)); }
$MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/k.h5" --verbose 2>"$T/kerr" || { echo "FAIL: kernel run"; fails=$((fails + 1)); }
grep "kernels [0-9]/" "$T/kerr"
grep -q "kernels 1/2: depth 1 (nngp+ntk), n=[0-9]*: build, [0-9]* ridges*, eigen; elapsed [0-9]*s ETA -" "$T/kerr" || { echo "FAIL: no kernel progress line for the first build"; fails=$((fails + 1)); }
grep -q "kernels 2/2: depth 2 .* ETA [0-9]*s" "$T/kerr" || { echo "FAIL: no kernel ETA for the second build"; fails=$((fails + 1)); }
grep -q "sweep .*results in" "$T/kerr" || { echo "FAIL: --verbose lacks the diagnostics line"; fails=$((fails + 1)); }
# A kernel whose steps take seconds (n = 2000, eigenvectors for the
# gradient flow): each step of a second or more gets its own line, with
# the share of the modelled kernel work and an ETA.
cat > "$T/kmid.ini" <<'EOF'
[data]
source = sphere
n_train = 2000
n_test = 100
dim = 32
classes = 2
[model]
width = 16
depth = 1
[train]
epochs = 1
[kernel]
kernels = ntk
depth = 1
ridge = 1e-4, 1e-2
time = 10, inf
EOF
$MPIRUN -np 2 $B run "$T/kmid.ini" -o "$T/kmid.h5" 2>"$T/merr" || { echo "FAIL: n=2000 kernel run"; fails=$((fails + 1)); }
grep "kernels: depth" "$T/merr"
grep -q "kernels: depth 1 ntk: [a-z0-9]* *[0-9/]* *done; [0-9]*% of the kernel work, elapsed [0-9]*s ETA" "$T/merr" ||
    { echo "FAIL: no per-step kernel progress line"; sed 's/^/     /' "$T/merr"; fails=$((fails + 1)); }
finish t_progress
