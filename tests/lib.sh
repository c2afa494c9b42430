# lib.sh — sourced by the shell tests (". tests/lib.sh", before anything
# else the script does): what every scenario needs, defined once.
#   $B       the overparam binary ($BUILD/overparam; BUILD defaults to build)
#   $MPIRUN  how to start MPI ranks (run_tests.sh passes the Makefile's)
#   $PY      Debian's python3 (PYTHON overrides; not the first on PATH)
#   $T       a temp dir, removed at exit (a script that needs more at exit
#            sets its own trap and removes $T there)
#   $fails   the failure count; $checks counts check and expect calls.
# Checks that print ok/FAIL lines and count failures:
#   check DESCRIPTION WANT COMMAND...   COMMAND's exit code must be WANT
#                                       (its output is kept in $T/out)
#   has DESCRIPTION PATTERN             the last check's output holds PATTERN
#   expect NAME WANT FRAGMENT COMMAND...  COMMAND, under timeout
#                                       $EXPECT_TIMEOUT s (60), must exit WANT
#                                       and print FRAGMENT (a fixed string);
#                                       the output is kept in $T/out
#   pass MESSAGE / failed MESSAGE       an ok line / a FAIL line, counted
#   finish NAME                         "NAME: all passed" or "NAME: N
#                                       failed"; true when none failed (the
#                                       script's last command: its status)
BUILD=${BUILD:-build}
B=$BUILD/overparam
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
checks=0
check() {
    d=$1 want=$2
    shift 2
    checks=$((checks + 1))
    "$@" >"$T/out" 2>&1
    got=$?
    if [ "$got" = "$want" ]; then
        echo "ok   $d (exit $got)"
    else
        echo "FAIL $d: exit $got, want $want"; sed 's/^/     /' "$T/out"; fails=$((fails + 1))
    fi
}
has() {
    if grep -q "$2" "$T/out"; then echo "ok   $1"; else
        echo "FAIL $1: no '$2' in:"; sed 's/^/     /' "$T/out"; fails=$((fails + 1)); fi
}
expect() {
    name=$1; want=$2; frag=$3; shift 3
    checks=$((checks + 1))
    timeout "${EXPECT_TIMEOUT:-60}" "$@" >"$T/out" 2>&1
    rc=$?
    if [ $rc -ne "$want" ] || ! grep -qF -- "$frag" "$T/out"; then
        echo "FAIL $name: exit $rc (want $want), want '$frag'; got:"; head -c 800 "$T/out"; echo
        fails=$((fails + 1))
    else
        # the output's first line from overparam itself (mpirun may speak first)
        printf 'ok   %-30s %s\n' "$name" \
            "$({ grep -m1 overparam "$T/out" || grep -m1 . "$T/out"; } | cut -c1-140)"
    fi
}
pass() { echo "ok   $*"; }
failed() { echo "FAIL $*"; fails=$((fails + 1)); }
finish() {
    if [ "$fails" = 0 ]; then echo "$1: all passed"; else echo "$1: $fails failed"; fi
    [ "$fails" = 0 ]
}
