#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An LRU model of the Hopper dK/dV kernel's L2 traffic under three orders of a CTA's items
(query step, q head): why the 28:4 GQA backward misses the L2 (s49: 65% hits against MHA's
84%; s51 ncu: 2.79x FA4's L2 miss sectors) and what a step-major order would change
(gqa_step_order.md).

What it models (bench/NOTES.md fifty-first): the work list's CTAs in launch order (unit-major:
every (segment, k tile) of unit 0, then unit 1, ...; a unit = a kv head's share of q heads,
backward_head_splits), one CTA an SM (the kernel's shared memory), each item one time unit;
every item reads its step's Q and dO rows of its q head and reduces into the same rows of the
dQ accumulator; each CTA reads its K and V once. The L2 is one LRU of L2_MB over 16-row
granules (a CTA's steps start at its first visible query, kv_tile::place's FromFirstQuery at
head dim 128, so CTAs' steps are not aligned to each other). Not modeled: lse / D, the writes
of dK/dV, the L2's two partitions, diagonal steps' lower cost.

Orders: head (the tree: every step of head 0, then of head 1, ...), step (each step's heads,
steps ascending), stepdesc (each step's heads, steps descending: every CTA of a (segment, kv
head) walks the same rows at once, from the segment's end down to its own diagonal).

  python3 bench/experiments/gqa_step_order_model.py [--l2-mb 50 60] [--workloads ...]
"""
import argparse
import collections
import heapq
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from work_list_order_model import head_splits  # noqa: E402  (backward_head_splits)


def ctas(lengths, heads_q, heads_kv, order, keys, rows):
    splits = head_splits(heads_q, heads_kv)
    per_cta = heads_q // heads_kv // splits
    out = []
    for unit in range(heads_kv * splits):
        heads = range(unit * per_cta, (unit + 1) * per_cta)
        for seg, length in enumerate(lengths):
            for tile in range((length + keys - 1) // keys):
                key0 = tile * keys  # causal, equal lengths: the first visible query
                steps = range((length - key0 + rows - 1) // rows)
                if order == "head":
                    items = [(h, s) for h in heads for s in steps]
                elif order == "step":
                    items = [(h, s) for s in steps for h in heads]
                else:
                    items = [(h, s) for s in reversed(steps) for h in heads]
                out.append((seg, unit // splits, key0, items))
    return out


def simulate(lengths, heads_q, heads_kv, head_dim, order, l2_mb, sms=132):
    keys = 128
    rows = 80 if head_dim == 128 else 128
    work = [(seg, kv, key0, [(h, key0 + s * rows) for h, s in items])
            for seg, kv, key0, items in ctas(lengths, heads_q, heads_kv, order, keys, rows)]
    return lru_traffic(work, lengths, head_dim, keys, rows, l2_mb, sms)


def lru_traffic(work, lengths, head_dim, keys, rows, l2_mb, sms=132):
    """L2 hit rate and miss GiB of `work` (CTAs in launch order: (segment, kv head, key0,
    items), an item (q head, its step's first query in the segment)), one CTA an SM, each
    item one time unit."""
    cap = l2_mb * 2**20
    lru = collections.OrderedDict()
    used = hit = miss = 0

    def touch(key, size):
        nonlocal used, hit, miss
        if key in lru:
            lru.move_to_end(key)
            hit += size
            return
        miss += size
        lru[key] = size
        used += size
        while used > cap:
            used -= lru.popitem(last=False)[1]

    heap = [(0.0, sm, sm, 0) for sm in range(min(sms, len(work)))]
    heapq.heapify(heap)
    nxt = len(heap)
    while heap:
        t, sm, c, i = heapq.heappop(heap)
        seg, kv, key0, items = work[c]
        if i == 0:
            touch(("kv", seg, kv, key0), keys * head_dim * 2 * 2)
        if i < len(items):
            h, r0 = items[i]
            r1 = min(r0 + rows, lengths[seg])
            for g in range(r0 // 16, (r1 + 15) // 16):
                touch(("q", seg, h, g), 16 * head_dim * 2)
                touch(("do", seg, h, g), 16 * head_dim * 2)
                touch(("acc", seg, h, g), 16 * head_dim * 4)
            heapq.heappush(heap, (t + 1, sm, c, i + 1))
        elif nxt < len(work):
            heapq.heappush(heap, (t, sm, nxt, 0))
            nxt += 1
    return hit / (hit + miss), miss / 2**30


def workloads_cli(doc, default_workloads):
    """The models' command line (--l2-mb, --workloads) and bench/workloads.json by name."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--l2-mb", type=float, nargs="+", default=[50, 60])
    ap.add_argument("--workloads", nargs="+", default=default_workloads)
    args = ap.parse_args()
    table = json.loads((HERE.parent / "workloads.json").read_text())
    table = table["workloads"] if isinstance(table, dict) else table
    return args, {w["name"]: w for w in table}


def main():
    args, by_name = workloads_cli(__doc__, [
        "llm-d128-causal", "llm-d128-gqa28-causal", "prefill-d128-gqa-causal",
        "llm-d64-mqa-causal"])
    print("| workload | heads | L2 MB | head (tree): hits, miss GiB | step | stepdesc |")
    print("|---|---|---:|---|---|---|")
    for name in args.workloads:
        w = by_name[name]
        assert w["causal"], "the model places causal tiles of equal q and k lengths"
        for l2 in args.l2_mb:
            cells = []
            for order in ("head", "step", "stepdesc"):
                hits, miss = simulate(w["lengths"], w["heads_q"], w["heads_kv"], w["head_dim"],
                                      order, l2)
                cells.append(f"{100 * hits:.1f}%, {miss:.2f}")
            print(f"| {name} | {w['heads_q']}:{w['heads_kv']} | {l2:g} | " + " | ".join(cells)
                  + " |")


if __name__ == "__main__":
    main()
