#!/bin/sh
# small_job.sh JOB.ini [SEED] > SMALL.ini — a cheap variant of a job file for
# tests: at most 40 epochs, n_train and n_test at most 300 ([kernel] n_val
# at most 75), every grid and
# signature key kept (so the report and analysis.signatures see the same
# axes and phenomena as the full job). SEED replaces [job] seed.
awk -v seed="$2" '
/^\[/ { sec = $0 }
{
    key = $1
    if (sec == "[train]" && key == "epochs" && $3 + 0 > 40) { print "epochs = 40"; next }
    if (sec == "[data]" && (key == "n_train" || key == "n_test") && $3 + 0 > 300) { print key " = 300"; next }
    if (sec == "[job]" && key == "seed" && seed != "") { print "seed = " seed; next }
    if (sec == "[kernel]" && key == "n_val" && $3 + 0 > 75) { print "n_val = 75"; next }
    print
}' "$1"
