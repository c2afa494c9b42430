# lib.sh — sourced by shell tests (". tests/lib.sh"): a temp dir $T removed
# at exit, a failure count $fails, and two checks that print ok/FAIL lines.
#   check DESCRIPTION WANT COMMAND...   COMMAND's exit code must be WANT
#                                       (its output is kept in $T/out)
#   has DESCRIPTION PATTERN             the last check's output holds PATTERN
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
check() {
    d=$1 want=$2
    shift 2
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
