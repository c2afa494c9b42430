"""loader — an overparam archive as tidy pandas / xarray objects.

    from analysis import open_archive
    a = open_archive("results/quick.h5")
    a.runs        # DataFrame, one row per run, a column per configuration key
    a.curves      # long: run, epoch, train_loss, test_loss, train_acc, test_acc
    a.measures    # long: run, measure, epoch (NaN if none), index, value
    a.kernels     # long: one row per kernel x ridge or time
    a.spectra     # long: kernel, i, eigenvalue64, eigenvalue32
    a.dataset()   # xarray.Dataset over the swept axes, curves along epoch

Names come from the file: dataset and column names as the engine writes
them (/runs, /grid/<axis> with its "labels" attribute, /curves/<name>,
/measures/<name>, /kernels/<id>/metrics_ridge, metrics_time, eigenvalues64,
eigenvalues32 and the group's attributes). Everything is read into memory
and the file closed.

Conventions (the same as `overparam info`):
  - test_mse / train_mse = 2 x the stored loss 0.5 mean_i |f(x_i) - y_i|^2
    (runs and kernels alike); a kernel row's status is done or failed;
  - status is a category (pending, done, diverged, failed);
  - fit_epoch is NaN when the training set was never fitted (-1 on file);
  - named axes (corruption, parameterization, ...) are labelled categories;
  - a kernel-only job's placeholder run ([train] epochs = 0) is hidden;
  - spreads over seeds are sample standard deviations (ddof = 1).
"""
import configparser
import os
import shutil
import subprocess

import h5py
import numpy as np
import pandas as pd

STATUS = ["pending", "done", "diverged", "failed"]   # op_run_status codes 0..3
#: measures without an epoch axis (everything else of shape [runs][n_log]...)
_NO_EPOCH = {"freq_values", "freq_converge_epoch", "cond_dirs_init", "cond_dirs_end"}


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


def job_keys():
    """[(section, key, default, sweepable)] from `overparam keys` (the key
    table in src/job.c is their one definition); [] without the binary."""
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
            for line in out.splitlines():
                f = [x.strip() for x in line.strip().strip("|").split("|")]
                if len(f) >= 5 and f[0] not in ("section", "") and not f[0].startswith("-"):
                    _KEYS.append((f[0], f[1], f[2], f[4] == "yes"))
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
            self.job = parse_job(self.attrs.get("job_text", ""))
            raw = f["runs"][:] if "runs" in f else None
            self.axes, self.labels, self.grid = [], {}, {}
            for name, d in f.get("grid", {}).items():
                self.axes.append(name)
                self.grid[name] = np.asarray(d[:], float)   # the axis values, grid order
                lab = _text(d.attrs.get("labels", ""))
                lab = lab.split(",") if lab else []
                named = any(isinstance(_number(x), str) for x in lab)   # enum names, not numbers
                self.labels[name] = (dict(zip(np.asarray(d[:], float), lab)) if named else None)
            curves = {k: np.asarray(v[:], float) for k, v in f.get("curves", {}).items()}
            self.units = {k: _text(v.attrs.get("units", "")) for k, v in f.get("curves", {}).items()}
            meas = {}
            for k, v in f.get("measures", {}).items():
                if isinstance(v, h5py.Dataset):
                    meas[k] = np.asarray(v[:], float)
                    self.units[k] = _text(v.attrs.get("units", ""))
            self._read_kernels(f)
        self.phenomena = [p.strip() for p in self.job_value("job", "phenomena", "none").split(",")
                          if p.strip() and p.strip() != "none"]
        self.all_runs = self._runs_frame(raw)
        placeholder = float(self.job_value("train", "epochs", 1)) == 0 and "epochs" not in self.axes
        self.runs = self.all_runs.iloc[0:0] if placeholder else self.all_runs
        keep = set(self.runs["run"]) if len(self.runs) else set()
        self.curves = self._curves_frame(curves, keep)
        self.measures = self._measures_frame(meas, curves.get("epoch"), keep)
        self._meas_raw = meas
        self._curves_raw = curves
        self.run_fields = list(raw.dtype.names) if raw is not None else []   # /runs columns

    # --- job text -------------------------------------------------------
    def job_value(self, section, key, default=None):
        """[section] key of the archived job text, else the engine default."""
        if self.job.has_option(section, key):
            return self.job.get(section, key).strip()
        for s, k, d, _ in job_keys():
            if s == section and k == key:
                return d
        return default

    # --- runs -----------------------------------------------------------
    def _runs_frame(self, raw):
        if raw is None:
            return pd.DataFrame(columns=["run", "status"])
        df = pd.DataFrame({n: raw[n] for n in raw.dtype.names})
        df["status"] = pd.Categorical.from_codes(df["status"].clip(0, 3).astype(int), STATUS)
        if "fit_epoch" in df:
            df["fit_epoch"] = df["fit_epoch"].astype(float).where(df["fit_epoch"] >= 0)
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
        names = [k for _, k, _, _ in job_keys()]
        for s, k, d, _ in job_keys():
            own = s in ("data", "model", "train", "measure")
            col = k if own or names.count(k) == 1 else f"{s}.{k}"
            if (s, k) == ("train", "seed") or col in df.columns:
                continue   # the run's own column (train.seed is the seed axis)
            v = self.job.get(s, k).strip() if self.job.has_option(s, k) else d
            v = {"true": True, "false": False}.get(v, v)
            df[col] = _number(v) if isinstance(v, str) else v
        for ax in self.axes:
            lab = self.labels.get(ax)
            if lab and ax in df:
                vals = [lab[v] for v in sorted(lab)]
                df[ax] = pd.Categorical(df[ax].astype(float).map(lab), categories=vals, ordered=True)
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
    def _measures_frame(meas, epoch, keep):
        parts = []
        n_log = epoch.shape[1] if epoch is not None else -1
        for name, v in meas.items():
            n_runs = v.shape[0]
            timed = v.ndim >= 2 and v.shape[1] == n_log and name not in _NO_EPOCH
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
        rows, spec, info = [], [], []
        for kid, g in f.get("kernels", {}).items():
            at = {k: _text(v) for k, v in g.attrs.items()}
            info.append(dict(id=kid, **{k: v for k, v in at.items() if not isinstance(v, list)}))
            base = dict(kernel=kid, kind=at.get("kind"), activation=at.get("activation"),
                        depth=at.get("depth"), parameterization=at.get("parameterization"),
                        n_train=at.get("n_train"))
            for dsn, axis in (("metrics_ridge", "ridge"), ("metrics_time", "time")):
                if dsn in g:
                    for r in g[dsn][:]:
                        rows.append(dict(base, by=axis,
                                         ridge=float(r["ridge"]) if axis == "ridge" else np.nan,
                                         epsilon=float(r["epsilon"]) if axis == "ridge" else np.nan,
                                         time=float(r["time"]) if axis == "time" else np.nan,
                                         test_mse=2 * float(r["mse"]), test_acc=float(r["acc"]),
                                         status="done" if int(r["status"]) == 0 else "failed"))
            if "eigenvalues64" in g:
                e64 = np.asarray(g["eigenvalues64"][:], float)
                e32 = (np.asarray(g["eigenvalues32"][:], float) if "eigenvalues32" in g
                       else np.full_like(e64, np.nan))
                spec.append(pd.DataFrame({"kernel": kid, "kind": at.get("kind"),
                                          "i": np.arange(1, e64.size + 1),
                                          "eigenvalue64": e64, "eigenvalue32": e32}))
        cols = ["kernel", "kind", "activation", "depth", "parameterization", "n_train", "by",
                "ridge", "epsilon", "time", "test_mse", "test_acc", "status"]
        self.kernels = pd.DataFrame(rows, columns=cols)
        if len(self.kernels):
            self.kernels["status"] = self.kernels["status"].astype("category")
        self.spectra = (pd.concat(spec, ignore_index=True) if spec else
                        pd.DataFrame(columns=["kernel", "kind", "i", "eigenvalue64", "eigenvalue32"]))
        self.kernel_info = pd.DataFrame(info).set_index("id") if info else pd.DataFrame()

    # --- xarray ---------------------------------------------------------
    def dataset(self):
        """xarray.Dataset over the swept axes (seed included): the runs'
        results as variables, the curves along a further `epoch` axis."""
        import xarray as xr
        axes = [a for a in self.axes if a in self.runs.columns] or ["run"]
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
