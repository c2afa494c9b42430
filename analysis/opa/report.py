"""Report driver: detect what an archive holds, build each section that has
data, write figures (PNG+SVG), report.html, report.md and signatures.json.

    /usr/bin/python3 -m analysis.report ARCHIVE [-o DIR] [--strict]
"""
import argparse
import json
import os
import sys
import traceback
import warnings

from . import (render, sec_condensation, sec_descent, sec_frequency, sec_kernels,
               sec_curves, sec_lazy, sec_memorization, sec_overview, sec_robustness)
from ..loader import open_archive
from ..signatures import CHECKS, check
from .archive import Archive
from .section import Section

BUILDERS = [sec_overview.build, sec_descent.build, sec_descent.build_width_limit,
            sec_memorization.build, sec_robustness.build, sec_frequency.build,
            sec_condensation.build, sec_lazy.build, sec_kernels.build, sec_curves.build]


def _verdicts(a):
    """Section 'verdicts': analysis.signatures.check for each declared phenomenon
    (a: the loader's archive)."""
    names = [n for n in a.phenomena if n in CHECKS]
    s = Section("verdicts", "Signatures of the phenomena this job targets",
                "The job declares: " + (", ".join(a.phenomena) if a.phenomena else "no phenomenon")
                + ". Verdicts by analysis/signatures.py (the same as "
                "`python3 -m analysis.signatures`); other sections show measurements only.")
    rows = []
    for n in names:
        r = check(a, n)
        for what, ok, measured, expected in r.checks:
            s.sign(f"{n}: {what}", str(measured), str(expected), ok)
            rows.append([n, what, str(measured), str(expected), "yes" if ok else "no"])
        s.sign(n, "all criteria above", "every criterion", r.holds)
    if rows:
        s.table("criteria", ["phenomenon", "criterion", "measured", "expected", "holds"], rows)
    return s


def build_report(archive_path, outdir, strict=False, log=sys.stderr):
    """Writes the report of `archive_path` into `outdir`; returns the list of
    section keys written. A section whose builder fails is replaced by a note
    (or re-raised with strict)."""
    os.makedirs(outdir, exist_ok=True)
    loaded = open_archive(archive_path)   # the one reader; sections get its arrays by run
    a = Archive(loaded)
    sections = []
    for b in BUILDERS:
        try:
            with warnings.catch_warnings():  # all-NaN slices are expected (unlogged points)
                warnings.simplefilter("ignore", RuntimeWarning)
                s = b(a, outdir)
        except Exception as e:  # a bad section must not lose the others
            if strict:
                raise
            traceback.print_exc(file=log)
            s = Section(f"failed_{b.__module__.split('.')[-1]}", f"{b.__module__} (failed)",
                        f"This section could not be built: {type(e).__name__}: {e}")
        if s is not None:
            sections.append(s)
    # Verdicts come from one place, analysis/signatures.py, and only for the
    # phenomena the job declares ([job] phenomena); what the sections
    # measure for the other phenomena is shown without a verdict.
    # The sections' own figures and tables stay; their older ad-hoc
    # signature statistics (a second definition, e.g. a two-point "peak
    # ratio") are dropped.
    for s in sections:
        s.signatures = []
    sections.insert(0, _verdicts(loaded))
    title = f"overparam report: {os.path.basename(archive_path)}"
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(render.markdown(title, sections, outdir))
    with open(os.path.join(outdir, "report.html"), "w") as f:
        f.write(render.html_page(title, sections, outdir))
    summary = {"archive": os.path.abspath(archive_path), "sections": [s.key for s in sections],
               "figures": [os.path.basename(f.png)[:-4] for s in sections for f in s.figures],
               "signatures": [dict(phenomenon=g.phenomenon, measured=g.measured, expected=g.expected,
                                   holds=g.holds) for s in sections for g in s.signatures]}
    with open(os.path.join(outdir, "report.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(prog="analysis.report", description=__doc__.split("\n")[0])
    ap.add_argument("archive")
    ap.add_argument("-o", "--outdir", help="report directory (default: ARCHIVE without .h5 + _report)")
    ap.add_argument("--strict", action="store_true", help="fail on a section error instead of noting it")
    args = ap.parse_args(argv)
    out = args.outdir or os.path.splitext(args.archive)[0] + "_report"
    if not os.path.exists(args.archive):
        print(f"report: {args.archive}: no such archive", file=sys.stderr)
        return 2
    summary = build_report(args.archive, out, args.strict)
    print(f"report: {len(summary['sections'])} sections ({', '.join(summary['sections'])}), "
          f"{len(summary['figures'])} figures -> {os.path.join(out, 'report.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
