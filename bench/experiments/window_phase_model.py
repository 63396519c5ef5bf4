#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Hopper dK/dV kernel's L2 traffic under a sliding window, by the walk of a CTA's query
steps (window_phase.md; the LRU of gqa_step_order_model.py).

A k tile of a window runs the ~M steps that see its keys (d128: 80-row steps from its first
query, 15 steps at window 1,024). Walked in order (ascending or descending), CTA k is on rows
128 k + 80 t at time t: the CTAs in flight are all on different rows, each row's ~9 readers
reach it up to a CTA's lifetime apart, and every row of the CTAs in flight stays live (the
32:8 window row, unit-major: 132 tiles x 1,200 rows x 4 heads, ~75 MB: 40% L2 hits by ncu,
s53). Phase: each CTA starts at the step whose first row is first modulo the period P = M x
80 rows and wraps round, so at time t every CTA is on rows t x 80 (+ < 80) modulo P: the
CTAs that share a row are on it together.

  python3 bench/experiments/window_phase_model.py [--l2-mb 50 60] [--workloads NAME...]
  (NAME: bench/workloads.json's, or AD_HOC's below)
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gqa_step_order_model import lru_traffic, workloads_cli  # noqa: E402
from work_list_order_model import head_splits  # noqa: E402


def tile_rows(length, key0, left, right, keys, rows):
    """The first rows of a tile's steps (kv_tile::place FromFirstQuery), in step order."""
    first = max(0, key0 - right)
    last = min(length - 1, key0 + keys - 1 + left)
    return list(range(first, last + 1, rows))


def walk(starts, order, period):
    if order == "asc":
        return starts
    if order == "desc":
        return starts[::-1]
    # phase: from the step whose first row is least (phase) or greatest (phasedesc) modulo
    # the period, round
    at = min(range(len(starts)), key=lambda i: (starts[i] % period, i))
    up = starts[at:] + starts[:at]
    return up if order == "phase" else up[::-1]


def ctas(w, order, item_major, keys, rows):
    hq, hk = w["heads_q"], w["heads_kv"]
    splits = head_splits(hq, hk)
    per_cta = hq // hk // splits
    left, right = w["window_left"], w["window_right"]
    steps_full = -(-(keys + left + right) // rows)
    period = steps_full * rows
    units = hk * splits
    tiles = [(seg, key0) for seg, n in enumerate(w["lengths"]) for key0 in range(0, n, keys)]
    ranks = ([(u, t) for t in tiles for u in range(units)] if item_major
             else [(u, t) for u in range(units) for t in tiles])
    out = []
    for unit, (seg, key0) in ranks:
        starts = walk(tile_rows(w["lengths"][seg], key0, left, right, keys, rows), order, period)
        heads = range(unit * per_cta, (unit + 1) * per_cta)
        items = []
        for r0 in starts:  # step-major, the start head rotated by the k tile
            for i in range(per_cta):
                items.append((heads[(key0 // keys + i) % per_cta], r0))
        out.append((seg, unit // splits, key0, items))
    return out


# Shapes no bench workload has (window_phase.md's "beyond the probe row"), by name.
AD_HOC = {
    "adhoc-32x8-window4096-16k": dict(heads_q=32, heads_kv=8, head_dim=128, window_left=4095,
                                      window_right=0, lengths=[16384]),
    "adhoc-32x8-window1024-4x4k": dict(heads_q=32, heads_kv=8, head_dim=128, window_left=1023,
                                       window_right=0, lengths=[4096] * 4),
}


def main():
    args, by_name = workloads_cli(__doc__, [
        "long-d128-window1024", "long-d128-gqa-window1024", "long-d128-window2048",
        "long-d128-window4096"])
    by_name.update(AD_HOC)
    keys, rows = 128, 80  # head dim 128
    orders = ("asc", "desc", "phase", "phasedesc")
    print("| workload | heads | L2 MB | ranks | " + " | ".join(orders) + " |")
    print("|---|---|---:|---|" + "---|" * len(orders))
    for name in args.workloads:
        w = by_name[name]
        for l2 in args.l2_mb:
            for item_major in (False, True):
                cells = []
                for order in orders:
                    hits, miss = lru_traffic(ctas(w, order, item_major, keys, rows),
                                             w["lengths"], w["head_dim"], keys, rows, l2)
                    cells.append(f"{100 * hits:.1f}%, {miss:.2f}")
                print(f"| {name} | {w['heads_q']}:{w['heads_kv']} | {l2:g} | "
                      f"{'item' if item_major else 'unit'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
