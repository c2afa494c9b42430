"""Robustness (Bubeck-Sellke law): Lipschitz constant vs parameters.

Uses /measures/lip_lower and lip_upper [n_runs][n_log] at their last logged
point. Signature: the slope of log Lip_lower vs log p lies in [-0.75, -0.25]
(the law's reference sqrt(n d / p) has slope -1/2)."""
import numpy as np

from . import figures
from .section import Section, fmt, last_finite, other_axes
from .stats import group_by, loglog_fit

SLOPE = (-0.75, -0.25)


def build(a, outdir):
    lo, up = a.measure("lip_lower"), a.measure("lip_upper")
    if lo is None or not a.done().any():
        return None
    s = Section("robustness", "Robustness: Lipschitz bounds vs parameters",
                "Lower (empirical, from input pairs) and upper (product of layer norms) Lipschitz "
                "bounds at the end of training, mean over seeds; the line is the least-squares fit "
                "of log Lip_lower on log p; dotted: the reference sqrt(n d / p).")
    extra = {"lip_lower": last_finite(lo.reshape(len(lo), -1))}
    if up is not None:
        extra["lip_upper"] = last_finite(up.reshape(len(up), -1))
    by = other_axes(a, ("n_params", "label_noise", "corruption", "init_scale"))
    if "width" not in by and "width" in a.grid:
        by.append("width")
    g = group_by(a.runs, by, ["n_params"], extra=extra)
    p = g["n_params_mean"]
    slope, c = loglog_fit(p, g["lip_lower_mean"])
    fig, ax = figures.new(1, 1, width=6.5)
    ax.errorbar(p, g["lip_lower_mean"], yerr=g["lip_lower_std"], fmt="o", ms=4, label="lower bound", capsize=2)
    if "lip_upper" in extra:
        ax.errorbar(p, g["lip_upper_mean"], yerr=g["lip_upper_std"], fmt="s", ms=4, label="upper bound", capsize=2)
    pp = np.geomspace(np.nanmin(p), np.nanmax(p), 50)
    if np.isfinite(slope):
        ax.plot(pp, c * pp ** slope, "-", color="tab:blue", lw=1, label=f"fit: slope {slope:.3f}")
    n, d = float(np.nanmax(a.n_train())), a.input_dim()
    ax.plot(pp, np.sqrt(n * d / pp), ":", color="k", label="sqrt(nd/p)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters p (count, log scale)")
    ax.set_ylabel("Lipschitz constant (output/input norm, log)")
    ax.set_title("Lipschitz bounds vs parameters")
    ax.legend()
    s.figures.append(figures.save(fig, outdir, "robustness", "Lipschitz bounds vs parameters (log-log)."))
    rows = [[fmt(r["n_params_mean"]), int(r["n"]), fmt(r["lip_lower_mean"]),
             fmt(r["lip_upper_mean"]) if "lip_upper" in extra else "n/a",
             fmt(np.sqrt(n * d / r["n_params_mean"]))] for r in g]
    s.table("Lipschitz bounds (end of training)", ["n_params", "runs", "lip_lower mean",
                                                  "lip_upper mean", "sqrt(nd/p)"], rows)
    s.sign("robustness", f"slope {fmt(slope, 3)}", f"in [{SLOPE[0]}, {SLOPE[1]}]",
           None if not np.isfinite(slope) else bool(SLOPE[0] <= slope <= SLOPE[1]))
    return s
