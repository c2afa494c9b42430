#!/usr/bin/python3
"""Prints the signature figures of a job's archive (see jobs/README.md).

    /usr/bin/python3 jobs/signatures.py JOB A.h5     # JOB = a job file's name, e.g. random_labels

Uses the analysis package (analysis/opa) for loading, grouping and Spearman.
Each function prints the measured numbers and the criterion, then
'holds: yes/no'. Exit 0 whatever the verdict (it reports, it does not test).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "analysis"))
import opa  # noqa: E402
from opa.stats import group_by, spearman, loglog_fit  # noqa: E402


def verdict(ok):
    print("holds:", "yes" if ok else "no")


def axis(a, name):
    return name in a.grid and len(a.grid[name]) > 1


def memorization(a):
    """random_labels / random_labels_noise: fit, epochs to fit, test error."""
    by = [x for x in ("corruption", "label_noise") if axis(a, x)]
    fit = np.asarray(a.runs["fit_epoch"], float)
    fit[fit < 0] = np.nan
    g = group_by(a.runs, by, ["train_acc", "test_acc"], extra={"fit": fit})
    print(f"{'condition':>16} {'train_acc min':>13} {'test_acc':>9} {'fit_epoch':>10}")
    names = []
    for r in g:
        name = (a.label("corruption", r["corruption"]) if "corruption" in by
                else f"noise {r['label_noise']:g}")
        names.append(name)
        print(f"{name:>16} {r['train_acc_min']:13.4f} {r['test_acc_mean']:9.3f} "
              f"{r['fit_mean']:7.1f}±{r['fit_std']:.1f}")
    ok = bool(np.nanmin(g["train_acc_min"]) >= 0.99)
    print(f"every condition fitted (>= 0.99 train acc): {ok}")
    if "corruption" in by:
        f = dict(zip(names, g["fit_mean"]))
        t = dict(zip(names, g["test_acc_mean"]))
        ratio = f["random_labels"] / f["none"]
        print(f"T_fit(random labels)/T_fit(true) = {ratio:.2f} (expected in [1.2, 10])")
        print(f"T_fit(gaussian) = {f['gaussian']:.1f} < T_fit(random labels) = {f['random_labels']:.1f}")
        print(f"test acc: true {t['none']:.3f}, random labels {t['random_labels']:.3f} (expected [0.08, 0.12])")
        ok = ok and 1.2 <= ratio <= 10 and f["gaussian"] < f["random_labels"] \
            and 0.08 <= t["random_labels"] <= 0.12
    else:
        r1 = spearman(g["label_noise"], g["fit_mean"])
        r2 = spearman(g["label_noise"], 1 - g["test_acc_mean"])
        print(f"Spearman(noise, fit_epoch) = {r1:.3f} (>= 0.9); Spearman(noise, test error) = {r2:.3f} (>= 0.95)")
        print(f"test acc at the largest noise: {g['test_acc_mean'][-1]:.3f} (chance 0.10)")
        ok = ok and r1 >= 0.9 and r2 >= 0.95
    verdict(ok)


def _descent_curves(a, err_of):
    """Yields (label, n_params, width, error mean, error std) per other grid point."""
    by = [x for x in a.swept() if x not in ("width", "seed")]
    err = err_of(a)
    g = group_by(a.runs, by + ["width"], ["n_params"], extra={"err": err})
    keys = np.unique(np.stack([g[b] for b in by], 1), axis=0) if by else [()]
    for key in keys:
        sel = np.all(np.stack([g[b] for b in by], 1) == key, 1) if by else np.ones(len(g), bool)
        lab = ", ".join(f"{b}={a.label(b, v) if b in ('corruption', 'parameterization') else f'{v:g}'}"
                        for b, v in zip(by, key))
        yield lab, dict(zip(by, key)), g[sel]


def _peak(width, err, centre):
    """Peak ratios: error at the max within [centre/2, 2 centre] over the best
    error left of it and over the best error right of it."""
    near = (width >= centre / 2) & (width <= 2 * centre)
    i = np.flatnonzero(near)[np.argmax(err[near])]
    left, right = err[:i], err[i + 1:]
    return (width[i], err[i], err[i] / left.min() if left.size else np.nan,
            err[i] / right.min() if right.size else np.nan)


def double_descent(a, rf=False):
    """double_descent / double_descent_rf: test MSE and 0-1 error vs width."""
    n, k = a.n_train()[0], a.n_classes()
    centre = n if rf else n * k / (a.input_dim() + k + 1)   # width at p = nK (two-layer, with biases ~)
    print(f"n = {n}, K = {k}, threshold width = {centre:.0f} ({'N = n features' if rf else 'p = nK'})")
    rows = []
    for metric, err_of in (("test MSE", lambda a: 2 * np.asarray(a.runs["test_loss"], float)),
                           ("test 0-1 error", lambda a: 1 - np.asarray(a.runs["test_acc"], float))):
        for lab, key, g in _descent_curves(a, err_of):
            w, e = g["width"], g["err_mean"]
            pw, pe, rl, rr = _peak(w, e, centre)
            curve = " ".join(f"{x:.3g}" for x in e)
            print(f"{metric:>14} [{lab}] peak {pe:.3g} at width {pw:g}; peak/best-left {rl:.2f}, "
                  f"peak/best-right {rr:.2f}\n{'':>16}widths {' '.join(f'{x:g}' for x in w)}\n{'':>16}errors {curve}")
            rows.append((metric, key, rl, rr, pw))
    return rows


def descent_verdict(rows, rf):
    mse = [r for r in rows if r[0] == "test MSE"]
    nowd = [r for r in mse if r[1].get("weight_decay", 0) == 0]
    noises = sorted({r[1].get("label_noise", 0) for r in nowd})
    peaks = [min(r[2], r[3]) for nz in noises for r in nowd if r[1].get("label_noise", 0) == nz]
    print("peak ratio min(left, right) per noise, no weight decay:",
          ", ".join(f"{nz:g}: {p:.2f}" for nz, p in zip(noises, peaks)))
    ok = all(p > 1.2 for p in peaks) if rf else peaks[-1] > 1.2
    rises = all(np.diff(peaks) > 0) if len(peaks) > 1 else True
    print(f"peak > 1.2 ({'every noise' if rf else 'largest noise'}): {ok}; rises with noise: {rises}")
    wd = [r for r in mse if r[1].get("weight_decay", 0) > 0]
    if wd:
        best = {}
        for r in wd:
            best.setdefault(r[1].get("label_noise", 0), []).append(r)
        for nz, rs in best.items():
            print(f"noise {nz:g}: with weight decay, peak/best-left = "
                  + ", ".join(f"{r[1]['weight_decay']:g}: {r[2]:.2f}" for r in rs))
        ok_ridge = all(min(r[2] for r in rs) < 1.05 for rs in best.values())
        print(f"some weight decay removes the peak (peak/best-left < 1.05) at every noise: {ok_ridge}")
        ok = ok and ok_ridge
    verdict(ok and rises)


def _kernel_groups(path):
    import h5py
    with h5py.File(path, "r") as f:
        if "kernels" not in f:
            return []
        out = []
        for k, g in f["kernels"].items():
            d = {n: g[n][()] for n in g if hasattr(g[n], "shape")}
            d["attrs"] = dict(g.attrs)
            out.append((k, d))
        return out


def kernel_spectrum(a):
    """Power law, float32 vs float64, ridge vs early stopping per kernel."""
    ok = True
    for k, d in _kernel_groups(a.path):
        e64 = np.sort(d["eigenvalues64"])[::-1]
        e32 = np.sort(d["eigenvalues32"])[::-1] if "eigenvalues32" in d else None
        n = e64.size
        i = np.arange(1, n + 1)
        sel = (i >= max(2, int(0.02 * n))) & (i <= int(0.5 * n))
        slope, _ = loglog_fit(i[sel], e64[sel])
        r2 = np.corrcoef(np.log(i[sel]), np.log(e64[sel]))[0, 1] ** 2
        line = f"{k}: n = {n}, alpha64 = {-slope:.3f} (R^2 {r2:.3f})"
        if e32 is not None:
            s32, _ = loglog_fit(i[sel], np.clip(e32[sel], 1e-300, None))
            rel = np.abs(e32 - e64) / np.abs(e64)
            q = [rel[: n // 10].max(), rel[n // 10: n // 2].max(), rel[n // 2:].max()]
            line += (f", alpha32 = {-s32:.3f}; max rel. float32 error in top 10% / 10-50% / bottom 50%:"
                     f" {q[0]:.1e} / {q[1]:.1e} / {q[2]:.1e}; lambda_min/lambda_max = {e64[-1] / e64[0]:.1e}")
        print(line)
        mr, mt = d["metrics_ridge"], d["metrics_time"]
        r0 = mr["mse"][mr["ridge"] == 0]
        br, bt = np.nanmin(mr["mse"]), np.nanmin(mt["mse"])
        print(f"   test MSE: ridge 0 {r0[0] if r0.size else float('nan'):.4f}, best ridge {br:.4f} "
              f"(eps {mr['ridge'][np.nanargmax(-mr['mse'])]:g}), best time {bt:.4f} "
              f"(t {mt['time'][np.nanargmax(-mt['mse'])]:g}); ratio {br / bt:.3f}")
        print("   ridge:", " ".join(f"{e:g}:{m:.4f}" for e, m in zip(mr["ridge"], mr["mse"])))
        print("   time: ", " ".join(f"{t:g}:{m:.4f}" for t, m in zip(mt["time"], mt["mse"])))
        ok = ok and -slope > 0 and r2 >= 0.9 and abs(br / bt - 1) <= 0.05
    verdict(ok)


def _meas(a, name):
    import h5py
    with h5py.File(a.path, "r") as f:
        return f["measures"][name][()] if "measures" in f and name in f["measures"] else None


def _last(m, a):
    """Value at each run's last logged epoch of a [n_runs][n_log] measure."""
    out = np.full(m.shape[0], np.nan)
    for r in range(m.shape[0]):
        v = m[r][np.isfinite(m[r])]
        out[r] = v[-1] if v.size else np.nan
    return out


def robustness(a):
    lip = _last(_meas(a, "lip_lower"), a)
    n, d = a.n_train()[0], a.input_dim()
    fitted = 2 * np.asarray(a.runs["train_loss"], float) <= 0.05 + 1e-9
    g = group_by(a.runs, ["width"], ["n_params"], mask=(a.runs["status"] == 1) & fitted, extra={"lip": lip})
    for r in g:
        print(f"width {r['width']:6g} p {r['n_params_mean']:8.0f}  Lip_low {r['lip_mean']:7.3f}  "
              f"sqrt(nd/p) {np.sqrt(n * d / r['n_params_mean']):6.3f}  ({int(r['n'])} fitted runs)")
    sel = (g["n_params_mean"] >= 2 * n) & (g["n_params_mean"] <= n * d)
    slope, _ = loglog_fit(g["n_params_mean"][sel], g["lip_mean"][sel]) if sel.sum() >= 2 else (np.nan, 0)
    i1 = np.argmin(np.abs(g["n_params_mean"] - n)); i2 = np.argmin(np.abs(g["n_params_mean"] - n * d))
    print(f"log-log slope over p in [2n, nd] = {slope:.3f} (expected [-0.75, -0.25], theory -0.5); "
          f"Lip(p~n)/Lip(p~nd) = {g['lip_mean'][i1] / g['lip_mean'][i2]:.2f} (expected > 2)")
    verdict(-0.75 <= slope <= -0.25)


def frequency_principle(a):
    t = _meas(a, "freq_converge_epoch")
    k = _meas(a, "freq_values")
    rhos = []
    for r in np.flatnonzero(a.runs["status"] == 1):
        kk = k[r] if k.ndim > 1 else k
        rho = spearman(kk, t[r])
        rhos.append(rho)
        print(f"run {r} width {a.runs['width'][r]} seed {a.runs['seed'][r]}: t_k = "
              + ", ".join(f"k={x:g}:{y:g}" for x, y in zip(kk, t[r])) + f"; Spearman {rho:.3f}")
    rhos = np.array(rhos, float)
    print(f"Spearman(k, t_k): min {np.nanmin(rhos):.3f}, mean {np.nanmean(rhos):.3f} (expected >= 0.9 each)")
    verdict(np.all(rhos >= 0.9))


def condensation(a):
    cl = _last(_meas(a, "cond_clusters"), a)
    cs = _last(_meas(a, "cond_mean_abs_cos"), a)
    rc = _last(_meas(a, "cond_rel_change"), a)
    g = group_by(a.runs, ["init_scale", "width"], [], extra={"cl": cl, "cs": cs, "rc": rc})
    for r in g:
        print(f"init_scale {r['init_scale']:7g} width {r['width']:6g}: rel change {r['rc_mean']:9.3g}  "
              f"clusters {r['cl_mean']:6.1f} ({r['cl_mean'] / r['width']:.0%} of width)  mean|cos| {r['cs_mean']:.3f}")
    s0, s1 = g["init_scale"].min(), g["init_scale"].max()
    small, big = g[g["init_scale"] == s0], g[g["init_scale"] == s1]
    frac = np.max(small["cl_mean"] / small["width"])
    slope, _ = loglog_fit(big["width"], big["rc_mean"])
    cos_ok = np.all(small["cs_mean"] > big["cs_mean"])
    print(f"smallest init: clusters <= {frac:.0%} of width (expected <= 25%); mean|cos| higher than at the "
          f"largest init at every width: {cos_ok}; largest init: log-log slope of rel change vs width {slope:.3f} (< 0)")
    verdict(frac <= 0.25 and cos_ok and slope < 0)


def width_curve(a):
    g = group_by(a.runs, ["parameterization", "width"], ["test_acc", "train_acc"])
    lim = {}
    for k, d in _kernel_groups(a.path):
        lim[k] = np.nanmax(d["metrics_ridge"]["acc"])
        print(f"kernel {k}: best-ridge test acc {lim[k]:.3f}")
    ntk = max((v for k, v in lim.items() if k.startswith("ntk")), default=np.nan)
    ok = True
    for p in np.unique(g["parameterization"]):
        gg = g[g["parameterization"] == p]
        print(f"{a.label('parameterization', p):>8}: " + "  ".join(
            f"w{r['width']:g}: {r['test_acc_mean']:.3f}" for r in gg))
        gap0, gap1 = abs(gg["test_acc_mean"][0] - ntk), abs(gg["test_acc_mean"][-1] - ntk)
        print(f"{'':>8}  gap to NTK: narrowest {gap0:.3f}, widest {gap1:.3f}")
        ok = ok and gg["test_acc_mean"][-1] > gg["test_acc_mean"][0] and gap1 < gap0
    verdict(ok)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    job, path = os.path.splitext(os.path.basename(sys.argv[1]))[0], sys.argv[2]
    a = opa.load(path)
    print(f"{job}: {path}, {a.status_counts()}")
    if job in ("random_labels", "random_labels_noise"):
        memorization(a)
    elif job in ("double_descent", "double_descent_rf"):
        descent_verdict(double_descent(a, rf=job.endswith("_rf")), rf=job.endswith("_rf"))
    else:
        fn = globals().get(job)
        if fn is None:
            sys.exit(f"no signature for job {job}")
        fn(a)


if __name__ == "__main__":
    main()
