"""Fixture archives: small files in the exact overparam archive layout,
filled with fake but plausible numbers (a double-descent curve, Lipschitz
falling like sqrt(nd/p), frequencies learned low-first, condensation at
small init, power-law kernel spectra), so the analysis can be tested
without the engine.

    /usr/bin/python3 analysis/tests_fixture.py DIR     # writes DIR/{full,quick,dd,memo,measures}.h5
"""
import itertools
import os
import sys

import h5py
import numpy as np

CORRUPTIONS = "none,random_labels,shuffled_pixels,random_pixels,gaussian"
CORR_FACTOR = {0: 1.0, 1: 4.0, 2: 1.6, 3: 2.2, 4: 2.8}  # epochs-to-fit multiplier
ROW_INT = ("run", "width", "depth", "seed", "parameterization", "corruption",
           "n_train", "n_params", "status", "epochs", "fit_epoch", "rank")


def _job_text(axes, source="fashion_mnist", n_train=200, extra=""):
    lines = ["# fixture job", "[job]", "seed = 3", "[data]", f"source = {source}",
             f"n_train = {n_train}     ; training examples", "n_test = 500", "downsample = 2",
             "[model]", "activation = relu", "depth = 1", "[train]", "epochs = 60",
             "log_every = 2", extra, "[grid]"]
    for name, (vals, labels) in axes.items():
        lines.append(f"{name} = " + ", ".join(labels.split(",") if labels else [f"{v:g}" for v in vals]))
    return "\n".join(lines) + "\n"


def make_archive(path, axes, measures=(), kernels=False, source="fashion_mnist",
                 n_train=200, n_log=31, statuses=None, seed=0):
    """Writes one fixture archive.

    axes: {name: (values, labels or "")} in run order (last fastest)
    measures: subset of {"lip", "freq", "cond", "lazy"}
    statuses: optional {run index: status code} (default all done)
    """
    rng = np.random.default_rng(seed)
    names = list(axes)
    combos = list(itertools.product(*[axes[a][0] for a in names]))
    n = len(combos)
    K = 10 if source == "fashion_mnist" else 2
    d = 196 if source == "fashion_mnist" else (1 if source == "sines" else 16)
    base = {"width": 64, "depth": 1, "init_scale": 1.0, "label_noise": 0.0, "seed": 0,
            "corruption": 0, "n_train": n_train}
    cols = ["run", "width", "depth", "init_scale", "label_noise", "seed"]
    cols += [a for a in names if a not in cols]
    cols += ["n_params", "status", "train_loss", "test_loss", "train_acc", "test_acc",
             "epochs", "fit_epoch", "seconds", "rank"]
    dt = np.dtype([(c, np.int64 if c in ROW_INT else np.float64) for c in cols])
    rows = np.zeros(n, dt)
    epochs = np.arange(n_log) * 2.0
    cur = {k: np.full((n, n_log), np.nan) for k in ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")}
    meas = {}
    fk = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    maxw = int(max(axes.get("width", ([64],))[0]))
    for r, combo in enumerate(combos):
        c = dict(base, **dict(zip(names, combo)))
        w, noise, corr = c["width"], c["label_noise"], int(c["corruption"])
        ntr = c["n_train"]
        p = w * (d + 1 + K) + K
        pth = ntr * K
        x = np.log(p / pth)
        eps = rng.normal(0, 0.01)
        fit = 1 / (1 + np.exp(-4 * x))
        train_acc = min(1.0, 0.1 + 0.9 * fit + (0.02 if x > 1 else 0))
        test_err = 0.14 + 0.3 * noise + 0.25 * max(0.0, -x) / (1 + max(0.0, -x)) \
            + (0.08 + 0.9 * noise) * np.exp(-x ** 2 / 0.4) + 0.05 * np.exp(-p / pth / 8) + eps
        if corr == 1:
            test_err = 0.9 + eps / 4
        fit_epoch = 8 * (1 + 3 * noise) * CORR_FACTOR[corr] * (1 + 0.05 * c["seed"])
        fit_epoch = np.round(fit_epoch / 2) * 2 if train_acc >= 1 else np.nan
        row = {**c, "run": r, "n_params": p, "status": 1, "train_acc": train_acc,
               "test_acc": 1 - test_err, "train_loss": (1 - train_acc) * 0.5 + 1e-4,
               "test_loss": test_err * 0.6, "epochs": epochs[-1], "fit_epoch": -1 if np.isnan(fit_epoch) else fit_epoch,
               "seconds": 0.01 * p / 100, "rank": r % 2}
        if statuses and r in statuses:
            row["status"] = statuses[r]
        for k in cols:
            rows[k][r] = row[k]
        if row["status"] == 0:
            rows["train_acc"][r] = rows["test_acc"][r] = rows["train_loss"][r] = rows["test_loss"][r] = np.nan
            continue
        tau = (fit_epoch if np.isfinite(fit_epoch) else 40) / 4
        cur["epoch"][r] = epochs
        cur["train_acc"][r] = 0.1 + (train_acc - 0.1) * (1 - np.exp(-epochs / tau))
        cur["train_loss"][r] = 0.5 * np.exp(-epochs / tau) + row["train_loss"]
        cur["test_acc"][r] = 0.1 + (row["test_acc"] - 0.1) * (1 - np.exp(-epochs / tau))
        cur["test_loss"][r] = 0.5 * np.exp(-epochs / tau) + row["test_loss"]
        if "lip" in measures:
            ref = np.sqrt(ntr * d / p)
            growth = 1 - 0.7 * np.exp(-epochs / 10)
            meas.setdefault("lip_lower", np.full((n, n_log), np.nan))[r] = 0.6 * ref * growth * np.exp(rng.normal(0, 0.05))
            meas.setdefault("lip_upper", np.full((n, n_log), np.nan))[r] = 5 * ref * (p / pth) ** 0.7 * growth
        if "freq" in measures:
            tk = 3.0 * fk ** 1.2 * (1 + 0.1 * c["seed"])
            err = np.exp(-epochs[:, None] / tk[None, :])
            meas.setdefault("freq_values", np.full((n, fk.size), np.nan))[r] = fk
            meas.setdefault("freq_error", np.full((n, n_log, fk.size), np.nan))[r] = err
            conv = np.array([epochs[np.argmax(e < 0.1)] if (e < 0.1).any() else np.nan for e in err.T])
            meas.setdefault("freq_converge_epoch", np.full((n, fk.size), np.nan))[r] = conv
        if "cond" in measures:
            s = c["init_scale"]
            cond = s < 0.5
            ang0 = rng.uniform(0, 2 * np.pi, int(w))
            ang1 = np.where(rng.random(int(w)) < 0.5, 0.7, 0.7 + np.pi) + rng.normal(0, 0.03, int(w)) if cond \
                else ang0 + rng.normal(0, 0.05 / s, int(w))
            dirs = np.full((n, maxw, 2), np.nan)
            for key, ang in (("cond_dirs_init", ang0), ("cond_dirs_end", ang1)):
                m = meas.setdefault(key, np.zeros((n, maxw, 2)))
                m[r, :int(w)] = np.stack([np.cos(ang), np.sin(ang)], 1)
            change = (0.02 / s) * np.sqrt(64 / w) * (1 - np.exp(-epochs / 10))
            meas.setdefault("cond_rel_change", np.full((n, n_log), np.nan))[r] = change
            ncl = 2 if cond else max(2, int(0.9 * w))
            meas.setdefault("cond_clusters", np.full((n, n_log), np.nan))[r] = \
                np.round(0.9 * w - (0.9 * w - ncl) * (1 - np.exp(-epochs / 8)))
            meas.setdefault("cond_mean_abs_cos", np.full((n, n_log), np.nan))[r] = \
                0.64 + (0.3 if cond else 0.0) * (1 - np.exp(-epochs / 8))
            del dirs
        if "lazy" in measures:
            L = int(c["depth"])
            ch = (1.0 / np.sqrt(w)) * (1 - np.exp(-epochs / 10))
            meas.setdefault("lazy_rel_change", np.full((n, n_log, L + 1), np.nan))[r] = ch[:, None] * np.linspace(1, 0.5, L + 1)
            meas.setdefault("ntk_drift", np.full((n, n_log), np.nan))[r] = 2 * ch
    grid_axes = {a: axes[a] for a in names}
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = np.int64(1)
        f.attrs["program"] = np.bytes_("overparam")
        f.attrs["program_version"] = np.bytes_("0.1.0")
        f.attrs["git_revision"] = np.bytes_("fixture")
        f.attrs["mpi_size"] = np.int64(2)
        f.attrs["start_time"] = np.bytes_("2024-01-01T00:00:00Z")
        f.attrs["end_time"] = np.bytes_("2024-01-01T00:01:00Z")
        f.attrs["job_file"] = np.bytes_("fixture.ini")
        f.attrs["job_text"] = np.bytes_(_job_text(grid_axes, source, n_train))
        f.attrs["n_runs"] = np.int64(n)
        f.attrs["seed"] = np.int64(3)
        ds = f.create_dataset("runs", data=rows)
        ds.attrs["status_codes"] = np.bytes_("0 pending, 1 done, 2 diverged, 3 failed")
        g = f.create_group("grid")
        for a, (vals, labels) in grid_axes.items():
            d_ = g.create_dataset(a, data=np.asarray(vals, float))
            d_.attrs["labels"] = np.bytes_(labels or ",".join(f"{v:g}" for v in vals))
        g = f.create_group("curves")
        units = {"epoch": "epochs", "train_loss": "loss", "test_loss": "loss",
                 "train_acc": "fraction", "test_acc": "fraction"}
        for k, v in cur.items():
            g.create_dataset(k, data=v).attrs["units"] = np.bytes_(units[k])
        g = f.create_group("measures")
        for k, v in meas.items():
            g.create_dataset(k, data=v).attrs["units"] = np.bytes_("")
        kg = f.create_group("kernels")
        if kernels:
            _kernels(kg, rng)
    return path


def _kernels(kg, rng, n=200):
    """Two kernels (nngp, ntk) of depth 1 with power-law spectra."""
    for kind, alpha, acc0 in (("nngp", 1.4, 0.80), ("ntk", 1.2, 0.82)):
        g = kg.create_group(f"{kind}_relu_d1")
        for k, v in dict(kernel=kind, activation="relu", parameterization="ntk").items():
            g.attrs[k] = np.bytes_(v)
        for k, v in dict(depth=1, n_train=n, n_test=500).items():
            g.attrs[k] = np.int64(v)
        g.attrs["sigma_w2"], g.attrs["sigma_b2"] = 2.0, 0.0
        lam = 50.0 * np.arange(1, n + 1) ** -alpha
        g["eigenvalues64"] = lam
        g["eigenvalues32"] = np.sort((lam + rng.normal(0, 3e-6 * lam[0], n)).astype(np.float32))[::-1].astype(float)
        g.attrs["powerlaw_exponent64"] = alpha
        g.attrs["powerlaw_prefactor64"] = 50.0
        ridge = np.array([0, 1e-6, 1e-4, 1e-2, 1.0])
        g["ridge"] = ridge
        g["ridge_test_mse"] = 0.55 + 0.1 * np.log10(1 + ridge * 1e3) / 3
        g["ridge_test_acc"] = acc0 - 0.02 * np.log10(1 + ridge * 1e3) / 3
        t = np.array([1, 10, 100, 1e3, 1e4])
        g["time"] = t
        g["gd_test_mse"] = 0.55 + 0.35 * np.exp(-np.log10(t))
        g["gd_test_acc"] = acc0 - 0.5 * np.exp(-np.log10(t))


def geom(a, b, k):
    return np.unique(np.round(np.geomspace(a, b, k))).astype(float)


def make_all(outdir):
    """The fixture set: full (everything), quick (width x seed only), dd,
    memo (training curves only), measures (robustness/frequency/condensation)."""
    os.makedirs(outdir, exist_ok=True)
    W = geom(2, 512, 9)
    out = {}
    out["full"] = make_archive(os.path.join(outdir, "full.h5"), {
        "width": (W, ""), "init_scale": ([0.1, 1.0], ""), "label_noise": ([0.0, 0.2], ""),
        "corruption": ([0, 1], "none,random_labels"), "seed": ([0, 1], "")},
        measures=("lip", "freq", "cond", "lazy"), kernels=True, statuses={5: 2, 7: 3})
    out["quick"] = make_archive(os.path.join(outdir, "quick.h5"), {
        "width": ([4, 16, 64, 256], ""), "seed": ([0, 1], "")}, n_train=500, statuses={1: 0})
    out["dd"] = make_archive(os.path.join(outdir, "dd.h5"), {
        "width": (W, ""), "label_noise": ([0.0, 0.1, 0.2], ""), "seed": ([0, 1, 2], "")}, kernels=True)
    out["memo"] = make_archive(os.path.join(outdir, "memo.h5"), {
        "width": ([512], ""), "label_noise": ([0.0, 0.2, 0.5, 0.8], ""),
        "corruption": ([0, 1, 2, 3, 4], CORRUPTIONS), "seed": ([0, 1], "")})
    out["measures"] = make_archive(os.path.join(outdir, "measures.h5"), {
        "width": ([16, 64, 256], ""), "init_scale": ([0.05, 0.3, 1.0], ""), "seed": ([0, 1], "")},
        measures=("lip", "freq", "cond", "lazy"), source="sines", n_train=64)
    return out


if __name__ == "__main__":
    for k, v in make_all(sys.argv[1] if len(sys.argv) > 1 else "/tmp/opa_fixtures").items():
        print(k, v)
