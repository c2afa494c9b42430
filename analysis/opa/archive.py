"""The report sections' view of an archive, built from analysis.loader (the
one reader of the file: no HDF5 here).

The sections work on numpy arrays aligned by run, so this view turns the
loader's tables back into them:
  runs      structured array [n_runs] with the /runs columns (named axes as
            their grid values, status as its code, fit_epoch NaN when never
            fitted); the loader's hidden placeholder run is absent here too
  grid      {axis: values}; label(axis, value) its text
  curves    {name: [n_runs][n_log]}, measures {name: [n_runs][...]}, units
  kernels   [Kernel] (kernels.py), from the loader's kernel tables
"""
import numpy as np
import pandas as pd

from ..loader import open_archive
from .kernels import kernels_of

#: classes of the built-in data sources (synthetic ones read [data] classes)
SOURCE_CLASSES = {"fashion_mnist": 10}


class Archive:
    """Arrays by run for the report sections (see the module docstring)."""

    def __init__(self, loaded):
        a = self.loaded = loaded
        self.path, self.attrs, self.job = a.path, a.attrs, a.job
        self.grid = dict(a.grid)
        keep = a.runs["run"].to_numpy(int) if len(a.runs) else np.zeros(0, int)
        # the /runs columns, and the loader's test/train MSE (2 x the 0.5
        # mean squared loss: its one definition)
        cols = [c for c in a.run_fields if c in a.runs.columns]
        cols += [c for c in ("train_mse", "test_mse") if c in a.runs.columns and c not in cols]
        dt, data = [], {}
        for c in cols:
            v = a.runs[c]
            if c == "status":
                v = v.cat.codes.astype(int) if len(v) else v
            elif isinstance(v.dtype, pd.CategoricalDtype):   # named axis -> its grid value
                inv = {lab: val for val, lab in (a.labels.get(c) or {}).items()}
                v = v.astype(str).map(inv).astype(float)
            data[c] = np.asarray(v)
            dt.append((c, data[c].dtype if data[c].dtype != object else float))
        self.runs = np.zeros(len(keep), dtype=dt)
        for c in cols:
            self.runs[c] = data[c]
        self.curves = {k: v[keep] for k, v in a._curves_raw.items()}
        self.measures = {k: v[keep] for k, v in a._meas_raw.items()}
        self.units = dict(a.units)
        self.kernels = kernels_of(a)

    # --- job file -------------------------------------------------------
    def job_value(self, section, key, default=None):
        """A [section] key of the job text (str), else the engine default."""
        return self.loaded.job_value(section, key, default)

    def n_classes(self):
        """K: classes of the data source (10 for Fashion-MNIST)."""
        src = self.job_value("data", "source")
        return SOURCE_CLASSES.get(src) or int(float(self.job_value("data", "classes")))

    def n_train(self):
        """n: training-set size per run (a swept n_train column wins)."""
        if self.has_field("n_train"):
            return self.runs["n_train"].astype(float)
        return np.full(len(self.runs), float(self.job_value("data", "n_train")))

    def input_dim(self):
        """d: input dimension (784/downsample^2 for Fashion-MNIST, 1 for sines)."""
        src = self.job_value("data", "source")
        if src == "fashion_mnist":
            return (28 // int(float(self.job_value("data", "downsample")))) ** 2
        if src == "sines":
            return 1
        return int(float(self.job_value("data", "dim")))

    # --- runs -----------------------------------------------------------
    def has_field(self, name):
        return self.runs.dtype.names is not None and name in self.runs.dtype.names

    def swept(self):
        """Swept axes (from /grid), in archive order."""
        return list(self.grid)

    def done(self):
        """Boolean mask of finished runs (status 1)."""
        return self.runs["status"] == self.loaded.status_labels.index("done")

    def status_counts(self):
        """{status name: count} over all four codes."""
        st = self.runs["status"]
        return {name: int(np.sum(st == code))
                for code, name in enumerate(self.loaded.status_labels)}

    def label(self, axis, value):
        """Text label of a grid value (enum names, or a short number)."""
        lab = self.loaded.labels.get(axis)
        if lab:
            for v, t in lab.items():
                if np.isclose(v, value):
                    return t
        return f"{value:g}"

    def measure(self, name):
        """A /measures dataset (rows = runs) or None."""
        return self.measures.get(name)


def load(path):
    """The sections' view of the archive at `path`, read by analysis.loader."""
    return Archive(open_archive(path))
