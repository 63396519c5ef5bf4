#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The probe's model (backward_window_probe.md): the Hopper d128 dK/dV kernel on one 16,384-row
causal segment, 16 heads, at windows of 512-4096 keys and unbounded (long-d128-causal).

Counts, per (head, k tile): the query steps kv_tile::place<true> gives a 128-key tile (80-row
steps from its first visible query), and the steps place_step sends through the mask test (a
warpgroup's 64 keys not all seen by every row of the step). A CTA's time is
    d = c (steps + m masked) + F
(c: a full step, m: a masked step's extra share, F: the per-CTA fixed cost, in steps); the
kernel is the greedy dispatch of the 2,048 CTAs in rank order (head-major, as HEAD's one-slot
path) over 132 SMs. Usage:
    python3 backward_window_probe_model.py                  # the tables of the .md
    python3 backward_window_probe_model.py --fit FILE [--helpers-us H]
FILE: lines "<row> <ms>" (ab.txt of the probe, or the ncu kernel durations: lines
"kernel <workload> <us>"); fits c and F (m fixed) by least squares over a grid of F."""
import argparse
import heapq
import re
import statistics
import sys

L, HEADS, SMS, KEYS, Q, WG = 16384, 16, 132, 128, 80, 64
IMIN, IMAX = -2**31, 2**31 - 1
WINDOWS = {"long-d128-window512": 512, "long-d128-window1024": 1024,
           "long-d128-window2048": 2048, "long-d128-window4096": 4096,
           "long-d128-causal": None}


def mask(window):  # segment_mask::make for causal + window_left = keys - 1 (None: unbounded)
    return (L, IMIN if window is None else -(window - 1), 0)


def tile(m, kt):
    """(steps, masked steps) of k tile kt: kv_tile::place<true> and place_step's flags."""
    k_len, lo, hi = m
    key0 = kt * KEYS
    keys = min(KEYS, k_len - key0)
    qf = max(0, key0 - hi)
    ql = min(key0 + keys - 1 - lo, L - 1)
    if ql < qf:
        return 0, 0
    steps = (ql - qf) // Q + 1
    masked = 0
    for s in range(steps):
        q0 = qf + s * Q
        part = False
        for g in (0, 1):
            gk0 = key0 + g * WG
            first_key = lambda q: max(0, q + lo)
            end_key = lambda q, rows: max(0, min(k_len, q + rows + hi))
            sees = gk0 < k_len and end_key(q0, Q) > gk0 and first_key(q0) < gk0 + WG
            if sees and (gk0 < first_key(q0 + Q - 1) or gk0 + WG > end_key(q0, 1)):
                part = True
        masked += part
    return steps, masked


def counts(window):
    return [tile(mask(window), kt) for kt in range(L // KEYS)]


def makespan(tiles, m, F):
    """Greedy dispatch, head-major ranks, in step units."""
    heap = [0.0] * SMS
    for _ in range(HEADS):
        for steps, masked in tiles:
            t = heapq.heappop(heap)
            heapq.heappush(heap, t + steps + m * masked + F)
    return max(heap)


def balanced(tiles, m, F):
    return HEADS * sum(s + m * k + F for s, k in tiles) / SMS


def tables(m=0.16):
    all_tiles = {w: counts(win) for w, win in WINDOWS.items()}
    print("per head: CTA-steps, masked, steps of tile 0, per SM (step units, m 0.16, F 0), "
          "greedy makespan at F 0 / 1 / 2 (tail over balance)")
    for w, t in all_tiles.items():
        s = sum(x for x, _ in t)
        k = sum(y for _, y in t)
        row = [f"{w:22s} {s:6d} {k:5d} ({k / s:5.1%}) tile0 {t[0][0]:3d}/{t[0][1]}",
               f"perSM {balanced(t, m, 0):7.1f}"]
        for F in (0, 1, 2):
            g, b = makespan(t, m, F), balanced(t, m, F)
            row.append(f"F{F} {g:7.1f} (+{g / b - 1:.1%})")
        print("  ".join(row))
    # Prediction: c calibrated so that long-d128-causal's kernel is 4.685 ms (its backward,
    # ~4.80 ms, less ~0.115 ms of helpers: backward_window_analysis_s38.md 0 and 3).
    print("\nrow predictions, ms (bench row = helpers 0.115 + kernel; c from causal 4.685 ms):")
    for F in (0, 1, 2, 3):
        c = 4.685 / makespan(all_tiles["long-d128-causal"], m, F)
        cells = [f"F {F}: c {c * 1e3:.2f} us"]
        for w, t in all_tiles.items():
            cells.append(f"{w.replace('long-d128-', '')} {0.115 + c * makespan(t, m, F):.3f}")
        print("  ".join(cells))
    return all_tiles


def fit(path, helpers_us, m=0.16):
    all_tiles = {w: counts(win) for w, win in WINDOWS.items()}
    times = {}
    for line in open(path):
        mt = re.match(r"\s*bwd/([^/]+)/fused/bf16\s+([0-9.]+)\s+ms", line)
        mk = re.match(r"\s*kernel\s+(\S+)\s+([0-9.]+)", line)
        if mt and mt.group(1) in WINDOWS:
            times.setdefault(mt.group(1), []).append(float(mt.group(2)) * 1e3 - helpers_us)
        elif mk and mk.group(1) in WINDOWS:
            times.setdefault(mk.group(1), []).append(float(mk.group(2)))
    if len(times) < 3:
        sys.exit(f"{path}: fewer than 3 of the rows {list(WINDOWS)}")
    y = {w: statistics.median(v) for w, v in times.items()}
    best = None
    for i in range(0, 401):
        F = i / 100
        x = {w: makespan(all_tiles[w], m, F) for w in y}
        c = sum(x[w] * y[w] for w in y) / sum(x[w] ** 2 for w in y)  # through the origin
        err = sum((y[w] - c * x[w]) ** 2 for w in y)
        if best is None or err < best[0]:
            best = (err, F, c, x)
    err, F, c, x = best
    print(f"fit (m {m}; helpers {helpers_us} us subtracted from bench rows, none from ncu's "
          f"kernel lines): c {c:.3f} us a step, F {F:.2f} steps = {F * c:.2f} us a CTA; rms "
          f"{((err / len(y)) ** 0.5):.1f} us")
    # m and F together (window512's steps are half masked, causal's 2%): less stable.
    joint = None
    for j in range(0, 41):
        mm = j / 100
        for i in range(0, 81):
            FF = i / 20
            xx = {w: makespan(all_tiles[w], mm, FF) for w in y}
            cc = sum(xx[w] * y[w] for w in y) / sum(xx[w] ** 2 for w in y)
            e = sum((y[w] - cc * xx[w]) ** 2 for w in y)
            if joint is None or e < joint[0]:
                joint = (e, mm, FF, cc)
    e, mm, FF, cc = joint
    print(f"joint fit: m {mm:.2f}, F {FF:.2f} steps, c {cc:.3f} us; rms {((e / len(y)) ** 0.5):.1f} us")
    for w in y:
        print(f"  {w:22s} measured {y[w]:8.1f} us  model {c * x[w]:8.1f} us  "
              f"({c * x[w] / y[w] - 1:+.1%})")
    # The windows alone, a line: slope and intercept over the per-SM step units at F 0.
    ws = [w for w in y if w != "long-d128-causal"]
    if len(ws) >= 2:
        xs = [balanced(all_tiles[w], m, 0) for w in ws]
        ys = [y[w] for w in ws]
        mx, my = statistics.mean(xs), statistics.mean(ys)
        b = sum((a - mx) * (v - my) for a, v in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
        a0 = my - b * mx
        print(f"windows alone, line over per-SM step units: slope {b:.3f} us a step, intercept "
              f"{a0:.1f} us = {a0 / b:.1f} steps an SM = {a0 / b / (HEADS * L // KEYS / SMS):.2f} "
              f"steps a CTA (F plus the dispatch tail)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit")
    ap.add_argument("--helpers-us", type=float, default=115.0)
    ap.add_argument("-m", type=float, default=0.16)
    a = ap.parse_args()
    if a.fit:
        fit(a.fit, a.helpers_us, a.m)
    else:
        tables(a.m)
