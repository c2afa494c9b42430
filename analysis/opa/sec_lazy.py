"""Lazy training: wide networks barely move their weights and their NTK.

Uses /measures/ntk_drift [n_runs][n_log] and lazy_rel_change
[n_runs][n_log][L+1] (any measure named lazy_rel_change* is accepted).
Signature: the final NTK drift falls with width (log-log slope < 0)."""
import numpy as np

from . import figures
from .section import Section, fmt, last_finite
from .stats import group_by, loglog_fit


def build(a, outdir):
    drift = a.measure("ntk_drift")
    lazy = {k: v for k, v in a.measures.items() if k.startswith("lazy_rel_change")}
    if (drift is None and not lazy) or "width" not in a.grid or not a.done().any():
        return None
    extra = {}
    if drift is not None:
        extra["ntk_drift"] = last_finite(drift)
    for k, v in lazy.items():
        if v.ndim == 3:
            for layer in range(v.shape[2]):
                extra[f"{k}_layer{layer + 1}"] = last_finite(v[:, :, layer])
        else:
            extra[k] = last_finite(v.reshape(len(v), -1))
    g = group_by(a.runs, ["width"], [], extra=extra)
    s = Section("lazy", "Lazy training",
                "Relative change of each layer's weights and of the empirical NTK between "
                "initialization and the end of training, mean over seeds and other axes.")
    fig, ax = figures.new(1, 1, width=6.5)
    for name in extra:
        figures.band(ax, g["width"], g[f"{name}_mean"], g[f"{name}_std"], name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width (hidden units, log scale)")
    ax.set_ylabel("relative change |X_T - X_0| / |X_0|")
    ax.set_title("Weight and NTK change vs width")
    ax.legend(fontsize=7)
    s.figures.append(figures.save(fig, outdir, "lazy", "Lazy training: relative change vs width."))
    s.table("Relative change at the end", ["width", "runs"] + list(extra),
            [[fmt(r["width"]), int(r["n"])] + [fmt(r[f"{k}_mean"]) for k in extra] for r in g])
    key = "ntk_drift" if "ntk_drift" in extra else next(iter(extra))
    slope, _ = loglog_fit(g["width"], g[f"{key}_mean"])
    s.sign("lazy training", f"slope of log {key} vs log width {fmt(slope, 3)}", "< 0 (about -1/2)",
           None if not np.isfinite(slope) else bool(slope < 0))
    return s
