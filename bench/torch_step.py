"""torch_step.py — the same training step as bench_train.c in PyTorch (CPU):
MLP 784 -> m -> m -> 10 (ReLU, biases), batch 256, SGD momentum 0.9, MSE,
float32 and float64. Prints "torch_step_s PREC M SECONDS" lines (best of 3
rounds of >= BENCH_TMIN seconds of wall time), or "torch_missing REASON".
The network, data and timing loop are torch_common.py's.

Run with /usr/bin/python3 (Debian's python3-torch), OMP_WAIT_POLICY=passive,
threads = BENCH_THREADS (torch.set_num_threads)."""
import sys

from torch_common import best, data, load_torch, mlp, sgd_step

widths = [int(a) for a in sys.argv[1:]] or [8, 32, 128, 1024, 4096]
torch = load_torch()

for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
    for m in widths:
        torch.manual_seed(0)
        model, opt, lossf = mlp(torch, dtype, m)  # drawn before the data
        x, y = data(torch, dtype)
        t = best(sgd_step(model, opt, lossf, x, y))  # wall time
        print("torch_step_s", name, m, "%.9g" % t, flush=True)
