#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Model of backward_k_list_tile_classes.patch: the dK/dV grid's tail under the k list's order.

One CTA an SM at a time (the Hopper dK/dV kernel's shared memory), CTAs started in rank order
as SMs free (greedy list scheduling), a CTA's time = its query steps x its q heads (a causal
step counted as a full one). Ranks are class-major and, within a class, unit-major (unit u's
items, then u + 1's: locate_rank, item_major only for banded windows). The list's classes:
  segment: the bit length of the segment's q tiles (the tree: build_backward_lists_kernel),
  tile:    the bit length of the k tile's own query steps (the patch).
Prints each row's efficiency (average SM load / makespan) and the predicted kernel time ratio
new / old. python3 bench/experiments/backward_k_list_tile_classes_model.py"""
import heapq
import json
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from work_list_order_model import head_splits  # noqa: E402 (backward_head_splits)

SMS = 132  # H100 SXM and H200
K_TILE, Q_STEP = 128, 80  # d128 (Hopper dK/dV: 128 keys, 80-row steps at llm-d128)
CLASS_ROWS = 64  # the builder's q_tile (backward_traits<.., 128>::kQRows): the classes' steps


def slot(v):
    return 31 - v.bit_length() if v > 0 else 31


def items(lengths, lengths_k, causal, window_left, per_tile):
    """(class, segment, tile, steps) in list order."""
    out = []
    for s, (q, k) in enumerate(zip(lengths, lengths_k)):
        diag = k - q
        for t in range(math.ceil(k / K_TILE)):
            key0, key1 = t * K_TILE, min(k, t * K_TILE + K_TILE) - 1
            lo = max(0, key0 - diag) if causal else 0  # queries i with key0 <= i + diag
            hi = q - 1
            if window_left is not None and window_left >= 0:
                hi = min(hi, key1 - diag + window_left)
            seen = max(0, hi - lo + 1)
            steps = math.ceil(seen / Q_STEP)
            c = slot(math.ceil(seen / CLASS_ROWS)) if per_tile else slot(math.ceil(q / CLASS_ROWS))
            out.append((c, s, t, steps))
    out.sort(key=lambda x: x[0])  # stable: segment and tile order within a class
    return out


def makespan(jobs):
    h = [0.0] * SMS
    for j in jobs:
        heapq.heappush(h, heapq.heappop(h) + j)
    return max(h), sum(jobs) / SMS


def run(row):
    q = row["lengths"]
    k = row.get("lengths_k") or q
    group = row["heads_q"] // row["heads_kv"]
    splits = head_splits(row["heads_q"], row["heads_kv"])
    units = row["heads_kv"] * splits
    per_cta_heads = group // splits
    res = {}
    for per_tile in (False, True):
        its = items(q, k, row["causal"], row.get("window_left"), per_tile)
        jobs = []
        by_class = {}
        for it in its:
            by_class.setdefault(it[0], []).append(it[3])
        for c in sorted(by_class):
            for u in range(units):
                jobs += [s * per_cta_heads for s in by_class[c]]
        res[per_tile] = makespan(jobs)
    (old, avg), (new, _) = res[False], res[True]
    return avg / old, avg / new, new / old


if __name__ == "__main__":
    rows = json.loads((pathlib.Path(__file__).parents[1] / "workloads.json").read_text())["workloads"]
    names = ["llm-d128-causal", "llm-d128-gqa28-causal", "prefill-d128-gqa-causal",
             "chunked-d128-gqa-causal", "long-d128-causal", "llm-d256-causal",
             "llm-d64-mqa-causal", "llm-d128", "long-d128-window1024"]
    print(f"{'row':26s} {'eff old':>8s} {'eff new':>8s} {'new/old':>8s}")
    for r in rows:
        if r["name"] in names:
            e_old, e_new, ratio = run(r)
            print(f"{r['name']:26s} {e_old:8.3f} {e_new:8.3f} {ratio:8.3f}")
