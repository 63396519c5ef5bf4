#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host check of timeline.py's span_summary (no torch, no GPU): busy as the union of
overlapping kernels, idle as the rest, and the gaps charged to the right (ended by, next)
pair, a call's share each. Scripted spans, so every figure is known in advance.

  python3 bench/timeline_test.py     (ctest: bench_timeline_gaps)
"""
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
    print("bench_timeline_gaps: OK")


if __name__ == "__main__":
    main()
