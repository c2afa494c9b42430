"""kernel_numpy.py XFILE — the same NNGP + NTK (ReLU arc-cosine, NTK
parameterization, depth 3, sigma_w2 = 2, sigma_b2 = 0.1) in plain numpy on
the X written by pkernel_bench; checks the first 8x8 entries against the
library's and prints "numpy n seconds max_rel_err" (median of 3)."""
import sys, time
import numpy as np

DEPTH, SW2, SB2 = 3, 2.0, 0.1


def kernels(x):
    d = x.shape[1]
    k0 = x @ x.T / d
    q = SW2 * np.sum(x * x, axis=1) / d + SB2        # S_1(x, x)
    s = SW2 * k0 + SB2
    th = s.copy()
    for _ in range(DEPTH):
        norm = np.sqrt(np.outer(q, q))
        c = np.clip(s / norm, -1.0, 1.0)
        ang = np.arccos(c)
        t = norm * (np.sqrt(np.maximum(0.0, 1.0 - c * c)) + (np.pi - ang) * c) / (2 * np.pi)
        td = (np.pi - ang) / (2 * np.pi)
        s = SW2 * t + SB2
        th = s + SW2 * td * th
        q = SW2 * q / 2 + SB2                         # ReLU: E[phi(u)^2] = q/2
    return s, th


def main():
    with open(sys.argv[1], "rb") as f:
        n, d = np.fromfile(f, dtype=np.int32, count=2)
        x = np.fromfile(f, dtype=np.float64, count=n * d).reshape(n, d)
        ref_nngp = np.fromfile(f, dtype=np.float64, count=64).reshape(8, 8)
        ref_ntk = np.fromfile(f, dtype=np.float64, count=64).reshape(8, 8)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        s, th = kernels(x)
        ts.append(time.perf_counter() - t0)
    err = max(np.max(np.abs(s[:8, :8] - ref_nngp) / np.abs(ref_nngp)),
              np.max(np.abs(th[:8, :8] - ref_ntk) / np.abs(ref_ntk)))
    print("numpy %d %.6e %.3e" % (n, sorted(ts)[1], err))


main()
