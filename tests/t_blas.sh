#!/bin/sh
# The BLAS core (src/blas.c): OpenBLAS's generic fallback is detected and
# replaced by the best core that passes the self-test, on every rank, and
# said on the run's first line and in the archive; a core set by the
# environment is kept (and refused when it computes wrong results);
# OVERPARAM_BLAS=keep changes nothing. OVERPARAM_BLAS_ASSUME stands in for
# OpenBLAS's pick and OVERPARAM_BLAS_FAIL breaks a core's self-test, so every
# path runs on any x86-64 CPU with AVX2 or better.
set -u
. tests/lib.sh
export OPENBLAS_NUM_THREADS=1
unset OVERPARAM_BLAS OVERPARAM_BLAS_STATE OPENBLAS_CORETYPE
attr() { # archive attribute
    h5dump -a "/$2" "$1" 2>/dev/null | sed -n 's/.*(0): "\(.*\)".*/\1/p' | sed 's/ *$//'
}

check "blas: OpenBLAS's own pick is self-tested" 0 $B blas
has "  ... and passes" "self-test passed"
best=$(sed -n 's/.*CPU best \([A-Za-z0-9]*\).*/\1/p' "$T/out")
echo "     (this CPU: $(cat "$T/out"))"
check "a generic fallback is replaced" 0 env OVERPARAM_BLAS_ASSUME=Prescott $B blas
has "  ... by the CPU's best core" "fell back to its Prescott kernels.*using $best (self-test passed)"
check "a best core that fails its self-test gives way to the next" 0 \
    env OVERPARAM_BLAS_ASSUME=Prescott OVERPARAM_BLAS_FAIL=$best $B blas
has "  ... named as failed" "failed: $best"
if grep -q "using Prescott" "$T/out"; then echo "FAIL  ... fell to Prescott"; fails=$((fails + 1)); fi
check "no core passes: refused" 1 env OVERPARAM_BLAS_ASSUME=Prescott \
    OVERPARAM_BLAS_FAIL=Cooperlake,SkylakeX,Haswell,Sandybridge,Nehalem,Core2,Prescott $B blas
has "  ... naming the cores" "no OpenBLAS core passes the BLAS self-test on this CPU (failed: [A-Za-z0-9,]*Core2"
check "the environment's core is kept" 0 env OPENBLAS_CORETYPE=Prescott $B blas
has "  ... as it is" "core Prescott (environment"
check "the environment's core is refused when it computes wrong" 1 \
    env OPENBLAS_CORETYPE=Prescott OVERPARAM_BLAS_FAIL=Prescott $B blas
has "  ... saying so" "OPENBLAS_CORETYPE=Prescott (set by the environment) fails"
check "OVERPARAM_BLAS=keep: nothing checked" 0 env OVERPARAM_BLAS=keep OVERPARAM_BLAS_FAIL=$best $B blas
has "  ... said" "not self-tested"

# A run on 2 ranks: every rank switches, the first line says so, the archive
# records it, and the numbers equal a run started on that core directly.
check "run after a fallback, 2 ranks" 0 $MPIRUN -np 2 env OVERPARAM_BLAS_ASSUME=Prescott \
    $B run tests/jobs/tiny.ini -o "$T/up.h5" --quiet
head -n 1 "$T/out" > "$T/first"
if grep -q "BLAS: OpenBLAS fell back to its Prescott kernels" "$T/first"; then
    echo "ok     ... said on the first line"; else
    echo "FAIL   ... first line: $(cat "$T/first")"; fails=$((fails + 1)); fi
if grep -q "different OpenBLAS cores" "$T/out"; then
    echo "FAIL   ... the ranks disagree"; fails=$((fails + 1)); fi
sel=$(attr "$T/up.h5" blas_selection) core=$(attr "$T/up.h5" blas_core)
if [ "$sel" = "upgraded from Prescott" ] && [ "$core" = "$best" ] &&
    [ "$(attr "$T/up.h5" blas_selftest)" = passed ]; then
    echo "ok     ... archive: blas_core $core, blas_selection '$sel'"; else
    echo "FAIL   ... archive: blas_core '$core', blas_selection '$sel'"; fails=$((fails + 1)); fi
check "the same job with OPENBLAS_CORETYPE=$best" 0 $MPIRUN -np 2 env OPENBLAS_CORETYPE=$best \
    $B run tests/jobs/tiny.ini -o "$T/direct.h5" --quiet
check "  ... identical results" 0 $B compare "$T/up.h5" "$T/direct.h5"
finish t_blas
