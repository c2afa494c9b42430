"""Frequency principle: low frequencies are learned first.

Uses /measures/freq_error [n_runs][n_log][n_freq] (relative DFT error per
target frequency), freq_values [n_runs][n_freq] and freq_converge_epoch
[n_runs][n_freq] (computed here with tolerance 0.1 / [measure] freq_tol
when missing). Signature: Spearman(k, t_k) >= 0.9."""
import numpy as np

from . import figures
from .section import Section, fmt
from .stats import spearman

MIN_RHO = 0.9


def build(a, outdir):
    err = a.measure("freq_error")
    if err is None or err.ndim != 3 or not a.done().any():
        return None
    done = a.done() & np.isfinite(err).any(axis=(1, 2))
    if not done.any():
        return None
    nf = err.shape[2]
    fv = a.measure("freq_values")
    k = np.nanmean(fv[done], axis=0) if fv is not None else np.arange(1, nf + 1, dtype=float)
    ep = a.curves["epoch"][done]
    tol = float(a.job_value("measure", "freq_tol", "0.1"))
    conv = a.measure("freq_converge_epoch")
    if conv is None:
        conv = np.full((len(err), nf), np.nan)
        for r in np.flatnonzero(done):
            for j in range(nf):
                hit = np.flatnonzero(err[r, :, j] < tol)
                conv[r, j] = a.curves["epoch"][r, hit[0]] if hit.size else np.nan
    tk = np.nanmean(conv[done], axis=0)
    tk_sd = np.nanstd(conv[done], axis=0)
    wmax = a.runs["width"][done].max()
    pick = done & (a.runs["width"] == wmax)
    heat = np.nanmean(err[pick], axis=0)
    epoch = np.nanmean(a.curves["epoch"][pick], axis=0)
    s = Section("frequency", "Frequency principle",
                f"Relative error Delta(k) = |h_k - f_k| / |f_k| of the network's DFT at each target "
                f"frequency over training (mean over the {int(pick.sum())} runs of width {wmax:g}), and "
                f"the epoch t_k at which Delta(k) first falls below {tol:g} (mean over all runs).")
    fig, ax = figures.new(2, 1)
    ok = np.isfinite(epoch)
    im = ax[0].pcolormesh(epoch[ok], np.arange(nf), np.log10(np.clip(heat[ok].T, 1e-12, None)),
                          shading="nearest", cmap="magma")
    ax[0].set_yticks(np.arange(nf))
    ax[0].set_yticklabels([f"{v:g}" for v in k])
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("target frequency k (rad / unit x)")
    ax[0].set_title("log10 relative error per frequency")
    fig.colorbar(im, ax=ax[0], label="log10 Delta(k)")
    ax[1].errorbar(k, tk, yerr=tk_sd, fmt="o-", capsize=3)
    ax[1].set_xlabel("target frequency k (rad / unit x)")
    ax[1].set_ylabel(f"epochs until Delta(k) < {tol:g}")
    ax[1].set_title("Convergence epoch per frequency")
    if np.nanmin(tk) > 0 and np.nanmax(tk) / np.nanmin(tk) > 20:
        ax[1].set_yscale("log")
    s.figures.append(figures.save(fig, outdir, "frequency", "Frequency principle: error heat map and t_k."))
    s.table("Convergence epoch per frequency", ["k", "t_k mean", "t_k std"],
            [[fmt(a_), fmt(b), fmt(c)] for a_, b, c in zip(k, tk, tk_sd)])
    rho = spearman(k, tk)
    s.sign("frequency principle", f"Spearman(k, t_k) {fmt(rho, 3)}", f">= {MIN_RHO}",
           None if not np.isfinite(rho) else bool(rho >= MIN_RHO))
    return s
