#!/bin/sh
# The Slurm scripts without Slurm (make slurm-test runs them under a real
# one): a stand-in srun records how it was called. The site hook is
# sourced, --mpi comes from the site (none given) unless OVERPARAM_MPI
# names a plugin, SRUN_CPUS_PER_TASK follows --cpus-per-task, and a missing
# OVERPARAM_SITE_ENV file is refused.
. tests/lib.sh
B=$(cd "$(dirname "$B")" && pwd)/overparam
command -v bash >/dev/null || { echo "t_slurm_scripts: no bash, skipped"; exit 0; }
for f in slurm/*.sbatch slurm/*.sh; do
    bash -n "$f" || { echo "FAIL: $f: syntax"; fails=$((fails + 1)); }
done
# Every generated script carries the site placeholders.
for f in slurm/*.sbatch; do
    grep -q '^##SBATCH --account=' "$f" || { echo "FAIL: $f lacks the --account placeholder"; fails=$((fails + 1)); }
done
mkdir "$T/bin"
cat > "$T/bin/srun" <<'SH'
#!/bin/sh
# stand-in srun: record the call, then run the program (one rank)
{ echo "args: $*"; echo "SRUN_CPUS_PER_TASK=${SRUN_CPUS_PER_TASK:-unset}"
  echo "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}"; echo "SITE_MARK=${SITE_MARK:-unset}"; } >> "$SRUN_LOG"
while [ $# -gt 0 ]; do
    case $1 in -n) shift 2 ;; -*) shift ;; *) break ;; esac
done
exec "$@"
SH
chmod +x "$T/bin/srun"
echo 'export SITE_MARK=loaded' > "$T/site.sh"
run_sbatch() { # log-name, then env assignments
    name=$1; shift
    env -u SLURM_JOB_ID -u SLURM_NTASKS -u SLURM_ARRAY_TASK_ID -u SLURM_MPI_TYPE \
        PATH="$T/bin:$PATH" SRUN_LOG="$T/$name.log" OVERPARAM="$B" "$@" \
        bash slurm/overparam.sbatch tests/jobs/tiny.ini "$T/$name.h5" >"$T/$name.out" 2>&1
}
run_sbatch site SLURM_CPUS_PER_TASK=3 OVERPARAM_SITE_ENV="$T/site.sh"
rc=$?
cat "$T/site.log"
[ $rc -eq 0 ] && [ -f "$T/site.h5" ] || { echo "FAIL: overparam.sbatch exit $rc"; cat "$T/site.out"; fails=$((fails + 1)); }
grep -q "^args: .*overparam run" "$T/site.log" && ! grep -q -- "--mpi" "$T/site.log" || { echo "FAIL: srun given an --mpi the site did not ask for"; fails=$((fails + 1)); }
grep -q "SRUN_CPUS_PER_TASK=3" "$T/site.log" || { echo "FAIL: SRUN_CPUS_PER_TASK not exported"; fails=$((fails + 1)); }
grep -q "OPENBLAS_NUM_THREADS=3" "$T/site.log" || { echo "FAIL: OPENBLAS_NUM_THREADS not 3"; fails=$((fails + 1)); }
grep -q "SITE_MARK=loaded" "$T/site.log" || { echo "FAIL: site hook not sourced"; fails=$((fails + 1)); }
grep -q "sourcing $T/site.sh" "$T/site.out" || { echo "FAIL: site hook not logged"; fails=$((fails + 1)); }
run_sbatch mpi OVERPARAM_MPI=pmi2
grep -q -- "^args: --mpi=pmi2 " "$T/mpi.log" || { echo "FAIL: OVERPARAM_MPI not passed as --mpi"; cat "$T/mpi.log"; fails=$((fails + 1)); }
grep -q "SRUN_CPUS_PER_TASK=unset" "$T/mpi.log" || { echo "FAIL: SRUN_CPUS_PER_TASK set without --cpus-per-task"; fails=$((fails + 1)); }
run_sbatch nosite OVERPARAM_SITE_ENV="$T/missing.sh"; rc=$?
{ [ $rc -eq 2 ] && grep -q "missing.sh: no such file" "$T/nosite.out"; } || { echo "FAIL: missing site file: exit $rc"; fails=$((fails + 1)); }
[ ! -e "$T/nosite.h5" ] || { echo "FAIL: archive written without the site environment"; fails=$((fails + 1)); }
# merge.sbatch: the same srun, no --mpi unless asked.
$B run tests/jobs/tiny.ini -q -o "$T/m.task0.h5" --array 0/2 2>/dev/null
$B run tests/jobs/tiny.ini -q -o "$T/m.task1.h5" --array 1/2 2>/dev/null
env PATH="$T/bin:$PATH" SRUN_LOG="$T/merge.log" OVERPARAM="$B" bash slurm/merge.sbatch "$T/m.h5" 2 >"$T/merge.out" 2>&1 ||
    { echo "FAIL: merge.sbatch"; cat "$T/merge.out"; fails=$((fails + 1)); }
grep -q "^args: -n 1 .*merge" "$T/merge.log" || { echo "FAIL: merge srun call"; cat "$T/merge.log"; fails=$((fails + 1)); }
finish t_slurm_scripts
