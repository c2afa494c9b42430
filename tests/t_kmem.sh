#!/bin/sh
# The kernel phase's memory statement and refusal (src/kphase.c): a mixed-
# precision kernel far beyond the machine is refused before anything starts
# (exit 2, the GiB per rank named, no archive); mixed precision with what
# it cannot do (spectra, gradient flow) is bad input naming the line.
. tests/lib.sh
EXPECT_TIMEOUT=120
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
expect "mixed beyond memory" 2 "GiB per rank on 2 ranks" $MPIRUN -np 2 $B run "$T/huge.ini" -o "$T/huge.h5"
[ ! -e "$T/huge.h5" ] || { echo "FAIL: archive created for a kernel that cannot fit"; fails=$((fails + 1)); }
# 300000^2/2 floats per rank on 2 ranks (167.6 GiB) + the data (1.8 GiB):
# half of what float64 would state (~340 GiB)
grep -q "needs 1[67][0-9]\.[0-9]* GiB per rank" "$T/out" || { echo "FAIL: mixed need not stated as ~170 GiB: $(cat "$T/out")"; fails=$((fails + 1)); }
sed 's/^time =$/time = inf/' "$T/huge.ini" > "$T/mixed_gd.ini"
expect "mixed with gradient flow" 2 "mixed_gd.ini:10: [kernel] precision = mixed" $B validate "$T/mixed_gd.ini"
finish t_kmem
