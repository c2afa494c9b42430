#!/bin/sh
# The kernel phase's memory statement and refusal (src/kphase.c): a mixed-
# precision kernel far beyond the machine is refused before anything starts
# (exit 2, the GiB per rank named, no archive); mixed precision with what
# it cannot do (spectra, gradient flow) is bad input naming the line.
B=${BUILD:-build}/overparam
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # name expected-fragment command...
    name=$1; frag=$2; shift 2
    timeout 120 "$@" >"$T/out" 2>&1
    rc=$?
    if [ $rc -ne 2 ] || ! grep -qF -- "$frag" "$T/out"; then
        echo "FAIL $name: exit $rc, want 2 and '$frag'; got:"; head -c 600 "$T/out"; echo
        fail=$((fail + 1))
    else
        printf '%-28s %s\n' "$name" "$(grep -m1 overparam "$T/out" | cut -c1-160)"
    fi
}
cat > "$T/huge.ini" <<'INI'
[data]
source = gaussian
dim = 784
n_train = 300000
n_test = 1000
[train]
epochs = 0
[kernel]
kernels = ntk
precision = mixed
ridge = 1e-3
time =
eig32 = false
eig64 = false
INI
check "mixed beyond memory" "GiB per rank on 2 ranks" $MPIRUN -np 2 $B run "$T/huge.ini" -o "$T/huge.h5"
[ ! -e "$T/huge.h5" ] || { echo "FAIL: archive created for a kernel that cannot fit"; fail=$((fail + 1)); }
# 300000^2/2 floats per rank on 2 ranks (167.6 GiB) + the data (1.8 GiB):
# half of what float64 would state (~340 GiB)
grep -q "needs 1[67][0-9]\.[0-9]* GiB per rank" "$T/out" || { echo "FAIL: mixed need not stated as ~170 GiB: $(cat "$T/out")"; fail=$((fail + 1)); }
sed 's/^time =$/time = inf/' "$T/huge.ini" > "$T/mixed_gd.ini"
check "mixed with gradient flow" "mixed_gd.ini:10: [kernel] precision = mixed" $B validate "$T/mixed_gd.ini"
[ $fail -eq 0 ] && echo "t_kmem: ok"
exit $fail
