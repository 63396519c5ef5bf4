#!/usr/bin/env python3
"""Host model of the head-dim-128 dQ writer hand-off (hopper_backward_d128_dq_writer.patch).

Actors: 8 consumer warps (c<g>.w<w>; c0.w0 holds thread 0, which writes link.ran), the
producer copy warp (ring: full/empty, Q/dO/lse/D tagged by item), the writer thread, the copy
engine (bulk reductions: smem read, then global write). Vector clocks for races on the dQ boxes
(unit = (box, warp-pair half)), link.ran, the epilogue's K/V/Q/dO tiles; proxy fences;
mbarrier phase checks (stale pass, overrun); data flow (each running item's 4 boxes reduced
once with the consumer's (step, head, q_row, valid), skipped items never; nothing in flight at
CTA exit). Mutations must each be caught.
"""
import random
import sys
from collections import defaultdict

KQ = 80          # queries a step (head dim 128)
BOXES = 4


class ModelError(Exception):
    pass


def join(a, b):
    for k, v in b.items():
        if a.get(k, 0) < v:
            a[k] = v


def hb(ca, agent, cb):
    return cb.get(agent, 0) >= ca.get(agent, 0)


class MBar:
    def __init__(self, name, count):
        self.name, self.count, self.pending, self.phase = name, count, count, 0
        self.acc, self.hist = {}, []  # hist[k]: releases of phases 0..k

    def arrive(self, n, clock):
        if n > self.pending:
            raise ModelError(f"{self.name}: arrive {n} > pending {self.pending}")
        join(self.acc, clock)
        self.pending -= n
        if self.pending == 0:
            prev = dict(self.hist[-1]) if self.hist else {}
            join(prev, self.acc)
            self.hist.append(prev)
            self.acc, self.pending, self.phase = {}, self.count, self.phase + 1


class NBar:
    def __init__(self, count):
        self.count, self.gen, self.n, self.acc, self.done = count, 0, 0, {}, {}

    def arrive(self, clock):
        join(self.acc, clock)
        self.n += 1
        g = self.gen
        if self.n == self.count:
            self.done[g], self.acc, self.n, self.gen = self.acc, {}, 0, g + 1
        return g


class Acc:
    def __init__(self, agent, clock, proxy, tag, thread):
        self.agent, self.clock, self.proxy, self.tag, self.thread = agent, dict(clock), proxy, tag, thread
        self.fence = None


def work(cfg):
    """Items as the consumers count them (counters) and as the writer finds them (locate)."""
    steps, heads, origin, q_len, q_begin = cfg["steps"], cfg["heads"], cfg["origin"], cfg["q_len"], cfg["q_begin"]
    items = heads * steps
    cons = []
    step, head = 0, 0
    for item in range(items):
        q0 = origin + step * KQ
        cons.append((step, head, q_begin + q0, min(KQ, q_len - q0)))
        step += 1
        if step == steps:
            step, head = 0, head + 1
    wr = []
    for item in range(items):
        if cfg.get("mut") == "writer_step_major":
            step, head = item // heads, item % heads
        else:
            step, head = item % steps, item // steps
        q0 = origin + step * KQ
        wr.append((step, head, q_begin + q0, min(KQ, q_len - q0)))
    return items, cons, wr


class Sim:
    def __init__(self, cfg, rng, mut=None):
        self.cfg, self.rng, self.mut = cfg, rng, mut
        cfg["mut"] = mut
        self.atomic = cfg.get("atomic", True)
        self.items, self.cons_items, self.wr_items = work(cfg)
        self.runs = cfg["runs"]
        self.clocks = {}
        self.staged = MBar("staged", 128 if mut == "staged_count_128" else 256)
        self.free = MBar("free", 1)
        self.full = [MBar(f"full[{i}]", 1) for i in range(2)]
        self.empty = [MBar(f"empty[{i}]", 256) for i in range(2)]
        self.bar1 = NBar(8)
        self.last_write, self.reads = {}, defaultdict(list)
        self.unfenced = defaultdict(list)
        self.ran = None
        self.bulk = []          # pending engine ops
        self.groups = []        # writer's committed groups: list of ops
        self.reduced = defaultdict(int)
        self.red_args = {}
        self.nagent = 0
        self.exited = set()
        self.actors = {}

    def tick(self, a):
        c = self.clocks.setdefault(a, {a: 0})
        c[a] = c.get(a, 0) + 1
        return c

    # memory
    def _check(self, prev, agent, clock, proxy, unit):
        if prev.agent == agent:
            return
        if not hb(prev.clock, prev.agent, clock):
            raise ModelError(f"race on {unit}: {proxy} access by {agent} not after {prev.proxy} by {prev.agent}")
        if prev.proxy == "generic" and proxy == "async" and (prev.fence is None or not hb(prev.fence, prev.thread, clock)):
            raise ModelError(f"proxy: async read of {unit} by {agent} after generic write by {prev.agent} unfenced")

    def write(self, units, agent, clock, proxy, tag, thread=None):
        for u in units:
            if u in self.last_write:
                self._check(self.last_write[u], agent, clock, proxy, u)
            for r in self.reads[u]:
                self._check(r, agent, clock, proxy, u)
            a = Acc(agent, clock, proxy, tag, thread)
            self.last_write[u], self.reads[u] = a, []
            if proxy == "generic":
                self.unfenced[thread].append(a)

    def read(self, units, agent, clock, proxy):
        tags = set()
        for u in units:
            w = self.last_write.get(u)
            if w is not None:
                self._check(w, agent, clock, proxy, u)
            tags.add(w.tag if w else None)
            self.reads[u].append(Acc(agent, clock, proxy, None, None))
        return tags

    def fence_proxy(self, me):
        c = dict(self.clocks[me])
        for a in self.unfenced[me]:
            a.fence = c
        self.unfenced[me] = []

    # waits
    def wait(self, me, bar, phase):
        def ready():
            if bar.phase > phase + 1:
                raise ModelError(f"{me}: {bar.name} at phase {bar.phase}, waiter means {phase} (overrun)")
            return (bar.phase & 1) != (phase & 1)
        yield ready
        if bar.phase != phase + 1:
            raise ModelError(f"{me}: stale pass on {bar.name}: meant {phase}, {bar.phase} completed")
        join(self.tick(me), bar.hist[phase])

    def sync1(self, me):
        g = self.bar1.arrive(self.tick(me))
        yield lambda: g in self.bar1.done
        join(self.tick(me), self.bar1.done[g])

    # actors
    def producer(self):
        me = "prod"
        for item in range(self.items):
            b = item % 2
            if item >= 2:
                yield from self.wait(me, self.empty[b], (item - 2) // 2)
            c = self.tick(me)
            self.write([("ring", b)], me, c, "generic", item, me)
            self.full[b].arrive(1, c)
            yield None

    def consumer(self, g, w):
        me = f"c{g}.w{w}"
        t0 = (g == 0 and w == 0)
        box_units = [(g * 2 + w // 2, w % 2)]  # a warp's 16 channels: half of a 32-channel box
        for item in range(self.items):
            b = item % 2
            yield from self.wait(me, self.full[b], item // 2)
            tags = self.read([("ring", b)], me, self.tick(me), "generic")
            if tags != {item}:
                raise ModelError(f"{me}: ring {b} holds {tags}, item {item}")
            yield None
            if not self.runs[item]:
                if self.atomic and self.mut != "skip_no_hand_over":
                    if item > 0 and self.mut != "skip_no_wait_free":
                        yield from self.wait(me, self.free, item - 1)
                    yield from self.hand_over(me, t0, False, item)
            else:
                yield from self.sync1(me)
                yield None  # products
                if self.atomic:
                    if item > 0 and self.mut != "no_wait_free" and not (self.mut == "only_t0_waits_free" and not t0):
                        ph = item if self.mut == "wait_free_parity" else item - 1
                        yield from self.wait(me, self.free, ph)
                    self.write(box_units, me, self.tick(me), "generic", ("dq", item, self.cons_items[item]), me)
                    yield None
                    if self.mut != "no_fence":
                        self.fence_proxy(me)
                    yield from self.hand_over(me, t0, True, item)
            self.empty[b].arrive(32, self.tick(me))
            yield None
        # epilogue: store_dkdv_staged (barrier 1, then K/V/Q/dO tiles)
        yield from self.sync1(me)
        units = [("epi", g, w)]
        if self.mut == "epilogue_over_boxes":
            units.append((g * 2 + w // 2, w % 2))
        self.write(units, me, self.tick(me), "generic", "epi", me)
        yield None

    def hand_over(self, me, t0, ran, item):
        if self.mut == "ran_only_when_run" and not ran:
            t0 = False
        if t0 and self.mut != "ran_after_arrive":
            self.ran = ran
            self.write([("ran",)], me, self.tick(me), "generic", ("ran", item), me)
        self.staged.arrive(32, self.tick(me))
        if t0 and self.mut == "ran_after_arrive":
            yield None
            self.ran = ran
            self.write([("ran",)], me, self.tick(me), "generic", ("ran", item), me)
        yield None

    def writer(self):
        me = "writer"
        if not self.atomic:
            return
        for item in range(self.items):
            step, head, q_row, valid = self.wr_items[item]
            yield from self.wait(me, self.staged, item)
            self.read([("ran",)], me, self.tick(me), "generic")
            ran = self.ran
            if ran != self.runs[item]:
                raise ModelError(f"writer: ran={ran} at item {item}, consumers runs={self.runs[item]}")
            if ran:
                self.nagent += 1
                op = {"agent": f"bulk#{self.nagent}", "clock": dict(self.tick(me)), "item": item,
                      "args": (step, head, q_row, valid), "read": False, "written": False}
                op["clock"][op["agent"]] = 1
                self.bulk.append(op)
                self.groups.append(op)
                yield None
                if self.mut != "arrive_before_read_wait":
                    yield lambda: all(o["read"] for o in self.groups)
                    for o in self.groups:
                        join(self.tick(me), o["rclock"])
            self.free.arrive(1, self.tick(me))
            yield None
        if self.mut != "no_final_wait":
            yield lambda: all(o["written"] for o in self.groups)

    def engine(self, op):
        if not op["read"]:
            units = [(b, h) for b in range(BOXES) for h in range(2)]
            tags = self.read(units, op["agent"], op["clock"], "async")
            want = ("dq", op["item"], self.cons_items[op["item"]])
            if tags != {want}:
                raise ModelError(f"bulk of item {op['item']} read boxes tagged {tags}")
            if op["args"] != self.cons_items[op["item"]]:
                raise ModelError(f"item {op['item']}: writer adds {op['args']}, consumers staged {self.cons_items[op['item']]}")
            self.reduced[op["item"]] += 1
            op["read"], op["rclock"] = True, dict(op["clock"])
        else:
            op["written"] = True
            self.bulk.remove(op)

    def run(self):
        self.actors = {"prod": self.producer(), "writer": self.writer()}
        for g in range(2):
            for w in range(4):
                self.actors[f"c{g}.w{w}"] = self.consumer(g, w)
        blocked = {k: None for k in self.actors}
        while True:
            choices = []
            for k, gen in self.actors.items():
                if k in self.exited:
                    continue
                if blocked[k] is None or blocked[k]():
                    choices.append(("a", k))
            for op in self.bulk:
                choices.append(("e", op))
            if not choices:
                live = [k for k in self.actors if k not in self.exited]
                if live:
                    raise ModelError(f"deadlock: {live}")
                break
            kind, x = self.rng.choice(choices)
            if kind == "e":
                self.engine(x)
                continue
            try:
                blocked[x] = next(self.actors[x])
            except StopIteration:
                self.exited.add(x)
                if len(self.exited) == len(self.actors) and self.bulk:
                    raise ModelError(f"CTA exit with {len(self.bulk)} bulk ops in flight")
        if self.bulk:
            raise ModelError("CTA exit with bulk ops in flight")
        for item in range(self.items):
            want = 1 if (self.atomic and self.runs[item]) else 0
            if self.reduced[item] != want:
                raise ModelError(f"item {item} reduced {self.reduced[item]} times, want {want}")


def segment_cfg(rng):
    """A CTA as kv_tile::place<true> (d128: steps from the first visible query) and place_step."""
    q_len = rng.randint(1, 700)
    k_len = rng.randint(1, 700)
    kind = rng.choice(["full", "causal", "window"])
    if kind == "full":
        lo, hi = -10**9, 10**9
    elif kind == "causal":  # bottom-right aligned: j - i <= k_len - q_len
        lo, hi = -10**9, k_len - q_len
    else:
        w = rng.randint(1, 300)
        lo, hi = k_len - q_len - w, k_len - q_len + rng.randint(0, 50)
    ktiles = (k_len + 127) // 128
    key0 = rng.randrange(ktiles) * 128
    keys = min(128, k_len - key0)
    first, last = key0 - hi, key0 + keys - 1 - lo
    qf, ql = max(first, 0), min(last, q_len - 1)
    fixed = rng.random() < 0.3  # also the fixed grid (other head dims' placement)
    if fixed:
        origin, sf = 0, qf // KQ
        se = sf if ql < qf else ql // KQ + 1
        steps = se - sf
        origin = sf * KQ
    else:
        steps = (ql - qf) // KQ + 1 if ql >= qf else 0
        origin = qf if ql >= qf else 0
    heads = rng.choice([1, 1, 2, 4])

    def sees(q0, g):
        gk0 = key0 + 64 * g
        if gk0 >= k_len:
            return False
        # any query in [q0, q0+KQ) with any key in [gk0, gk0+64) within [lo, hi] offsets
        return (gk0 + 63) - q0 >= lo and gk0 - (q0 + KQ - 1) <= hi
    runs = []
    for h in range(heads):
        for s in range(steps):
            q0 = origin + s * KQ
            runs.append(sees(q0, 0) or sees(q0, 1))
    return {"steps": steps, "heads": heads, "origin": origin, "q_len": q_len,
            "q_begin": rng.randint(0, 5000), "runs": runs}


def random_cfg(rng):
    steps, heads = rng.randint(0, 6), rng.choice([1, 2, 3])
    q_len = steps * KQ - rng.randint(0, KQ - 1) if steps else 1
    runs = [rng.random() < 0.6 for _ in range(steps * heads)]
    return {"steps": steps, "heads": heads, "origin": 0, "q_len": max(q_len, 1), "q_begin": 7, "runs": runs}


EDGE = [
    {"steps": 0, "heads": 1, "origin": 0, "q_len": 1, "q_begin": 0, "runs": []},
    {"steps": 1, "heads": 1, "origin": 0, "q_len": 5, "q_begin": 0, "runs": [True]},
    {"steps": 1, "heads": 1, "origin": 0, "q_len": 5, "q_begin": 0, "runs": [False]},
    {"steps": 3, "heads": 2, "origin": 0, "q_len": 200, "q_begin": 3, "runs": [False] * 6},
    {"steps": 3, "heads": 2, "origin": 0, "q_len": 200, "q_begin": 3, "runs": [True, False, True, False, False, True]},
    {"steps": 2, "heads": 3, "origin": 10, "q_len": 170, "q_begin": 3, "runs": [True] * 6},
]


def producer_copy_check():
    """load_step / produce_steps' one-warp loops at 80 and 128 queries."""
    for kq in (80, 128):
        lse, d, conv = defaultdict(int), defaultdict(int), defaultdict(list)
        for lane in range(32):
            for j in range((kq + 31) // 32):
                row = lane + j * 32
                if kq % 32 != 0 and row >= kq:
                    break
                lse[row] += 1
                d[kq + row] += 1
            for j in range((kq + 31) // 32):
                if kq % 32 != 0 and lane + j * 32 >= kq:
                    break
                conv[lane + j * 32].append(lane)
        assert sorted(lse) == list(range(kq)) and set(lse.values()) == {1}, kq
        assert sorted(d) == list(range(kq, 2 * kq)) and set(d.values()) == {1}, kq
        assert sorted(conv) == list(range(kq)) and all(len(v) == 1 and v[0] == r % 32 for r, v in conv.items()), kq
    return "producer copy: 80 and 128 queries: lse rows 0..kQ-1 and D rows kQ..2kQ-1 once each, " \
           "log2 once a row by the lane that copied it, no row >= 2kQ: OK"


MUTATIONS = ["no_wait_free", "skip_no_wait_free", "wait_free_parity", "no_fence", "ran_after_arrive",
             "ran_only_when_run", "staged_count_128", "arrive_before_read_wait", "no_final_wait",
             "epilogue_over_boxes", "writer_step_major", "skip_no_hand_over", "only_t0_waits_free"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    print(producer_copy_check())
    runs_stat = [0, 0]
    for i in range(n):
        cfg = segment_cfg(rng) if i % 2 else random_cfg(rng)
        runs_stat[0] += sum(cfg["runs"])
        runs_stat[1] += len(cfg["runs"]) - sum(cfg["runs"])
        for _ in range(6):
            Sim(dict(cfg), random.Random(rng.random())).run()
            Sim(dict(cfg, atomic=False), random.Random(rng.random())).run()
    print(f"patched protocol: {n} configurations x 6 interleavings (atomic and deterministic): OK "
          f"({runs_stat[0]} running items, {runs_stat[1]} skipped)")
    for cfg in EDGE:
        for _ in range(200):
            Sim(dict(cfg), random.Random(rng.random())).run()
    print(f"edge cases: {len(EDGE)} x 200 interleavings: OK")
    for mut in MUTATIONS:
        caught = None
        for i in range(400):
            cfg = EDGE[(i % 2) + 4] if mut != "writer_step_major" else EDGE[5]
            if i >= 100:
                cfg = random_cfg(rng)
            try:
                Sim(dict(cfg), random.Random(rng.random()), mut).run()
            except ModelError as e:
                caught = str(e)
                break
        print(f"mutation {mut:24s}: " + (f"caught: {caught}" if caught else "NOT CAUGHT"))


if __name__ == "__main__":
    main()
