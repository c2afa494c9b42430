"""loader — an overparam archive as tidy pandas / xarray objects.

    from analysis import open_archive
    a = open_archive("results/quick.h5")
    a.runs        # DataFrame, one row per run, a column per configuration key
    a.curves      # long: run, epoch, train_loss, test_loss, train_acc, test_acc
    a.measures    # long: run, measure, epoch (NaN if none), index, value
    a.kernels     # long: one row per kernel x ridge or time (time_convention:
                  # per_sample or neural_tangents, what the time means;
                  # val_mse, val_acc: [kernel] n_val's held-out scores)
    a.spectra     # long: kernel, i, eigenvalue64, eigenvalue32
    a.pred_classes  # kernel id -> predicted test classes [n_ridge][n_test]
    a.learning_curve()  # a.kernels sorted into curves: n_train a column
    a.precision   # float32 vs float64 regression per kernel x n_train x ridge
    a.dataset()   # xarray.Dataset over the swept axes, curves along epoch

Names come from the file, which describes itself (include/overparam/
schema.h): /runs's column_roles, column_units, column_axes and
column_missing, status_labels, /grid/<axis>'s labels (named axes), each
per-run dataset's units and dims (an "epoch" axis or not), and each
kernel dataset's role (metrics, spectrum) and its columns' roles. An
archive of another format_version is refused (ArchiveVersionError).
Everything is read into memory and the file closed.

Conventions (the same as `overparam info`):
  - test_mse / train_mse = 2 x the stored loss 0.5 mean_i |f(x_i) - y_i|^2
    (runs and kernels alike); a kernel row's status is done or failed;
  - status is a category (pending, done, diverged, failed);
  - fit_epoch is NaN when the training set was never fitted (-1 on file);
  - named axes (corruption, parameterization, ...) are labelled categories;
  - a kernel-only job's placeholder run ([train] epochs = 0) is hidden;
  - a kernel's `curve` is its group id less the _n<n_train> a learning
    curve ([kernel] n_train) adds: one curve, one value of n_train a row;
  - spreads over seeds are sample standard deviations (ddof = 1).
"""
import configparser
import os
import shutil
import subprocess

import h5py
import numpy as np
import pandas as pd

#: the archive format this loader reads: OP_FORMAT_VERSION of
#: include/overparam/schema.h (tests/t_analysis.sh checks they agree)
FORMAT_VERSION = 2


class ArchiveVersionError(ValueError):
    """The file is not an overparam archive of FORMAT_VERSION."""


def _strings(v):
    """A string-array attribute (or a missing one) as a list of str."""
    if v is None:
        return []
    return [x.decode("utf-8", "replace") if isinstance(x, (bytes, np.bytes_)) else str(x)
            for x in np.atleast_1d(v)]


def check_version(path, attrs):
    """Raises ArchiveVersionError unless attrs are those of an overparam
    archive of FORMAT_VERSION."""
    if _text(attrs.get("program", "")) != "overparam":
        raise ArchiveVersionError(f"{path}: not an overparam archive (no 'program' attribute)")
    v = attrs.get("format_version")
    v = _text(v) if v is not None else None
    if v != FORMAT_VERSION:
        raise ArchiveVersionError(
            f"{path}: archive format version {v if v is not None else 'missing'}, "
            f"this loader reads version {FORMAT_VERSION} only (rerun the job with the "
            f"matching overparam)")


def _text(v):
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size == 1 else v.tolist()
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8", "replace").rstrip("\x00").strip()
    if isinstance(v, str):
        return v.rstrip("\x00").strip()
    if isinstance(v, np.generic):
        return v.item()
    return v


def parse_job(text):
    """The archived job text as a ConfigParser (';' and '#' comments)."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=("#", ";"), strict=False,
                                   interpolation=None)
    try:
        cp.read_string(text or "")
    except configparser.Error:
        pass
    return cp


_KEYS = None


def parse_keys(text):
    """[(section, key, default, sweepable)] from the key table `overparam
    keys` prints (| section | key | default | allowed | grid | meaning |)."""
    out = []
    for line in (text or "").splitlines():
        f = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(f) >= 5 and f[0] not in ("section", "") and not f[0].startswith("-"):
            out.append((f[0], f[1], f[2], f[4] == "yes"))
    return out


def job_keys():
    """The key table of the overparam binary found beside this checkout or
    on PATH ([] without one): only for archives written before they carried
    their own (the `job_keys` attribute, Archive.keys)."""
    global _KEYS
    if _KEYS is not None:
        return _KEYS
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [os.environ.get("OVERPARAM", ""),
             os.path.join(here, "..", os.environ.get("BUILD", "build"), "overparam"),
             os.path.join(here, "..", "build", "overparam"), shutil.which("overparam") or ""]
    _KEYS = []
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            try:
                out = subprocess.run([c, "keys"], capture_output=True, text=True,
                                     timeout=20).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            _KEYS = parse_keys(out)
            if _KEYS:
                break
    return _KEYS


def _number(s):
    try:
        x = float(s)
    except (TypeError, ValueError):
        return s
    return int(x) if x.is_integer() and "." not in str(s) and "e" not in str(s).lower() else x


class Archive:
    """One archive in memory; see the module docstring."""

    def __init__(self, path):
        self.path = str(path)
        with h5py.File(self.path, "r") as f:
            self.attrs = {k: _text(v) for k, v in f.attrs.items()}
            check_version(self.path, self.attrs)
            self.job = parse_job(self.attrs.get("job_text", ""))
            # every key with its default, as the program that wrote the file
            # knew them (a binary's table only for files without one)
            self.keys = parse_keys(self.attrs.get("job_keys")) or job_keys()
            raw = f["runs"][:] if "runs" in f else None
            # /runs's columns as the file declares them
            self.columns = pd.DataFrame(columns=["column", "role", "units", "axis", "missing"])
            self.status_labels = []
            if raw is not None:
                ra = f["runs"].attrs
                n = len(raw.dtype.names)
                col = lambda k: (_strings(ra.get(k)) + [""] * n)[:n]   # noqa: E731
                miss = np.atleast_1d(ra.get("column_missing", np.full(n, np.nan))).astype(float)
                self.columns = pd.DataFrame({"column": list(raw.dtype.names),
                                             "role": col("column_roles"),
                                             "units": col("column_units"),
                                             "axis": col("column_axes"),
                                             "missing": np.resize(miss, n)})
                self.status_labels = _strings(ra.get("status_labels"))
            self.axes, self.labels, self.grid = [], {}, {}
            # the /runs column each swept axis feeds (column_axes: a key named
            # like a result column is stored as cfg_<key>)
            self.axis_column = {r.axis: r.column for r in self.columns.itertuples() if r.axis}
            for name, d in f.get("grid", {}).items():
                self.axes.append(name)
                self.grid[name] = np.asarray(d[:], float)   # the axis values, grid order
                lab = _strings(d.attrs.get("labels"))        # named axes only
                self.labels[name] = (dict(zip(np.asarray(d[:], float), lab)) if lab else None)
            curves = {k: np.asarray(v[:], float) for k, v in f.get("curves", {}).items()}
            self.units = {k: _text(v.attrs.get("units", "")) for k, v in f.get("curves", {}).items()}
            self.units.update({r.column: r.units for r in self.columns.itertuples() if r.units})
            meas, self._dims = {}, {}
            for k, v in f.get("measures", {}).items():
                if isinstance(v, h5py.Dataset):
                    meas[k] = np.asarray(v[:], float)
                    self.units[k] = _text(v.attrs.get("units", ""))
                    self._dims[k] = _strings(v.attrs.get("dims"))
            self._read_kernels(f)
        self.phenomena = [p.strip() for p in self.job_value("job", "phenomena", "none").split(",")
                          if p.strip() and p.strip() != "none"]
        self.all_runs = self._runs_frame(raw)
        placeholder = float(self.job_value("train", "epochs", 1)) == 0 and "epochs" not in self.axes
        self.runs = self.all_runs.iloc[0:0] if placeholder else self.all_runs
        keep = set(self.runs["run"]) if len(self.runs) else set()
        self.curves = self._curves_frame(curves, keep)
        self.measures = self._measures_frame(meas, self._dims, curves.get("epoch"), keep)
        self._meas_raw = meas
        self._curves_raw = curves
        self.run_fields = list(raw.dtype.names) if raw is not None else []   # /runs columns

    # --- job text -------------------------------------------------------
    def job_value(self, section, key, default=None):
        """[section] key of the archived job text, else the engine default."""
        if self.job.has_option(section, key):
            return self.job.get(section, key).strip()
        for s, k, d, _ in self.keys:
            if s == section and k == key:
                return d
        return default

    # --- runs -----------------------------------------------------------
    def _runs_frame(self, raw):
        if raw is None:
            return pd.DataFrame(columns=["run", "status"])
        df = pd.DataFrame({n: raw[n] for n in raw.dtype.names})
        cols = self.columns.set_index("column")
        labels = self.status_labels
        for c in cols.index[cols["role"] == "status"]:
            df[c] = pd.Categorical.from_codes(df[c].clip(0, len(labels) - 1).astype(int), labels)
        # a column's declared missing value (fit_epoch -1: never fitted) is NaN
        for c, m in cols["missing"].items():
            if np.isfinite(m):
                df[c] = df[c].astype(float).where(df[c] != m)

        # the archive's losses are 0.5 mean_i |f(x_i) - y_i|^2 for mse; the
        # test MSE (squared error summed over outputs, mean over samples) is
        # twice that, the same convention as a.kernels' test_mse
        if str(self.job_value("train", "loss", "mse")) == "mse":
            for s in ("train", "test"):
                if f"{s}_loss" in df:
                    df[f"{s}_mse"] = 2 * df[f"{s}_loss"]
        # every configuration key: the run's own column when /runs has it,
        # else the job file's value (or the engine default) for all runs
        # a run's own sections (data, model, train, measure) get the bare key
        # name; a clash elsewhere (job.seed, kernel.depth, output.path) is
        # prefixed with its section
        names = [k for _, k, _, _ in self.keys]
        for s, k, d, _ in self.keys:
            own = s in ("data", "model", "train", "measure")
            col = k if own or names.count(k) == 1 else f"{s}.{k}"
            if (s, k) == ("train", "seed") or col in df.columns:
                continue   # the run's own column (train.seed is the seed axis)
            v = self.job.get(s, k).strip() if self.job.has_option(s, k) else d
            v = {"true": True, "false": False}.get(v, v)
            df[col] = _number(v) if isinstance(v, str) else v
        for ax in self.axes:
            lab, c = self.labels.get(ax), self.axis_column.get(ax)
            if lab and c in df:
                vals = [lab[v] for v in sorted(lab)]
                df[c] = pd.Categorical(df[c].astype(float).map(lab), categories=vals, ordered=True)
        return df

    def swept(self):
        """The swept axes (grid order)."""
        return list(self.axes)

    # --- curves and measures -------------------------------------------
    @staticmethod
    def _curves_frame(curves, keep):
        if "epoch" not in curves:
            return pd.DataFrame(columns=["run", "epoch"])
        ep = curves["epoch"]
        n_runs, n_log = ep.shape
        run = np.repeat(np.arange(n_runs), n_log)
        d = {"run": run, "epoch": ep.reshape(-1)}
        for k, v in curves.items():
            if k != "epoch":
                d[k] = v.reshape(-1)
        df = pd.DataFrame(d)
        df = df[np.isfinite(df["epoch"]) & df["run"].isin(keep)]
        return df.reset_index(drop=True)

    @staticmethod
    def _measures_frame(meas, dims, epoch, keep):
        parts = []
        n_log = epoch.shape[1] if epoch is not None else -1
        for name, v in meas.items():
            n_runs = v.shape[0]
            d = dims.get(name, [])
            timed = v.ndim >= 2 and v.shape[1] == n_log and len(d) > 1 and d[1] == "epoch"
            w = v.reshape(n_runs, n_log, -1) if timed else v.reshape(n_runs, 1, -1)
            r, t, i = np.meshgrid(np.arange(n_runs), np.arange(w.shape[1]), np.arange(w.shape[2]),
                                  indexing="ij")
            df = pd.DataFrame({"run": r.ravel(), "measure": name,
                               "epoch": epoch[r.ravel(), t.ravel()] if timed else np.nan,
                               "index": i.ravel(), "value": w.ravel()})
            parts.append(df[np.isfinite(df["value"]) & df["run"].isin(keep)])
        if not parts:
            return pd.DataFrame(columns=["run", "measure", "epoch", "index", "value"])
        return pd.concat(parts, ignore_index=True)

    def measure_last(self, name):
        """A per-epoch measure's value at each run's last logged point (Series by run)."""
        m = self.measures[self.measures["measure"] == name]
        if m.empty:
            return pd.Series(dtype=float)
        return m.sort_values("epoch").groupby("run")["value"].last()

    def measure_array(self, name):
        """The raw /measures array (runs first), or None."""
        return self._meas_raw.get(name)

    def curve_array(self, name):
        """The raw /curves array [n_runs][n_log] (NaN where not logged), or None."""
        return self._curves_raw.get(name)

    # --- kernels --------------------------------------------------------
    def _read_kernels(self, f):
        rows, spec, info, prec = [], [], [], []
        self.pred_classes = {}
        for kid, g in f.get("kernels", {}).items():
            # the predicted test class (argmax over outputs) per ridge, in
            # metrics_ridge's row order: paired comparisons of two kernels
            # on the same test points need no more of pred_ridge
            if "pred_ridge" in g and g["pred_ridge"].ndim == 3 and g["pred_ridge"].shape[2] > 1:
                self.pred_classes[kid] = np.argmax(g["pred_ridge"][:], axis=-1).astype(np.int16)
            at = {k: _text(v) for k, v in g.attrs.items()}
            info.append(dict(id=kid, **{k: v for k, v in at.items() if not isinstance(v, list)}))
            curve = kid
            n_tr = at.get("n_train")
            if n_tr is not None and kid.endswith(f"_n{int(n_tr)}"):
                curve = kid[: -len(f"_n{int(n_tr)}")]
            # float32 against float64 ([kernel] precision = compare): the
            # role "precision" dataset beside float64's metrics_ridge
            if "metrics_ridge32" in g and "metrics_ridge" in g:
                d32, d64 = g["metrics_ridge32"], g["metrics_ridge"]
                lab = _strings(d32.attrs.get("status_labels"))
                label = lambda c: lab[c] if 0 <= c < len(lab) else str(c)  # noqa: E731
                for r32, r64 in zip(d32[:], d64[:]):
                    prec.append(dict(
                        curve=curve, kernel=kid, kind=at.get("kind"), depth=at.get("depth"),
                        n_train=n_tr, ridge=float(r32["ridge"]), epsilon=float(r32["epsilon"]),
                        test_mse64=2 * float(r64["mse"]), test_mse32=2 * float(r32["mse"]),
                        test_acc64=float(r64["acc"]), test_acc32=float(r32["acc"]),
                        residual64=float(r32["residual64"]), residual32=float(r32["residual"]),
                        status64=label(int(r64["status"])), status32=label(int(r32["status"]))))
            # time_convention says what a row's time means (per_sample:
            # exp(-lambda t/n); neural_tangents: exp(-lambda t/(n k)));
            # older archives stated only the per-sample formula
            base = dict(kernel=kid, curve=curve, kind=at.get("kind"), activation=at.get("activation"),
                        depth=at.get("depth"), parameterization=at.get("parameterization"),
                        n_train=at.get("n_train"),
                        time_convention=at.get("time_convention", "per_sample")
                        if at.get("time_convention") in ("per_sample", "neural_tangents")
                        else "per_sample")
            # the datasets whose role is "metrics": one row per value of
            # their first coordinate column (ridge, time); the file names
            # the columns and their roles (schema.h's OP_KERNEL_RIDGE/TIME)
            for dsn, d in g.items():
                if not isinstance(d, h5py.Dataset) or _text(d.attrs.get("role", "")) != "metrics":
                    continue
                names = list(d.dtype.names)
                roles = dict(zip(names, _strings(d.attrs.get("column_roles"))))
                coords = [c for c in names if roles.get(c) == "coordinate"]
                status = [c for c in names if roles.get(c) == "status"]
                # [kernel] n_val: the same ridges scored on held-out
                # training points (role "validation"), to choose a ridge by
                val = (g["metrics_ridge_val"][:] if dsn == "metrics_ridge" and "metrics_ridge_val" in g
                       else None)
                for i, r in enumerate(d[:]):
                    row = dict(base, by=coords[0] if coords else dsn,
                               ridge=np.nan, epsilon=np.nan, time=np.nan, val_mse=np.nan, val_acc=np.nan)
                    if val is not None and i < len(val):
                        row.update(val_mse=2 * float(val[i]["mse"]), val_acc=float(val[i]["acc"]))
                    row.update({c: float(r[c]) for c in coords})
                    row.update(test_mse=2 * float(r["mse"]), test_acc=float(r["acc"]),
                               status="done" if not status or int(r[status[0]]) == 0 else "failed")
                    rows.append(row)
            # spectra by role; the precision is the dataset's own type
            spectra = {f"float{8 * d.dtype.itemsize}": k for k, d in g.items()
                       if isinstance(d, h5py.Dataset) and _text(d.attrs.get("role", "")) == "spectrum"}
            if "float64" in spectra:
                e64 = np.asarray(g[spectra["float64"]][:], float)
                e32 = (np.asarray(g[spectra["float32"]][:], float) if "float32" in spectra
                       else np.full_like(e64, np.nan))
                spec.append(pd.DataFrame({"kernel": kid, "kind": at.get("kind"),
                                          "i": np.arange(1, e64.size + 1),
                                          "eigenvalue64": e64, "eigenvalue32": e32}))
        cols = ["kernel", "curve", "kind", "activation", "depth", "parameterization", "n_train",
                "by", "ridge", "epsilon", "time", "time_convention", "test_mse", "test_acc",
                "val_mse", "val_acc", "status"]
        self.kernels = pd.DataFrame(rows, columns=cols)
        if len(self.kernels):
            self.kernels["status"] = self.kernels["status"].astype("category")
        self.spectra = (pd.concat(spec, ignore_index=True) if spec else
                        pd.DataFrame(columns=["kernel", "kind", "i", "eigenvalue64", "eigenvalue32"]))
        self.kernel_info = pd.DataFrame(info).set_index("id") if info else pd.DataFrame()
        pcols = ["curve", "kernel", "kind", "depth", "n_train", "ridge", "epsilon",
                 "test_mse64", "test_mse32", "test_acc64", "test_acc32",
                 "residual64", "residual32", "status64", "status32"]
        self.precision = (pd.DataFrame(prec, columns=pcols)
                          .sort_values(["curve", "ridge", "n_train"], ignore_index=True))

    def learning_curve(self):
        """a.kernels as learning curves: one row per curve (the kernel less
        its size), metric coordinate (ridge or time) and n_train, sorted so
        each curve reads down n_train. An archive without [kernel] n_train
        gives one point per curve."""
        k = self.kernels.copy()
        k["n_train"] = pd.to_numeric(k["n_train"])
        return k.sort_values(["curve", "by", "ridge", "time", "n_train"], ignore_index=True)

    # --- xarray ---------------------------------------------------------
    def dataset(self):
        """xarray.Dataset over the swept axes (seed included): the runs'
        results as variables, the curves along a further `epoch` axis."""
        import xarray as xr
        axes = [self.axis_column.get(a, a) for a in self.axes
                if self.axis_column.get(a, a) in self.runs.columns] or ["run"]
        scal = [c for c in ("status", "n_params", "train_loss", "test_loss", "train_acc",
                            "test_acc", "epochs", "fit_epoch", "seconds") if c in self.runs]
        r = self.runs[axes + scal + (["run"] if "run" not in axes else [])].copy()
        for a in axes:
            if isinstance(r[a].dtype, pd.CategoricalDtype):
                r[a] = r[a].astype(str)
        r["status"] = r["status"].astype(str)
        ds = r.set_index(axes).to_xarray()
        if len(self.curves):
            c = self.curves.merge(r[axes + (["run"] if "run" not in axes else [])], on="run")
            cv = c.drop(columns=["run"] if "run" not in axes else []).set_index(axes + ["epoch"])
            cv = cv[~cv.index.duplicated()]
            ds = xr.merge([ds, cv.to_xarray().rename(
                {k: f"curve_{k}" for k in cv.columns})])
        ds.attrs["path"] = self.path
        return ds

    def __repr__(self):
        return (f"<Archive {self.path}: {len(self.runs)} runs, axes {self.axes}, "
                f"{self.kernels['kernel'].nunique() if len(self.kernels) else 0} kernels, "
                f"phenomena {self.phenomena or 'none'}>")


def open_archive(path):
    """Reads the archive at `path` (see Archive)."""
    return Archive(path)
