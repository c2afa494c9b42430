"""Tolerant reader of /kernels/<id>/ groups (NNGP/NTK results).

The writer's exact names may change, so every dataset of a kernel group is
collected by walking it, and the roles below are found by name patterns
(case-insensitive, on the path inside the group):

  eigenvalues  path contains "eig"; precision 32 when it contains "32"
               (eigenvalues32, eig/float32 ...), else 64
  ridge axis   "ridge", "ridge/eps", "ridge/epsilon", "ridge/values"
  ridge metric path contains "ridge" and one of test_mse/test_acc/... with
               the ridge axis' length (ridge_test_mse, ridge/test_acc ...)
  time axis    "time", "gd_time", "time/t", "gd/time"
  gd metric    path contains "gd" or "time" and a metric name, time's length
  power law    dataset or attribute whose name contains "exponent" (or
               "alpha") / "prefactor", with 32/64 in the name for the
               precision (default 64); else fitted here on the spectrum
Attributes kept: kernel, activation, depth, parameterization, sigma_w2,
sigma_b2, n_train, n_test (whatever the group carries).
"""
import numpy as np

METRICS = ("test_mse", "test_acc", "train_mse", "train_acc", "test_loss", "test_error")


def _walk(group, prefix=""):
    """{relative path: numpy array} of every dataset below group."""
    import h5py
    out = {}
    for name, obj in group.items():
        path = f"{prefix}{name}"
        if isinstance(obj, h5py.Dataset):
            try:
                out[path] = np.asarray(obj[()])
            except (TypeError, OSError):
                continue
        elif isinstance(obj, h5py.Group):
            out.update(_walk(obj, path + "/"))
    return out


def _walk_attrs(group, prefix=""):
    """{relative path@name or name: value} of every attribute below group."""
    import h5py
    from .archive import _text
    out = {}
    for k, v in group.attrs.items():
        v = _text(v)
        out[f"{prefix}{k}"] = v.item() if isinstance(v, np.generic) else v
    for name, obj in group.items():
        if isinstance(obj, h5py.Group):
            out.update(_walk_attrs(obj, f"{prefix}{name}/"))
        else:
            for k, v in obj.attrs.items():
                v = _text(v)
                out[f"{prefix}{name}@{k}"] = v.item() if isinstance(v, np.generic) else v
    return out


def _precision(path):
    return 32 if "32" in path else 64


def _metric_of(path):
    p = path.lower()
    for m in METRICS:
        if m in p:
            return m
    return None


def _axis(data, names):
    for n in names:
        for k, v in data.items():
            if k.lower() == n and v.ndim == 1:
                return k, np.asarray(v, float)
    return None, None


def powerlaw_fit(eig, lo=0.02, hi=0.5):
    """Fit lambda_i ~ c * i^-alpha on ranks [lo*n, hi*n] of the positive
    descending spectrum. Returns (alpha, c) (alpha > 0 for decay)."""
    from .stats import loglog_fit
    lam = np.sort(np.asarray(eig, float)[np.isfinite(eig)])[::-1]
    lam = lam[lam > 0]
    n = lam.size
    if n < 4:
        return float("nan"), float("nan")
    i = np.arange(1, n + 1)
    a, b = max(1, int(lo * n)), max(int(lo * n) + 3, int(hi * n))
    slope, c = loglog_fit(i[a - 1:b], lam[a - 1:b])
    return -slope, c


class Kernel:
    """One kernel computation: id, attrs, every dataset, and the roles."""

    def __init__(self, kid, data, attrs):
        self.id, self.data, self.attrs = kid, data, attrs
        self.eig = {}
        for k, v in data.items():
            if "eig" in k.lower() and v.ndim == 1 and v.size > 1 and np.issubdtype(v.dtype, np.number):
                self.eig.setdefault(_precision(k), np.asarray(v, float))
        self.ridge_key, self.ridge = _axis(data, ("ridge", "ridge/eps", "ridge/epsilon", "ridge/values", "ridge/ridge"))
        self.time_key, self.time = _axis(data, ("time", "gd_time", "time/t", "gd/time", "gd/t", "time/values"))
        self.ridge_metrics, self.gd_metrics = {}, {}
        for k, v in data.items():
            m = _metric_of(k)
            if m is None or v.ndim != 1 or k in (self.ridge_key, self.time_key):
                continue
            low = k.lower()
            if self.ridge is not None and "ridge" in low and v.size == self.ridge.size:
                self.ridge_metrics[m] = np.asarray(v, float)
            elif self.time is not None and ("gd" in low or "time" in low) and v.size == self.time.size:
                self.gd_metrics[m] = np.asarray(v, float)
        self.fit = {}
        found = {**{k: v for k, v in data.items() if v.size == 1}, **attrs}
        for k, v in found.items():
            low = k.lower().split("@")[-1]
            if "exponent" in low or "alpha" in low:
                p = _precision(k)
                self.fit.setdefault(p, [np.nan, np.nan])[0] = float(np.ravel(v)[0])
            elif "prefactor" in low:
                p = _precision(k)
                self.fit.setdefault(p, [np.nan, np.nan])[1] = float(np.ravel(v)[0])
        self.fit_source = {p: "archive" for p in self.fit}
        for p, lam in self.eig.items():
            if p not in self.fit or not np.isfinite(self.fit[p][0]):
                self.fit[p] = list(powerlaw_fit(lam))
                self.fit_source[p] = "fitted here"

    def kind(self):
        """'ntk' or 'nngp' (attribute kernel, else from the id)."""
        k = str(self.attrs.get("kernel", "")).lower()
        return k or ("ntk" if "ntk" in self.id.lower() else "nngp")

    def limit_error(self):
        """Infinite-width test error at the smallest ridge: 1 - test_acc,
        else test_mse (returns (value, 'error'|'mse') or (None, None))."""
        if self.ridge is None:
            return None, None
        i = int(np.nanargmin(self.ridge))
        if "test_acc" in self.ridge_metrics:
            return 1.0 - self.ridge_metrics["test_acc"][i], "error"
        if "test_error" in self.ridge_metrics:
            return self.ridge_metrics["test_error"][i], "error"
        if "test_mse" in self.ridge_metrics:
            return self.ridge_metrics["test_mse"][i], "mse"
        return None, None


def load_kernels(group):
    """List of Kernel, one per subgroup of an open /kernels h5py group."""
    import h5py
    out = []
    for kid, g in group.items():
        if isinstance(g, h5py.Group):
            out.append(Kernel(kid, _walk(g), _walk_attrs(g)))
    return out
