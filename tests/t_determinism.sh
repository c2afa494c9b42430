#!/bin/sh
# The archive's numbers do not depend on the number of ranks: the same job
# on 1, 2 and 4 ranks gives identical results (timings and ranks aside).
set -e
. tests/lib.sh
for np in 1 2 4; do
    $MPIRUN -np $np $B run tests/jobs/tiny.ini -o "$T/r$np.h5" --quiet
done
$B info "$T/r1.h5" | head -4
# lr = 1e4 diverges (a result with a status) unless its ReLUs all die
# first, which depends on the init: every run finished, some diverged, and
# the 12 lr = 0.05 runs are among the done ones.
$B info "$T/r1.h5" | awk '/^status/ { gsub(",", ""); d = $3; v = $5; f = $7; p = $9 }
    END { ok = f == 0 && p == 0 && d + v == 24 && v >= 1 && d >= 12
          if (!ok) print "expected 24 runs finished, >= 12 done, >= 1 diverged, none failed"
          exit !ok }' || exit 1
$B compare "$T/r1.h5" "$T/r2.h5"
$B compare "$T/r1.h5" "$T/r4.h5"
# The comparison itself must notice a difference.
if $B compare "$T/r1.h5" "$T/none.h5" >/dev/null 2>&1; then exit 1; fi
echo "determinism: identical on 1, 2 and 4 ranks"
# Kernels too: grids 1x1, 1x2 and 2x2 agree within ScaLAPACK rounding.
for np in 1 2 4; do
    $MPIRUN -np $np $B run tests/jobs/kernel.ini -o "$T/k$np.h5" --quiet
done
$B info "$T/k1.h5" | grep -q "kernels   4 in /kernels" || { echo "expected 4 kernels"; exit 1; }
$B compare "$T/k1.h5" "$T/k2.h5"
$B compare "$T/k1.h5" "$T/k4.h5"
echo "determinism: kernels agree on 1, 2 and 4 ranks"
