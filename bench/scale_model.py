"""scale_model.py [bench/scale.txt] — the model of time and memory per rank
behind bench/RESULTS.md's cluster section, fitted to the runs of
bench/scale_runs.sh (jobs/fmnist_full.ini: NTK depth 2, d = 784, k = 10,
n_test = 10,000, one ridge), and its projection to n = 60,000-200,000 on
64-1,024 ranks. Prints markdown.

Work terms (flop-equivalents, P ranks, per ridge):
  build    B = n^2 d (lower triangle) + 2 nt n d (K(test, train))
  cholesky C = n^3 / 3
  mixed    C/2 at the float32 rate + (1 + s) n^2 d rebuilds (float32 K, one
           residual per solve, s solves) + 2 nt n d (strip predictions)
  eigen    values only (ELPA two-stage, tridiagonal) ~ 4/3 n^3
Per-core rates are fitted on this machine (2 shared cores, so they are
lower bounds); on a cluster each term is divided by P x E, with the build
perfectly parallel (no communication: every rank holds the data) and the
factorizations at an assumed parallel efficiency E (see RESULTS.md).
Memory per rank: op_kphase_bytes_per_rank's statement (src/kphase.c)."""
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "bench/scale.txt"
D, K, NT = 784, 10, 10000
runs = []
for line in open(path):
    f = line.split()
    if f and f[0] == "run":
        r = dict(zip(f[1::2], f[2::2]))
        runs.append(r)


def fit(xs, ys):
    """Least squares y = a x through the origin."""
    return sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)


f64 = [r for r in runs if r["precision"] == "float64"]
mx = [r for r in runs if r["precision"] == "mixed"]
P0 = int(runs[0]["ranks"])
# seconds per flop-equivalent per rank-second: t = work / (P0 * rate)
build_rate = 1 / fit([(int(r["n"]) ** 2 * D + 2 * NT * int(r["n"]) * D) / P0 for r in f64],
                     [float(r["t_kernel"]) for r in f64])
chol_rate = 1 / fit([int(r["n"]) ** 3 / 3 / P0 for r in f64], [float(r["t_ridge"]) for r in f64])


def mixed_rest(r):
    n, s = int(r["n"]), int(r["solves"])
    return ((1 + s) * n * n * D + 2 * NT * n * D) / P0 / build_rate


chol32_rate = 1 / fit([int(r["n"]) ** 3 / 3 / P0 for r in mx],
                      [max(float(r["t_ridge"]) - mixed_rest(r), 1e-9) for r in mx])
print("Fitted on %d runs (%s), %d ranks, per rank: build %.1f GF/s, float64 Cholesky (incl. solve, predictions) "
      "%.1f GF/s, float32 Cholesky %.1f GF/s (after the modelled rebuilds)\n"
      % (len(runs), ", ".join("%s %s" % (r["precision"], r["n"]) for r in runs), P0,
         build_rate / 1e9, chol_rate / 1e9, chol32_rate / 1e9))
print("| n | mixed s fitted / measured | float64 s fitted / measured |")
print("|---|---|---|")
for n in sorted({int(r["n"]) for r in runs}):
    cells = []
    for rs, prec in ((mx, "mixed"), (f64, "float64")):
        m = [r for r in rs if int(r["n"]) == n]
        if not m:
            cells.append("-")
            continue
        r = m[-1]
        if prec == "mixed":
            model = n ** 3 / 3 / P0 / chol32_rate + mixed_rest(r)
            meas = float(r["t_ridge"])
        else:
            model = (n * n * D + 2 * NT * n * D) / P0 / build_rate + n ** 3 / 3 / P0 / chol_rate
            meas = float(r["t_kernel"]) + float(r["t_ridge"])
        cells.append("%.0f / %.0f" % (model, meas))
    print("| %d | %s | %s |" % (n, cells[0], cells[1]))
n = 60000
s = 2
t_full = n ** 3 / 3 / P0 / chol32_rate + ((1 + s) * n * n * D + 2 * NT * n * D) / P0 / build_rate
print("\njobs/fmnist_full.ini (n = 60,000, mixed, %d ranks, %d solves) projected: %.0f s = %.1f min\n"
      % (P0, s, t_full, t_full / 60))

# The shared machine gave these runs a fraction of its 2 cores (load 5-7);
# the same kernels on a quiet machine (`make bench BENCH_N=8192`, RESULTS.md
# table: NNGP+NTK full build 1.47 s, PDPOTRF 2.32 s on 2 ranks) run at
# these per-rank rates, which the cluster projection uses. float32 at twice
# the float64 rate (SGEMM's width) is an assumption.
Q_BUILD = 2 * 8192.0 ** 2 * 784 / 1.47 / 2
Q_CHOL = 8192.0 ** 3 / 3 / 2.32 / 2
Q_CHOL32 = 2 * Q_CHOL
tq = n ** 3 / 3 / P0 / Q_CHOL32 + ((1 + s) * n * n * D + 2 * NT * n * D) / P0 / Q_BUILD
print("At the quiet machine's rates (build %.1f, Cholesky %.1f GF/s per rank): %.0f s = %.1f min\n"
      % (Q_BUILD / 1e9, Q_CHOL / 1e9, tq, tq / 60))
build_rate, chol_rate, chol32_rate = Q_BUILD, Q_CHOL, Q_CHOL32
E_CHOL, E_EIG = 0.6, 0.4  # assumed parallel efficiencies on a cluster
eig_rate = chol_rate  # values-only eigen at the Cholesky's per-core rate
print("| n | ranks | float64 GB/rank (K, K(test,train), pdsyev, data) | mixed GB/rank | build s | "
      "float64 Cholesky s | eigen (values) s | mixed ridge s (s = 2) |")
print("|---|---|---|---|---|---|---|---|")
for n in (60000, 100000, 200000):
    for P in (64, 256, 1024):
        mem64 = 8 * (n * n * 1.2 + NT * n + 1024 * n) / P + 8 * (n + NT) * (D + K)
        memmx = 8 * (0.5 * n * n + 256 * (n + NT)) / P + 32 * n * K + 8 * (n + NT) * (D + K)
        tb = (n * n * D + 2 * NT * n * D) / P / build_rate
        tc = n ** 3 / 3 / (P * chol_rate * E_CHOL)
        te = 4 / 3 * n ** 3 / (P * eig_rate * E_EIG)
        tm = (n ** 3 / 3 / (P * chol32_rate * E_CHOL) + (3 * n * n * D + 2 * NT * n * D) / P / build_rate)
        print("| %d | %d | %.1f | %.1f | %.0f | %.0f | %.0f | %.0f |" % (n, P, mem64 / 1e9, memmx / 1e9, tb, tc, te, tm))
