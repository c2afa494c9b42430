"""report.py RAW SCHED.h5 RESULTS.md — turns bench/run.sh's raw lines into
the table (stdout) and bench/RESULTS.md (table + machine info + commands).
Every row is a ratio of two quantities measured in the same `make bench`."""
import datetime, os, subprocess, sys
import h5py
import numpy as np

raw, h5path, md = sys.argv[1:4]
lines = [l.split() for l in open(raw) if l.strip()]
cmds = [" ".join(l[1:]) for l in lines if l[0] == "cmd"]
rows = []  # (row, ours, ref, ratio, target, ok, notes)


def row(name, ours, ref, ratio, target, ok, notes=""):
    rows.append((name, ours, ref, "%.2f" % ratio, target,
                 "pass" if ok else "MISS", notes))


corename, threads = "?", "?"
for l in lines:
    if l[0] == "openblas":
        corename, threads = l[1], l[2]
    elif l[0] == "train":
        p, m, steps = int(l[1]), int(l[2]), int(l[3])
        fl, to, tr = float(l[4]), float(l[5]), float(l[6])
        r = tr / to
        row("1. train step f%d m=%d" % (32 if p == 4 else 64, m),
            "%.1f GF/s" % (fl / to / 1e9), "%.1f GF/s (%sgemm)" %
            (fl / tr / 1e9, "s" if p == 4 else "d"), r, ">= 0.9", r >= 0.9,
            "%.2f GFLOP/step, median of %d steps" % (fl / 1e9, steps))
kern = [l for l in lines if l[0] == "kernel"][0]
n = int(kern[1])
t_nngp, t_ntk, t_gemm = map(float, kern[2:5])
t_ours = t_nngp + t_ntk
r = t_ours / t_gemm
row("2. NNGP+NTK build, 1 rank, n=%d" % n, "%.3f s" % t_ours,
    "%.3f s (dgemm X.X^T)" % t_gemm, r, "<= 1.5", r <= 1.5,
    "2 calls (NNGP %.3f + NTK %.3f s); issue asks n=8192 (BENCH_N=8192)"
    % (t_nngp, t_ntk))
nump = [l for l in lines if l[0] == "numpy"][0]
t_np, err = float(nump[2]), float(nump[3])
r = t_np / t_ours
row("2. kernel build vs numpy, n=%d" % n, "%.3f s" % t_ours,
    "%.3f s (numpy)" % t_np, r, ">= 3 (x faster)", r >= 3,
    "numpy/ours; 8x8 entries agree to %.1e rel" % err)
lin = [l for l in lines if l[0] == "linalg"][0]
P = int(lin[2])
tpc, tc, tpe, te = map(float, lin[3:7])
r = tpc / tc
row("2. PDPOTRF %d ranks / DPOTRF" % P, "%.3f s" % tpc, "%.3f s" % tc, r,
    "<= 1.2", r <= 1.2, "NTK n=%d, nb=64, LAPACK on %d threads" % (n, P))
r = tpe / te
row("2. PDSYEVD %d ranks / DSYEVD" % P, "%.3f s" % tpe, "%.3f s" % te, r,
    "<= 1.2", r <= 1.2, "jobz=V, same matrix")
rss = [list(map(int, l[1:])) for l in lines if l[0] == "rss"]
worst = max(rss, key=lambda v: v[1] / v[3])
r = worst[1] / worst[3]
row("2. peak RSS / share, worst rank", "%.1f MB" % (worst[1] / 1024),
    "%.1f MB" % (worst[3] / 1024), r, "<= 1.3", r <= 1.3,
    "share = 3 n^2/P doubles + data; RSS after MPI_Init %.1f MB"
    % (worst[2] / 1024))
r2 = (worst[1] - worst[2]) / worst[3]
row("2. (peak - startup RSS) / share", "%.1f MB" % ((worst[1] - worst[2]) / 1024),
    "%.1f MB" % (worst[3] / 1024), r2, "<= 1.3", r2 <= 1.3,
    "without the MPI start-up footprint; PDSYEVD workspace %.1f MB"
    % (worst[4] / 1024))

f = h5py.File(h5path, "r")
runs = f["runs"][:]
secs, ranks = runs["seconds"], runs["rank"]
workers = len(np.unique(ranks))
wall = [l for l in lines if l[0] == "schedwall"][0]
wall = float(wall[2]) - float(wall[1])
self_t = [l for l in lines if l[0] == "schedself"]
makespan = float(self_t[0][1]) if self_t else wall
bound = secs.sum() / workers + secs.max()
r = makespan / bound
row("3. sweep makespan, %d runs, %d ranks" % (len(runs), workers),
    "%.2f s" % makespan, "%.2f s (sum/%d + max)" % (bound, workers), r,
    "<= 1.1", r <= 1.1,
    "runs/rank %s; sum %.1f s, max %.3f s; mpirun wall %.1f s" %
    (np.bincount(ranks).tolist(), secs.sum(), secs.max(), wall))
curve_vals = sum(f["curves"][k].size for k in f["curves"])
raw_bytes = len(runs) * runs.dtype.itemsize + curve_vals * 8
size = os.path.getsize(h5path)
r = size / raw_bytes
row("4. archive size / raw data", "%.0f kB" % (size / 1e3),
    "%.0f kB" % (raw_bytes / 1e3), r, "<= 1.2", r <= 1.2,
    "%d-byte row + %d curve values/run; write time not measured"
    % (runs.dtype.itemsize, curve_vals // len(runs)))

hdr = ["row", "ours", "reference", "ratio", "target", "pass/MISS", "notes"]
w = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(len(hdr))]
fmt = lambda x: "| " + " | ".join(str(x[i]).ljust(w[i]) for i in range(len(x))) + " |"
model = subprocess.run("lscpu | sed -n 's/^Model name: *//p'", shell=True,
                       capture_output=True, text=True).stdout.strip()
cores = os.cpu_count()
head = ["overparam benchmarks — %s" % datetime.datetime.now().isoformat(timespec="seconds"),
        "CPU: %s, %d cores (shared with other work: every row is a ratio "
        "measured in the same run)" % (model, cores),
        "OpenBLAS core %s; threads per rank: %s for the 1-process rows "
        "(train, 1-rank kernel); 1 for the 2-rank rows (OPENBLAS_NUM_THREADS=1;"
        " overparam's own default); serial LAPACK reference on %d threads"
        % (corename, threads, P)]
table = [fmt(hdr), fmt(["-" * x for x in w])] + [fmt(x) for x in rows]
print("\n".join(head + [""] + table))
# RESULTS.md: generated part above the marker, hand-written analysis kept.
MARK = "<!-- analysis (kept by report.py) -->"
old = open(md).read() if os.path.exists(md) else ""
tail = old[old.index(MARK):] if MARK in old else MARK + "\n"
with open(md, "w") as fh:
    fh.write("# Benchmark results\n\n" + "\n\n".join(head) + "\n\n")
    fh.write("\n".join(table) + "\n\nCommands (`make bench`):\n\n")
    fh.write("\n".join("    " + c for c in cmds) + "\n\n" + tail)
