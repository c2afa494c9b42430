"""torch_step.py — the same training step as bench_train.c in PyTorch (CPU):
MLP 784 -> m -> m -> 10 (ReLU, biases), batch 256, SGD momentum 0.9, MSE,
float32 and float64. Prints "torch_step_s PREC M SECONDS" lines (best of 3
rounds of >= BENCH_TMIN seconds), or "torch_missing REASON".

Run with /usr/bin/python3 (Debian's python3-torch), OMP_WAIT_POLICY=passive,
threads = BENCH_THREADS (torch.set_num_threads)."""
import os
import sys
import time

tmin = float(os.environ.get("BENCH_TMIN", "0.4"))
threads = int(os.environ.get("BENCH_THREADS", "1"))
widths = [int(a) for a in sys.argv[1:]] or [8, 32, 128, 1024, 4096]
try:
    import torch
except Exception as e:  # noqa: BLE001 - report why, never fake a number
    print("torch_missing", str(e).replace(" ", "_"))
    sys.exit(0)
torch.set_num_threads(threads)
print("torch_version", torch.__version__)
print("torch_threads", torch.get_num_threads())


def per_call(fn):
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        t = time.perf_counter() - t0
        if t >= tmin:
            return t / reps


for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
    for m in widths:
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(784, m), torch.nn.ReLU(),
            torch.nn.Linear(m, m), torch.nn.ReLU(),
            torch.nn.Linear(m, 10)).to(dtype)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        lossf = torch.nn.MSELoss()
        x = torch.randn(256, 784, dtype=dtype)
        y = torch.zeros(256, 10, dtype=dtype)
        y[torch.arange(256), torch.arange(256) % 10] = 1

        def step():
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()

        step()
        best = min(per_call(step) for _ in range(3))
        print("torch_step_s", name, m, "%.9g" % best, flush=True)
