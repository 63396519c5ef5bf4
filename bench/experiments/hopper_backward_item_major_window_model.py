#!/usr/bin/env python3
"""Unit-major (HEAD) against item-major k-list ranks for the Hopper d128 dK/dV kernel on the
long-d128 window rows and the causal controls: greedy list scheduling of the 2,048 CTAs
(16 heads x 128 k tiles) over 132 SMs at one CTA an SM, CTA cost = steps + m x masked steps
+ F (window_backward_model_s38.py's counts), with and without per-CTA jitter; and the L2
footprint of the CTAs in flight. No GPU. Usage: python3 hopper_backward_item_major_window_model.py"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from window_backward_model_s38 import HEADS, KEYS, L, SMS, greedy, mask, tile_counts  # noqa: E402

ROW_BYTES = 256 + 256 + 512 + 8  # Q, dO (bf16 d128), the dQ accumulator (f32), lse and D


def orders(d):
    unit = [d[i] for h in range(HEADS) for i in range(len(d))]
    item = [d[i] for i in range(len(d)) for h in range(HEADS)]
    return unit, item


def study(name, m, m_cost=0.16, F=1.0, sigma=0.0, trials=1, seed=1):
    tiles = [tile_counts(m, kt) for kt in range(L // KEYS)]
    d = [t["steps"] + m_cost * t["cta_masked"] + F for t in tiles]
    rnd = random.Random(seed)
    u_tail, i_tail = [], []
    for _ in range(trials):
        noise = [[1 + rnd.gauss(0, sigma) if sigma else 1.0 for _ in d] for _ in range(HEADS)]
        unit = [d[i] * noise[h][i] for h in range(HEADS) for i in range(len(d))]
        item = [d[i] * noise[h][i] for i in range(len(d)) for h in range(HEADS)]
        bal = sum(unit) / SMS
        u_tail.append(greedy(unit) / bal - 1)
        i_tail.append(greedy(item) / bal - 1)
    u, i = sum(u_tail) / trials, sum(i_tail) / trials
    short = sum(1 for t in tiles if t["steps"] < tiles[0]["steps"])
    return tiles, short, u, i, (1 + i) / (1 + u) - 1


def footprint(m, order):
    """Distinct rows x heads that the first wave's CTAs (ranks 0..131 in steady state: any
    132 consecutive ranks) read or reduce into, in MB: each k tile's visible query rows."""
    tiles = [tile_counts(m, kt) for kt in range(L // KEYS)]
    n = len(tiles)
    ranks = [(h, i) for h in range(HEADS) for i in range(n)] if order == "unit" else \
            [(h, i) for i in range(n) for h in range(HEADS)]
    worst = 0
    for start in range(0, len(ranks) - SMS + 1, 8):
        rows = {}
        for h, i in ranks[start:start + SMS]:
            key0 = i * KEYS
            lo, hi = max(0, key0 - m[2]), min(L - 1, key0 + KEYS - 1 - m[1])
            rows.setdefault(h, []).append((lo, hi))
        total = 0
        for spans in rows.values():
            spans.sort()
            cur_lo, cur_hi = spans[0]
            for lo, hi in spans[1:]:
                if lo > cur_hi + 1:
                    total += cur_hi - cur_lo + 1
                    cur_lo, cur_hi = lo, hi
                else:
                    cur_hi = max(cur_hi, hi)
            total += cur_hi - cur_lo + 1
        worst = max(worst, total)
    return worst * ROW_BYTES / 1e6


def main():
    rows = [("long-d128-window512", mask(511, 0)), ("long-d128-window1024", mask(1023, 0)),
            ("long-d128-window2048", mask(2047, 0)), ("long-d128-window4096", mask(4095, 0)),
            ("long-d128-causal (gate off; item-major shown only as the L2 risk)", mask(-1, 0))]
    print("tail over a balanced end (greedy, 132 SMs); change = item-major / unit-major - 1")
    for name, m in rows:
        # m 0.16 / F 0-2 (s38's assumptions); m 0 / F 2.35 (s39's joint fit, mask bits landed)
        for m_cost, F in ((0.16, 0.0), (0.16, 1.0), (0.16, 2.0), (0.0, 2.35)):
            for sigma, trials in ((0.0, 1), (0.03, 20), (0.08, 20)):
                tiles, short, u, i, gain = study(name, m, m_cost, F, sigma, trials)
                print(f"{name} m={m_cost} F={F} sigma={sigma}: steps/CTA {tiles[0]['steps']}, "
                      f"short tiles a head {short}; unit-major {u:+.1%}, item-major {i:+.1%}: "
                      f"{gain:+.1%}")
    print("\nL2 footprint of 132 consecutive ranks (worst window), MB "
          f"({ROW_BYTES} B a row and head: Q, dO, dQ accumulator, lse, D); H200 L2 50 MB")
    for name, m in rows:
        print(f"{name}: unit-major {footprint(m, 'unit'):.1f}, item-major "
              f"{footprint(m, 'item'):.1f}")


if __name__ == "__main__":
    main()
