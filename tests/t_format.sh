#!/bin/sh
# t_format.sh — the archive describes itself and every reader checks its
# format_version: an engine-produced archive carries schema.h's attributes
# (roles, units, dims, axis labels), and once its format_version is
# rewritten (an older or a newer format) info, compare, merge, --resume and
# analysis.loader refuse it with exit 2 (a Python exception for the
# loader) naming the file, the version found and the version supported,
# leaving it untouched.
set -u
. tests/lib.sh
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
JOB=tests/jobs/tiny.ini
$PY -c 'import h5py, pandas' 2>/dev/null || { echo "SKIP t_format: python3-h5py/pandas missing"; exit 0; }
supported=$(sed -n 's/^#define OP_FORMAT_VERSION \([0-9]*\).*/\1/p' include/overparam/schema.h)
[ -n "$supported" ] || { failed "OP_FORMAT_VERSION not found in include/overparam/schema.h"; finish t_format; exit 1; }

check "engine archive" 0 $MPIRUN -np 2 $B run $JOB -o "$T/a.h5" --quiet
check "info reads it" 0 $B info "$T/a.h5"
has "  ... format $supported" "format $supported"

# The file describes itself, from schema.h (not from a reader's guess).
if $PY - "$T/a.h5" "$supported" <<'PYEOF'
import sys, h5py, numpy as np
s = lambda v: [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(v)]
with h5py.File(sys.argv[1], "r") as f:
    assert int(f.attrs["format_version"]) == int(sys.argv[2])
    r = f["runs"]
    names = list(r.dtype.names)
    roles = dict(zip(names, s(r.attrs["column_roles"])))
    assert len(s(r.attrs["column_roles"])) == len(names) == len(s(r.attrs["column_units"]))
    assert roles["run"] == "id" and roles["status"] == "status" and roles["seconds"] == "timing"
    assert roles["seed"] == "replicate" and roles["width"] == "config", roles
    miss = dict(zip(names, np.asarray(r.attrs["column_missing"], float)))
    assert miss["fit_epoch"] == -1 and np.isnan(miss["test_acc"])
    assert s(r.attrs["status_labels"]) == ["pending", "done", "diverged", "failed"]
    axes = dict(zip(names, s(r.attrs["column_axes"])))
    assert axes["width"] == "width" and axes["init_scale"] == "", axes
    assert s(f["curves/epoch"].attrs["dims"]) == ["run", "epoch"]
    assert f["curves/test_loss"].attrs["role"] in (b"curve", "curve")
    assert "labels" not in f["grid/width"].attrs   # numbers have no labels
    assert s(f["grid/lr"].attrs["key"]) == ["train.lr"]
PYEOF
then pass "/runs, /curves and /grid carry the schema's attributes"
else failed "schema attributes missing or wrong"; fi

# The loader reads the version the engine writes.
if $PY - "$T/a.h5" "$supported" <<'PYEOF'
import sys
from analysis import loader, open_archive
assert loader.FORMAT_VERSION == int(sys.argv[2]), (loader.FORMAT_VERSION, sys.argv[2])
a = open_archive(sys.argv[1])
assert len(a.runs) == 24 and str(a.runs["status"].dtype) == "category"
PYEOF
then pass "loader.FORMAT_VERSION = OP_FORMAT_VERSION, reads the archive"
else failed "loader version or read"; fi

check "array task 0/2" 0 $MPIRUN -np 2 $B run $JOB -o "$T/t0.h5" --array 0/2 --quiet
for v in 1 99; do
    cp "$T/a.h5" "$T/v$v.h5"
    $PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); f.attrs['format_version'] = int(sys.argv[2]); f.close()" "$T/v$v.h5" "$v"
    sum=$(md5sum < "$T/v$v.h5")
    want="v$v.h5: archive format version $v, this program reads version $supported only"
    check "info refuses format $v" 2 $B info "$T/v$v.h5"
    has "  ... naming file, found and supported version" "$want"
    check "compare refuses format $v" 2 $B compare "$T/a.h5" "$T/v$v.h5"
    has "  ... naming it" "$want"
    check "merge refuses format $v" 2 $B merge "$T/m$v.h5" "$T/t0.h5" "$T/v$v.h5"
    has "  ... naming it" "$want"
    [ ! -e "$T/m$v.h5" ] && pass "no merge output written" || failed "merge output written"
    check "resume refuses format $v" 2 $MPIRUN -np 1 $B run $JOB -o "$T/v$v.h5" --resume --quiet
    has "  ... naming it" "$want"
    [ "$(md5sum < "$T/v$v.h5")" = "$sum" ] && pass "archive untouched" || failed "archive modified"
    check "loader refuses format $v" 0 $PY - "$T/v$v.h5" "$v" "$supported" <<'PYEOF'
import sys
from analysis import open_archive
from analysis.loader import ArchiveVersionError
try:
    open_archive(sys.argv[1])
except ArchiveVersionError as e:
    msg = str(e)
    print(msg)
    want = f"{sys.argv[1]}: archive format version {sys.argv[2]}, this loader reads version {sys.argv[3]} only"
    sys.exit(0 if msg.startswith(want) else 1)
sys.exit(1)
PYEOF
done
finish t_format
