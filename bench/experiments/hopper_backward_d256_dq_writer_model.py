#!/usr/bin/env python3
"""Host model of the head-dim-256 dK/dV kernel's ring protocol with the dQ writer
(hopper_backward_d256_staged_epilogue.patch + hopper_backward_d256_dq_writer.patch).

Review aid, not a test of the CUDA code itself: it re-states, actor by actor, what
dkdv_split_kernel.cuh (patched: run_roles, produce_steps, load_step, split_step, write_dq, the
consume lambda, store_dkdv_staged) does with the three mbarrier pairs (full, empty, staged), the
named barrier 1, the wgmma groups, the TMA loads, the cp.async copies of lse/D and the writer's
bulk tensor reductions, then runs it under random interleavings and checks:

  * no deadlock (every actor finishes; the async engines drain);
  * mbarrier semantics as PTX states them: a phase completes when its pending arrival count
    reaches 0 and its tx-count is 0; `arrive` with a count larger than the pending count is
    flagged (undefined); try_wait.parity P passes iff the current phase's parity != P, and
    each wait is checked against the phase it means (a pass on an older phase = "stale pass";
    the barrier running 2 phases past a waiter that has not yet seen it = "phase overrun");
  * no data race: vector clocks over every actor and every asynchronous operation (TMA load,
    cp.async, wgmma group, bulk reduction); every pair of conflicting accesses to a shared
    memory unit (2 KB rows x 32-byte column quarter of a 64-row tile, lse/D halves, the slot)
    must be ordered by happens-before (mbarrier release/acquire, bar.sync, wgmma/bulk waits);
  * the async proxy reads (wgmma, bulk reductions) of generic-proxy writes see a
    fence.proxy.async by the writing thread, ordered before the read;
  * data flow: each product reads its own item's Q/dO/lse/D/P/dS, the writer's boxes hold the
    slot's item, every full step's 8 dQ boxes are added exactly once, no other item's are;
  * nothing (bulk read) is still in flight when the last thread of the CTA exits.

Granularity: one actor per consumer warp (8), the producer's copy warp as two actors (lane 0,
which also issues the TMA loads, and lanes 1-31), the writer thread; the copy engine and the
tensor cores as engines that run their pending operations at random times.

Usage: python3 hopper_backward_d256_dq_writer_model.py [runs_per_config] [seed]
Mutations (known-bad variants) are run too, each must be caught.
"""
import random
import sys
from collections import defaultdict

# ---------------------------------------------------------------------------------------------
# vector clocks


def vc_join(a, b):
    for k, v in b.items():
        if a.get(k, 0) < v:
            a[k] = v


def hb(clock_a, agent_a, clock_b):
    """Event a (its own component value clock_a[agent_a]) happens-before event b."""
    return clock_b.get(agent_a, 0) >= clock_a.get(agent_a, 0)


class ModelError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# shared memory, as units

TILE_BYTES = 64 * 256 * 2  # K, V, Q, dO: 64 rows x 256 channels, 4 blocks of [64][64] bf16
BLOCK = 64 * 128
PDS = 64 * 128
K0, V0 = 0, TILE_BYTES


def q0(b):
    return 2 * TILE_BYTES + b * 2 * TILE_BYTES


def do0(b):
    return q0(b) + TILE_BYTES


def p0(b):
    return q0(2) + b * 2 * PDS


def ds0(b):
    return p0(b) + PDS


def tile_units(base, blocks, rqs, cqs=range(4)):
    """Units (base, block, 16-row quarter, 32-byte column quarter)."""
    return [(base, blk, rq, cq) for blk in blocks for rq in rqs for cq in cqs]


def byte_units(lo, hi):
    """Every unit a linear byte range [lo, hi) touches (whole 128-byte rows: all cqs)."""
    out = set()
    for tile_base in [K0, V0, q0(0), do0(0), q0(1), do0(1)]:
        for blk in range(4):
            blo = tile_base + blk * BLOCK
            for rq in range(4):
                ulo, uhi = blo + rq * 2048, blo + (rq + 1) * 2048
                if lo < uhi and ulo < hi:
                    for cq in range(4):
                        out.add((tile_base, blk, rq, cq))
    for b in range(2):
        for base in (p0(b), ds0(b)):
            for rq in range(4):
                ulo, uhi = base + rq * 2048, base + (rq + 1) * 2048
                if lo < uhi and ulo < hi:
                    for cq in range(4):
                        out.add((base, 0, rq, cq))
    return sorted(out)


class Access:
    __slots__ = ("agent", "clock", "proxy", "fence", "tag", "thread")

    def __init__(self, agent, clock, proxy, tag=None, thread=None):
        self.agent, self.clock, self.proxy, self.tag = agent, dict(clock), proxy, tag
        self.fence = None  # clock of the writing thread's fence.proxy.async after it
        self.thread = thread


class Memory:
    def __init__(self, sim):
        self.sim = sim
        self.last_write = {}
        self.reads = defaultdict(list)
        self.pending_fence = defaultdict(list)  # thread -> generic writes not yet fenced

    def _check_after(self, prev, agent, clock, proxy, what, unit, tag=None):
        if prev.agent == agent:
            return
        # store_dkdv_staged: each warp writes the rows of its own 16 keys (pitch 272 B), byte
        # ranges that share this model's 2 KB units but not a byte
        if tag is not None and tag[0] == "epi" and prev.tag is not None and prev.tag[0] == "epi":
            return
        if not hb(prev.clock, prev.agent, clock):
            raise ModelError(f"race on {unit_name(unit)}: {what} by {agent} not ordered after "
                             f"{prev.proxy} access by {prev.agent}")
        if prev.proxy == "generic" and proxy == "async":
            if prev.fence is None or not hb(prev.fence, prev.thread, clock):
                raise ModelError(f"proxy: async {what} of {unit_name(unit)} by {agent} after a "
                                 f"generic write by {prev.agent} without fence.proxy.async")

    def write(self, units, agent, clock, proxy, tag, thread=None):
        for u in units:
            w = self.last_write.get(u)
            if w is not None:
                self._check_after(w, agent, clock, proxy, "write", u, tag)
            for r in self.reads[u]:
                self._check_after(r, agent, clock, proxy, "write", u)
            acc = Access(agent, clock, proxy, tag, thread)
            self.last_write[u] = acc
            self.reads[u] = []
            if proxy == "generic":
                self.pending_fence[thread].append(acc)

    def read(self, units, agent, clock, proxy, expect=None):
        for u in units:
            w = self.last_write.get(u)
            if w is not None:
                self._check_after(w, agent, clock, proxy, "read", u)
            got = w.tag if w is not None else None
            if expect is not None and not expect(got):
                raise ModelError(f"stale data: {agent} read {unit_name(u)} tag {got}")
            self.reads[u].append(Access(agent, clock, proxy))

    def fence_proxy_async(self, thread, clock):
        for acc in self.pending_fence[thread]:
            acc.fence = dict(clock)
        self.pending_fence[thread] = []


def unit_name(u):
    if isinstance(u, tuple) and len(u) == 4:
        base, blk, rq, cq = u
        names = {K0: "K", V0: "V", q0(0): "Q0", do0(0): "dO0", q0(1): "Q1", do0(1): "dO1",
                 p0(0): "P0", ds0(0): "dS0", p0(1): "P1", ds0(1): "dS1"}
        return f"{names.get(base, hex(base))}[blk{blk} rows{16 * rq}-{16 * rq + 15} cq{cq}]"
    return str(u)


# ---------------------------------------------------------------------------------------------
# barriers


class MBarrier:
    def __init__(self, name, count):
        self.name, self.count = name, count
        self.pending, self.tx, self.phase = count, 0, 0  # phase: completed phases
        self.acc = {}      # releases of the current phase
        self.done = {}     # joined releases of all completed phases

    def _maybe_complete(self):
        if self.pending == 0 and self.tx == 0:
            vc_join(self.done, self.acc)
            self.acc = {}
            self.phase += 1
            self.pending = self.count

    def arrive(self, count, clock):
        if count > self.pending:
            raise ModelError(f"{self.name}: arrive count {count} > pending {self.pending} "
                             f"(phase {self.phase}): undefined")
        vc_join(self.acc, clock)
        self.pending -= count
        self._maybe_complete()

    def expect_tx(self, nbytes):
        self.tx += nbytes

    def complete_tx(self, nbytes, clock):
        vc_join(self.acc, clock)
        self.tx -= nbytes
        if self.tx < 0:
            raise ModelError(f"{self.name}: tx-count below zero")
        self._maybe_complete()

    def try_wait_parity(self, parity):
        return (self.phase & 1) != parity  # the current (incomplete) phase's parity


class NamedBarrier:
    def __init__(self, count):
        self.count, self.gen, self.arrived, self.acc, self.done = count, 0, 0, {}, {}

    def arrive(self, clock):
        vc_join(self.acc, clock)
        self.arrived += 1
        gen = self.gen
        if self.arrived == self.count:
            self.done[gen] = self.acc
            self.acc, self.arrived, self.gen = {}, 0, gen + 1
        return gen


# ---------------------------------------------------------------------------------------------
# the simulation


class Sim:
    def __init__(self, cfg, rng, mutation=None):
        self.cfg, self.rng, self.mut = cfg, rng, mutation
        self.mem = Memory(self)
        self.clocks = {}
        full_count = 128 if mutation == "full_count_128" else 32  # kProducerCopyThreads
        staged_count = 128 if mutation == "staged_count_128" else 256
        self.full = [MBarrier(f"full[{i}]", full_count) for i in range(2)]
        self.empty = [MBarrier(f"empty[{i}]", 256) for i in range(2)]
        self.staged = [MBarrier(f"staged[{i}]", staged_count) for i in range(2)]
        self.bar1 = NamedBarrier(8)
        self.tma = []       # pending TMA loads
        self.bulk = []      # pending bulk reduction reads
        self.wgmma = {}     # (group, item, name) -> op
        self.cp_async = {}  # thread -> list of pending agents (written at issue: see below)
        self.slot = [None, None]
        self.reduced = defaultdict(int)  # (item, box) -> times added
        self.red_items = set()
        self.next_agent = 0
        self.exited = set()

    # --- clocks ---------------------------------------------------------------------------
    def tick(self, agent):
        c = self.clocks.setdefault(agent, {agent: 0})
        c[agent] = c.get(agent, 0) + 1
        return c

    def new_agent(self, prefix, base_clock):
        self.next_agent += 1
        a = f"{prefix}#{self.next_agent}"
        c = dict(base_clock)
        c[a] = 1
        self.clocks[a] = c
        return a, c

    # --- waits, as generators' yields -------------------------------------------------------
    def wait_mbar(self, me, bar, phase_meant):
        parity = phase_meant & 1

        def ready():
            if bar.phase > phase_meant + 1:
                raise ModelError(f"{me}: {bar.name} ran to phase {bar.phase} while it waits "
                                 f"for phase {phase_meant} (parity wait would hang)")
            return bar.try_wait_parity(parity)

        yield ready
        if bar.phase != phase_meant + 1:
            raise ModelError(f"{me}: stale pass on {bar.name}: meant phase {phase_meant}, "
                             f"{bar.phase} completed")
        vc_join(self.tick(me), bar.done)

    def bar_sync(self, me):
        gen = self.bar1.arrive(self.tick(me))
        yield lambda: gen in self.bar1.done
        vc_join(self.tick(me), self.bar1.done[gen])

    # --- the async engines ------------------------------------------------------------------
    def engine_steps(self):
        steps = []
        for i, op in enumerate(self.tma):
            steps.append(("tma", i))
        for i, op in enumerate(self.bulk):
            steps.append(("bulk", i))
        for key, op in self.wgmma.items():
            if not op["done"] and len(op["issued"]) == 4:
                steps.append(("wgmma", key))
        return steps

    def run_engine(self, step):
        kind, key = step
        if kind == "tma":
            op = self.tma.pop(key)
            self.mem.write(op["units"], op["agent"], op["clock"], "async", op["tag"])
            op["bar"].complete_tx(op["bytes"], op["clock"])
        elif kind == "bulk":
            op = self.bulk.pop(key)
            self.mem.read(op["units"], op["agent"], op["clock"], "async", op["expect"])
            self.reduced[op["what"]] += 1
            op["done"] = True
        else:
            op = self.wgmma[key]
            clock = {}
            for c in op["issued"].values():
                vc_join(clock, c)
            a, c = self.new_agent("wgmma", clock)
            for units, expect in op["reads"]:
                self.mem.read(units, a, c, "async", expect)
            op["clock"], op["done"] = c, True

    # --- wgmma groups (warpgroup-collective) ------------------------------------------------
    def wgmma_issue(self, me, group, warp, item, name, reads):
        key = (group, item, name)
        op = self.wgmma.setdefault(key, {"issued": {}, "done": False, "reads": reads})
        op["issued"][warp] = dict(self.tick(me))

    def wgmma_wait(self, me, group, item, names):
        keys = [(group, item, n) for n in names]
        yield lambda: all(self.wgmma[k]["done"] for k in keys)
        for k in keys:
            vc_join(self.tick(me), self.wgmma[k]["clock"])

    # --- actors -----------------------------------------------------------------------------
    def producer(self, me, lane0):
        cfg, mem = self.cfg, self.mem
        items = cfg["items"]
        lanes = 1 if lane0 else 31
        rows_unit = lambda b: ("rows", b, "lane0" if lane0 else "lanes")
        pending = []

        def load_step(item, buf):
            if lane0:
                self.full[buf].expect_tx(2 * TILE_BYTES)
                c = self.tick(me)
                for base in (q0(buf), do0(buf)):
                    a, ac = self.new_agent("tma", c)
                    self.tma.append({"units": tile_units(base, range(4), range(4)), "agent": a,
                                     "clock": ac, "tag": ("tma", item), "bar": self.full[buf],
                                     "bytes": TILE_BYTES})
            # cp.async of lse and D rows (zero-fill past the segment): written some time
            # between issue and cp_async_wait, modelled as an agent forked at issue
            a, ac = self.new_agent("cpasync", self.tick(me))
            pending.append((a, ac, rows_unit(buf), item))

        if items == 0:
            self.exited.add(me)
            return
        if lane0:
            self.full[0].expect_tx(2 * TILE_BYTES)
            c = self.tick(me)
            for base in (K0, V0):
                a, ac = self.new_agent("tma", c)
                self.tma.append({"units": tile_units(base, range(4), range(4)), "agent": a,
                                 "clock": ac, "tag": ("tma", "kv"), "bar": self.full[0],
                                 "bytes": TILE_BYTES})
        load_step(0, 0)
        for item in range(1, items + 1):
            # cp_async_wait<0>: the copies land (their writes), then join
            for a, ac, u, it in pending:
                mem.write([u], a, ac, "generic", ("raw", it), thread=a)
                vc_join(self.tick(me), ac)
            pending.clear()
            b = (item - 1) % 2
            u = rows_unit(b)
            c = self.tick(me)
            mem.read([u], me, c, "generic", lambda t, it=item - 1: t == ("raw", it))
            mem.write([u], me, c, "generic", ("lse", item - 1), thread=me)
            self.full[b].arrive(lanes, self.tick(me))
            yield None
            if item == items:
                break
            buf = item % 2
            if item >= 2 and self.mut != "producer_no_empty_wait":
                yield from self.wait_mbar(me, self.empty[buf], (item - 2) // 2)
            load_step(item, buf)
            yield None
        self.exited.add(me)

    def consumer(self, me, group, warp):
        cfg, mem, mut = self.cfg, self.mem, self.mut
        items, kinds, atomic = cfg["items"], cfg["kinds"], cfg["atomic"]
        own = [2 * group, 2 * group + 1]
        half = [2 * group, 2 * group + 1]  # the warpgroup's query rows: 16-row quarters
        for j in range(items):
            b = j % 2
            yield from self.wait_mbar(me, self.full[b], j // 2)
            kind = kinds[j]
            staged = False
            if kind != "skip":
                tma_j = lambda t, j=j: t == ("tma", j)
                kv = lambda t: t == ("tma", "kv")
                self.wgmma_issue(me, group, warp, j, "S", [
                    (tile_units(K0, range(4), range(4)), kv),
                    (tile_units(q0(b), range(4), half), tma_j)])
                self.wgmma_issue(me, group, warp, j, "dP", [
                    (tile_units(V0, range(4), range(4)), kv),
                    (tile_units(do0(b), range(4), half), tma_j)])
                yield None
                yield from self.wgmma_wait(me, group, j, ["S"])
                c = self.tick(me)
                mem.read([("rows", b, "lane0"), ("rows", b, "lanes")], me, c, "generic",
                         lambda t, j=j: t == ("lse", j))
                yield from self.wgmma_wait(me, group, j, ["dP"])
                c = self.tick(me)
                # stmatrix.trans: the warp's 16 keys (a 32-byte column quarter) of the
                # warpgroup's 32 query rows, in P and dS
                mem.write(tile_units(p0(b), [0], half, [warp]), me, c, "generic",
                          ("p", j), thread=me)
                mem.write(tile_units(ds0(b), [0], half, [warp]), me, c, "generic",
                          ("ds", j), thread=me)
                self.mem.fence_proxy_async(me, self.tick(me))
                yield None
                yield from self.bar_sync(me)
                pj = lambda t, j=j: t == ("p", j)
                dsj = lambda t, j=j: t == ("ds", j)
                names = []
                if atomic:
                    self.wgmma_issue(me, group, warp, j, "dQ", [
                        (tile_units(ds0(b), [0], range(4)), dsj),
                        (tile_units(K0, own, range(4)), kv)])
                    names.append("dQ")
                self.wgmma_issue(me, group, warp, j, "dV", [
                    (tile_units(p0(b), [0], range(4)), pj),
                    (tile_units(do0(b), own, range(4)), tma_j)])
                self.wgmma_issue(me, group, warp, j, "dK", [
                    (tile_units(ds0(b), [0], range(4)), dsj),
                    (tile_units(q0(b), own, range(4)), tma_j)])
                names += ["dV", "dK"]
                yield None
                if atomic and kind == "full":
                    yield from self.wgmma_wait(me, group, j, names)
                    c = self.tick(me)
                    for base in (q0(b), do0(b)):  # the warp's 16 rows of its 4 boxes
                        mem.write(tile_units(base, own, [warp]), me, c, "generic",
                                  ("dq", j, group), thread=me)
                    if mut != "no_proxy_fence":
                        self.mem.fence_proxy_async(me, self.tick(me))
                    staged = True
                elif atomic:
                    yield from self.wgmma_wait(me, group, j, ["dQ"])
                    self.red_items.add(j)  # red.global.add from registers
                    yield from self.wgmma_wait(me, group, j, ["dV", "dK"])
                else:
                    yield from self.wgmma_wait(me, group, j, names)
            yield None
            if atomic:
                slot_writer = group == 0 and warp == 0
                value = (j if staged else -1, j)
                if slot_writer and mut != "slot_after_arrive":
                    mem.write([("slot", b)], me, self.tick(me), "generic", ("slot", j), me)
                    self.slot[b] = value
                self.staged[b].arrive(32, self.tick(me))
                if mut == "consumers_also_arrive_empty":
                    self.empty[b].arrive(32, self.tick(me))
                if slot_writer and mut == "slot_after_arrive":
                    yield None
                    mem.write([("slot", b)], me, self.tick(me), "generic", ("slot", j), me)
                    self.slot[b] = value
            else:
                self.empty[b].arrive(32, self.tick(me))
            yield None
        # the epilogue
        if cfg["head_splits"] == 1:
            if atomic and items > 0 and mut != "no_epilogue_wait":
                last = items - 1
                if mut == "epilogue_waits_previous" and items >= 2:
                    last = items - 2
                phase = last // 2 + (1 if mut == "epilogue_wrong_parity" else 0)
                yield from self.wait_mbar(me, self.empty[last % 2], phase)
            yield from self.bar_sync(me)
            # store_dkdv_staged: the warpgroup's dK and dV tiles ([64][128], pitch 272 B) from
            # sm.k() + group * 2 * 17408; the warp's 16 keys of each
            pitch, tile = 272, 64 * 272
            units = set()
            for which in range(2):
                lo = group * 2 * tile + which * tile + warp * 16 * pitch
                units.update(byte_units(lo, lo + 16 * pitch))
            mem.write(sorted(units), me, self.tick(me), "generic", ("epi", group), thread=me)
            yield None
        self.exited.add(me)

    def writer(self, me):
        cfg, mem, mut = self.cfg, self.mem, self.mut
        if not cfg["atomic"] or mut == "no_writer_warp":  # kProducerCopyThreads == 128
            self.exited.add(me)
            return
        items = cfg["items"]
        for j in range(items):
            b = j % 2
            yield from self.wait_mbar(me, self.staged[b], j // 2)
            c = self.tick(me)
            mem.read([("slot", b)], me, c, "generic", lambda t, j=j: t == ("slot", j))
            row, _head = self.slot[b]
            group_ops = []
            if row >= 0:
                for box in range(8):  # box / 4: the warpgroup; box % 4: Q, Q, dO, dO blocks
                    g, k = box // 4, box % 4
                    base = q0(b) if k < 2 else do0(b)
                    blk = 2 * g + k % 2
                    a, ac = self.new_agent("bulk", self.tick(me))
                    op = {"units": tile_units(base, [blk], range(4)), "agent": a, "clock": ac,
                          "expect": lambda t, r=row, g=g: t == ("dq", r, g),
                          "what": (row, box), "done": False}
                    self.bulk.append(op)
                    group_ops.append(op)
                yield None
                if mut == "arrive_before_read_wait":
                    self.empty[b].arrive(256, self.tick(me))
                yield lambda: all(op["done"] for op in group_ops)  # bulk_wait_read<0>
                for op in group_ops:
                    vc_join(self.tick(me), op["clock"])
                if mut == "arrive_before_read_wait":
                    continue
            self.empty[b].arrive(256, self.tick(me))
            yield None
        yield lambda: not self.bulk  # bulk_wait<0>
        self.exited.add(me)

    # --- the scheduler ----------------------------------------------------------------------
    def run(self):
        actors = {}
        actors["prod.lane0"] = self.producer("prod.lane0", True)
        actors["prod.lanes"] = self.producer("prod.lanes", False)
        for g in range(2):
            for w in range(4):
                actors[f"c{g}.w{w}"] = self.consumer(f"c{g}.w{w}", g, w)
        actors["writer"] = self.writer("writer")
        waiting = {name: None for name in actors}
        live = dict(actors)
        steps = 0
        while True:
            steps += 1
            if steps > 200000:
                raise ModelError("no progress bound hit")
            enabled = [n for n in live if waiting[n] is None or waiting[n]()]
            engine = self.engine_steps()
            choices = [("actor", n) for n in enabled] + [("engine", e) for e in engine]
            if not choices:
                if live:
                    raise ModelError("deadlock: " + ", ".join(
                        f"{n}" for n in live))
                if self.tma or self.bulk:
                    raise ModelError("CTA exits with asynchronous operations in flight")
                break
            kind, what = self.rng.choice(choices)
            if kind == "engine":
                self.run_engine(what)
                continue
            try:
                waiting[what] = next(live[what])
            except StopIteration:
                del live[what]
        self.check_results()

    def check_results(self):
        cfg = self.cfg
        if not cfg["atomic"]:
            return
        for j, kind in enumerate(cfg["kinds"]):
            for box in range(8):
                n = self.reduced.get((j, box), 0)
                want = 1 if kind == "full" else 0
                if n != want:
                    raise ModelError(f"item {j} ({kind}) box {box} added {n} times")
            if (kind == "partial") != (j in self.red_items):
                raise ModelError(f"item {j} ({kind}): red path mismatch")


# ---------------------------------------------------------------------------------------------
# configurations: items = q heads of the CTA x steps, head-major (place_step's counters)


def make_config(rng):
    steps = rng.randint(0, 5)
    heads = rng.randint(1, 3)
    # causal-like: the first steps may see none of the CTA's keys; the last may be partial
    skip_first = rng.randint(0, steps)
    kinds_step = []
    for s in range(steps):
        if s < skip_first and rng.random() < 0.5:
            kinds_step.append("skip")
        elif s == steps - 1 and rng.random() < 0.5:
            kinds_step.append("partial")
        else:
            kinds_step.append("full")
    kinds = [kinds_step[s] for h in range(heads) for s in range(steps)]
    return {"items": len(kinds), "kinds": kinds, "atomic": rng.random() < 0.8,
            "head_splits": 1 if rng.random() < 0.7 else 2}


def run_many(runs, seed, mutation=None, cfg_filter=None):
    rng = random.Random(seed)
    caught = []
    configs = 0
    while configs < runs:
        cfg = make_config(rng)
        if cfg_filter and not cfg_filter(cfg):
            continue
        configs += 1
        for _ in range(8):  # interleavings a configuration
            try:
                Sim(cfg, rng, mutation).run()
            except ModelError as e:
                caught.append((cfg, str(e)))
                if mutation is not None:
                    return caught, configs
    return caught, configs


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    errors, n = run_many(runs, seed)
    print(f"patched protocol: {n} configurations x 8 interleavings: "
          f"{'OK, no finding' if not errors else f'{len(errors)} FINDINGS'}")
    for cfg, e in errors[:10]:
        print("   ", cfg, "->", e)
    # edge cases named in the review
    edge = [
        {"items": 0, "kinds": [], "atomic": True, "head_splits": 1},
        {"items": 1, "kinds": ["full"], "atomic": True, "head_splits": 1},
        {"items": 1, "kinds": ["partial"], "atomic": True, "head_splits": 1},
        {"items": 2, "kinds": ["skip", "skip"], "atomic": True, "head_splits": 1},
        {"items": 3, "kinds": ["full"] * 3, "atomic": True, "head_splits": 2},
        {"items": 6, "kinds": ["skip", "full", "partial"] * 2, "atomic": True, "head_splits": 1},
        {"items": 5, "kinds": ["full"] * 5, "atomic": False, "head_splits": 1},
    ]
    rng = random.Random(seed + 7)
    bad = 0
    for cfg in edge:
        for _ in range(200):
            try:
                Sim(cfg, rng).run()
            except ModelError as e:
                bad += 1
                print("    edge", cfg, "->", e)
                break
    print(f"edge cases: {len(edge)} x 200 interleavings: {'OK' if not bad else 'FINDINGS'}")
    mutations = [
        ("no_epilogue_wait", lambda c: c["atomic"] and c["head_splits"] == 1 and
         c["kinds"] and c["kinds"][-1] == "full" and c["items"] % 2 == 1),
        ("epilogue_waits_previous", lambda c: c["atomic"] and c["head_splits"] == 1 and
         c["items"] >= 2 and c["kinds"][-1] == "full" and c["items"] % 2 == 1),
        ("arrive_before_read_wait", lambda c: c["atomic"] and "full" in c["kinds"]),
        ("no_proxy_fence", lambda c: c["atomic"] and "full" in c["kinds"]),
        ("staged_count_128", lambda c: c["atomic"] and c["items"] > 0),
        ("full_count_128", lambda c: c["items"] > 0),
        ("consumers_also_arrive_empty", lambda c: c["atomic"] and c["items"] > 0),
        ("slot_after_arrive", lambda c: c["atomic"] and c["items"] > 2),
        ("producer_no_empty_wait", lambda c: c["items"] > 2),
        ("no_writer_warp", lambda c: c["atomic"] and c["items"] > 0),
        ("epilogue_wrong_parity", lambda c: c["atomic"] and c["head_splits"] == 1 and
         c["items"] > 0),
    ]
    for name, flt in mutations:
        errs, n = run_many(200, seed + 1, name, flt)
        print(f"mutation {name:28s}: {'caught: ' + errs[0][1] if errs else 'NOT caught'}")


if __name__ == "__main__":
    main()
