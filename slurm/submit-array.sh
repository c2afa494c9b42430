#!/bin/sh
# submit-array.sh JOB ARCHIVE N [sbatch options...] — submits JOB as a
# job array of N tasks (slurm/overparam-array.sbatch) and the merge of
# their archives into ARCHIVE (slurm/merge.sbatch), which starts once every
# task has finished successfully (afterok on the array: requeued tasks are
# waited for too). Prints "ARRAY_ID MERGE_ID". Run from the repository root.
# The sbatch options go to the array; MERGE_OPTS (e.g. "-o merge.out") to
# the merge job.
set -e
[ $# -ge 3 ] || { echo "usage: sh slurm/submit-array.sh JOB ARCHIVE N [sbatch options...]" >&2; exit 2; }
job=$1 archive=$2 n=$3
shift 3
dir=$(dirname "$0")
array=$(sbatch --parsable --array="0-$((n - 1))" "$@" "$dir/overparam-array.sbatch" "$job" "$archive")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" ${MERGE_OPTS:-} "$dir/merge.sbatch" "$archive" "$n")
merge=${merge%%;*}
echo "$array $merge"
