#!/bin/sh
# t_analysis.sh — the analysis report on archives the engine produces for a
# cheap variant of every job file: sections and figures the job calls for,
# figures valid (PNG + SVG), Markdown numbers against the archive, verdicts
# equal to analysis.signatures, the loader, and the HTML renders in headless
# Chromium (SKIP if absent).
. tests/lib.sh

$PY -c 'import h5py, numpy, matplotlib, pandas, xarray' 2>/dev/null || {
    sh tests/deps.sh python3-h5py python3-numpy python3-matplotlib python3-pandas python3-xarray || { echo "FAIL python deps"; exit 1; }; }

report() { # archive dir
    $PY -m analysis.report "$1" -o "$2" --strict >"$T/log" 2>&1 || { cat "$T/log"; return 1; }
}
[ -x "$BUILD/overparam" ] || { echo "FAIL $BUILD/overparam not built (make all)"; exit 1; }

# Every job file, as a cheap variant (tests/small_job.sh), run by the engine
# itself: the report must hold each section and figure the job's contents
# call for, drawn from that archive (no invented fixtures).
#   job | sections | figures
cat >"$T/expect" <<'EOF2'
quick overview,width_limit,kernels overview_curves,width_limit,kernel_spectra,kernel_regularization
width_curve overview,width_limit,kernels overview_curves,width_limit,kernel_spectra,kernel_regularization
random_labels overview,memorization overview_curves,memorization
random_labels_noise overview,memorization overview_curves,memorization
double_descent overview,double_descent overview_curves,double_descent
double_descent_rf overview,double_descent overview_curves,double_descent
robustness overview,robustness overview_curves,robustness
frequency_principle overview,frequency overview_curves,frequency
condensation overview,condensation overview_curves,condensation_directions,condensation_phase
kernel_spectrum kernels kernel_spectra,kernel_regularization
precision kernels,curves kernel_regularization,kernel_precision,kernel_learning_curves
finite_vs_infinite overview,width_limit,kernels overview_curves,width_limit,kernel_spectra,kernel_regularization
EOF2
while read -r job sections figures; do
    sh tests/small_job.sh "jobs/$job.ini" >"$T/$job.ini"
    if ! OPENBLAS_NUM_THREADS=1 $MPIRUN -np 2 "$BUILD/overparam" run "$T/$job.ini" -o "$T/$job.h5" --force \
        >"$T/run_$job.log" 2>&1 </dev/null; then
        tail -5 "$T/run_$job.log"; failed "engine run of the small $job"; continue
    fi
    if report "$T/$job.h5" "$T/r_$job" </dev/null &&
        $PY analysis/check_report.py "$T/$job.h5" "$T/r_$job" --figures "$figures" \
            --sections "verdicts,$sections"; then
        pass "report of the engine's small $job"
    else failed "report of the engine's small $job"; fi
    # The report's verdicts are analysis.signatures' (one definition).
    $PY -m analysis.signatures "$T/$job.h5" >"$T/sig_$job.log" 2>&1 </dev/null
    rc=$?
    if $PY - "$T/r_$job/report.json" "$rc" "$job" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
job = {"quick": "width_limit", "width_curve": "width_limit"}.get(sys.argv[3], sys.argv[3])
rows = [g for g in d["signatures"] if g["phenomenon"] == job and g["holds"] is not None]
others = [g for g in d["signatures"] if g["holds"] is not None and not g["phenomenon"].startswith(job)]
want = sys.argv[2] == "0"
sys.exit(0 if len(rows) == 1 and rows[0]["holds"] == want and not others else 1)
PYEOF
    then pass "report verdict = analysis.signatures exit $rc ($job), no verdict for undeclared phenomena"
    else failed "report verdict differs from analysis.signatures ($job)"; fi
done <"$T/expect"

# The checker itself must catch a wrong number.
cp -r "$T/r_quick" "$T/r_bad"
sed 's/^| done | \([0-9]*\) |/| done | 999 |/' "$T/r_quick/report.md" >"$T/r_bad/report.md"
if $PY analysis/check_report.py "$T/quick.h5" "$T/r_bad" >/dev/null 2>&1; then
    failed "checker accepted a wrong status count"; else pass "checker rejects a wrong number"; fi

# The loader on an engine archive: named axes as labels, fit_epoch NaN when
# never fitted, kernels by the names the engine writes, an xarray Dataset.
if $PY - "$T/random_labels.h5" "$T/quick.h5" "$T/kernel_spectrum.h5" <<'PYEOF'
import sys
import numpy as np
from analysis import open_archive
a = open_archive(sys.argv[1])
assert set(a.runs["corruption"].cat.categories) >= {"none", "random_labels", "gaussian"}, a.runs["corruption"]
assert str(a.runs["status"].dtype) == "category"
assert "lr" in a.runs and "activation" in a.runs, "every configuration key is a column"
q = open_archive(sys.argv[2])
assert {"ridge", "time"} <= set(q.kernels["by"]) and q.kernels["test_mse"].notna().all()
assert len(q.spectra) > 0
ds = q.dataset()
assert "epoch" in ds.dims and "width" in ds.dims and "seed" in ds.dims, ds
k = open_archive(sys.argv[3])
assert len(k.runs) == 0, "kernel-only placeholder run hidden"
assert len(k.kernels) > 0
PYEOF
then pass "loader on engine archives"; else failed "loader on engine archives"; fi

# The archive carries its own key table: a notebook with no overparam binary
# in reach (analysis/ copied elsewhere, OVERPARAM and PATH pointing nowhere)
# still gets every configuration key as a column, defaults included.
mkdir -p "$T/pkg" && cp -r analysis "$T/pkg/"
if (cd "$T" && env -u BUILD PATH=/usr/bin:/bin OVERPARAM=/nonexistent PYTHONPATH="$T/pkg" $PY - "$T/random_labels.h5" <<'PYEOF'
import sys
from analysis import loader, open_archive
a = open_archive(sys.argv[1])
assert loader.job_keys() == [], "an overparam binary was in reach: the test proves nothing"
assert len(a.keys) > 50, a.keys
assert {"n_train", "lr", "momentum", "zca", "sigma_b2"} <= set(a.runs.columns), sorted(a.runs.columns)
PYEOF
); then pass "loader without a binary: the archive's job_keys give every key"; else failed "loader needs the binary for the job's keys"; fi

# An archive without /measures, /kernels or curves still gives a report.
$PY - "$T/quick.h5" "$T/bare.h5" <<'PYEOF'
import h5py, sys
with h5py.File(sys.argv[1]) as a, h5py.File(sys.argv[2], "w") as b:
    for k, v in a.attrs.items(): b.attrs[k] = v
    a.copy("runs", b); a.copy("grid", b)
PYEOF
if report "$T/bare.h5" "$T/r_bare" && $PY analysis/check_report.py "$T/bare.h5" "$T/r_bare" --sections overview; then
    pass "report of an archive with runs only"; else failed "report of an archive with runs only"; fi

# One reader: analysis/loader.py opens the archive; the report's sections
# get their arrays from it (analysis/opa/archive.py), never from HDF5.
readers=$(grep -l 'h5py' analysis/opa/*.py analysis/signatures.py 2>/dev/null)
[ -z "$readers" ] && pass "one reader: no HDF5 access outside analysis/loader.py" ||
    failed "a second reader of the archive: $readers"
# The kernel-only placeholder run is no result: the report's status table
# and grouped runs show none (as analysis.loader and overparam info).
if [ -f "$T/r_kernel_spectrum/report.md" ] &&
    grep -A6 '^### Status counts' "$T/r_kernel_spectrum/report.md" | grep -q '| done | 0 |'; then
    pass "kernel-only placeholder run hidden in the report"; else failed "kernel-only placeholder run shown in the report"; fi

# The HTML page renders in headless Chromium with its figures.
CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROMIUM" ] && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }
    CHROMIUM=$(command -v chromium)
fi
if [ -n "$CHROMIUM" ]; then
    UD=$(mktemp -d)
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$UD" --screenshot="$T/shot.png" --window-size=1200,2000 \
        "file://$T/r_quick/report.html" >"$T/chromium.log" 2>&1
    rm -rf "$UD"
    if [ -f "$T/shot.png" ] && $PY - "$T/shot.png" <<'PYEOF'
import sys
import matplotlib; matplotlib.use("Agg")
import matplotlib.image as mpimg, numpy as np
im = mpimg.imread(sys.argv[1])[..., :3]
q = np.round(im.reshape(-1, 3) * 255).astype(int)
colors = len(np.unique(q[:, 0] * 65536 + q[:, 1] * 256 + q[:, 2]))
nonwhite = float(np.mean(q.sum(axis=1) < 700))
print(f"screenshot: {colors} distinct colors, {nonwhite:.1%} non-white pixels")
sys.exit(0 if colors > 50 and nonwhite > 0.02 else 1)
PYEOF
    then pass "HTML renders in headless Chromium"; else tail -3 "$T/chromium.log"; failed "HTML screenshot blank or missing"; fi
else
    echo "SKIP HTML rendering: chromium not available"
fi

finish t_analysis
