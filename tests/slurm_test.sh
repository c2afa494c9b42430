#!/bin/bash
# slurm_test.sh — `make slurm-test`: the Slurm scripts of slurm/ on a real
# single-node Slurm (slurmctld + slurmd + munged, started here in a temp
# directory, as root), against an uninterrupted run of the same job:
#   1. guard: a rank count that differs from SLURM_NTASKS is refused (2)
#   2. slurm/overparam.sbatch, sbatch -n 2, RESTART_MODE=resubmit: the
#      walltime warning is simulated mid-sweep (scancel --batch
#      --signal=USR1), the job stops with exit 3 and submits its
#      continuation (afterany), which resumes; the final archive equals
#      the uninterrupted one, and the journal holds every run exactly once
#   3. slurm/submit-array.sh: 4 array tasks (launcher mpirun) + the
#      dependent merge; task 0 gets the warning and requeues itself
#      (scontrol requeue, same array); merged archive equals the
#      uninterrupted one
# Every wait is bounded; the daemons are stopped by pid on any exit.
# Environment: BUILD (build), MPIRUN, SLURM_TEST_JOB (tests/jobs/slurm.ini),
# KEEP=1 keeps the temp directory.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/slurm_lib.sh

T_START=$(date +%s.%N)
BUILD=${BUILD:-build}
case "$BUILD" in /*) B=$BUILD/overparam ;; *) B=$PWD/$BUILD/overparam ;; esac
JOB=${SLURM_TEST_JOB:-tests/jobs/slurm.ini}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OPENBLAS_NUM_THREADS=1
JHEAD=40   # bytes of the journal header (archive.c journal_header)

elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
fail() { slurm_log "FAIL: $*"; FAILED=1; exit 1; }
pass() { slurm_log "ok: $*"; PASSED="$PASSED
  ok  $*"; }
PASSED=""
FAILED=0

[ "$(id -u)" = 0 ] || { echo "slurm-test: needs root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
[ -x "$B" ] || { echo "slurm-test: $B not built (make all)" >&2; exit 1; }
for c in sbatch slurmctld slurmd munged; do
    command -v "$c" >/dev/null || { echo "slurm-test: $c missing (sh tests/deps.sh slurm-wlm munge)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/overparam-slurm.XXXXXX)
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$SLURM_PIDS" ]; then
        local jobs
        jobs=$(squeue -h -o %i 2>/dev/null)
        [ -n "$jobs" ] && { slurm_log "cancelling leftover jobs: $(echo $jobs)"; timeout 30 scancel $jobs 2>/dev/null; sleep 1; }
        slurm_down
    fi
    if [ "$rc" != 0 ] || [ "$FAILED" = 1 ]; then
        slurm_log "logs kept in $T"
        for f in "$T"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
    elif [ "${KEEP:-0}" = 1 ]; then
        slurm_log "kept $T"
    else
        rm -rf "$T"
    fi
    slurm_log "slurm-test $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(elapsed) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

N_RUNS=$("$B" validate "$JOB" | sed -n 's/^[^:]*: \([0-9]*\) run.*/\1/p')
[ -n "$N_RUNS" ] || fail "cannot validate $JOB"
slurm_log "job $JOB: $N_RUNS runs; temp dir $T"

# ---- reference: uninterrupted, outside Slurm ----------------------------
t0=$(date +%s.%N)
env -u SLURM_CONF $MPIRUN -np 2 "$B" run "$JOB" -o "$T/ref.h5" --quiet 2>"$T/ref.err" ||
    { cat "$T/ref.err"; fail "reference run"; }
T_REF=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
REF_J=$(stat -c %s "$T/ref.h5.journal")
REC=$(( (REF_J - JHEAD) / N_RUNS ))
[ $(( JHEAD + REC * N_RUNS )) = "$REF_J" ] || fail "journal size $REF_J is not header + $N_RUNS records"
slurm_log "reference: $N_RUNS runs in ${T_REF}s on 2 ranks (journal record $REC bytes)"
records() { local s; s=$(stat -c %s "$1" 2>/dev/null || echo "$JHEAD"); echo $(( (s - JHEAD) / REC )); }

# ---- guard without Slurm: SLURM_NTASKS=2 but one rank ---------------------
SLURM_NTASKS=2 "$B" run "$JOB" -o "$T/guard.h5" --quiet 2>"$T/guard.err"
rc=$?
[ "$rc" = 2 ] && [ ! -e "$T/guard.h5" ] && grep -q SLURM_NTASKS "$T/guard.err" ||
    { cat "$T/guard.err"; fail "SLURM_NTASKS=2 on one rank: exit $rc, want 2 and no archive"; }
pass "guard: one rank with SLURM_NTASKS=2 refused with exit 2 ($(head -c 80 "$T/guard.err")...)"

# ---- Slurm up ---------------------------------------------------------------
t0=$(date +%s.%N)
slurm_up "$T/slurm" || fail "Slurm did not come up"
slurm_log "Slurm up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
export OVERPARAM=$B OVERPARAM_HOME=$PWD

# Waits until a journal holds at least $2 records (bounded: $3 seconds) or
# job $4 has left the running states. Prints the record count.
wait_records() {
    local j=$1 want=$2 t=$(( $3 * 10 )) id=$4 st
    while [ "$t" -gt 0 ]; do
        [ "$(records "$j")" -ge "$want" ] && break
        st=$(slurm_job_field "$id" JobState)
        case "$st" in PENDING|RUNNING|CONFIGURING|"") ;; *) break ;; esac
        sleep 0.1; t=$((t - 1))
    done
    records "$j"
}

# ---- guard under Slurm: a rank count that is not SLURM_NTASKS --------------
id=$(sbatch --parsable -n 2 -o "$T/guard-%j.out" --wrap \
    "\"$B\" run $JOB -o $T/g1.h5 --quiet; echo direct rc=\$?; srun -n 2 --mpi=none \"$B\" run $JOB -o $T/g2.h5 --quiet; echo mpi-none rc=\$?")
st=$(slurm_wait_job "$id" 60) || fail "guard job $id: $st"
grep -q '^direct rc=2$' "$T/guard-$id.out" && [ ! -e "$T/g1.h5" ] ||
    fail "guard job: 'overparam run' without srun in an sbatch -n 2 job was not refused with 2"
none_rc=$(sed -n 's/^mpi-none rc=//p' "$T/guard-$id.out")
[ -n "$none_rc" ] && [ "$none_rc" != 0 ] && [ ! -e "$T/g2.h5" ] ||
    fail "guard job: srun --mpi=none exited $none_rc or wrote an archive"
pass "guard under sbatch -n 2: direct launch (1 rank) exit 2; srun --mpi=none exit $none_rc, no archive"

# ---- a per-job wrapper (slurm/<job>.sbatch) runs through the generic one --
for f in slurm/*.sbatch; do bash -n "$f" || fail "syntax: $f"; done
id=$(JOB=tests/jobs/tiny.ini ARCHIVE=$T/wrapper.h5 sbatch --parsable -n 2 -o "$T/wrapper-%j.out" \
    slurm/quick.sbatch) || fail "sbatch slurm/quick.sbatch"
st=$(slurm_wait_job "$id" 120) || fail "wrapper job $id: $st"
[ "$st" = COMPLETED ] && grep -q "overparam exited with 0" "$T/wrapper-$id.out" ||
    fail "slurm/quick.sbatch (JOB=tests/jobs/tiny.ini) ended $st"
pass "slurm/quick.sbatch (wrapper, JOB overridden to tests/jobs/tiny.ini): completed; every slurm/*.sbatch parses"

# ---- single job: warning mid-sweep, continuation by resubmission ----------
t0=$(date +%s.%N)
id=$(RESTART_MODE=resubmit MAX_RESTARTS=2 sbatch --parsable -n 2 -o "$T/single-%j.out" \
    slurm/overparam.sbatch "$JOB" "$T/single.h5") || fail "sbatch slurm/overparam.sbatch"
slurm_log "submitted slurm/overparam.sbatch as job $id (sbatch -n 2, RESTART_MODE=resubmit)"
got=$(wait_records "$T/single.h5.journal" $(( N_RUNS / 4 )) 120 "$id")
[ "$got" -lt "$N_RUNS" ] || fail "job $id finished before the warning could be sent ($got records)"
timeout 30 scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1 $id"
slurm_log "walltime warning (USR1) sent to job $id with $got/$N_RUNS runs in the journal"
st=$(slurm_wait_job "$id" 120) || fail "job $id: $st"
out1=$T/single-$id.out
grep -q "overparam exited with 3" "$out1" || fail "job $id did not stop with exit 3"
next=$(sed -n 's/.*submitted continuation \([0-9]*\).*/\1/p' "$out1")
[ -n "$next" ] || fail "job $id submitted no continuation"
first_done=$(sed -n 's/.*\] [^ ]*: \([0-9]*\) runs done (0 resumed).*stopped early.*/\1/p' "$out1" | head -n1)
[ -n "$first_done" ] && [ "$first_done" -gt 0 ] && [ "$first_done" -lt "$N_RUNS" ] ||
    fail "job $id: stopped with '$first_done' runs done, want 0 < done < $N_RUNS"
slurm_log "job $id stopped (exit 3) after $first_done runs; continuation $next"
st=$(slurm_wait_job "$next" 180) || fail "continuation $next: $st"
[ "$st" = COMPLETED ] || fail "continuation $next ended $st"
out2=$T/single-$next.out
[ -f "$out2" ] || out2=$out1   # --open-mode=append may share the file
grep -q "start 2 of" "$out2" || fail "continuation $next did not count the restart"
grep -q "finished runs kept" "$out2" || fail "continuation $next did not resume"
grep -q ": $N_RUNS runs done ($first_done resumed)" "$out2" ||
    fail "continuation $next: want '$N_RUNS runs done ($first_done resumed)': $(grep 'runs done' "$out2" | tail -n1)"
"$B" compare "$T/ref.h5" "$T/single.h5" > "$T/compare-single.txt" ||
    { cat "$T/compare-single.txt"; fail "interrupted+resumed archive differs from the reference"; }
[ "$(records "$T/single.h5.journal")" = "$N_RUNS" ] ||
    fail "journal holds $(records "$T/single.h5.journal") records, want $N_RUNS (a run ran twice?)"
pass "overparam.sbatch: USR1 at $first_done/$N_RUNS runs, exit 3, continuation $next resumed $first_done runs and ran $((N_RUNS - first_done)); archive identical to the reference ($(tail -n1 "$T/compare-single.txt")); journal $N_RUNS records; $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

# ---- job array + merge: task 0 warned and requeued ----------------------
t0=$(date +%s.%N)
ids=$(LAUNCHER=mpirun MERGE_OPTS="-o $T/merge-%j.out" sh slurm/submit-array.sh "$JOB" "$T/arr.h5" 4 \
    -n 2 -o "$T/arr-%A_%a.out") || fail "slurm/submit-array.sh"
arr=${ids% *}; mrg=${ids#* }
slurm_log "submitted array $arr (4 tasks, sbatch -n 2, LAUNCHER=mpirun) and merge $mrg (afterok)"
per_task=$(( N_RUNS / 4 ))
got=$(wait_records "$T/arr.task0.h5.journal" $(( per_task / 3 > 0 ? per_task / 3 : 1 )) 120 "${arr}_0")
[ "$got" -lt "$per_task" ] || fail "task 0 finished before the warning could be sent"
# Slurm 22.05 delivers the signal to an array task's batch shell but
# answers "Job can not be altered now", and scancel then retries every few
# seconds for minutes: cut it short and check the delivery in the log.
tid=$(slurm_job_field "${arr}_0" JobId)
timeout 3 scancel --batch --signal=USR1 "$tid" 2>/dev/null
t=100
until grep -q "walltime warning (USR1)" "$T/arr-${arr}_0.out" 2>/dev/null; do
    [ $t -gt 0 ] || fail "USR1 to task ${arr}_0 (job $tid) not delivered in 10 s"
    sleep 0.1; t=$((t - 1))
done
slurm_log "walltime warning sent to task ${arr}_0 (job $tid) with $got runs in its journal"
# The requeued task is held by Slurm for about 2 minutes (BeginTime); the
# test makes it eligible at once.
t=600
while [ $t -gt 0 ]; do
    st=$(slurm_job_field "${arr}_0" JobState); rs=$(slurm_job_field "${arr}_0" Restarts)
    [ "$st" = PENDING ] && [ "${rs:-0}" -ge 1 ] && break
    case "$st" in COMPLETED|FAILED|CANCELLED|TIMEOUT) break ;; esac
    sleep 0.1; t=$((t - 1))
done
[ "$st" = PENDING ] && [ "${rs:-0}" -ge 1 ] || fail "task ${arr}_0 was not requeued (state $st, restarts ${rs:-0})"
scontrol update JobId="${arr}_0" StartTime=now || fail "releasing the requeued task"
slurm_log "task ${arr}_0 requeued (Restarts=$rs), released from its BeginTime hold"
st=$(slurm_wait_job "$mrg" 240) || fail "merge job $mrg: $st"
[ "$st" = COMPLETED ] || fail "merge job $mrg ended $st"
for i in 0 1 2 3; do
    [ "$(slurm_job_field "${arr}_$i" JobState)" = COMPLETED ] || fail "array task ${arr}_$i: $(slurm_job_field "${arr}_$i" JobState)"
done
grep -q "finished runs kept" "$T/arr-${arr}_0.out" || fail "requeued task 0 did not resume"
grep -q "start 2 of" "$T/arr-${arr}_0.out" || fail "requeued task 0 did not count the restart"
"$B" compare "$T/ref.h5" "$T/arr.h5" > "$T/compare-array.txt" ||
    { cat "$T/compare-array.txt"; fail "merged archive differs from the reference"; }
total=0
for i in 0 1 2 3; do total=$(( total + $(records "$T/arr.task$i.h5.journal") )); done
[ "$total" = "$N_RUNS" ] || fail "task journals hold $total records, want $N_RUNS"
pass "array (4 tasks, mpirun) + merge: task 0 warned at $got runs, requeued and resumed; merged archive identical to the reference ($(tail -n1 "$T/compare-array.txt")); task journals $total records; $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

echo
echo "slurm-test summary ($JOB, $N_RUNS runs, reference ${T_REF}s):$PASSED"
