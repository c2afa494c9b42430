"""Kernels: NNGP/NTK eigenvalue spectra with power-law fits, float32 vs
float64, and diagonal regularization vs early stopping (see kernels.py for
the dataset names assumed). Signature: the spectrum follows a power law
(alpha > 0 and R^2 >= 0.9 of the log-log fit on ranks 2%..50%)."""
import numpy as np

from . import figures
from .section import Section, fmt

MIN_R2 = 0.9


def r2_powerlaw(lam, alpha, c, lo=0.02, hi=0.5):
    """R^2 of log lambda_i = log c - alpha log i on the fitted rank range."""
    lam = np.sort(np.asarray(lam, float)[np.isfinite(lam)])[::-1]
    lam = lam[lam > 0]
    n = lam.size
    if n < 4 or not np.isfinite(alpha):
        return float("nan")
    a, b = max(1, int(lo * n)), max(int(lo * n) + 3, int(hi * n))
    i = np.arange(1, n + 1)[a - 1:b]
    y = np.log(lam[a - 1:b])
    pred = np.log(c) - alpha * np.log(i)
    ss = np.sum((y - y.mean()) ** 2)
    return float(1 - np.sum((y - pred) ** 2) / ss) if ss > 0 else float("nan")


def build(a, outdir):
    ks = a.kernels
    if not ks:
        return None
    s = Section("kernels", "Kernels: spectra, precision, regularization vs early stopping",
                "Eigenvalues of each NNGP/NTK train kernel matrix by rank (log-log) with the fitted "
                "power law lambda_i ~ c i^-alpha, the relative float32 error of the spectrum, and the "
                "kernel predictor's test error with a diagonal regularizer epsilon against "
                "gradient-descent time t (early stopping).")
    cols = figures.colors(len(ks), "tab10")
    rows = []
    if any(k.eig for k in ks):
        fig, ax = figures.new(2, 1)
        for c, k in zip(cols, ks):
            for p, lam in sorted(k.eig.items(), reverse=True):
                lam_s = np.sort(lam)[::-1]
                i = np.arange(1, lam_s.size + 1)
                pos = lam_s > 0
                ax[0].plot(i[pos], lam_s[pos], color=c, ls="-" if p == 64 else ":", lw=1.4 if p == 64 else 1,
                           label=f"{k.id} float{p}")
                alpha, pre = k.fit.get(p, (np.nan, np.nan))
                r2 = r2_powerlaw(lam, alpha, pre)
                if p == 64 and np.isfinite(alpha):
                    ax[0].plot(i, pre * i ** -alpha, color=c, ls="--", lw=0.8, label=f"fit alpha={alpha:.2f}")
                rows.append([k.id, k.kind(), fmt(k.attrs.get("depth")), f"float{p}", fmt(alpha), fmt(pre),
                             fmt(r2), k.fit_source.get(p, "")])
            if 32 in k.eig and 64 in k.eig and k.eig[32].size == k.eig[64].size:
                l64, l32 = np.sort(k.eig[64])[::-1], np.sort(k.eig[32])[::-1]
                rel = np.abs(l32 - l64) / np.abs(l64).max()
                ax[1].plot(np.arange(1, rel.size + 1), np.clip(rel, 1e-18, None), color=c, label=k.id)
        ax[0].set(xscale="log", yscale="log", xlabel="rank i (log)", ylabel="eigenvalue lambda_i (log)",
                  title="Kernel spectra")
        ax[0].legend(fontsize=6)
        ax[1].set(xscale="log", yscale="log", xlabel="rank i (log)",
                  ylabel="|lambda32 - lambda64| / lambda_max", title="float32 vs float64")
        if ax[1].lines:
            ax[1].legend(fontsize=7)
        s.figures.append(figures.save(fig, outdir, "kernel_spectra", "Kernel eigenvalue spectra and precision."))
        s.table("Power-law fits", ["kernel", "kind", "depth", "precision", "alpha", "prefactor", "R^2",
                                   "source"], rows)
    reg = [k for k in ks if k.ridge_metrics or k.gd_metrics]
    if reg:
        fig, ax = figures.new(2, 1)
        metric = "test_mse" if all("test_mse" in {**k.ridge_metrics, **k.gd_metrics} for k in reg) else "test_acc"
        trows = []
        for c, k in zip(cols, reg):
            if metric in k.ridge_metrics:
                x = np.where(k.ridge > 0, k.ridge, np.nan)
                ax[0].plot(k.ridge, k.ridge_metrics[metric], "o-", color=c, label=k.id)
                trows.append([k.id, "ridge", fmt(np.nanmin(k.ridge_metrics[metric])),
                              fmt(k.ridge[np.nanargmin(k.ridge_metrics[metric])])])
                del x
            if metric in k.gd_metrics:
                ax[1].plot(k.time, k.gd_metrics[metric], "s-", color=c, label=k.id)
                trows.append([k.id, "gd time", fmt(np.nanmin(k.gd_metrics[metric])),
                              fmt(k.time[np.nanargmin(k.gd_metrics[metric])])])
        ylab = "test MSE" if metric == "test_mse" else "test accuracy (fraction)"
        ax[0].set_xscale("symlog", linthresh=max(1e-12, np.nanmin([np.nanmin(k.ridge[k.ridge > 0])
                         for k in reg if k.ridge is not None and (k.ridge > 0).any()] or [1e-6])))
        ax[0].set(xlabel="diagonal regularizer epsilon (symlog)", ylabel=ylab, title="Regularization")
        ax[1].set(xscale="log", xlabel="gradient-descent time t (log)", ylabel=ylab, title="Early stopping")
        for axis in ax:
            if axis.lines:
                axis.legend(fontsize=7)
        s.figures.append(figures.save(fig, outdir, "kernel_regularization",
                                      "Diagonal regularization vs early stopping of the kernel predictor."))
        s.table(f"Best {metric}", ["kernel", "knob", f"best {metric}", "at"], trows)
    fits = [(r[0], float(r[4]), float(r[6])) for r in rows if r[3] == "float64" and r[4] != "nan"]
    if fits:
        worst = min(fits, key=lambda t: (t[2] if np.isfinite(t[2]) else -1))
        ok = all(al > 0 and np.isfinite(r2) and r2 >= MIN_R2 for _, al, r2 in fits)
        s.sign("kernel spectrum power law", f"alpha {fmt(worst[1], 3)}, R^2 {fmt(worst[2], 3)} ({worst[0]})",
               f"alpha > 0, R^2 >= {MIN_R2}", bool(ok))
    return s
