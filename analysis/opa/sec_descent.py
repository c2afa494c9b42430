"""Double descent and the width curve with the infinite-width kernel limit.

Figures only: test 0-1 error, training error and test MSE against p, the
threshold p = n K marked (the verdict is analysis/signatures.py's); the finite-width error approaches the NNGP/NTK limit as width grows."""
import numpy as np

from . import figures
from .section import Section, fmt, other_axes, key_label
from .stats import group_by

PEAK_RATIO = 1.2


def peak_ratio(p, err, threshold):
    """Max error with p in [T/3, 3T] divided by the error at the largest p."""
    p, err = np.asarray(p, float), np.asarray(err, float)
    ok = np.isfinite(err)
    near = ok & (p >= threshold / 3) & (p <= threshold * 3)
    if not near.any() or ok.sum() < 3:
        return float("nan")
    last = err[ok][np.argmax(p[ok])]
    return float(np.max(err[near]) / last) if last > 0 else float("nan")


def build(a, outdir):
    if "width" not in a.grid or len(a.grid["width"]) < 3 or not a.done().any():
        return None
    # Regression sets (sines, teacher) have no classification error to plot.
    if not np.isfinite(a.runs["test_acc"][a.done()]).any():
        return None
    s = Section("double_descent", "Double descent",
                "Test error against the number of parameters p, one curve per grid point of the "
                "other axes (mean over seeds, band = std). The dashed line marks the interpolation "
                "threshold p = n K.")
    by = other_axes(a, ("width", "n_params"))
    thr = a.n_train() * a.n_classes()
    mse = a.job_value("train", "loss", "mse") == "mse"
    g = group_by(a.runs, by + ["width"], ["n_params", "test_acc", "train_acc"]
                 + (["test_mse"] if mse else []),
                 extra={"threshold": thr})
    keys = np.unique(np.stack([g[b] for b in by], 1), axis=0) if by else [None]
    fig, ax = figures.new(3 if mse else 2, 1)
    rows, ratios = [], []
    cols = figures.colors(len(keys), "plasma")
    for c, key in zip(cols, keys):
        sel = np.all(np.stack([g[b] for b in by], 1) == key, axis=1) if by else np.ones(len(g), bool)
        gg = g[sel]
        lab = key_label(a, by, gg[0])
        T = float(gg["threshold_mean"][0])
        figures.band(ax[0], gg["n_params_mean"], 1 - gg["test_acc_mean"], gg["test_acc_std"], lab, c)
        figures.band(ax[1], gg["n_params_mean"], 1 - gg["train_acc_mean"], gg["train_acc_std"], lab, c)
        if mse:   # test MSE beside the 0-1 error: at this scale the peak shows in the loss first
            figures.band(ax[2], gg["n_params_mean"], gg["test_mse_mean"], gg["test_mse_std"], lab, c)
        i = int(np.nanargmax(1 - gg["test_acc_mean"]))
        rows.append([lab, fmt(T), fmt(gg["n_params_mean"][i]), fmt(1 - gg["test_acc_mean"][i]),
                     fmt(1 - gg["test_acc_mean"][-1])])
    for T in np.unique(g["threshold_mean"]):
        for axis in ax:
            axis.axvline(T, ls="--", color="k", lw=1)
    ax[0].text(float(np.unique(g["threshold_mean"])[0]), ax[0].get_ylim()[1], " p = nK", va="top", fontsize=8)
    for axis, what in zip(ax, ("test", "training")):
        axis.set_ylabel(f"{what} error (fraction misclassified)")
        axis.set_title(f"{what.capitalize()} 0-1 error vs parameters")
    if mse:
        ax[2].set_ylabel("test MSE (squared error summed over outputs)")
        ax[2].set_title("Test MSE vs parameters")
    for axis in ax:
        axis.set_xscale("log")
        axis.set_xlabel("parameters p (count, log scale)")
        axis.legend(title=None)
    s.figures.append(figures.save(fig, outdir, "double_descent",
                                  "Double descent: test and training error against parameters; dashed: p = nK."))
    s.table("Largest test 0-1 error per curve (the double-descent verdict is analysis.signatures')",
            ["curve", "threshold nK", "p at max", "max error", "error at largest p"], rows)
    return s


def build_width_limit(a, outdir):
    """Width curve with kernel limits; None without kernels or width axis."""
    lims = [(k, *k.limit_error()) for k in a.kernels]
    lims = [(k, v, kind) for k, v, kind in lims if v is not None and np.isfinite(v)]
    if "width" not in a.grid or len(a.grid["width"]) < 2 or not lims or not a.done().any():
        return None
    s = Section("width_limit", "Width curve and the infinite-width limit",
                "Test error against width (mean over seeds, band = std); horizontal lines: the "
                "kernel-regression test error of the NNGP/NTK of the same architecture at the "
                "smallest diagonal regularizer.")
    by = other_axes(a, ("width", "n_params"))
    g = group_by(a.runs, by + ["width"], ["test_acc", "test_loss"])
    keys = np.unique(np.stack([g[b] for b in by], 1), axis=0) if by else [None]
    use_mse = all(kind == "mse" for _, _, kind in lims)
    fig, ax = figures.new(1, 1, width=6.5)
    rows = []
    for c, key in zip(figures.colors(len(keys), "plasma"), keys):
        sel = np.all(np.stack([g[b] for b in by], 1) == key, axis=1) if by else np.ones(len(g), bool)
        gg = g[sel]
        y = gg["test_loss_mean"] if use_mse else 1 - gg["test_acc_mean"]
        sd = gg["test_loss_std"] if use_mse else gg["test_acc_std"]
        figures.band(ax, gg["width"], y, sd, key_label(a, by, gg[0]), c)
        rows.append((key_label(a, by, gg[0]), y[0], y[-1]))
    ls = ["--", ":", "-.", (0, (5, 1))]
    table = []
    for i, (k, v, kind) in enumerate(lims):
        ax.axhline(v, color="k" if k.kind() == "ntk" else "tab:red", ls=ls[i % len(ls)], lw=1.2,
                   label=f"{k.kind().upper()} limit ({k.id})")
        for lab, first, last in rows:
            table.append([lab, k.id, fmt(v), fmt(first), fmt(last), fmt(abs(first - v)), fmt(abs(last - v))])
    ax.set_xscale("log")
    ax.set_xlabel("width (hidden units, log scale)")
    ax.set_ylabel("test MSE" if use_mse else "test error (fraction misclassified)")
    ax.set_title("Finite width vs infinite-width kernel limit")
    ax.legend()
    s.figures.append(figures.save(fig, outdir, "width_limit", "Test error vs width; lines: kernel limits."))
    s.table("Gap to the kernel limit", ["curve", "kernel", "limit", "narrowest", "widest",
                                        "gap narrowest", "gap widest"], table)
    gaps = [(abs(first - v), abs(last - v)) for _, v, _ in lims for _, first, last in rows]
    shrink = all(b <= a_ for a_, b in gaps)
    s.sign("infinite-width limit", f"gap at widest / narrowest: {fmt(gaps[0][1], 3)} / {fmt(gaps[0][0], 3)}",
           "gap to the kernel limit shrinks with width", bool(shrink))
    return s
