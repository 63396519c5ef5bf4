#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Twenty-eighth session: the list-scheduling model of work_list_order_model.py applied to
the persistent dK/dV grid. Prints, per workload, how far past a balanced end the last SM
finishes (1) under the hardware's greedy dispatch of the class-ordered k list against a
static snake order over min(ranks, 132) CTAs (hopper_backward_persistent.patch), (2) greedy
against longest-first by cost, (3) greedy with the per-tile fixed cost (K/V load, dK/dV store:
one step) cut to 0.5 / 0.25 of a step, as a persistent grid that overlaps it might.

    python3 bench/experiments/work_list_order_snake_model.py
"""
import importlib.util, json, math, sys
spec = importlib.util.spec_from_file_location(
    "m", __import__("pathlib").Path(__file__).resolve().parent / "work_list_order_model.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
SMS = 132
rows = json.loads(m.WORKLOADS.read_text())["workloads"]
def k_list(w):
    """The backward's k list in class order: each 128-key tile's cost in query steps (the
    kernel's step rows at the head dim) x the q heads a CTA takes, every unit (kv head x
    split) of a class's tiles before the next class."""
    lq_all, lk_all = w["lengths"], w.get("lengths_k", w["lengths"])
    step = {128: 80, 64: 128}.get(w["head_dim"], 64)
    splits = m.head_splits(w["heads_q"], w["heads_kv"])
    per_cta = w["heads_q"] // w["heads_kv"] // splits
    units = w["heads_kv"] * splits
    segments = []
    for lq, lk in zip(lq_all, lk_all):
        offset = lk - lq
        tiles = []
        for t in range(math.ceil(lk / 128)):
            rows_seen = lq - max(0, t * 128 - offset) if w["causal"] else lq
            tiles.append(math.ceil(max(0, rows_seen) / step) * per_cta)
        segments.append((31 - int(lq).bit_length(), tiles))
    by_class = []
    for slot in sorted({s for s, _ in segments}):
        items = [c for s, tiles in segments if s == slot for c in tiles]
        by_class += [c for u in range(units) for c in items]
    return by_class

print(f"{'workload':26s} {'dynamic':>8s} {'snake':>8s} {'snake/dyn':>9s}")
for w in rows:
    if w["group"] == "sweep": continue
    by_class = k_list(w)
    balanced = sum(by_class) / SMS
    dyn = m.finish(by_class)
    G = min(SMS, len(by_class))
    load = [0.0] * G
    for r, c in enumerate(by_class):
        rnd, b = divmod(r, G)
        cta = b if rnd % 2 == 0 else G - 1 - b
        load[cta] += c + 0.5
    snake = max(load)
    print(f"{w['name']:26s} {dyn / balanced - 1:+8.1%} {snake / balanced - 1:+8.1%} {snake / dyn - 1:+9.1%}")
print()
print(f"{'workload':26s} {'dynamic':>8s} {'LPT dyn':>8s} {'LPT/dyn':>8s}  tiles  max/mean")
for w in rows:
    if w["group"] == "sweep": continue
    by_class = k_list(w)
    balanced = sum(by_class) / SMS
    dyn = m.finish(by_class)
    lpt = m.finish(sorted(by_class, reverse=True))
    print(f"{w['name']:26s} {dyn / balanced - 1:+8.1%} {lpt / balanced - 1:+8.1%} {lpt / dyn - 1:+8.1%}  {len(by_class):6d} {max(by_class)/(sum(by_class)/len(by_class)):.1f}")
print()
print(f"{'workload':26s} dyn(ovh 1) -> persistent counter (ovh 0.5 / 0.25)")
for w in rows:
    if w["group"] == "sweep": continue
    by_class = k_list(w)
    d1 = m.finish(by_class, 1.0); d5 = m.finish(by_class, 0.5); d25 = m.finish(by_class, 0.25)
    print(f"{w['name']:26s} {d5/d1-1:+6.1%} {d25/d1-1:+6.1%}")
