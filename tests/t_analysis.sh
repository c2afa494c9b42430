#!/bin/sh
# t_analysis.sh — the analysis report: fixture archives (and a real one when
# $BUILD/overparam exists) -> report; checks figures (PNG + SVG valid),
# Markdown numbers against the archive, missing experiments leave their
# sections out, and the HTML renders in headless Chromium (SKIP if absent).
PY=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

$PY -c 'import h5py, numpy, matplotlib' 2>/dev/null || {
    sh tests/deps.sh python3-h5py python3-numpy python3-matplotlib || { echo "FAIL python deps"; exit 1; }; }

$PY analysis/tests_fixture.py "$T/fx" >/dev/null || { echo "FAIL fixture generation"; exit 1; }

report() { # archive dir
    $PY -m analysis.report "$1" -o "$2" --strict >"$T/log" 2>&1 || { cat "$T/log"; return 1; }
}
check() { # name figures sections absent
    if report "$T/fx/$1.h5" "$T/r_$1" &&
        $PY analysis/check_report.py "$T/fx/$1.h5" "$T/r_$1" --figures "$2" --sections "$3" --absent "$4"; then
        ok "report of fixture $1"
    else bad "report of fixture $1"; fi
}
ALL=overview_curves,double_descent,width_limit,memorization,robustness,frequency,condensation_directions,condensation_phase,lazy,kernel_spectra,kernel_regularization
check full "$ALL" overview,double_descent,width_limit,memorization,robustness,frequency,condensation,lazy,kernels ""
check quick overview_curves,double_descent overview,double_descent width_limit,memorization,robustness,frequency,condensation,lazy,kernels
check dd double_descent,width_limit,kernel_spectra,kernel_regularization double_descent,width_limit,kernels robustness,frequency,condensation,lazy
check memo memorization overview,memorization double_descent,width_limit,robustness,frequency,condensation,lazy,kernels
check measures robustness,frequency,condensation_phase,lazy robustness,frequency,condensation,lazy memorization,kernels,width_limit

# The checker itself must catch a wrong number.
cp -r "$T/r_quick" "$T/r_bad"
sed 's/^| done | \([0-9]*\) |/| done | 999 |/' "$T/r_quick/report.md" >"$T/r_bad/report.md"
if $PY analysis/check_report.py "$T/fx/quick.h5" "$T/r_bad" >/dev/null 2>&1; then
    bad "checker accepted a wrong status count"; else ok "checker rejects a wrong number"; fi

# Signatures hold on the fixtures built to show them.
if $PY - "$T/r_full/report.json" <<'PYEOF'
import json, sys
s = {g["phenomenon"]: g["holds"] for g in json.load(open(sys.argv[1]))["signatures"]}
want = ["double descent", "memorization: fit", "memorization: epochs to fit", "robustness",
        "frequency principle", "condensation", "lazy training", "kernel spectrum power law"]
bad = [w for w in want if s.get(w) is not True]
print("signatures not holding:", bad) if bad else None
sys.exit(1 if bad else 0)
PYEOF
then ok "signatures hold on the full fixture"; else bad "signatures on the full fixture"; fi

# An archive without /measures, /kernels or curves still gives a report.
$PY - "$T/fx/quick.h5" "$T/bare.h5" <<'PYEOF'
import h5py, sys
with h5py.File(sys.argv[1]) as a, h5py.File(sys.argv[2], "w") as b:
    for k, v in a.attrs.items(): b.attrs[k] = v
    a.copy("runs", b); a.copy("grid", b)
PYEOF
if report "$T/bare.h5" "$T/r_bare" && $PY analysis/check_report.py "$T/bare.h5" "$T/r_bare" --sections overview; then
    ok "report of an archive with runs only"; else bad "report of an archive with runs only"; fi

# A real archive from the engine, when it is built.
if [ -x "$BUILD/overparam" ]; then
    if $MPIRUN -np 2 "$BUILD/overparam" run tests/jobs/tiny.ini -o "$T/tiny.h5" >"$T/run.log" 2>&1 ||
        [ -f "$T/tiny.h5" ]; then
        if report "$T/tiny.h5" "$T/r_tiny" &&
            $PY analysis/check_report.py "$T/tiny.h5" "$T/r_tiny" --figures overview_curves --sections overview; then
            ok "report of a real archive (tests/jobs/tiny.ini)"; else bad "report of a real archive"; fi
    else
        tail -5 "$T/run.log"; echo "SKIP real archive: the engine run failed"
    fi
else
    echo "SKIP real archive: $BUILD/overparam not built"
fi

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
        "file://$T/r_full/report.html" >"$T/chromium.log" 2>&1
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
    then ok "HTML renders in headless Chromium"; else tail -3 "$T/chromium.log"; bad "HTML screenshot blank or missing"; fi
else
    echo "SKIP HTML rendering: chromium not available"
fi

[ "$fail" = 0 ] && echo "t_analysis: all passed"
exit $fail
