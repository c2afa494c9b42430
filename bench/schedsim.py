"""schedsim.py — discrete-event model of sched.c's sweep, fed with measured
run costs, predicting makespan / (total/workers + longest run) for large
rank counts.

Model (sched.c): rank 0 only coordinates (>= 16 ranks); workers = P - 1.
Runs go out largest cost first. Each worker asks for 2 runs at t = 0, then
sends one result per finished run, which also asks for one more, so it
keeps 2 runs in hand. The coordinator is one server handling messages in
arrival order, X seconds each (journal + HDF5 put + MPI calls; an initial
request for 2 runs costs 2 X). Messages take lat seconds each way.

  schedsim.py COSTS_FILE X_US LAT_US [runs_per_worker] [P ...]

COSTS_FILE: 'seconds n_params' per run, the measured sweep's. The
workload for P ranks is runs_per_worker * (P-1) runs drawn cyclically from
the measured costs (so each rank count sees the same cost distribution).
Prints "sim P runs efficiency utilization coord_busy" lines."""
import heapq
import sys


def simulate(costs, workers, x, lat):
    # largest ESTIMATED cost first (sched.c sorts by parameters x samples
    # x epochs, not by the time a run will take)
    order = [c for c, _ in sorted(costs, key=lambda ce: -ce[1])]
    nxt = 0
    total = sum(order)
    longest = max(order)
    hand = [[] for _ in range(workers)]   # queued runs per worker
    busy_until = [0.0] * workers          # when the current run ends (0: idle)
    running = [False] * workers
    events = []                           # (time, seq, kind, worker)
    seq = 0
    coord_free = 0.0
    coord_busy = 0.0
    makespan = 0.0

    def push(t, kind, w):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, w))
        seq += 1

    # initial requests (2 runs each) reach the coordinator at lat
    for w in range(workers):
        push(lat, "req2", w)
    while events:
        t, _, kind, w = heapq.heappop(events)
        if kind in ("req2", "res"):
            # coordinator serves in arrival order
            k = 2 if kind == "req2" else 1
            start = max(t, coord_free)
            for _ in range(k):
                start += x
                coord_busy += x
                run = None
                if nxt < len(order):
                    run = order[nxt]
                    nxt += 1
                push(start + lat, "assign", w if run is None else (w, run))
            coord_free = start
        elif kind == "assign":
            if isinstance(w, tuple):
                w, run = w
                hand[w].append(run)
                if not running[w]:
                    running[w] = True
                    c = hand[w].pop(0)
                    push(t + c, "done", w)
        elif kind == "done":
            makespan = max(makespan, t)
            push(t + lat, "res", w)
            if hand[w]:
                c = hand[w].pop(0)
                push(t + c, "done", w)
            else:
                running[w] = False
    eff = makespan / (total / workers + longest)
    util = total / (workers * makespan)
    return eff, util, coord_busy / max(makespan, coord_free)


def main():
    costs = [(float(l.split()[0]), float(l.split()[1]))
             for l in open(sys.argv[1]) if l.strip()]
    x = float(sys.argv[2]) * 1e-6
    lat = float(sys.argv[3]) * 1e-6
    rpw = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    ranks = [int(a) for a in sys.argv[5:]] or [64, 256, 1024, 4096]
    mean = sum(c for c, _ in costs) / len(costs)
    print("sim_mean_run_s %.6g" % mean)
    print("sim_x_us %.4g" % (x * 1e6))
    print("sim_saturation_workers %.0f" % (mean / x))
    for p in ranks:
        w = p - 1
        n = rpw * w
        work = [costs[i % len(costs)] for i in range(n)]
        eff, util, cb = simulate(work, w, x, lat)
        print("sim %d %d %.4f %.4f %.4f" % (p, n, eff, util, cb), flush=True)


if __name__ == "__main__":
    main()
