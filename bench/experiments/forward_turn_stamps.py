#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads forward_turn_stamps.cu's CSV (cta,smid,group,step,event,cycles,query0,head) and prints
where the ping-pong of the Hopper forward spends a steady-state step (forward_turn_stamps.md).

All figures are SM clock cycles (clock64), pooled over the recorded CTAs, median and p90.
Steady state: steps 2 .. n-1 of each warpgroup (n: its loop steps; the peeled step 0, step 1
and the last-P V row n are left out). Python 3 standard library only.

  python3 forward_turn_stamps.py stamps.csv [--skip 2] [--pipe 512]
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict

# A consumer step in the order the loop stamps it (forward_tile.cuh, turn_stamps::event).
LOOP = ["k_wait", "k_full", "pv_landed", "packed", "turn_begun", "scores_issued", "rescaled",
        "v_full", "turn_ended", "s_landed", "softmax_done"]
WHAT = {  # what the cycles from the previous event are spent on
    "k_full": "K_j-full wait",
    "pv_landed": "wait<0>: P_{j-2}V_{j-2}",
    "packed": "V release, pack P_{j-1}",
    "turn_begun": "turn wait (bar.sync)",
    "scores_issued": "issue S_j (8 wgmma)",
    "rescaled": "O rescale (64 FMUL)",
    "v_full": "V_{j-1}-full wait",
    "turn_ended": "issue P_{j-1}V_{j-1}, arrive",
    "s_landed": "wait<1>: S_j lands",
    "softmax_done": "mask + softmax of S_j",
    "k_wait+1": "K release .. next step top",
}


# The split order (forward_turn_stamps_split.patch, kSplitSoftmax): P_{j-1} was packed at the
# end of step j - 1, the turn holds S_j and P_{j-1} V_{j-1} only, and the softmax of S_j waits
# for P_{j-1} V_{j-1} between its halves. Chosen when the CSV has maxima_done stamps.
LOOP_SPLIT = ["k_wait", "k_full", "packed", "turn_begun", "scores_issued", "v_full",
              "turn_ended", "s_landed", "maxima_done", "pv_landed", "softmax_done"]
WHAT_SPLIT = dict(WHAT, **{
    "packed": "(none: P_{j-1} packed before)",
    "v_full": "V_{j-1}-full wait",
    "maxima_done": "mask, maxima, exponents S_j",
    "pv_landed": "wait<0>: P_{j-1}V_{j-1}",
    "softmax_done": "rescale, exp2, sums, pack P_j",
})


def pct(values, q):
    """The q-quantile (nearest rank) of a non-empty list."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def fmt(values):
    if not values:
        return f"{'-':>7} {'-':>7} {'':>5}"
    return f"{statistics.median(values):7.0f} {pct(values, 0.9):7.0f} {len(values):5d}"


def header(title):
    print(f"\n{title}\n  {'':46} {'median':>7} {'p90':>7} {'n':>5}")


def line(label, values):
    print(f"  {label:46} {fmt(values)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--skip", type=int, default=2, help="leading steps left out (default 2)")
    ap.add_argument("--pipe", type=float, default=512.0,
                    help="tensor-pipe cycles of one S or one P V batch of a warpgroup "
                         "(8 x 64x128x16 bf16 HGMMA; the s16 study's 512)")
    args = ap.parse_args()

    # t[cta][group][step][event] = cycles; group "0", "1" or "producer"
    t = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    smid = {}
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            cta = int(row["cta"])
            t[cta][row["group"]][int(row["step"])][row["event"]] = int(row["cycles"])
            smid[cta] = row["smid"]
    if not t:
        sys.exit("no stamps in " + args.csv)
    split = any("maxima_done" in ev for c in t.values() for g in c.values() for ev in g.values())
    loop, what = (LOOP_SPLIT, WHAT_SPLIT) if split else (LOOP, WHAT)
    if split:
        print("split order (maxima_done stamped): the softmax waits for P_{j-1}V_{j-1} inside")

    def loop_steps(steps):
        """Steps of the main loop (k_wait stamped), without the last-P V row."""
        return sorted(s for s, ev in steps.items() if "k_wait" in ev)

    def steady(steps):
        n = loop_steps(steps)
        return [s for s in n if s >= args.skip]

    groups = sorted({g for c in t.values() for g in c if g != "producer"})
    print(f"{len(t)} CTAs (SMs {', '.join(smid[c] for c in sorted(t))}), warpgroups "
          f"{', '.join(groups)}; steady state = steps >= {args.skip}, last-P V row excluded")

    # 1. Consecutive events of a steady step, per warpgroup.
    for g in groups:
        header(f"warpgroup {g}: cycles from the previous event (steady steps)")
        per = defaultdict(list)
        for c in t.values():
            steps = c.get(g, {})
            n = set(loop_steps(steps))
            for s in steady(steps):
                ev = steps[s]
                for a, b in zip(loop, loop[1:]):
                    if a in ev and b in ev:
                        per[b].append(ev[b] - ev[a])
                if s + 1 in n and "softmax_done" in ev:
                    per["k_wait+1"].append(steps[s + 1]["k_wait"] - ev["softmax_done"])
                if s + 1 in n:
                    per["period"].append(steps[s + 1]["k_wait"] - ev["k_wait"])
        for e in loop[1:] + ["k_wait+1"]:
            line(f"-> {e:14} {what[e]}", per[e])
        line("step period (k_wait to k_wait)", per["period"])

    # 2-4. Turns, hand-offs, S latency. Turn order: 0 at step j, 1 at step j, 0 at step j + 1.
    header("the ping-pong (steady steps)")
    turn = defaultdict(list)
    bar_wait, s_lat, s_from_turn, chain = (defaultdict(list) for _ in range(4))
    cycle = []  # per CTA-step: (turn0, gap 0->1, turn1, gap 1->0), wg0's turn_begun to its next
    for c in t.values():
        for g in groups:
            steps = c.get(g, {})
            for s in steady(steps):
                ev = steps[s]
                turn[g].append(ev["turn_ended"] - ev["turn_begun"])
                bar_wait[g].append(ev["turn_begun"] - ev["packed"])
                s_lat[g].append(ev["s_landed"] - ev["scores_issued"])
                s_from_turn[g].append(ev["s_landed"] - ev["turn_begun"])
                if s + 1 in steps and "packed" in steps[s + 1]:
                    # S_j landed .. ready to issue S_{j+1}: the softmax chain (s16 study (ii))
                    chain[g].append(steps[s + 1]["packed"] - ev["s_landed"])
        if "0" in c and "1" in c:
            w0, w1 = c["0"], c["1"]
            for s in steady(w0):
                if s in w1 and s + 1 in w0 and "turn_begun" in w1[s] and "turn_begun" in w0[s + 1]:
                    cycle.append((w0[s]["turn_ended"] - w0[s]["turn_begun"],
                                  w1[s]["turn_begun"] - w0[s]["turn_ended"],
                                  w1[s]["turn_ended"] - w1[s]["turn_begun"],
                                  w0[s + 1]["turn_begun"] - w1[s]["turn_ended"]))
    for g in groups:
        line(f"wg{g} turn (turn_begun -> turn_ended)", turn[g])
    for g in groups:
        line(f"wg{g} wait at bar.sync (packed -> turn_begun)", bar_wait[g])
    line("gap: wg0 turn_ended -> wg1 turn_begun", [x[1] for x in cycle])
    line("gap: wg1 turn_ended -> wg0 next turn_begun", [x[3] for x in cycle])
    for g in groups:
        line(f"wg{g} S issued -> S landed", s_lat[g])
        line(f"wg{g} turn_begun -> S landed", s_from_turn[g])
        line(f"wg{g} S landed -> next S ready (packed)", chain[g])

    # 5. How the turns tile the step: wg0 turn, gap, wg1 turn, gap = one period, exactly (so
    #    the means add up; medians do not).
    header("the CTA-step (wg0 turn_begun to its next)")
    if cycle:
        tensor = 4 * args.pipe  # S and P V of two warpgroups
        periods = [sum(x) for x in cycle]
        line("step period", periods)
        m = [statistics.fmean(x[i] for x in cycle) for i in range(4)]
        print(f"  means: turn0 {m[0]:.0f} + gap {m[1]:.0f} + turn1 {m[2]:.0f} + gap {m[3]:.0f} "
              f"= {sum(m):.0f}: turns {m[0] + m[2]:.0f} ({100 * (m[0] + m[2]) / sum(m):.0f}%), "
              f"gaps {m[1] + m[3]:.0f}")
        print(f"  tensor work a CTA-step {tensor:.0f} (4 batches x {args.pipe:.0f}): pipe idle "
              f"~ mean period - {tensor:.0f} = {sum(m) - tensor:.0f} (ncu: 525 ours, 341 FA4)")
    else:
        print("  (needs both warpgroups in ping-pong)")

    # 6. A FIFO model of the tensor pipe: batches start at max(issue, previous end) and run
    #    args.pipe cycles; S_j issues at turn_begun, P V at v_full (the first HGMMA follows each
    #    within a few instructions). Idle = the model's gaps; checked against S landing.
    header("tensor-pipe model (FIFO, --pipe cycles a batch), steady steps")
    idle_before = defaultdict(list)   # idle just before a batch, by kind
    late = []                         # observed s_landed - modelled S end
    idle_frac = []
    for c in t.values():
        batches = []
        for g in groups:
            steps = c.get(g, {})
            for s, ev in steps.items():
                if "turn_begun" in ev and "scores_issued" in ev:
                    batches.append((ev["turn_begun"], "S", g, s))
                if "v_full" in ev and "turn_ended" in ev:
                    batches.append((ev["v_full"], "PV", g, s))
        batches.sort()
        end = None
        first_steady = last_steady = None
        busy = idle = 0
        for issue, kind, g, s in batches:
            start = issue if end is None else max(issue, end)
            gap = 0 if end is None else start - end
            end = start + args.pipe
            steady_step = s >= args.skip and s in loop_steps(c[g])
            if steady_step:
                idle_before[kind + " wg" + g].append(gap)
                idle += gap
                busy += args.pipe
                if kind == "S":
                    late.append(c[g][s]["s_landed"] - end)
        if busy:
            idle_frac.append(idle / (idle + busy))
    for k in sorted(idle_before):
        line(f"idle before {k}", idle_before[k])
    line("S landed - modelled S end (wake-up, error)", late)
    if idle_frac:
        f = statistics.median(idle_frac)
        print(f"  modelled idle share of steady steps: {100 * f:.1f}% "
              f"(~{f / (1 - f) * 4 * args.pipe:.0f} cycles a CTA-step; ncu: 525 ours, 341 FA4)")

    # Producer: its wait for a free stage and the lead of K_j over the consumers' need.
    prod = [c["producer"] for c in t.values() if "producer" in c]
    if prod:
        header("producer (steady steps)")
        kwait, kv, lead = [], [], []
        for c in t.values():
            p = c.get("producer", {})
            for s, ev in p.items():
                if s < args.skip or "p_k_issue" not in ev:
                    continue
                kwait.append(ev["p_k_issue"] - ev["p_k_wait"])
                if "p_v_issue" in ev:
                    kv.append(ev["p_v_issue"] - ev["p_k_issue"])
                w0 = c.get("0", {}).get(s, {})
                if "k_wait" in w0:
                    lead.append(w0["k_wait"] - ev["p_k_issue"])
        line("K stage wait (p_k_wait -> p_k_issue)", kwait)
        line("K issue -> V issue (V stage wait)", kv)
        line("K_j issued -> wg0 wants K_j (k_wait)", lead)


if __name__ == "__main__":
    main()
