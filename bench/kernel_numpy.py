"""kernel_numpy.py N — a plain numpy implementation of the same NNGP + NTK
recursion bench_kernel.c times (ReLU, ntk parameterization, depth 3,
sigma_w2 = 2, sigma_b2 = 0.1, d = 784, Gaussian inputs): one Gram product
X X^T / d, then the arc-cosine recursion on whole n x n arrays. Prints
"numpy_build_s SECONDS" (best of 2) and the thread setting it ran with."""
import os
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
d, depth, sw2, sb2 = 784, 3, 2.0, 0.1
x = np.random.default_rng(5).standard_normal((n, d))


def build(x):
    k0 = x @ x.T / d
    s = sw2 * k0 + sb2          # NNGP after the first Dense
    th = s.copy()               # NTK, ntk parameterization
    q = np.diag(s).copy()       # per-point variances S_l(x, x)
    for _ in range(depth):
        norm = np.sqrt(np.outer(q, q))
        c = np.clip(s / norm, -1.0, 1.0)
        ang = np.arccos(c)
        t = norm * (np.sqrt(1.0 - c * c) + (np.pi - ang) * c) / (2 * np.pi)
        td = (np.pi - ang) / (2 * np.pi)
        s = sw2 * t + sb2
        th = s + sw2 * td * th
        q = sw2 * q / 2 + sb2     # ReLU: E[relu(u)^2] = q/2
    return s, th


best = 1e30
for _ in range(2):
    t0 = time.perf_counter()
    nngp, ntk = build(x)
    best = min(best, time.perf_counter() - t0)
    del nngp, ntk
print("numpy_threads", os.environ.get("OPENBLAS_NUM_THREADS", "default"))
print("numpy_build_s %.9g" % best)
