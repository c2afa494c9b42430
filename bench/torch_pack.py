"""torch_pack.py M [widths...] — PyTorch (CPU) references for bench_pack.c:
the MLP 784 -> m -> m -> 10 (ReLU, biases), 256 samples, MSE, SGD lr 1e-3
momentum 0.9, float32 and float64, trained
  one after another: one network's step (what training the M networks one
      by one costs per run and step; torch_step.py's step), and
  stacked: the M networks as one model of batched products, the strongest
      torch equivalent of a pack: the first layer either as one matmul over
      the concatenated weights (x @ [W_1 .. W_M]) or as torch.baddbmm on the
      expanded input, the later layers as torch.baddbmm; the faster of the
      two counts. Per run and step = its step time / M.
Prints "torch_single_s PREC M_WIDTH s", "torch_bmm_s PREC M WIDTH s" and
"torch_bmm_variant PREC WIDTH matmul|bmm" (best of 3 rounds of >=
BENCH_TMIN seconds of process CPU time), or "torch_missing REASON".

Run with /usr/bin/python3 (Debian's python3-torch), OMP_WAIT_POLICY=passive,
threads = BENCH_THREADS (torch.set_num_threads)."""
import os
import sys
import time

tmin = float(os.environ.get("BENCH_TMIN", "0.4"))
threads = int(os.environ.get("BENCH_THREADS", "1"))
M = int(sys.argv[1]) if len(sys.argv) > 1 else 32
widths = [int(a) for a in sys.argv[2:]] or [8, 32, 64, 128]
try:
    import torch
except Exception as e:  # noqa: BLE001 - report why, never fake a number
    print("torch_missing", str(e).replace(" ", "_"))
    sys.exit(0)
torch.set_num_threads(threads)
print("torch_version", torch.__version__)
print("torch_threads", torch.get_num_threads())


# The process's CPU time, as bench_pack.c measures (BENCH_CLOCK=wall: wall
# time): far steadier than wall time on a machine other users load.
clock = time.perf_counter if os.environ.get("BENCH_CLOCK") == "wall" else time.process_time
print("clock", "wall" if clock is time.perf_counter else "cpu")


def per_call(fn):
    reps, t0 = 0, clock()
    while True:
        fn()
        reps += 1
        t = clock() - t0
        if t >= tmin:
            return t / reps


def best(fn):
    fn()
    return min(per_call(fn) for _ in range(3))


for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
    for m in widths:
        torch.manual_seed(0)
        x = torch.randn(256, 784, dtype=dtype)
        y = torch.zeros(256, 10, dtype=dtype)
        y[torch.arange(256), torch.arange(256) % 10] = 1

        model = torch.nn.Sequential(
            torch.nn.Linear(784, m), torch.nn.ReLU(),
            torch.nn.Linear(m, m), torch.nn.ReLU(),
            torch.nn.Linear(m, 10)).to(dtype)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        lossf = torch.nn.MSELoss()

        def single():
            opt.zero_grad(set_to_none=True)
            lossf(model(x), y).backward()
            opt.step()

        print("torch_single_s", name, m, "%.9g" % best(single), flush=True)

        def param(*shape, scale=1.0):
            return (scale * torch.randn(*shape, dtype=dtype)).requires_grad_()

        W1 = param(784, M * m, scale=(2 / 784) ** 0.5)  # [W_1 .. W_M]
        b1 = param(M, 1, m, scale=0.1)
        W2 = param(M, m, m, scale=(2 / m) ** 0.5)
        b2 = param(M, 1, m, scale=0.1)
        W3 = param(M, m, 10, scale=(2 / m) ** 0.5)
        b3 = param(M, 1, 10, scale=0.1)
        sopt = torch.optim.SGD([W1, b1, W2, b2, W3, b3], lr=1e-3, momentum=0.9)
        xe = x.expand(M, 256, 784)

        def stacked(first):
            def step():
                sopt.zero_grad(set_to_none=True)
                if first == "matmul":
                    h = (x @ W1).view(256, M, m).transpose(0, 1) + b1
                else:
                    h = torch.baddbmm(b1, xe, W1.view(784, M, m).transpose(0, 1))
                h = torch.baddbmm(b2, h.relu(), W2).relu()
                out = torch.baddbmm(b3, h, W3)
                # the sum over members of each member's mean loss
                ((out - y) ** 2).mean(dim=(1, 2)).sum().backward()
                sopt.step()
            return step

        t = {v: best(stacked(v)) for v in ("matmul", "bmm")}
        v = min(t, key=t.get)
        print("torch_bmm_s", name, M, m, "%.9g" % (t[v] / M), flush=True)
        print("torch_bmm_variant", name, m, v, flush=True)
