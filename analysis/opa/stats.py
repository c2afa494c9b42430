"""Statistics on runs for the report sections: grouping by grid axes (mean
and spread over seeds). Spearman and the log-log fit are analysis.signatures'
(one definition), re-exported here for the sections."""
import numpy as np

from ..signatures import loglog_fit, spearman  # noqa: F401


def group_by(runs, by, fields, mask=None, extra=None):
    """Groups runs by the columns `by` and summarizes `fields` over the rest.

    runs:   structured array (Archive.runs)
    by:     list of column names, e.g. ["width", "label_noise"]
    fields: columns to summarize, e.g. ["test_acc"]
    mask:   boolean [n_runs] selecting runs (default: status == 1)
    extra:  {name: array [n_runs, ...]} summarized like fields (curves,
            measures); subarray shapes are kept
    Returns a structured array sorted by `by`: the `by` columns, `n` (runs in
    the group), and for each field F: F_mean, F_std (sample std, ddof=1; 0
    for one run), F_min, F_max, all ignoring NaN.
    """
    extra = dict(extra or {})
    if mask is None:
        mask = runs["status"] == 1 if "status" in runs.dtype.names else np.ones(len(runs), bool)
    mask = np.asarray(mask, bool)
    data = {f: np.asarray(runs[f], float) for f in fields}
    data.update({k: np.asarray(v, float) for k, v in extra.items()})
    keys = np.stack([np.asarray(runs[b], float) for b in by], axis=1) if by else np.zeros((len(runs), 0))
    sel = np.flatnonzero(mask)
    uniq = np.unique(keys[sel], axis=0) if sel.size else np.zeros((0, len(by)))
    dt = [(b, float) for b in by] + [("n", int)]
    for name, arr in data.items():
        shape = arr.shape[1:]
        for s in ("mean", "std", "min", "max"):
            dt.append((f"{name}_{s}", float, shape) if shape else (f"{name}_{s}", float))
    out = np.zeros(len(uniq), dtype=dt)
    for i, key in enumerate(uniq):
        rows = sel[np.all(keys[sel] == key, axis=1)]
        for j, b in enumerate(by):
            out[b][i] = key[j]
        out["n"][i] = rows.size
        for name, arr in data.items():
            v = arr[rows]
            with np.errstate(all="ignore"), _quiet():
                out[f"{name}_mean"][i] = np.nanmean(v, axis=0)
                out[f"{name}_std"][i] = np.nanstd(v, axis=0, ddof=1) if rows.size > 1 else 0.0 * v[0]
                out[f"{name}_min"][i] = np.nanmin(v, axis=0)
                out[f"{name}_max"][i] = np.nanmax(v, axis=0)
    return out


class _quiet:
    """Silences numpy's all-NaN warnings inside group_by."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)
