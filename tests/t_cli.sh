#!/bin/sh
# The command line: per-command --help exits 0, a typo names its closest
# match, --opt=value and --opt value are the same, malformed values and
# contradictory options exit 2 before anything is written.
. tests/lib.sh
B=$(cd "$(dirname "$B")" && pwd)/overparam # some cases run elsewhere
for c in run validate info compare merge keys version help; do
    expect "$c --help" 0 "usage: overparam $c" $B $c --help
done
expect "help run" 0 "--stop-margin" $B help run
expect "no command" 2 "usage: overparam COMMAND" $B
expect "command typo" 2 "unknown command 'valdiate'; did you mean 'validate'?" $B valdiate x.ini
expect "option typo" 2 "unknown option '--progess'; did you mean '--progress'?" $B run x.ini --progess=5
expect "option typo (space)" 2 "unknown option '--resmue'; did you mean '--resume'?" $B run x.ini --resmue
expect "option far off" 2 "unknown option '--zzzzzzzz'" $B run x.ini --zzzzzzzz
expect "--progress abc" 2 "--progress=abc: not a number" $B run x.ini --progress abc
expect "--progress=5s" 2 "--progress=5s: not a number" $B run x.ini --progress=5s
expect "--progress=nan" 2 "not a number" $B run x.ini --progress=nan
expect "--progress=-1" 2 "not a number" $B run x.ini --progress=-1
expect "--stop-margin=" 2 "not a number" $B run x.ini --stop-margin=
expect "--progress missing value" 2 "needs a value" $B run x.ini --progress
expect "--array 0/3x" 2 "--array=0/3x: want I/N" $B run x.ini --array 0/3x
expect "--array 3/3" 2 "want 0 <= I < N" $B run x.ini --array=3/3
expect "--array -1/3" 2 "want I/N" $B run x.ini --array=-1/3
expect "--array slurm, no array" 2 "not a Slurm job array" env -u SLURM_ARRAY_TASK_ID $B run x.ini --array slurm
expect "--coordinator-works maybe" 2 "--coordinator-works=maybe: want auto, yes or no" $B run x.ini --coordinator-works maybe
expect "--resume --force" 2 "--resume and --force together" $B run x.ini --resume --force
expect "two job files" 2 "unexpected argument 'y.ini'" $B run x.ini y.ini
expect "run without job" 2 "no job file given" $B run
expect "--quiet=1" 2 "option '--quiet' takes no value" $B run x.ini --quiet=1
expect "--kernel-tol 1e-3x" 2 "--kernel-tol=1e-3x" $B compare a.h5 b.h5 --kernel-tol 1e-3x
expect "compare three" 2 "unexpected argument 'c.h5'" $B compare a.h5 b.h5 c.h5
expect "info two" 2 "unexpected argument" $B info a.h5 b.h5
expect "keys extra" 2 "unexpected argument 'x'" $B keys x
expect "merge no inputs" 2 "at least one input" $B merge out.h5
# Under mpirun the problem is printed once, by rank 0.
expect "2 ranks, typo" 2 "did you mean '--progress'" $MPIRUN -np 2 $B run x.ini --progess=5
[ "$(grep -c 'overparam run:' "$T/out")" = 1 ] || { echo "FAIL: usage problem printed $(grep -c 'overparam run:' "$T/out") times under 2 ranks"; fails=$((fails + 1)); }
[ ! -e x.ini ] && [ ! -e results ] || true
# Both spellings of a valued option give the same run.
$MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/a.h5" --progress 0.5 --stop-margin 5 --coordinator-works yes -q || { echo "FAIL: spaced options"; fails=$((fails + 1)); }
$MPIRUN -np 1 $B run tests/jobs/tiny.ini --output="$T/b.h5" --progress=0.5 --stop-margin=5 --coordinator-works=yes --quiet || { echo "FAIL: --opt=value options"; fails=$((fails + 1)); }
$B compare "$T/a.h5" "$T/b.h5" >/dev/null || { echo "FAIL: --opt value and --opt=value runs differ"; fails=$((fails + 1)); }
# Options after positionals and before them are the same (getopt permutes).
$MPIRUN -np 1 $B run -q -o "$T/c.h5" tests/jobs/tiny.ini || { echo "FAIL: options before the job"; fails=$((fails + 1)); }
# Without -o the job's [output] path is used and its directories created
# (results/ in a fresh checkout); a directory given with -o must exist.
J=$(pwd)/tests/jobs/tiny.ini
mkdir "$T/fresh"
(cd "$T/fresh" && $MPIRUN -np 1 $B run "$J" -q) || { echo "FAIL: run without -o in a fresh directory"; fails=$((fails + 1)); }
[ -f "$T/fresh/results/tiny.h5" ] || { echo "FAIL: results/tiny.h5 not created"; fails=$((fails + 1)); }
expect "-o into a missing directory" 2 "directory $T/nodir does not exist" $MPIRUN -np 1 $B run tests/jobs/tiny.ini -q -o "$T/nodir/x.h5"
[ ! -e "$T/nodir" ] || { echo "FAIL: -o created a directory"; fails=$((fails + 1)); }
# merge takes every input it is given, not the first 4096: the last of
# 4200 (all links to one task archive but the last, missing) is named.
# (Short names: a singleton MPI start passes the command line to orted.)
$MPIRUN -np 1 $B run tests/jobs/tiny.ini -o "$T/t0.h5" --array 0/2 -q || { echo "FAIL: array task"; fails=$((fails + 1)); }
set --
i=0; while [ $i -lt 4199 ]; do ln -s t0.h5 "$T/m$i"; set -- "$@" "m$i"; i=$((i + 1)); done
expect "merge 4200 inputs" 2 "m4199" sh -c 'cd "$1" && shift && exec "$@"' - "$T" $B merge out.h5 "$@" m4199
[ ! -e "$T/out.h5" ] || { echo "FAIL: merge wrote an output from a missing input"; fails=$((fails + 1)); }
finish t_cli
