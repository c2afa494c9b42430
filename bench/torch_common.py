"""torch_common.py — what the PyTorch references (torch_step.py,
torch_pack.py) share, so that both time the same network the same way:
the settings from the environment (BENCH_TMIN seconds per round,
BENCH_THREADS), importing torch (or printing "torch_missing REASON" and
exiting 0: never a made-up number), the timing loop (best of 3 rounds of
>= BENCH_TMIN seconds on a given clock), and the benchmark's data and MLP
784 -> m -> m -> 10 (ReLU, biases; 256 samples, one-hot targets; SGD lr
1e-3 momentum 0.9, MSE)."""
import os
import sys
import time

tmin = float(os.environ.get("BENCH_TMIN", "0.4"))
threads = int(os.environ.get("BENCH_THREADS", "1"))


def load_torch():
    """torch with BENCH_THREADS threads, its version and thread count
    printed; or "torch_missing REASON" printed and the process ended."""
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - report why, never fake a number
        print("torch_missing", str(e).replace(" ", "_"))
        sys.exit(0)
    torch.set_num_threads(threads)
    print("torch_version", torch.__version__)
    print("torch_threads", torch.get_num_threads())
    return torch


def per_call(fn, clock=time.perf_counter):
    """Seconds per call of fn over one round of >= tmin seconds."""
    reps, t0 = 0, clock()
    while True:
        fn()
        reps += 1
        t = clock() - t0
        if t >= tmin:
            return t / reps


def best(fn, clock=time.perf_counter):
    """One warm-up call, then the best of 3 rounds (seconds per call)."""
    fn()
    return min(per_call(fn, clock) for _ in range(3))


def data(torch, dtype):
    """x (256 x 784) ~ N(0,1) and one-hot y (256 x 10), class i % 10."""
    x = torch.randn(256, 784, dtype=dtype)
    y = torch.zeros(256, 10, dtype=dtype)
    y[torch.arange(256), torch.arange(256) % 10] = 1
    return x, y


def mlp(torch, dtype, m):
    """The model, its optimizer and loss."""
    model = torch.nn.Sequential(
        torch.nn.Linear(784, m), torch.nn.ReLU(),
        torch.nn.Linear(m, m), torch.nn.ReLU(),
        torch.nn.Linear(m, 10)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    return model, opt, torch.nn.MSELoss()


def sgd_step(model, opt, lossf, x, y):
    """One training step of the model on the whole batch, as a function."""
    def step():
        opt.zero_grad(set_to_none=True)
        lossf(model(x), y).backward()
        opt.step()
    return step
