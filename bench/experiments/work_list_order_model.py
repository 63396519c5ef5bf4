#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A list-scheduling model of the fused launches: how far past a balanced end the last SM
finishes, for the work-list orders of today and of `work_lists_by_class.patch`.
Backward (dK/dV): today segment order, head-major; patched, size classes longest first, each
class head-major. Forward (--forward, the device-built list the PyTorch op runs): today
segment order; patched, tiles grouped by the class of the keys they visit; both head-major
(each head runs the list in order), beside the host-built list (longest first).

One CTA an SM (the Hopper dK/dV kernel's shared memory), CTAs started in rank order on the
first free SM; a CTA costs its query steps (80 rows at d128, 128 at d64, causal/bottom-right
rows only) x its q heads (GQA group / backward_head_splits) + 1 step (K/V load, dK/dV store).
It ignores L2, masked steps' extra cost and clock: a guide for which rows can move, not a
prediction of ms. heads in flight: distinct grid units among each 132 consecutive ranks (an
L2-sharing proxy: Q and dO are read per unit).

    python3 bench/experiments/work_list_order_model.py [--forward]
"""
import heapq
import json
import math
import pathlib
import sys

SMS = 132
WORKLOADS = pathlib.Path(__file__).resolve().parents[1] / "workloads.json"


def finish(costs, overhead=1.0):
    free = [0.0] * SMS
    for c in costs:
        heapq.heappush(free, heapq.heappop(free) + c + overhead)
    return max(free)


def head_splits(hq, hk):  # backward_workspace.hpp's backward_head_splits
    group = hq // hk
    if group < 8:
        return 1
    heads = 4
    while group % heads:
        heads += 1
    return group // heads


def in_flight(ranks):
    windows = range(0, max(1, len(ranks) - SMS), SMS // 2)
    return sum(len({u for u, _ in ranks[s:s + SMS]}) for s in windows) / len(windows)


def forward(rows):
    print(f"{'workload':26s} {'device today':>12s} {'by class':>9s} {'host':>7s} {'change':>7s}")
    for w in rows:
        if w["group"] == "sweep":
            continue
        block_m = 192 if w["head_dim"] <= 72 else 128  # Hopper tiles (kernel_config.hpp)
        items, segments = [], []
        for lq, lk in zip(w["lengths"], w.get("lengths_k", w["lengths"])):
            segments.append([])
            for t in range(math.ceil(lq / block_m)):
                last = min(lq, (t + 1) * block_m)
                keys = min(lk, last + lk - lq) if w["causal"] else lk
                if "window_left" in w:
                    keys = min(keys, last - t * block_m + w["window_left"])
                items.append(math.ceil(keys / 128))
                segments[-1].append(items[-1])
        heads = w["heads_q"]
        # the device's placement: classes largest first; a segment's run of tiles in one
        # class written largest first (runs of other segments: in between, claiming order)
        by_class = []
        for bits in sorted({int(c).bit_length() for c in items}, reverse=True):
            for seg in segments:
                by_class += sorted((c for c in seg if int(c).bit_length() == bits), reverse=True)
        balanced = sum(items) * heads / SMS
        today = finish([c for _ in range(heads) for c in items], 0.5)
        patched = finish([c for _ in range(heads) for c in by_class], 0.5)
        host = finish([c for _ in range(heads) for c in sorted(items, reverse=True)], 0.5)
        print(f"{w['name']:26s} {today / balanced - 1:+11.1%} {patched / balanced - 1:+8.1%} "
              f"{host / balanced - 1:+6.1%} {patched / today - 1:+6.1%}")


def main():
    rows = json.loads(WORKLOADS.read_text())["workloads"]
    if "--forward" in sys.argv[1:]:
        return forward(rows)
    print(f"{'workload':26s} {'today':>14s} {'by class':>14s} {'change':>7s}")
    for w in rows:
        if w["group"] == "sweep":
            continue
        lq_all, lk_all = w["lengths"], w.get("lengths_k", w["lengths"])
        step = {128: 80, 64: 128}.get(w["head_dim"], 64)
        splits = head_splits(w["heads_q"], w["heads_kv"])
        per_cta = w["heads_q"] // w["heads_kv"] // splits
        units = w["heads_kv"] * splits
        segments = []  # (class slot, [tile costs])
        for lq, lk in zip(lq_all, lk_all):
            offset = lk - lq
            tiles = []
            for t in range(math.ceil(lk / 128)):
                rows_seen = lq - max(0, t * 128 - offset) if w["causal"] else lq
                tiles.append(math.ceil(max(0, rows_seen) / step) * per_cta)
            segments.append((31 - int(lq).bit_length(), tiles))
        today = [(u, c) for u in range(units) for _, tiles in segments for c in tiles]
        by_class = []
        for slot in sorted({s for s, _ in segments}):
            items = [c for s, tiles in segments if s == slot for c in tiles]
            by_class += [(u, c) for u in range(units) for c in items]
        balanced = sum(c for _, c in today) / SMS
        a, b = finish([c for _, c in today]), finish([c for _, c in by_class])
        print(f"{w['name']:26s} {a / balanced - 1:+6.1%} h{in_flight(today):4.1f}  "
              f"{b / balanced - 1:+6.1%} h{in_flight(by_class):4.1f}  {b / a - 1:+6.1%}")


if __name__ == "__main__":
    main()
