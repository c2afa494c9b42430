"""Test helper: checks a written report against its archive.

    /usr/bin/python3 analysis/check_report.py ARCHIVE DIR [--figures a,b] [--absent s1,s2] [--sections s1,s2]

Checks: every figure in report.json exists as PNG (signature + matplotlib
reads it) and SVG (parses as XML); the expected figures/sections are there
and the absent ones are not; the HTML embeds one PNG per figure; the
numbers of the Markdown summary (status counts, the grouped runs table, the
archive's power-law exponents) equal those recomputed here straight from
the file with h5py (independently of the opa package). Exit 1 on failure.
"""
import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def md_tables(text):
    """{title of the ### heading above it: (header, rows)} of a Markdown file."""
    out, title, lines = {}, None, text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("#"):
            title = ln.lstrip("#").strip()
        if ln.startswith("|") and title is not None and title not in out:
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split(" | ")])
                i += 1
            out[title] = (rows[0], [r for r in rows[2:]])
            continue
        i += 1
    return out


def close(a, b, rtol=2e-5):
    a, b = float(a), float(b)
    if np.isnan(a) and np.isnan(b):
        return True
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("archive")
    ap.add_argument("dir")
    ap.add_argument("--figures", default="")
    ap.add_argument("--sections", default="")
    ap.add_argument("--absent", default="")
    args = ap.parse_args()
    errors = []
    err = errors.append
    summ = json.load(open(os.path.join(args.dir, "report.json")))
    for name in summ["figures"]:
        png, svg = (os.path.join(args.dir, name + ext) for ext in (".png", ".svg"))
        try:
            with open(png, "rb") as f:
                if f.read(8) != PNG_SIG:
                    err(f"{png}: not a PNG")
            im = mpimg.imread(png)
            if im.shape[0] < 50 or im.shape[1] < 50:
                err(f"{png}: too small {im.shape}")
        except Exception as e:
            err(f"{png}: {e}")
        try:
            root = ET.parse(svg).getroot()
            if not root.tag.endswith("svg"):
                err(f"{svg}: root is {root.tag}")
        except Exception as e:
            err(f"{svg}: {e}")
    for f in filter(None, args.figures.split(",")):
        if f not in summ["figures"]:
            err(f"expected figure {f} missing")
    for s in filter(None, args.sections.split(",")):
        if s not in summ["sections"]:
            err(f"expected section {s} missing")
    for s in filter(None, args.absent.split(",")):
        if s in summ["sections"]:
            err(f"section {s} present although the archive lacks its data")
    html = open(os.path.join(args.dir, "report.html")).read()
    if html.count("data:image/png;base64,") != len(summ["figures"]):
        err("HTML does not embed one PNG per figure")
    tables = md_tables(open(os.path.join(args.dir, "report.md")).read())
    with h5py.File(args.archive, "r") as f:
        runs = f["runs"][:]
        labels = {}
        for a, d in f["grid"].items():
            # named axes carry one label per value (schema.h); numbers none
            lab = [x.decode() if isinstance(x, bytes) else str(x)
                   for x in np.atleast_1d(d.attrs.get("labels", []))]
            labels[a] = dict(zip(lab, d[:]))
        kern_alpha = {}
        for kid, g in f.get("kernels", {}).items():
            # the name src/kernel_io.c writes; NaN when no float64
            # spectrum was computed (eig64 = false): no fit to report
            if "fit_exponent64" in g.attrs and np.isfinite(float(g.attrs["fit_exponent64"])):
                kern_alpha[kid] = float(g.attrs["fit_exponent64"])
        # a kernel-only job ([train] epochs = 0, no epochs axis) has one
        # placeholder run that is no result: the report hides it
        job = f.attrs.get("job_text", b"")
        job = job.decode() if isinstance(job, bytes) else str(job)
        sec, epochs0 = "", False
        for ln in job.splitlines():
            ln = ln.split(";")[0].split("#")[0].strip()
            if ln.startswith("["):
                sec = ln
            elif sec == "[train]" and ln.replace(" ", "").startswith("epochs="):
                epochs0 = float(ln.split("=", 1)[1]) == 0
        if epochs0 and "epochs" not in f["grid"]:
            runs = runs[:0]
    # status counts
    head, rows = tables.get("Status counts", ([], []))
    codes = {"pending": 0, "done": 1, "diverged": 2, "failed": 3}
    if len(rows) != 4:
        err("status table missing")
    for name, count in rows:
        if int(count) != int(np.sum(runs["status"] == codes[name])):
            err(f"status {name}: report {count}, archive {np.sum(runs['status'] == codes[name])}")
    # grouped runs table
    t = tables.get("Finished runs by grid point (mean and std over seeds)")
    if t is None:
        err("grouped runs table missing")
    else:
        head, rows = t
        axes = head[:head.index("n")]
        done = runs["status"] == 1
        total = 0
        for r in rows:
            m = done.copy()
            for a, v in zip(axes, r):
                val = labels[a][v] if v in labels.get(a, {}) else float(v)
                m &= np.isclose(runs[a].astype(float), val)
            n = int(r[len(axes)])
            total += n
            if n != int(m.sum()):
                err(f"row {r}: n {n} vs {m.sum()}")
                continue
            for col, field, fn in (("train_acc mean", "train_acc", np.nanmean),
                                   ("test_acc mean", "test_acc", np.nanmean),
                                   ("n_params", "n_params", np.nanmean)):
                want = fn(runs[field][m].astype(float))
                got = r[head.index(col)]
                if not close(got, want):
                    err(f"row {r[:len(axes)]}: {col} report {got}, archive {want}")
            if n > 1:
                want = np.nanstd(runs["test_acc"][m].astype(float), ddof=1)
                if not close(r[head.index("test_acc std")], want, 1e-4):
                    err(f"row {r[:len(axes)]}: test_acc std {r[head.index('test_acc std')]} vs {want}")
        if total != int(done.sum()):
            err(f"grouped table covers {total} runs, archive has {done.sum()} done")
    if kern_alpha:
        _, rows = tables.get("Power-law fits", ([], []))
        for kid, alpha in kern_alpha.items():
            got = [r[4] for r in rows if r[0] == kid and r[3] == "float64"]
            if not got or not close(got[0], alpha):
                err(f"kernel {kid}: alpha report {got}, archive {alpha}")
    for e in errors:
        print("check_report:", e, file=sys.stderr)
    print(f"check_report: {args.dir}: {len(summ['figures'])} figures, {len(summ['sections'])} sections, "
          f"{'OK' if not errors else f'{len(errors)} problems'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
