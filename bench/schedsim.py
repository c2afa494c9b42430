"""schedsim.py — discrete-event model of sched.c's sweep, fed with measured
run costs, predicting makespan / (total/workers + longest run) for large
rank counts, so the coordinator's limits are known before a cluster finds
them.

Model (sched.c): rank 0 only coordinates (>= 16 ranks); workers = P - 1.
Runs go out largest estimated cost first, in chunks: a chunk takes runs
while their estimated seconds stay within min(CHUNK_S, work left /
(2 workers)) (at least one run; at most CHUNK_RUNS). Estimates come from
a least-squares line seconds = a + b * n_params over the measured runs
(the coordinator fits the same line online). Each worker asks for 2 chunks
at t = 0, runs them in order, and sends the results of a chunk in one
message when its last run ends (asking for one more chunk), or earlier
when the oldest unsent result has waited HOLD_S. The coordinator is one
server: whenever it is free it takes every message waiting (up to
DRAIN result messages), costing X_MSG each (receive and answer), X_RES per
result and one X_J (the journal write) for all the results of the drain;
the first request, for 2 chunks, costs 2 X_MSG. Messages take lat seconds
each way. The sweep ends when the last result has been recorded.

  schedsim.py COSTS_FILE X_MSG_US X_J_US X_RES_US LAT_US [runs_per_worker] [P ...]

COSTS_FILE: 'seconds n_params' per run, the measured sweep's. The
workload for P ranks is runs_per_worker * (P-1) runs drawn cyclically from
the measured costs (so each rank count sees the same cost distribution).
Prints "sim P runs efficiency utilization coord_busy msgs" lines."""
import heapq
import sys

CHUNK_S = 0.02
CHUNK_RUNS = 64
HOLD_S = 0.05
DRAIN = 16


def fit_line(costs):
    n = len(costs)
    mc = sum(p for _, p in costs) / n
    ms = sum(s for s, _ in costs) / n
    m2 = sum((p - mc) ** 2 for _, p in costs)
    cs = sum((p - mc) * (s - ms) for s, p in costs)
    b = cs / m2 if m2 > 0 else 0.0
    a = ms - b * mc
    if b <= 0 or a < 0:
        b, a = (ms / mc, 0.0) if mc > 0 else (0.0, ms)
    return a, b


def simulate(costs, workers, x_msg, x_j, x_res, lat, line):
    a, b = line
    # hand-out order: largest estimated cost first; (seconds, estimate)
    order = sorted(((s, a + b * p) for s, p in costs), key=lambda r: -r[1])
    est_left = [0.0] * (len(order) + 1)
    for i in range(len(order) - 1, -1, -1):
        est_left[i] = est_left[i + 1] + order[i][1]
    nxt = 0
    total = sum(s for s, _ in order)
    longest = max(s for s, _ in order)

    def take():
        nonlocal nxt
        n = len(order) - nxt
        if n <= 0:
            return []
        limit = min(CHUNK_S, est_left[nxt] / (2.0 * workers))
        k, acc = 1, order[nxt][1]
        while k < CHUNK_RUNS and k < n and acc + order[nxt + k][1] <= limit:
            acc += order[nxt + k][1]
            k += 1
        chunk = [s for s, _ in order[nxt:nxt + k]]
        nxt += k
        return chunk

    queue = [[] for _ in range(workers)]   # runs in hand: (seconds, is_end)
    running = [False] * workers
    pend = [0] * workers                   # results not yet sent
    since = [0.0] * workers
    events = []
    seq = 0
    coord_free = 0.0
    coord_busy = 0.0
    last_record = 0.0
    msgs = 0

    def push(t, kind, w, data=None):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, w, data))
        seq += 1

    def start_next(t, w):
        if queue[w]:
            s, end = queue[w].pop(0)
            running[w] = True
            push(t + s, "done", w, end)
        else:
            running[w] = False

    inbox = []                             # (kind, worker, data) waiting
    serving = False

    for w in range(workers):
        push(lat, "arrive", w, ("req", 2))
    while events:
        t, _, kind, w, data = heapq.heappop(events)
        if kind == "arrive":
            inbox.append((w, data))
            if not serving:
                serving = True
                push(max(t, coord_free), "serve", -1)
        elif kind == "serve":
            take_n, cost, results = 0, 0.0, 0
            answers = []
            while inbox and take_n < DRAIN:
                w2, (what, x) = inbox.pop(0)
                cost += x_msg * (x if what == "req" else 1)
                if what == "req":
                    answers += [w2] * x
                    continue
                n, asks = x
                take_n += 1
                results += n
                cost += n * x_res
                msgs += 1
                answers += [w2] * asks
            if results:
                cost += x_j
            coord_busy += cost
            coord_free = t + cost
            if results:
                last_record = coord_free
            for w2 in answers:
                push(coord_free + lat, "assign", w2, take())
            if inbox:
                push(coord_free, "serve", -1)
            else:
                serving = False
        elif kind == "assign":
            for i, s in enumerate(data):
                queue[w].append((s, i == len(data) - 1))
            if not running[w]:
                start_next(t, w)
        elif kind == "done":
            if pend[w] == 0:
                since[w] = t
            pend[w] += 1
            if data or t - since[w] >= HOLD_S:
                push(t + lat, "arrive", w, ("res", (pend[w], 1 if data else 0)))
                pend[w] = 0
            start_next(t, w)
    makespan = last_record
    eff = makespan / (total / workers + longest)
    util = total / (workers * makespan)
    return eff, util, coord_busy / makespan, msgs


def main():
    costs = [(float(l.split()[0]), float(l.split()[1]))
             for l in open(sys.argv[1]) if l.strip()]
    x_msg = float(sys.argv[2]) * 1e-6
    x_j = float(sys.argv[3]) * 1e-6
    x_res = float(sys.argv[4]) * 1e-6
    lat = float(sys.argv[5]) * 1e-6
    rpw = int(sys.argv[6]) if len(sys.argv) > 6 else 40
    ranks = [int(a) for a in sys.argv[7:]] or [64, 256, 1024, 4096]
    mean = sum(c for c, _ in costs) / len(costs)
    line = fit_line(costs)
    print("sim_mean_run_s %.6g" % mean)
    print("sim_x_msg_us %.4g" % (x_msg * 1e6))
    print("sim_x_j_us %.4g" % (x_j * 1e6))
    print("sim_x_res_us %.4g" % (x_res * 1e6))
    # Results per second one coordinator can record, with messages of
    # chunks of ~CHUNK_S: once saturated, drains are full and the journal
    # write is shared by DRAIN messages.
    per_chunk = max(1.0, min(CHUNK_RUNS, CHUNK_S / mean))
    print("sim_saturation_workers %.0f"
          % (mean / (x_res + (x_msg + x_j / DRAIN) / per_chunk)))
    for p in ranks:
        w = p - 1
        n = rpw * w
        work = [costs[i % len(costs)] for i in range(n)]
        eff, util, cb, msgs = simulate(work, w, x_msg, x_j, x_res, lat, line)
        print("sim %d %d %.4f %.4f %.4f %d" % (p, n, eff, util, cb, msgs),
              flush=True)


if __name__ == "__main__":
    main()
