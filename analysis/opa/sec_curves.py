"""Kernel learning curves ([kernel] n_train) and float32 against float64
regression ([kernel] precision = compare), as figures and tables.

Reads the loader's learning_curve() (one row per curve, metric coordinate
and n_train) and its precision table; the critical n is
analysis.signatures.precision_critical_n (its one definition). No verdicts
here: those come from analysis/signatures.py for the declared phenomena."""
import numpy as np
import pandas as pd

from . import figures
from .section import Section, fmt
from ..signatures import PRECISION_TOL, precision_critical_n


def _learning_curves(a, s, outdir):
    lc = a.loaded.learning_curve()
    if not len(lc):
        return
    lc = lc[np.isfinite(lc["test_mse"])]
    sizes = lc.groupby("curve")["n_train"].nunique()
    curves = sorted(sizes[sizes > 1].index)
    if not curves:
        return
    fig, ax = figures.new(2, 1)
    cols = figures.colors(len(curves), "tab10")
    rows = []
    for c, curve in zip(cols, curves):
        p = lc[lc["curve"] == curve]
        # each n at its best ridge and at its best time (test set: these
        # are curves to look at, not a model selection)
        for by, ls in (("ridge", "-"), ("time", ":")):
            q = p[p["by"] == by]
            if not len(q):
                continue
            best = q.loc[q.groupby("n_train")["test_mse"].idxmin()].sort_values("n_train")
            ax[0].plot(best["n_train"], best["test_mse"], ls, marker="o", ms=4, color=c,
                       label=f"{curve} best {by}")
            ax[1].plot(best["n_train"], best["test_acc"], ls, marker="o", ms=4, color=c,
                       label=f"{curve} best {by}")
            for _, r in best.iterrows():
                rows.append([curve, by, int(r["n_train"]), fmt(r[by]), fmt(r["test_mse"]),
                             fmt(r["test_acc"])])
    ax[0].set(xscale="log", yscale="log", xlabel="training points n (log)",
              ylabel="test MSE (log)", title="Kernel learning curves")
    ax[1].set(xscale="log", xlabel="training points n (log)", ylabel="test accuracy",
              title="Kernel learning curves")
    ax[0].legend(fontsize=6)
    s.figures.append(figures.save(fig, outdir, "kernel_learning_curves",
                                  "Test MSE and accuracy of each kernel against the training-set "
                                  "size, at each size's best ridge (solid) and best time (dotted)."))
    s.table("Learning curves (best per n)", ["curve", "by", "n", "ridge / time", "test MSE",
                                             "test acc"], rows)


def _precision(a, s, outdir):
    pr = a.loaded.precision
    if not len(pr):
        return
    pr = pr.assign(n_train=pd.to_numeric(pr["n_train"]))
    groups = list(pr.groupby(["curve", "ridge"], sort=True))
    fig, ax = figures.new(2, 1)
    cols = figures.colors(len(groups), "tab10")
    rows = []
    for c, ((curve, ridge), p) in zip(cols, groups):
        p = p.sort_values("n_train")
        ok = (p["status32"] == "ok").to_numpy()
        gap = (p["test_mse32"] / p["test_mse64"] - 1).abs().to_numpy()
        n = p["n_train"].to_numpy(float)
        lab = f"{curve} ridge {ridge:g}"
        ax[0].plot(n[ok], np.clip(gap[ok], 1e-16, None), "o-", ms=4, color=c, label=lab)
        ax[1].plot(n[ok], p["residual32"].to_numpy(float)[ok], "o-", ms=4, color=c, label=lab)
        ax[1].plot(n, p["residual64"].to_numpy(float), ":", color=c, lw=0.8)
        if (~ok).any():   # a failed float32 solve is a status, drawn as a cross at the top
            for axis in ax:
                axis.plot(n[~ok], np.ones((~ok).sum()), "x", ms=8, color=c,
                          transform=axis.get_xaxis_transform())
        nc = precision_critical_n(p)
        rows.append([curve, fmt(ridge), fmt(nc) if np.isfinite(nc) else "none",
                     ", ".join(f"{int(v)}: {st}" if st != "ok" else f"{int(v)}: {g:.1e}"
                               for v, st, g in zip(n, p["status32"], gap))])
    ax[0].axhline(PRECISION_TOL, color="0.5", ls="--", lw=0.8)
    ax[0].set(xscale="log", yscale="log", xlabel="training points n (log)",
              ylabel="|MSE32 / MSE64 - 1| (log)", title="float32 regression: test error")
    ax[1].set(xscale="log", yscale="log", xlabel="training points n (log)",
              ylabel="relative residual (log)",
              title="float32 (solid) and float64 (dotted) residuals")
    ax[0].legend(fontsize=6)
    s.figures.append(figures.save(fig, outdir, "kernel_precision",
                                  "float32 against float64 kernel regression as n grows: the test "
                                  "MSE's relative gap (dashed: the tolerance that locates the "
                                  "critical n) and each solve's residual; x: the float32 "
                                  "factorization failed or returned non-finite values."))
    s.table("Critical n (float32 departs from float64)",
            ["curve", "ridge", "critical n", "n: |MSE32/MSE64 - 1| or status"], rows)


def build(a, outdir):
    lc, pr = a.loaded.kernels, a.loaded.precision
    if not len(lc) and not len(pr):
        return None
    s = Section("curves", "Kernel learning curves and float32 limits",
                "Each kernel's test error against the training-set size ([kernel] n_train: nested "
                "subsets), and float32 against float64 regression as n grows ([kernel] precision "
                "= compare), with the critical n past which float32 departs "
                f"(|MSE32/MSE64 - 1| > {PRECISION_TOL:g} or a failed factorization).")
    _learning_curves(a, s, outdir)
    _precision(a, s, outdir)
    return s if s.figures else None
