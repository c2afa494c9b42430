#!/bin/sh
# t_eigsolver.sh — which eigensolver `[kernel] eigensolver = auto` runs, as
# the archive records it (kernel group attribute "eigensolver"):
#   e1. with [kernel] time (eigenvectors for the gradient-flow predictor):
#       ScaLAPACK, which was faster than Debian's generic-kernel ELPA with
#       vectors at every size measured (src/kphase.c resolve_solver);
#   e2. eigenvalues alone: ELPA when the build has it, and its spectrum
#       equals ScaLAPACK's (eigensolver = scalapack) to 1e-10 relative;
#   e3. an explicit eigensolver = elpa is honored with [kernel] time.
. tests/lib.sh
export OPENBLAS_NUM_THREADS=1
[ -x "$B" ] || { echo "FAIL $B not built"; exit 1; }
elpa=no
pkg-config --exists elpa 2>/dev/null && elpa=yes
run() { # name, --set ...
    n=$1; shift
    $MPIRUN -np 2 $B run tests/jobs/kernel.ini -o "$T/$n.h5" --force --quiet \
        --set grid.width=16 --set grid.depth=1 --set train.epochs=2 --set kernel.save_matrix=false "$@" \
        >"$T/$n.log" 2>&1 || { cat "$T/$n.log"; failed "run $n"; }
}
run t
run v --set kernel.time= --set kernel.eig64=true
run s --set kernel.time= --set kernel.eig64=true --set kernel.eigensolver=scalapack
run e --set kernel.eigensolver=elpa
check "e1-e3: solvers recorded, spectra agree" 0 $PY - "$T" "$elpa" <<'PYEOF'
import sys, h5py, numpy as np
d, elpa = sys.argv[1], sys.argv[2] == "yes"
def solvers(n):
    with h5py.File(f"{d}/{n}.h5") as f:
        return {k: g.attrs["eigensolver"].decode() if isinstance(g.attrs["eigensolver"], bytes)
                else str(g.attrs["eigensolver"]) for k, g in f["kernels"].items()}
t, v, s, e = (solvers(n) for n in "tvse")
assert t and set(t.values()) == {"scalapack"}, t
assert set(v.values()) == {"elpa-2stage" if elpa else "scalapack"}, v
assert set(s.values()) == {"scalapack"}, s
assert set(e.values()) == {"elpa-2stage" if elpa else "scalapack"}, e
with h5py.File(f"{d}/v.h5") as fv, h5py.File(f"{d}/s.h5") as fs:
    for k in fv["kernels"]:
        a, b = fv["kernels"][k]["eigenvalues64"][:], fs["kernels"][k]["eigenvalues64"][:]
        rel = np.max(np.abs(a - b)) / np.max(np.abs(b))
        assert rel < 1e-10, (k, rel)
print(f"ELPA built: {elpa}; with time: {sorted(set(t.values()))}; values only: "
      f"{sorted(set(v.values()))}; explicit elpa with time: {sorted(set(e.values()))}")
PYEOF
tail -1 "$T/out"
finish t_eigsolver
