"""Overview section: archive facts, status counts, the grouped runs table
and the learning curves of all runs colored by width (always present)."""
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.cm import ScalarMappable

from . import figures
from .section import Section, fmt, other_axes
from .stats import group_by


def build(a, outdir):
    s = Section("overview", "Overview",
                f"Archive of job `{a.attrs.get('job_file', '?')}`: {len(a.runs)} runs, "
                f"program {a.attrs.get('program', '?')} {a.attrs.get('program_version', '?')} "
                f"(revision {a.attrs.get('git_revision', '?')}), {a.attrs.get('mpi_size', '?')} ranks, "
                f"{a.attrs.get('start_time', '?')} to {a.attrs.get('end_time', '?')}. "
                f"Swept axes: {', '.join(f'{k} ({len(v)})' for k, v in a.grid.items()) or 'none'}. "
                f"Data: n = {fmt(np.nanmax(a.n_train()) if len(a.runs) else np.nan)} training examples, "
                f"K = {a.n_classes()} classes, d = {a.input_dim()} inputs.")
    s.table("Status counts", ["status", "runs"], [[k, v] for k, v in a.status_counts().items()])
    by = other_axes(a, ())
    fields = ["n_params", "train_acc", "test_acc", "train_loss", "test_loss", "epochs"]
    g = group_by(a.runs, by, fields)
    header = by + ["n", "n_params", "train_acc mean", "train_acc std", "test_acc mean", "test_acc std",
                   "train_loss mean", "test_loss mean"]
    rows = [[a.label(b, r[b]) for b in by] + [int(r["n"]), fmt(r["n_params_mean"]),
            fmt(r["train_acc_mean"]), fmt(r["train_acc_std"]), fmt(r["test_acc_mean"]),
            fmt(r["test_acc_std"]), fmt(r["train_loss_mean"]), fmt(r["test_loss_mean"])] for r in g]
    s.table("Finished runs by grid point (mean and std over seeds)", header, rows)
    if "epoch" in a.curves and a.done().any():
        s.figures.append(_curves(a, outdir))
    return s


def _curves(a, outdir):
    ep = a.curves["epoch"]
    done = np.flatnonzero(a.done())
    w = a.runs["width"].astype(float)
    norm = LogNorm(vmin=max(1, w.min()), vmax=max(w.max(), w.min() * 1.01 + 1))
    cmap = "viridis"
    fig, ax = figures.new(3, 1, width=4.3)
    panels = [("train_loss", "training loss", True), ("test_loss", "test loss", True),
              ("test_acc", "test error (fraction)", True)]
    sm = ScalarMappable(norm=norm, cmap=cmap)
    for axis, (name, label, logy) in zip(ax, panels):
        if name not in a.curves:
            axis.set_visible(False)
            continue
        y = a.curves[name]
        for r in done:
            v = 1 - y[r] if name == "test_acc" else y[r]
            ok = np.isfinite(ep[r]) & np.isfinite(v)
            axis.plot(ep[r][ok], v[ok], color=sm.to_rgba(w[r]), lw=1, alpha=0.8)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        if logy and np.nanmin(np.where(np.isfinite(y[done]), y[done], np.nan)) > 0:
            axis.set_yscale("log")
        axis.set_title(label.split(" (")[0] + " during training")
    fig.colorbar(sm, ax=ax[-1], label="width (hidden units, log color)")
    return figures.save(fig, outdir, "overview_curves",
                        "Learning curves of every finished run, colored by width (log color scale).")
