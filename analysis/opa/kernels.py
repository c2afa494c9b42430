"""The report's kernel objects (NNGP/NTK results), built from the tables of
analysis.loader (a.kernels, a.spectra, a.kernel_info): the loader is the
one reader of /kernels/<id>, by the names src/kernel_io.c writes."""
import numpy as np


class Kernel:
    """One kernel computation, as arrays for the sections:
      id, attrs          the group's attributes (kind, depth, fit_exponent64, ...)
      eig                {64: eigenvalues64, 32: eigenvalues32}, descending
      ridge, ridge_metrics  ridges and {test_mse, test_acc} at each
      time, gd_metrics      gradient-flow times and {test_mse, test_acc}
      fit, fit_source       {precision: [alpha, prefactor]} (lambda_i ~ c i^-alpha)
    test_mse is the loader's (2 x the stored 0.5 mean squared error)."""

    def __init__(self, kid, attrs, rows, spec):
        self.id, self.attrs = kid, attrs
        self.eig = {}
        if len(spec):
            self.eig[64] = spec["eigenvalue64"].to_numpy(float)
            if np.isfinite(spec["eigenvalue32"].to_numpy(float)).any():
                self.eig[32] = spec["eigenvalue32"].to_numpy(float)
        self.ridge = self.time = None
        self.ridge_metrics, self.gd_metrics = {}, {}
        r, t = rows[rows["by"] == "ridge"], rows[rows["by"] == "time"]
        if len(r):
            self.ridge = r["ridge"].to_numpy(float)
            self.ridge_metrics = {"test_mse": r["test_mse"].to_numpy(float),
                                  "test_acc": r["test_acc"].to_numpy(float)}
        if len(t):
            self.time = t["time"].to_numpy(float)
            self.gd_metrics = {"test_mse": t["test_mse"].to_numpy(float),
                               "test_acc": t["test_acc"].to_numpy(float)}
        self.fit, self.fit_source = {}, {}
        for p in (64, 32):
            if f"fit_exponent{p}" in attrs:
                self.fit[p] = [float(attrs[f"fit_exponent{p}"]),
                               float(attrs.get(f"fit_prefactor{p}", np.nan))]
                self.fit_source[p] = "archive (ranks %s-%s)" % (attrs.get("fit_lo"), attrs.get("fit_hi"))

    def kind(self):
        """'ntk' or 'nngp' (attribute kind, else from the id)."""
        k = str(self.attrs.get("kind", "")).lower()
        return k or ("ntk" if "ntk" in self.id.lower() else "nngp")

    def limit_error(self):
        """Infinite-width test error at the smallest ridge: 1 - test_acc
        (returns (value, 'error') or (None, None))."""
        if self.ridge is None:
            return None, None
        i = int(np.nanargmin(self.ridge))
        return 1.0 - self.ridge_metrics["test_acc"][i], "error"


def kernels_of(a):
    """[Kernel], one per /kernels/<id> group of the loaded archive a."""
    out = []
    info = a.kernel_info
    for kid in (list(info.index) if len(info) else []):
        attrs = {k: v for k, v in info.loc[kid].items()
                 if not (isinstance(v, float) and np.isnan(v))}
        rows = a.kernels[a.kernels["kernel"] == kid]
        spec = a.spectra[a.spectra["kernel"] == kid]
        out.append(Kernel(kid, attrs, rows, spec))
    return out
