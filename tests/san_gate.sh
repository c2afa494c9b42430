#!/bin/sh
# san_gate.sh — the sanitized leg's leak gate (make check SAN=1 only): the
# deliberately leaking tests/leak_gate.c must fail with a LeakSanitizer
# report that names overparam's own function, as an MPI singleton and under
# mpirun, with the environment run_tests.sh gives every other test (its
# LSAN_OPTIONS and MPI suppressions). Passes when the gate fires.
set -u
G=${BUILD:-build-san}/tests/leak_gate
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
gate() { # description, command...
    d=$1
    shift
    "$@" >"$T/out" 2>&1
    rc=$?
    if [ "$rc" != 0 ] && grep -q "LeakSanitizer: detected memory leaks" "$T/out" &&
        grep -q "op_job_load_string" "$T/out"; then
        echo "ok   $d: exit $rc, leak in op_job_load_string reported"
    else
        echo "FAIL $d: exit $rc, the leak went unreported:"
        sed 's/^/     /' "$T/out" | tail -n 30
        fails=$((fails + 1))
    fi
}
[ -x "$G" ] || { echo "FAIL $G not built (make check SAN=1 builds it)"; exit 1; }
gate "leak gate, MPI singleton" "$G"
gate "leak gate, 2 ranks under mpirun" $MPIRUN -np 2 "$G"
[ "$fails" = 0 ]
