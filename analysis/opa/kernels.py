"""Reader of /kernels/<id>/ groups (NNGP/NTK results), by the dataset and
attribute names src/kernel_io.c writes (see Kernel)."""
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
    """One kernel computation: id, attrs, every dataset, and the roles, read
    by the names kernel_io.c writes (no guessing):
      metrics_ridge  compound (ridge, epsilon, mse, acc, status)
      metrics_time   compound (time, mse, acc, status)
      eigenvalues64, eigenvalues32  descending spectra
      attributes kind, activation, depth, parameterization, n_train, ...,
      fit_exponent64/32, fit_prefactor64/32 (lambda_i ~ c i^-alpha), fit_lo/hi
    test_mse is 2 x the stored mse (0.5 mean squared error): the same
    convention as analysis.loader."""

    def __init__(self, kid, data, attrs):
        self.id, self.data, self.attrs = kid, data, attrs
        self.eig = {p: np.asarray(data[f"eigenvalues{p}"], float)
                    for p in (64, 32) if f"eigenvalues{p}" in data}
        self.ridge = self.time = None
        self.ridge_metrics, self.gd_metrics = {}, {}
        mr, mt = data.get("metrics_ridge"), data.get("metrics_time")
        if mr is not None and mr.dtype.names:
            self.ridge = np.asarray(mr["ridge"], float)
            self.ridge_metrics = {"test_mse": 2 * np.asarray(mr["mse"], float),
                                  "test_acc": np.asarray(mr["acc"], float)}
        if mt is not None and mt.dtype.names:
            self.time = np.asarray(mt["time"], float)
            self.gd_metrics = {"test_mse": 2 * np.asarray(mt["mse"], float),
                               "test_acc": np.asarray(mt["acc"], float)}
        self.fit, self.fit_source = {}, {}
        for p in (64, 32):
            if f"fit_exponent{p}" in attrs:
                self.fit[p] = [float(attrs[f"fit_exponent{p}"]),
                               float(attrs.get(f"fit_prefactor{p}", np.nan))]
                self.fit_source[p] = "archive (ranks %s-%s)" % (attrs.get("fit_lo"), attrs.get("fit_hi"))

    def kind(self):
        """'ntk' or 'nngp' (attribute kernel, else from the id)."""
        k = str(self.attrs.get("kind", "")).lower()
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
