"""Figure helpers: Agg backend, a consistent style, and saving each figure
as PNG and SVG into the report directory."""
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STYLE = {"figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
         "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8,
         "figure.autolayout": False, "svg.fonttype": "none"}


class Figure:
    """A saved figure: name, caption and the paths of its PNG and SVG."""

    def __init__(self, name, caption, png, svg):
        self.name, self.caption, self.png, self.svg = name, caption, png, svg


def new(ncols=1, nrows=1, width=5.2, height=3.8, **kw):
    """A figure with ncols x nrows axes of the given size each (inches)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)
    return fig, ax.ravel() if ax.size > 1 else ax[0, 0]


def save(fig, outdir, name, caption):
    """Writes outdir/name.png and .svg, closes the figure, returns Figure."""
    with plt.rc_context(STYLE):
        with warnings.catch_warnings():  # colorbar axes: tight_layout warns, still fine
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
        png, svg = os.path.join(outdir, name + ".png"), os.path.join(outdir, name + ".svg")
        fig.savefig(png)
        fig.savefig(svg)
    plt.close(fig)
    return Figure(name, caption, png, svg)


def band(ax, x, mean, std, label=None, color=None, marker="o", **kw):
    """Line with markers and a mean +- std band."""
    x, mean, std = (np.asarray(v, float) for v in (x, mean, std))
    line, = ax.plot(x, mean, marker=marker, ms=4, label=label, color=color, **kw)
    ok = np.isfinite(mean) & np.isfinite(std)
    if ok.any() and np.any(std[ok] > 0):
        ax.fill_between(x[ok], (mean - std)[ok], (mean + std)[ok], color=line.get_color(), alpha=0.2, lw=0)
    return line


def colors(n, cmap="viridis"):
    """n distinct colors from a colormap."""
    cm = plt.get_cmap(cmap)
    return [cm(v) for v in np.linspace(0.0, 0.9, max(n, 1))]
