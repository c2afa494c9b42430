#!/bin/sh
# overparam merge: the archives of the tasks of a job array (--array I/N)
# merge into one equal to an uninterrupted run's; bad inputs are refused
# with exit 2 naming the file.
set -u
. tests/lib.sh
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
JOB=tests/jobs/tiny.ini

check "reference run" 0 $MPIRUN -np 2 $B run $JOB -o "$T/ref.h5" --quiet
for i in 0 1 2; do
    check "array task $i/3" 0 $MPIRUN -np 2 $B run $JOB -o "$T/t$i.h5" --array $i/3 --quiet
done
check "a task archive alone differs from the reference" 1 $B compare "$T/ref.h5" "$T/t0.h5"
check "merge 3 tasks" 0 $B merge "$T/m.h5" "$T/t0.h5" "$T/t1.h5" "$T/t2.h5"
check "merged equals the reference" 0 $B compare "$T/ref.h5" "$T/m.h5"
check "merge refuses an existing output" 2 $B merge "$T/m.h5" "$T/t0.h5" "$T/t1.h5" "$T/t2.h5"
check "merge --force replaces it" 0 $B merge "$T/m.h5" "$T/t2.h5" "$T/t0.h5" "$T/t1.h5" --force
check "merged in another order equals the reference" 0 $B compare "$T/ref.h5" "$T/m.h5"
check "a run done in two inputs with the same numbers" 0 $B merge "$T/d.h5" "$T/t0.h5" "$T/ref.h5"
has "  ... is reported" "identical"
check "two of three tasks: merged" 0 $B merge "$T/p.h5" "$T/t0.h5" "$T/t1.h5"
has "  ... with the pending runs reported" "still pending"
check "  ... and differs from the reference" 1 $B compare "$T/ref.h5" "$T/p.h5"
check "resume of the partial merge finishes it" 0 $MPIRUN -np 2 $B run $JOB -o "$T/p.h5" --resume --quiet
check "  ... equal to the reference" 0 $B compare "$T/ref.h5" "$T/p.h5"
sed 's/^seed = 7$/seed = 8/' $JOB > "$T/other.ini"
check "another job's archive" 0 $MPIRUN -np 2 $B run "$T/other.ini" -o "$T/other.h5" --quiet
check "merge refuses another job's archive" 2 $B merge "$T/x.h5" "$T/t0.h5" "$T/other.h5"
has "  ... naming it" "other.h5.*job_text"
[ ! -e "$T/x.h5" ] && echo "ok   no output written" || { echo "FAIL output written"; fails=$((fails + 1)); }
echo "not hdf5" > "$T/junk.h5"
check "merge refuses a non-HDF5 file" 2 $B merge "$T/x.h5" "$T/t0.h5" "$T/junk.h5"
has "  ... naming it" "junk.h5"
check "merge refuses a missing file" 2 $B merge "$T/x.h5" "$T/t0.h5" "$T/none.h5"
check "merge refuses the output as an input" 2 $B merge "$T/t0.h5" "$T/t0.h5" "$T/t1.h5"
check "merge without inputs: usage" 2 $B merge "$T/x.h5"
K=tests/jobs/kernel.ini
check "kernel job: reference" 0 $MPIRUN -np 2 $B run $K -o "$T/kref.h5" --quiet
check "kernel job: task 0/2" 0 $MPIRUN -np 2 $B run $K -o "$T/k0.h5" --array 0/2 --quiet
check "kernel job: task 1/2" 0 $MPIRUN -np 2 $B run $K -o "$T/k1.h5" --array 1/2 --quiet
check "kernel job: merge" 0 $B merge "$T/km.h5" "$T/k0.h5" "$T/k1.h5"
has "  ... copies the kernels" "kernel groups copied"
check "  ... equal to the reference, kernels included" 0 $B compare "$T/kref.h5" "$T/km.h5"
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
    cp "$T/t0.h5" "$T/bad.h5"
    /usr/bin/python3 - "$T/bad.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    runs = f["runs"][:]
    i = int((runs["status"] == 1).nonzero()[0][0])
    runs["test_loss"][i] += 1.0
    f["runs"][i] = runs[i]
PY
    check "a run done twice with different numbers" 2 $B merge "$T/x.h5" "$T/t0.h5" "$T/bad.h5"
    has "  ... naming both files" "bad.h5.*different numbers"
    [ ! -e "$T/x.h5" ] && echo "ok   no half-merged output left" || { echo "FAIL half-merged output left"; fails=$((fails + 1)); }
else
    echo "skip different-numbers case (python3-h5py missing)"
fi
finish t_merge
