#!/bin/sh
# t_signatures.sh — each job file's phenomenon, checked by the one signature
# engine (analysis/signatures.py) on an archive the engine produces now.
# Jobs that take under a minute on 2 cores run at their default and must
# give `holds: yes`; double_descent_rf and finite_vs_infinite (minutes) run
# as the cheap variant of tests/small_job.sh and must give a verdict
# (exit 0 or 1, never 2); OP_SIGNATURES_FULL=1 runs them at their default
# too. nngp_vs_ntk and zca, whose findings do not reproduce at their small
# defaults, and weight_decay_scaling, whose default holds by margins within
# the test set's noise (3 of 4 instances; another BLAS core may flip it),
# always run cheap and must give a verdict. Also: `overparam info` gives the loader's statistics (sample std over
# seeds, labels, never-fitted runs apart). jobs/README.md tables the
# signatures on 5 [job] seed values.
. tests/lib.sh
[ -x "$BUILD/overparam" ] || { echo "FAIL $BUILD/overparam not built"; exit 1; }
export OPENBLAS_NUM_THREADS=1

run() { # job.ini archive
    $MPIRUN -np 2 "$BUILD/overparam" run "$1" -o "$2" --force >"$2.log" 2>&1 </dev/null ||
        { tail -5 "$2.log"; return 1; }
}
# Some jobs run on the [job] seed whose failure a fix removed (issue 14):
# frequency_principle:4, where k = 1 and 3 tied at the 25-epoch logging step
# before t_k interpolated the crossing (measure.c; seed 2, where one late
# Adam spike reordered t_k before the running median, is in jobs/README.md);
# robustness:1, whose slope over 3 octave-spaced widths was -0.22 before
# the sqrt(2) grid in the fit window; double_descent:4, whose 0-1 error had
# no classical minimum left of a threshold at m = K before 7x7 inputs.
for spec in random_labels condensation frequency_principle:4 kernel_spectrum precision quick robustness:1 \
    random_labels_noise width_curve double_descent:4 double_descent_rf finite_vs_infinite \
    ensemble_centering learning_rate_l2 nngp_vs_ntk zca weight_decay_scaling; do
    job=${spec%%:*}
    seed=${spec#*:}
    [ "$seed" = "$spec" ] && seed=
    full=1
    case $job in double_descent_rf | finite_vs_infinite) [ "${OP_SIGNATURES_FULL:-0}" = 1 ] || full=0 ;; esac
    # Lee et al.'s findings 2 and 10 do not reproduce at the small
    # defaults, finding 5 only within noise (jobs/README.md): a verdict is
    # required, not a yes
    case $job in nngp_vs_ntk | zca | weight_decay_scaling) full=0 ;; esac
    if [ $full = 1 ]; then
        awk -v seed="$seed" '/^\[/ { sec = $0 }
            sec == "[job]" && $1 == "seed" && seed != "" { print "seed = " seed; next } { print }' \
            "jobs/$job.ini" >"$T/$job.ini"
    else sh tests/small_job.sh "jobs/$job.ini" >"$T/$job.ini"; fi
    run "$T/$job.ini" "$T/$job.h5" || { failed "engine run of $job"; continue; }
    $PY -m analysis.signatures "$T/$job.h5" >"$T/$job.sig" 2>&1
    rc=$?
    if [ $full = 1 ] && [ $rc = 0 ] && tail -1 "$T/$job.sig" | grep -qx "holds: yes"; then
        pass "$job: holds: yes"
    elif [ $full = 0 ] && [ $rc -le 1 ] && tail -1 "$T/$job.sig" | grep -q "^holds: "; then
        pass "$job (cheap variant): verdict given, $(tail -1 "$T/$job.sig")"
    else
        cat "$T/$job.sig"; failed "$job: signature (exit $rc)"
    fi
done

# The engine refuses an archive it cannot read and an unknown phenomenon.
$PY -m analysis.signatures "$T/none.h5" >/dev/null 2>&1
[ $? = 2 ] && pass "unreadable archive: exit 2" || failed "unreadable archive not exit 2"
$PY -m analysis.signatures "$T/quick.h5" no_such_thing >/dev/null 2>&1
[ $? = 2 ] && pass "unknown phenomenon: exit 2" || failed "unknown phenomenon not exit 2"

# overparam info: the loader's statistics, labels not codes.
if [ -f "$T/random_labels.h5" ] && "$BUILD/overparam" info "$T/random_labels.h5" >"$T/info" &&
    $PY - "$T/random_labels.h5" "$T/info" <<'PYEOF'
import sys
from analysis import open_archive
a = open_archive(sys.argv[1])
info = open(sys.argv[2]).read().splitlines()
g = a.runs.groupby("corruption", observed=True)["test_acc"].agg(["mean", "std"])
for c, row in g.iterrows():
    line = [l for l in info if l.split()[4:5] == [c]]
    assert line, f"no info line labelled {c}"
    want = f"{row['mean']:.4g}±{row['std']:.2g}"
    assert want in line[0], (want, line[0])
assert "unfit" in "\n".join(info)
PYEOF
then pass "info: sample std over seeds, axis labels"; else cat "$T/info"; failed "info statistics"; fi

finish t_signatures
