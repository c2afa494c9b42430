"""Memorization (Zhang et al.): networks fit true, noisy and random labels.

Conditions are the (corruption, label_noise) grid points at the largest
width. Signature: every condition reaches >= 99% training accuracy, and the
epochs to fit grow with the corruption degree (label_noise; random labels
count as 1): Spearman >= 0.9 over conditions."""
import numpy as np

from . import figures
from .section import Section, fmt
from .stats import group_by, spearman

MIN_ACC, MIN_RHO = 0.99, 0.9


def degree(a, corruption, noise):
    """Corruption degree for the Spearman test: label_noise, 1 for random
    labels, NaN for pixel/Gaussian corruptions (shown, not ranked)."""
    if corruption is None:
        return noise
    name = a.label("corruption", corruption)
    return noise if name == "none" else (1.0 if name == "random_labels" else np.nan)


def build(a, outdir):
    axes = [x for x in ("corruption", "label_noise") if x in a.grid and len(a.grid[x]) > 1]
    if not axes or not a.done().any() or "epoch" not in a.curves:
        return None
    s = Section("memorization", "Memorization: true, noisy and random labels",
                "Training curves (mean over seeds) per label condition at the largest width, and "
                "the epochs needed to fit the training set (100% training accuracy).")
    mask = a.done() & (a.runs["width"] == a.runs["width"][a.done()].max())
    fit = np.asarray(a.runs["fit_epoch"], float)
    fit[fit < 0] = np.nan
    g = group_by(a.runs, axes, ["train_acc"], mask=mask,
                 extra={"fit": fit, "curve": a.curves.get("train_acc"), "ep": a.curves["epoch"]})
    fig, ax = figures.new(2, 1)
    rows, deg, fits, labels = [], [], [], []
    for c, r in zip(figures.colors(len(g), "plasma"), g):
        corr = r["corruption"] if "corruption" in axes else None
        noise = r["label_noise"] if "label_noise" in axes else 0.0
        lab = (a.label("corruption", corr) if corr is not None else "labels") + \
            (f", noise {noise:g}" if "label_noise" in axes else "")
        ok = np.isfinite(r["ep_mean"]) & np.isfinite(r["curve_mean"])
        ax[0].plot(r["ep_mean"][ok], r["curve_mean"][ok], color=c, label=lab)
        d = degree(a, corr, noise)
        rows.append([lab, fmt(d), int(r["n"]), fmt(r["train_acc_mean"]), fmt(r["train_acc_min"]),
                     fmt(r["fit_mean"]), fmt(r["fit_std"])])
        deg.append(d)
        fits.append(r["fit_mean"])
        labels.append(lab)
    x = np.arange(len(g))
    ax[1].bar(x, np.nan_to_num(np.array(fits, float)), yerr=np.nan_to_num(g["fit_std"]),
              color=figures.colors(len(g), "plasma"), capsize=3)
    ax[1].set_xticks(x)
    ax[1].set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax[1].set_ylabel("epochs to fit (100% train acc.)")
    ax[1].set_title("Epochs to fit the training set")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("training accuracy (fraction)")
    ax[0].set_title("Training accuracy per label condition")
    ax[0].legend(fontsize=7)
    s.figures.append(figures.save(fig, outdir, "memorization",
                                  "Memorization: training accuracy over epochs and epochs to fit per condition."))
    s.table("Label conditions (largest width)", ["condition", "corruption degree", "runs",
            "train_acc mean", "train_acc min", "epochs to fit mean", "epochs to fit std"], rows)
    acc_min = float(np.nanmin(g["train_acc_min"]))
    s.sign("memorization: fit", f"min train acc {fmt(acc_min, 4)}", f">= {MIN_ACC} for every condition",
           bool(acc_min >= MIN_ACC))
    rho = spearman(deg, fits)
    s.sign("memorization: epochs to fit", f"Spearman {fmt(rho, 3)}",
           f">= {MIN_RHO} (epochs to fit grow with corruption)",
           None if not np.isfinite(rho) else bool(rho >= MIN_RHO))
    return s
