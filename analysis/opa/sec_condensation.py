"""Condensation: at small initialization the first-layer directions gather
into a few clusters (Luo et al.'s phase diagram).

Uses /measures/cond_dirs_init, cond_dirs_end [n_runs][max_width][dim],
cond_rel_change, cond_clusters, cond_mean_abs_cos [n_runs][n_log].
Signature: at the smallest init scale the active directions fall into
<= 25% of the width in clusters, and mean |cos| ends higher than at the
largest init scale."""
import numpy as np

from . import figures
from .section import Section, fmt, last_finite
from .stats import group_by

MAX_CLUSTER_FRACTION = 0.25


def _unit(d):
    d = np.asarray(d, float)
    d = d[np.isfinite(d).all(axis=1)]
    nrm = np.linalg.norm(d, axis=1)
    d = d[nrm > 0] / nrm[nrm > 0, None]
    return d


def build(a, outdir):
    change, clusters = a.measure("cond_rel_change"), a.measure("cond_clusters")
    d0, d1 = a.measure("cond_dirs_init"), a.measure("cond_dirs_end")
    if change is None and clusters is None and d1 is None:
        return None
    done = np.flatnonzero(a.done())
    if done.size == 0:
        return None
    s = Section("condensation", "Condensation of first-layer directions",
                "First-layer neuron directions (w, b)/|(w, b)| at initialization and at the end of "
                "training for the run with the smallest init scale (largest width), their pairwise "
                "cosine similarity, and the phase diagram of the relative change of the first layer "
                "over width and init scale.")
    scale = a.runs["init_scale"].astype(float)
    r = done[np.lexsort((-a.runs["width"][done], scale[done]))[0]]
    if d0 is not None and d1 is not None:
        u0, u1 = _unit(d0[r]), _unit(d1[r])
        fig, ax = figures.new(4, 1, width=3.6, height=3.6)
        for axis, u, when in ((ax[0], u0, "init"), (ax[1], u1, "end")):
            t = np.linspace(0, 2 * np.pi, 200)
            axis.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
            axis.scatter(u[:, 0], u[:, 1], s=10, alpha=0.6)
            axis.set_aspect("equal")
            axis.set_xlabel("component 1 (weight)")
            axis.set_ylabel("component 2" + (" (bias)" if u.shape[1] == 2 else ""))
            axis.set_title(f"directions at {when}")
        for axis, u, when in ((ax[2], u0, "init"), (ax[3], u1, "end")):
            order = np.argsort(np.arctan2(u1[:, 1], u1[:, 0])) if len(u1) == len(u) else np.arange(len(u))
            cos = u[order] @ u[order].T
            im = axis.imshow(cos, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
            axis.set_title(f"cosine similarity at {when}")
            axis.set_xlabel("neuron (sorted by final angle)")
            axis.set_ylabel("neuron")
            axis.grid(False)
        fig.colorbar(im, ax=ax[3], fraction=0.046, label="cos")
        s.figures.append(figures.save(fig, outdir, "condensation_directions",
                                      f"Run {int(a.runs['run'][r])} (init scale {scale[r]:g}, width "
                                      f"{int(a.runs['width'][r])}): directions and cosine similarity."))
    extra = {}
    if change is not None:
        extra["change"] = last_finite(change)
    if clusters is not None:
        extra["clusters"] = last_finite(clusters)
    cosm = a.measure("cond_mean_abs_cos")
    if cosm is not None:
        extra["cos"] = last_finite(cosm)
    by = [x for x in ("width", "init_scale") if x in a.grid]
    if not by or not extra:
        return s
    g = group_by(a.runs, by, [], extra=extra)
    z = "change" if "change" in extra else next(iter(extra))
    fig, ax = figures.new(1, 1, width=6.0, height=4.4)
    if len(by) == 2:
        W, S = np.unique(g["width"]), np.unique(g["init_scale"])
        Z = np.full((len(S), len(W)), np.nan)
        C = np.full_like(Z, np.nan)
        for row in g:
            i, j = np.searchsorted(S, row["init_scale"]), np.searchsorted(W, row["width"])
            Z[i, j] = row[f"{z}_mean"]
            if "clusters" in extra:
                C[i, j] = row["clusters_mean"]
        im = ax.imshow(np.log10(Z), origin="lower", aspect="auto", cmap="viridis")
        ax.grid(False)
        ax.set_xticks(range(len(W)))
        ax.set_xticklabels([f"{v:g}" for v in W])
        ax.set_yticks(range(len(S)))
        ax.set_yticklabels([f"{v:g}" for v in S])
        for i in range(len(S)):
            for j in range(len(W)):
                if np.isfinite(C[i, j]):
                    ax.text(j, i, f"{C[i, j]:.0f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(im, ax=ax, label=f"log10 final {z} (first layer)")
        ax.set_xlabel("width (hidden units)")
        ax.set_ylabel("init scale (multiplier of the init std)")
        ax.set_title("Phase diagram (numbers: clusters at end)")
    else:
        x = by[0]
        figures.band(ax, g[x], g[f"{z}_mean"], g[f"{z}_std"], z)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(f"final {z}")
        ax.set_title("Condensation measure")
    s.figures.append(figures.save(fig, outdir, "condensation_phase", "Condensation phase diagram."))
    s.table("Condensation at the end of training", by + ["runs"] + [f"{k} mean" for k in extra],
            [[fmt(row[b]) for b in by] + [int(row["n"])] + [fmt(row[f"{k}_mean"]) for k in extra] for row in g])
    if "init_scale" in by and "clusters" in extra:
        small = scale == np.nanmin(scale[done])
        large = scale == np.nanmax(scale[done])
        m = a.done()
        frac = np.nanmean(extra["clusters"][m & small] / a.runs["width"][m & small])
        holds = frac <= MAX_CLUSTER_FRACTION
        meas = f"clusters/width at smallest init {fmt(frac, 3)}"
        if "cos" in extra and np.nanmin(scale[done]) < np.nanmax(scale[done]):
            cs, cl = np.nanmean(extra["cos"][m & small]), np.nanmean(extra["cos"][m & large])
            holds = holds and cs > cl
            meas += f"; mean |cos| {fmt(cs, 3)} vs {fmt(cl, 3)} at largest"
        s.sign("condensation", meas, f"<= {MAX_CLUSTER_FRACTION} and |cos| higher at small init", bool(holds))
    return s
