"""h5stats.py A.h5 COSTS — from a sweep's archive: per-run seconds and
parameter count (the scheduler's cost estimate; one run per line into COSTS), their sum/max per rank, file size and the raw bytes of
every dataset it holds (elements x element size)."""
import os
import sys

import h5py

path, costs = sys.argv[1], sys.argv[2]
raw = 0


def visit(name, obj):
    global raw
    if isinstance(obj, h5py.Dataset):
        raw += obj.size * obj.dtype.itemsize


with h5py.File(path, "r") as f:
    r = f["runs"][:]
    f.visititems(visit)
s = r["seconds"]
with open(costs, "w") as out:
    out.write("\n".join("%.9g %d" % (v, q) for v, q in zip(s, r["n_params"])) + "\n")
print("runs", len(r))
print("done", int((r["status"] == 1).sum()))
print("sum_seconds %.6g" % s.sum())
print("max_seconds %.6g" % s.max())
for k in sorted(set(r["rank"].tolist())):
    m = r["rank"] == k
    print("rank_seconds %d %.6g %d" % (k, s[m].sum(), m.sum()))
print("file_bytes", os.path.getsize(path))
print("raw_bytes", raw)
j = path + ".journal"
print("journal_bytes", os.path.getsize(j) if os.path.exists(j) else 0)
