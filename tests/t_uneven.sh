#!/bin/sh
# A run far longer than the rest is no reason to kill it: no timeout
# exists, the short runs flow around it, and progress is still reported
# while it holds a rank.
set -e
. tests/lib.sh
$MPIRUN -np 2 $B run tests/jobs/uneven.ini -o "$T/u.h5" --progress 0.25 2>"$T/err"
$B info "$T/u.h5" | grep -q "done 12, diverged 0, failed 0, pending 0" || { echo "FAIL: not all runs done"; cat "$T/err"; exit 1; }
lines=$(grep -c "^\[overparam\] runs" "$T/err")
/usr/bin/python3 - "$T/u.h5" "$lines" <<'PYEOF' || exit 1
import sys, h5py
r = h5py.File(sys.argv[1])["runs"][:]
big, small = r["seconds"][r["width"] == 2048], r["seconds"][r["width"] == 16]
print(f"longest run {big.max():.2f}s, short runs {small.mean():.3f}s on average "
      f"({big.max() / small.mean():.0f}x), {sys.argv[2]} progress lines")
if big.max() < 10 * small.mean():
    sys.exit("FAIL: the long runs are not much longer")
if int(sys.argv[2]) < 3:
    sys.exit("FAIL: progress stopped while the long runs ran")
PYEOF
echo "uneven runs: all done, progress reported throughout"
