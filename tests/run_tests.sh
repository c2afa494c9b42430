#!/bin/sh
# run_tests.sh TEST... — runs each test: a shell script (*.sh) with sh, a
# Check binary named test_mpi_* under mpirun with 1, 2 and 4 ranks, any
# other binary directly. Ends with "N passed, N failed".
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# Tests compute with whatever OpenBLAS core the environment gives them:
# overparam's own core selection (src/blas.c) is off here and exercised on
# its own by tests/t_blas.sh.
export OVERPARAM_BLAS=${OVERPARAM_BLAS:-keep}
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-600}
# Sanitizer builds (make check SAN=1): MPI's own leaks are suppressed
# (tests/lsan.supp names its libraries, never overparam's code; the leak
# gate, tests/san_gate.sh, proves a leak of ours still fails the leg).
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
# Full unwinding: MPI's libraries are built without frame pointers, and a
# fast unwind stops in them before reaching the frame a suppression names.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1:fast_unwind_on_malloc=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
passed=0; failed=0; failures=""
# Each shell test's output is also kept, so the summary can repeat what a
# failed one said: CI shows only the end of the log.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for bin in "$@"; do
    name=$(basename "$bin")
    case "$name" in
    *.sh)
        echo "== $bin"
        { BUILD=${BUILD:-build} MPIRUN="$MPIRUN" sh "$bin" 2>&1; echo $? >"$logs/rc"; } | tee "$logs/$name.log"
        if [ "$(cat "$logs/rc")" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $bin"; fi
        continue ;;
    test_mpi_*) ranks="1 2 4" ;;
    *) ranks="" ;;
    esac
    if [ -z "$ranks" ]; then
        if "$bin"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $name"; fi
    else
        for np in $ranks; do
            echo "== $name on $np rank(s)"
            if CK_FORK=no $MPIRUN -np "$np" "$bin"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $name@$np"; fi
        done
    fi
done
for f in $failures; do
    log="$logs/$(basename "$f").log"
    [ -f "$log" ] || continue
    echo "== what $f said last (its FAIL lines, then its end):"
    grep -a "FAIL" "$log" | head -20
    tail -n 15 "$log"
done
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
