"""Loader: an overparam HDF5 archive read into plain numpy objects.

Everything is read into memory and the file closed, so an Archive can be
kept in a notebook while the engine writes another file. Layout read (see
include/overparam/archive.h):
  /            attributes (format_version, job_text, n_runs, ...)
  /runs        compound [n_runs] -> numpy structured array
  /grid/<axis> float64 values, attribute "labels" (comma-separated)
  /curves/<n>  float64 [n_runs][n_log]
  /measures/<n> float64 [n_runs][...] (attribute "units" when present)
  /kernels/<id>/ see kernels.py
"""
import configparser

import h5py
import numpy as np

from .kernels import load_kernels

STATUS_NAMES = {0: "pending", 1: "done", 2: "diverged", 3: "failed"}
#: classes of the built-in data sources (synthetic ones read [data] classes)
SOURCE_CLASSES = {"fashion_mnist": 10}
JOB_DEFAULTS = {("data", "source"): "fashion_mnist", ("data", "n_train"): "1000",
                ("data", "classes"): "2", ("data", "dim"): "16",
                ("data", "downsample"): "1"}


def _text(value):
    """Attribute value (bytes, numpy bytes/str, array of one) as str."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace").rstrip("\x00").strip()
    if isinstance(value, str):
        return value.rstrip("\x00").strip()
    return value


def _attrs(obj):
    """All attributes of an h5py object as a dict of str or numbers."""
    out = {}
    for k, v in obj.attrs.items():
        v = _text(v)
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def parse_job(text):
    """The INI job text as a ConfigParser (';' inline comments)."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=("#", ";"), strict=False,
                                   interpolation=None)
    try:
        cp.read_string(text or "")
    except configparser.Error:
        pass
    return cp


class Archive:
    """One archive in memory: attrs, job, runs, grid, curves, measures, kernels."""

    def __init__(self, path):
        self.path = str(path)
        with h5py.File(self.path, "r") as f:
            self.attrs = _attrs(f)
            self.runs = f["runs"][:] if "runs" in f else np.zeros(0)
            self.run_attrs = _attrs(f["runs"]) if "runs" in f else {}
            self.grid, self.labels = {}, {}
            for name, d in f.get("grid", {}).items():
                self.grid[name] = np.asarray(d[:], dtype=float)
                lab = _text(d.attrs.get("labels", ""))
                self.labels[name] = lab.split(",") if lab else []
            self.curves = {k: np.asarray(v[:], float) for k, v in f.get("curves", {}).items()}
            self.measures, self.units = {}, {}
            for k, v in f.get("measures", {}).items():
                if isinstance(v, h5py.Dataset):
                    self.measures[k] = np.asarray(v[:], float)
                    self.units[k] = _text(v.attrs.get("units", ""))
                    self.units.update({f"{k}@{a}": _text(b) for a, b in v.attrs.items()})
            for k, v in f.get("curves", {}).items():
                self.units[k] = _text(v.attrs.get("units", ""))
            self.kernels = load_kernels(f["kernels"]) if "kernels" in f else []
        self.job = parse_job(self.attrs.get("job_text", ""))

    # --- job file -------------------------------------------------------
    def job_value(self, section, key, default=None):
        """A [section] key of the job text (str), else the engine default."""
        if self.job.has_option(section, key):
            return self.job.get(section, key).strip()
        return JOB_DEFAULTS.get((section, key), default)

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
        return self.runs["status"] == 1

    def status_counts(self):
        """{status name: count} over all four codes."""
        st = self.runs["status"]
        return {name: int(np.sum(st == code)) for code, name in STATUS_NAMES.items()}

    def label(self, axis, value):
        """Text label of a grid value (enum names, or a short number)."""
        vals, labs = self.grid.get(axis), self.labels.get(axis, [])
        if vals is not None and len(labs) == len(vals):
            i = np.flatnonzero(np.isclose(vals, value))
            if i.size:
                return labs[i[0]]
        return f"{value:g}"

    def measure(self, name):
        """A /measures dataset or None."""
        return self.measures.get(name)


def load(path):
    """Reads the archive at `path` (see Archive)."""
    return Archive(path)
