"""Statistics on runs: grouping by grid axes (mean and spread over seeds),
ranks and Spearman correlation with numpy only, log-log slope fits."""
import numpy as np


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


def rankdata(x):
    """Ranks 1..n of x with ties given their average rank (like scipy)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), float)
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def spearman(x, y):
    """Spearman rank correlation of the finite pairs (NaN if < 3 or constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def loglog_fit(x, y):
    """Least-squares fit log y = slope * log x + b over positive finite pairs.

    Returns (slope, prefactor exp(b)), NaNs when fewer than 2 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.ptp(np.log(x[ok])) == 0:
        return float("nan"), float("nan")
    slope, b = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(slope), float(np.exp(b))
