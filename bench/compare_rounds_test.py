#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host check of compare.py's interleaved rounds (no torch, no GPU): the order each round
times the methods in, which methods the rounds take (the op and accurate peers, never an
inaccurate or a skipped one), the ratio each round gives, and the summary column; the same
for the graph rounds (timed_rounds with graph, captures faked). A fake
Device returns scripted times, so every figure below is known in advance and a wrong order,
a wrong pairing of rounds or a min taken over the wrong methods changes it.

  python3 bench/compare_rounds_test.py     (ctest: bench_compare_rounds)
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import compare  # noqa: E402


class FakeDevice:
    """time_ms(fn, ...) -> the next scripted ms of fn's method; records the call order."""

    torch = None  # empty_cache(None) is a no-op (it never raises)

    def __init__(self, rounds, script, fail_after=None, graph_rounds=False):
        self.rounds = rounds
        self.graph_rounds = graph_rounds
        self.budget_s = 0.5
        self.fail_after = fail_after  # raise on this many-th timing (a round that fails)
        self.script = {name: list(ms) for name, ms in script.items()}
        self.order = []
        self.last_sm_mhz = None
        self.last_load = {}
        self.settles = []

    def sync(self):
        pass

    def time_ms(self, fn, nsets, warmup=None, max_reps=None, budget_s=None, settle_s=None):
        # an eager run carries its method; a graph replay (timed_rounds with graph) returns what its
        # FakeGraph's replay() returns: "graph:<method>"
        name = getattr(fn, "method", None) or fn(0)
        if self.fail_after is not None and len(self.order) >= self.fail_after:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        self.order.append(name)
        self.settles.append(settle_s)
        ms = self.script[name].pop(0)
        return ms, [ms]

    def count_syncs(self, fn):
        return 0


class FakeProblem:
    sets = [0, 1]
    needs = set()
    capture_inputs = None


def make_run(name):
    def run(i):
        return name
    run.method = name
    return run


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def test_order_rotates():
    dev = FakeDevice(3, {"a": [1, 1, 1], "b": [2, 2, 2], "c": [3, 3, 3]})
    runs = {n: make_run(n) for n in "abc"}
    times = compare.interleaved_rounds(dev, runs, 2, 3)
    check(dev.order == list("abcbcacab"), f"round order {dev.order}")
    check(all(s == 0 for s in dev.settles), f"rounds must not settle: {dev.settles}")
    check(times == {"a": [1, 1, 1], "b": [2, 2, 2], "c": [3, 3, 3]}, f"times {times}")


SCRIPT = {"varattn_op": [9.0, 2.0, 1.0, 4.0], "fa4": [8.0, 2.2, 1.2, 3.0],
          "flex": [9.5, 2.1, 1.5, 5.0], "cudnn": [1.0], "mem_eff": [10.5]}
SKIP = {"fa2", "loop_bound", "loop_split"}
W = {"lengths_q": [4], "lengths_k": [4]}


def build_fake(name):
    return make_run(name), lambda out: {"rel_err": 1.0 if name == "cudnn" else 1e-3,
                                        "accurate": name != "cudnn"}


def test_time_methods_rounds():
    # First pass (one timing each), then 3 rounds. cudnn's output is inaccurate: it takes no
    # part in the rounds, nor does mem_eff (10.5 ms: beyond ROUNDS_PEER_SPAN = 1.25 of the
    # fastest peer, fa4's 8.0; flex's 9.5 is within, the op's 9.0 always in); fa2 is skipped.
    # Rounds: op 2.0, 1.0, 4.0; fa4 2.2, 1.2, 3.0; flex 2.1, 1.5, 5.0 -> best peer / op =
    # 2.1/2.0, 1.2/1.0, 3.0/4.0 = 1.05, 1.2, 0.75.
    dev = FakeDevice(3, SCRIPT)
    logged = []
    entries = compare.time_methods(dev, FakeProblem(), W, SKIP, {}, logged.append, build_fake,
                                   1e9, 1e6, graph=False, deadline=None)
    rounds_part = dev.order[5:]  # timed once first, in METHODS order
    check(dev.order[:5] == ["mem_eff", "flex", "fa4", "cudnn", "varattn_op"],
          f"first pass {dev.order}")
    check(sorted(rounds_part) == sorted(["flex", "fa4", "varattn_op"] * 3),
          f"rounds timed {rounds_part}")
    check(rounds_part[:3] == ["flex", "fa4", "varattn_op"]
          and rounds_part[3:6] == ["fa4", "varattn_op", "flex"], f"rotation {rounds_part}")
    check("rounds_ms" not in entries["cudnn"], "an inaccurate peer must not enter the rounds")
    check("rounds_ms" not in entries["mem_eff"], "a peer 1.31x behind must not enter the rounds")
    check(entries["varattn_op"]["rounds_ms"] == [2.0, 1.0, 4.0], str(entries["varattn_op"]))
    x = compare.rounds_ratio(entries)
    check(x["rounds"] == 3 and x["peers"] == ["fa4", "flex"], str(x))
    check(abs(x["median"] - 1.05) < 1e-12 and abs(x["min"] - 0.75) < 1e-12
          and abs(x["max"] - 1.2) < 1e-12, str(x))
    check(compare.rounds_text(x) == "1.05 (0.75-1.20)", compare.rounds_text(x))
    check(any("best peer / op by round, median (min-max): 1.05 (0.75-1.20)" in line
              for line in logged), "\n".join(logged))
    return entries


def test_no_rounds():
    dev = FakeDevice(1, {"varattn_op": [1.0], "fa4": [1.0]})

    def build(name):
        return make_run(name), lambda out: {"accurate": True}
    skip = set(compare.METHODS) - {"fa4", "varattn_op"}
    entries = compare.time_methods(dev, FakeProblem(), {"lengths_q": [1], "lengths_k": [1]}, skip,
                                   {}, lambda s: None, build, 1e9, 1e6, graph=False, deadline=None)
    check(dev.order == ["fa4", "varattn_op"], f"rounds=1 must time once: {dev.order}")
    check(compare.rounds_ratio(entries) is None, "no rounds, no ratio")
    check(compare.rounds_text(None) == "-", "rounds_text(None)")


def test_rounds_left_out():
    """The deadline, a failed graph capture and a failing round each leave rounds out."""
    import time as clock
    dev = FakeDevice(3, SCRIPT)
    logged = []
    # 22 s before the deadline: every method starts (METHOD_MIN_S 20), but 3 rounds x 3
    # methods x (0.5 + 1) s = 13.5 s + GRAPH_MIN_S 10 do not fit.
    entries = compare.time_methods(dev, FakeProblem(), W, SKIP, {}, logged.append, build_fake,
                                   1e9, 1e6, graph=False, deadline=clock.time() + 22)
    check(len(dev.order) == 5 and compare.rounds_ratio(entries) is None, f"{dev.order}")
    check(any("rounds skipped" in line for line in logged), "\n".join(logged))
    # flex's capture fails: the rounds go on without it (fa4 alone: 1.1, 1.2, 0.75).
    measure_graph = compare.measure_graph
    compare.measure_graph = lambda dev_, run, *a, **k: (
        {"na": "graph failed: RuntimeError"} if run.method == "flex" else {"ms": 1.0})
    try:
        dev = FakeDevice(3, {**SCRIPT, "flex": [9.5]})
        entries = compare.time_methods(dev, FakeProblem(), W, SKIP, {}, lambda s: None,
                                       build_fake, 1e9, 1e6, graph=True, deadline=None)
    finally:
        compare.measure_graph = measure_graph
    x = compare.rounds_ratio(entries)
    check("rounds_ms" not in entries["flex"] and x["peers"] == ["fa4"]
          and abs(x["median"] - 1.1) < 1e-12, str(x))
    # A round that raises: logged, the first pass's entries kept, no rounds.
    dev = FakeDevice(3, SCRIPT, fail_after=7)
    logged = []
    entries = compare.time_methods(dev, FakeProblem(), W, SKIP, {}, logged.append, build_fake,
                                   1e9, 1e6, graph=False, deadline=None)
    check(all("rounds_ms" not in e for e in entries.values()) and entries["fa4"]["ms"] == 8.0,
          str(entries))
    check(any("rounds failed: RuntimeError" in line for line in logged), "\n".join(logged))


class FakeGraph:
    def __init__(self, name):
        self.name = name

    def replay(self):
        return "graph:" + self.name


def test_graph_rounds():
    """With graph timings, the eager rounds' methods that have an accurate graph time are
    captured again and timed in graph rounds (rotated as the eager ones); a method without a
    graph time (flex's capture failed) or with an inaccurate replay (fa4 here) stays out; a
    capture that fails in the graph rounds leaves the eager rounds standing."""
    captured = []

    def fake_capture(dev_, run, nsets, inputs=None):
        captured.append(run.method)
        if run.method == "boom":
            raise RuntimeError("capture failed")
        return [FakeGraph(run.method)] * nsets, [None] * nsets
    measure_graph, capture_graphs = compare.measure_graph, compare.capture_graphs
    compare.measure_graph = lambda dev_, run, *a, **k: (
        {"na": "graph failed: RuntimeError"} if run.method == "flex"
        else {"ms": 1.0, "accurate": run.method != "fa4"})
    compare.capture_graphs = fake_capture
    try:
        # mem_eff within the span here (8.5 <= 1.25 x 8.0): op, fa4, mem_eff in the eager rounds
        # (flex's failed capture takes it out, as before); the graph rounds: op and mem_eff
        # (fa4's replay is inaccurate).
        script = {**SCRIPT, "mem_eff": [8.5, 2.5, 0.9, 4.4], "graph:varattn_op": [1.0, 2.0, 3.0],
                  "graph:mem_eff": [1.1, 1.8, 3.3]}
        dev = FakeDevice(3, script)  # without --graph-rounds: no graph rounds
        entries = compare.time_methods(dev, FakeProblem(), W, SKIP, {}, lambda s: None,
                                       build_fake, 1e9, 1e6, graph=True, deadline=None)
        check(not captured and compare.rounds_ratio(entries, graph=True) is None,
              f"graph rounds without the flag: {captured}")
        dev = FakeDevice(3, script, graph_rounds=True)
        logged = []
        entries = compare.time_methods(dev, FakeProblem(), W, SKIP, {}, logged.append,
                                       build_fake, 1e9, 1e6, graph=True, deadline=None)
        check(captured == ["mem_eff", "varattn_op"], f"captured {captured}")
        graph_part = [n for n in dev.order if n.startswith("graph:")]
        check(graph_part == ["graph:mem_eff", "graph:varattn_op", "graph:varattn_op",
                             "graph:mem_eff", "graph:mem_eff", "graph:varattn_op"],
              f"graph rounds order {graph_part}")
        check(entries["varattn_op"]["graph"]["rounds_ms"] == [1.0, 2.0, 3.0], str(entries))
        check("rounds_ms" not in entries["fa4"]["graph"], "an inaccurate replay must stay out")
        g = compare.rounds_ratio(entries, graph=True)
        # 1.1/1.0, 1.8/2.0, 3.3/3.0 = 1.1, 0.9, 1.1
        check(g["peers"] == ["mem_eff"] and abs(g["median"] - 1.1) < 1e-12
              and abs(g["min"] - 0.9) < 1e-12, str(g))
        check(compare.rounds_ratio(entries)["peers"] == ["fa4", "mem_eff"],
              "the eager rounds keep their peers (flex's failed capture took it out of both)")
        check(any("best peer / op by graph round, median (min-max): 1.10 (0.90-1.10)" in line
                  for line in logged), "\n".join(logged))
        record = {"name": "w", "fwdbwd": {"anchors": entries, "flops": 1e9, "bytes": 1e6}}
        compare.analyse_fwdbwd(record, {"matmul_tflops": 1.0, "copy_gbps": 1.0})
        table = compare.fwdbwd_summary_markdown([record], "bf16")
        head = [line for line in table.splitlines() if line.startswith("| workload")][0]
        row = [line for line in table.splitlines() if line.startswith("| w |")][0]
        check(head.endswith("| x best (rounds) | x best (graph rounds) |"), head)
        check(row.endswith("| 1.10 (0.90-1.10) |") and head.count("|") == row.count("|"), row)
        lines = compare.rounds_lines(record["fwdbwd"])
        check(len(lines) == 2 and "varattn_op 1.000 2.000 3.000; mem_eff 1.100 1.800 3.300"
              in lines[1], str(lines))
        # a capture that fails: logged, no graph rounds, the eager rounds stand
        captured.clear()
        dev = FakeDevice(3, script, graph_rounds=True)
        logged = []
        runs = {n: make_run(n) for n in ("varattn_op", "boom")}
        entries = {n: {"ms": 1.0, "graph": {"ms": 1.0}} for n in runs}
        compare.timed_rounds(dev, FakeProblem(), entries, runs, None, logged.append, graph=True)
        check(all("rounds_ms" not in e["graph"] for e in entries.values())
              and any("graph rounds failed: RuntimeError" in line for line in logged),
              "\n".join(logged))
    finally:
        compare.measure_graph, compare.capture_graphs = measure_graph, capture_graphs


def test_forward_summary(entries):
    record = {"name": "w", "flops": 1e9, "bytes": 1e6, "anchors": entries}
    compare.analyse(record, {"matmul_tflops": 1.0, "copy_gbps": 1.0}, [], "bf16", "cpu")
    table = compare.summary_markdown([record], "bf16")
    head = [line for line in table.splitlines() if line.startswith("| workload")][0]
    row = [line for line in table.splitlines() if line.startswith("| w |")][0]
    check(head.endswith("| x best (rounds, op) |"), head)
    check(row.endswith("| 1.05 (0.75-1.20) |"), row)
    check(head.count("|") == row.count("|"), f"{head.count('|')} != {row.count('|')}")


def test_summary_column(entries):
    sub = {"anchors": entries, "flops": 1e9, "bytes": 1e6}
    record = {"name": "w", "fwdbwd": sub}
    compare.analyse_fwdbwd(record, {"matmul_tflops": 1.0, "copy_gbps": 1.0})
    table = compare.fwdbwd_summary_markdown([record], "bf16")
    head = [line for line in table.splitlines() if line.startswith("| workload")][0]
    row = [line for line in table.splitlines() if line.startswith("| w |")][0]
    check(head.endswith("| x best (rounds) |"), head)
    check(row.endswith("| 1.05 (0.75-1.20) |"), row)
    check(head.count("|") == row.count("|"), "header and row differ in columns")
    lines = compare.rounds_lines(sub)
    check(len(lines) == 1 and "varattn_op 2.000 1.000 4.000; fa4 2.200 1.200 3.000" in lines[0]
          and lines[0].endswith("1.05 (0.75-1.20) (median, min-max)"), str(lines))
    plain = compare.fwdbwd_summary_markdown([{"name": "w", "fwdbwd": {
        **sub, "rounds_vs_best": None}}], "bf16")
    check("rounds" not in plain, "no rounds column without rounds")


def main():
    test_order_rotates()
    entries = test_time_methods_rounds()
    test_no_rounds()
    test_rounds_left_out()
    test_graph_rounds()
    test_forward_summary(entries)
    test_summary_column(entries)
    print("compare_rounds_test: 7 checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
