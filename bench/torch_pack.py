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
threads = BENCH_THREADS (torch.set_num_threads). The single network, the
data and the timing loop are torch_common.py's."""
import os
import sys
import time

from torch_common import best, data, load_torch, mlp, sgd_step

M = int(sys.argv[1]) if len(sys.argv) > 1 else 32
widths = [int(a) for a in sys.argv[2:]] or [8, 32, 64, 128]
torch = load_torch()


# The process's CPU time, as bench_pack.c measures (BENCH_CLOCK=wall: wall
# time): far steadier than wall time on a machine other users load.
clock = time.perf_counter if os.environ.get("BENCH_CLOCK") == "wall" else time.process_time
print("clock", "wall" if clock is time.perf_counter else "cpu")


for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
    for m in widths:
        torch.manual_seed(0)
        x, y = data(torch, dtype)  # drawn before the model
        single = sgd_step(*mlp(torch, dtype, m), x, y)
        print("torch_single_s", name, m, "%.9g" % best(single, clock), flush=True)

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

        t = {v: best(stacked(v), clock) for v in ("matmul", "bmm")}
        v = min(t, key=t.get)
        print("torch_bmm_s", name, M, m, "%.9g" % (t[v] / M), flush=True)
        print("torch_bmm_variant", name, m, v, flush=True)
