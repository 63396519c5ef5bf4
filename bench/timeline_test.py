#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host check of timeline.py's span_summary (no torch, no GPU): busy as the union of
overlapping kernels, idle as the rest, and the gaps charged to the right (ended by, next)
pair, a call's share each; the host's launch times and what it ran while late (host_events,
host_account). Scripted spans, so every figure is known in advance.

  python3 bench/timeline_test.py     (ctest: bench_timeline_gaps)
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import timeline  # noqa: E402


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")


def main():
    # Two calls of: a [0, 10), b [12, 20) overlapping c [15, 25), d [30, 31), e [31, 32)
    # (back to back: no gap).
    call = [(0, 10, "a"), (12, 20, "b"), (15, 25, "c"), (30, 31, "d"), (31, 32, "e")]
    spans = call + [(s + 100, e + 100, n) for s, e, n in call]
    v = timeline.span_summary(spans, iters=2)
    check(v["span_us_per_call"] == 132 / 2, f"span {v['span_us_per_call']}")
    check(v["busy_us_per_call"] == 25, f"busy {v['busy_us_per_call']} (10 + 13 + 1 + 1 a call)")
    check(v["idle_us_per_call"] == 132 / 2 - 25, f"idle {v['idle_us_per_call']}")
    gaps = {(g["after"], g["before"]): g for g in v["gaps"]}
    # a -> b: 2 us a call; c (which ended the b/c union) -> d: 5; e -> a (between calls): 68,
    # once; d -> e none.
    check(set(gaps) == {("a", "b"), ("c", "d"), ("e", "a")}, f"gap pairs {sorted(gaps)}")
    check(gaps[("a", "b")]["total_us_per_call"] == 2 and gaps[("a", "b")]["per_call"] == 1,
          "a -> b")
    check(gaps[("c", "d")]["mean_us"] == 5, "c -> d charged to c, which ended the union")
    check(gaps[("e", "a")]["per_call"] == 0.5 and gaps[("e", "a")]["mean_us"] == 68, "e -> a")
    check([g["after"] for g in v["gaps"]] == ["e", "c", "a"], "largest first")
    check(timeline.span_summary(spans, iters=2, top_gaps=1)["gaps"][0]["after"] == "e", "top")
    kernels = {k["kernel"]: k for k in v["kernels"]}
    check(kernels["c"]["mean_us"] == 10 and kernels["c"]["per_call"] == 1, "per kernel")
    check(all(g["host_late_us"] is None for g in v["gaps"]), "no launch times: no host_late")

    # launch_spans: kernels and a memset matched to their host calls by correlation id; a
    # device event without one keeps None; host events of other kinds ignored.
    def event(cat, name, ts, dur, correlation=None, ph="X"):
        args = {} if correlation is None else {"correlation": correlation}
        return {"ph": ph, "cat": cat, "name": name, "ts": ts, "dur": dur, "args": args}
    trace = [
        event("cuda_runtime", "cudaLaunchKernel", 1.0, 3, 7),
        event("cuda_driver", "cuLaunchKernelEx", 40.0, 2, 8),
        event("cuda_runtime", "cudaMemsetAsync", 2.0, 1, 9),
        event("cpu_op", "aten::empty", 0.5, 1, 8),
        event("kernel", "k1", 5.0, 10.0, 7),
        event("gpu_memset", "Memset", 15.0, 1.0, 9),
        event("kernel", "k2", 45.0, 5.0, 8),
        event("Kernel", "k3", 52.0, 1.0),
        event("ac2g", "flow", 45.0, 0, 8, ph="f"),
    ]
    got = sorted(timeline.launch_spans(trace))
    want = [(5.0, 15.0, "k1", 1.0), (15.0, 16.0, "Memset (Device)", 2.0),
            (45.0, 50.0, "k2", 40.0), (52.0, 53.0, "k3", None)]
    check(got == want, f"launch_spans {got}")
    # Gaps: Memset -> k2 is 29 us, of which the host launched k2 24 us late (40 - 16); k2 ->
    # k3 is 2 us, launch unknown; a launch before the busy end is 0 late, one after the next
    # kernel's start is capped at the gap.
    v = timeline.span_summary(got, iters=1)
    gaps = {(g["after"], g["before"]): g for g in v["gaps"]}
    check(gaps[("Memset (Device)", "k2")]["mean_us"] == 29, "memset -> k2 gap")
    check(gaps[("Memset (Device)", "k2")]["host_late_us"] == 24, "host 24 us late")
    check(gaps[("k2", "k3")]["host_late_us"] is None, "unknown launch")
    early = timeline.span_summary([(0, 10, "a", 0), (12, 13, "b", 5)], iters=1)["gaps"][0]
    check(early["host_late_us"] == 0, "launched before the busy end: not late")
    capped = timeline.span_summary([(0, 10, "a", 0), (12, 13, "b", 30)], iters=1)["gaps"][0]
    check(capped["host_late_us"] == 2, "late at most the gap")
    # host_events and the host's account of a late window: k2 launched 30 us after k1 ended
    # (window [10, 40)); the host's Python thread (tid 1) was in an autograd node throughout
    # (30 us), in a synchronize that began before k1's end and returned 8 us into the window
    # (a wait) and in aten::empty 5 us; the autograd thread (tid 2) in a runtime call that
    # straddled the idle start by 2 us (a wait too, however short); the launch at 40 and the
    # event at 100 lie outside; device and instant events are not host work.
    def host_event(cat, name, ts, dur, tid, ph="X"):
        return dict(event(cat, name, ts, dur, ph=ph), tid=tid)
    trace = [
        host_event("cuda_runtime", "cudaLaunchKernel", 0.0, 1, 1),
        event("kernel", "k1", 0.0, 10.0, 1),
        host_event("cpu_op", "autograd::engine::evaluate_function: XBackward", 5.0, 40, 1),
        host_event("cuda_runtime", "cudaStreamSynchronize", 8.0, 10, 1),
        host_event("cuda_runtime", "cudaGetDevice", 9.0, 3, 2),
        host_event("cpu_op", "aten::empty", 20.0, 5, 1),
        host_event("python_function", "later", 100.0, 10, 1),
        host_event("cpu_op", "instant", 20.0, 0, 1, ph="i"),
        event("kernel", "k2", 50.0, 10.0, 2),
    ]
    trace[0]["args"] = {"correlation": 1}
    trace.append(dict(host_event("cuda_runtime", "cudaLaunchKernel", 40.0, 2, 1),
                      args={"correlation": 2}))
    host = timeline.host_events(trace)
    check(len(host) == 7 and all(n not in ("k1", "k2", "instant") for _, _, n, _, _ in host),
          f"host_events {host}")
    check([(r, t) for _, _, n, r, t in host if n == "cudaGetDevice"] == [(True, 2)] and
          [r for _, _, n, r, _ in host if n == "aten::empty"] == [False], "runtime flags, tids")
    v = timeline.span_summary(timeline.launch_spans(trace), iters=1, host=host)
    g = v["gaps"][0]
    check(g["host_late_us"] == 30, f"late {g['host_late_us']}")
    check(g["host"]["busy"] == [("autograd::engine::evaluate_function: XBackward", 1, 30.0),
                                ("cudaStreamSynchronize", 1, 8.0), ("aten::empty", 1, 5.0),
                                ("cudaGetDevice", 2, 2.0)], f"busy {g['host']['busy']}")
    check(g["host"]["waits"] == [("cudaStreamSynchronize", 1, 8.0), ("cudaGetDevice", 2, 2.0)],
          f"waits {g['host']['waits']}")
    check(set(g) == {"after", "before", "per_call", "mean_us", "total_us_per_call",
                     "host_late_us", "host"}, f"gap row keys {sorted(g)}")
    json.dumps(v)  # timeline.json takes it as it is
    check("host" not in timeline.span_summary(timeline.launch_spans(trace), iters=1)["gaps"][0],
          "no host events: no account")
    # The same call twice a call-loop iteration (iters=1, the pair twice): the account is a
    # gap's, as host_late_us is, not the sum of both; one gap launched early (0 late) counts
    # as a gap with nothing in it; pairs past top_gaps get no account and leak nothing.
    twice = timeline.launch_spans(trace) + [(s + 100, e + 100, n, x + 100)
                                            for s, e, n, x in timeline.launch_spans(trace)]
    host2 = host + [(s + 100, e + 100, n, r, t) for s, e, n, r, t in host]
    g2 = timeline.span_summary(twice, iters=1, host=host2)["gaps"]
    pair = [x for x in g2 if (x["after"], x["before"]) == ("k1", "k2")][0]
    check(pair["per_call"] == 2 and pair["host_late_us"] == 30 and
          pair["host"]["busy"][0][2] == 30.0, f"two gaps a call {pair}")
    early = timeline.span_summary(
        [(0, 10, "k1", 0), (50, 60, "k2", 40), (100, 110, "k1", 90), (150, 160, "k2", 105)],
        iters=1, host=[(20, 30, "x", False, 1)])["gaps"]
    e2 = [x for x in early if x["after"] == "k1"][0]
    check(e2["host_late_us"] == 15 and e2["host"]["busy"] == [("x", 1, 5.0)],
          f"a late and an early gap: 10 us of x over two gaps {e2}")
    top1 = timeline.span_summary(twice, iters=1, top_gaps=1, host=host2)["gaps"]
    check(len(top1) == 1 and "windows" not in top1[0] and "known" not in top1[0], "top_gaps")
    # allocator_churn: growth a call of the driver-facing counters, missing ones as 0.
    churn = timeline.allocator_churn(
        {"num_device_alloc": 10, "num_device_free": 4, "reserved_bytes.all.peak": 5},
        {"num_device_alloc": 30, "num_device_free": 24, "num_alloc_retries": 2,
         "reserved_bytes.all.peak": 7}, iters=10)
    check(churn == {"num_device_alloc": 2.0, "num_device_free": 2.0, "num_alloc_retries": 0.2,
                    "num_sync_all_streams": 0.0, "reserved_peak_bytes": 7}, f"churn {churn}")
    print("bench_timeline_gaps: OK")


if __name__ == "__main__":
    main()
