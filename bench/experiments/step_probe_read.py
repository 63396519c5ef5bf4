#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads dkdv_step_probe.patch's lines ("probe cta C wg G step S: t0 ... t9", clock64 of one
SM) and prints, per warpgroup, the median cycles between the probe points over the steps and
CTAs, and the skew between the two warpgroups at each point (wg1 - wg0).

    python3 bench/experiments/step_probe_read.py FILE...

Points: 0 step entry (after the ring's full wait), 1 after the runs test, 2 S^T landed,
3 dP^T landed, 4 dS stored and the leading products issued, 5 past the dS barrier (1),
6 dQ (and by role dV, dK) waited, 7 dQ staged, 8 past barrier 3 / reduction issue,
9 the step's last wgmma wait done. dkdv_step_probe_light.patch's lines ("probe cta C wg G warp W
step S: t0 ... t3", every consumer warp's first lane) hold four points: entry (past the runs
test), the dS barrier's
approach (before the reducer's wait for its previous boxes), its arrival and its exit; for them
it also prints each warp's wait at the barrier and how long before the last warp it arrives.
The four-point form's exit is not the barrier's: its BAR.SYNC.DEFER_BLOCKING let the next
clock read issue before the barrier completed (s66: the early warpgroup "left" ~500 cycles
before the late one arrived). dkdv_step_probe_timeline.patch's lines hold eight points: the
loop's top (before the ring's full wait), entry (past the runs test), dP^T waited, dS ready,
the dS barrier's arrival, dQ waited (the first point that the barrier's completion orders),
dQ staged and handed on, and the step's last wgmma wait; for them it prints how long before
the CTA's last warp each warp arrives at the barrier."""
import collections
import re
import statistics
import sys

NAMES = {10: ["entry", "runs", "S^T in", "dP^T in", "dS out", "dS barrier", "dQ waited",
              "dQ staged", "bar 3 / reduce", "wait<0>"],
         4: ["entry", "dS ready", "barrier in", "barrier out"],
         8: ["top", "entry", "dP^T in", "dS ready", "barrier in", "dQ waited", "staged",
             "end"]}
ARRIVAL = {4: 2, 8: 4}  # the dS barrier's arrival point


def main(paths):
    rows = collections.defaultdict(dict)  # (file, cta, step, warp) -> wg -> [t0..]
    for path in paths:
        for line in open(path):
            m = re.match(r"probe cta (\d+) wg (\d+)(?: warp (\d+))? step (\d+): (.*)", line)
            if m:
                vals = [int(x) for x in m.group(5).split()]
                key = (path, int(m.group(1)), int(m.group(4)), int(m.group(3) or 0))
                rows[key][int(m.group(2))] = vals
    if not rows:
        print("no probe lines")
        return 1
    keys = sorted(rows)
    points = {len(v) for r in rows.values() for v in r.values()}
    if len(points) != 1 or next(iter(points)) not in NAMES:
        print(f"lines of mixed or unknown lengths: {sorted(points)}")
        return 1
    names = NAMES[next(iter(points))]
    print(f"{len(keys)} (file, CTA, step, warp) rows, {len(names)} points")
    for wg in (0, 1):
        print(f"\nwarpgroup {wg}: median cycles from the previous point (and the step, entry to next entry)")
        for i in range(1, len(names)):
            d = [rows[k][wg][i] - rows[k][wg][i - 1] for k in keys if wg in rows[k]]
            if not d:
                continue
            print(f"  {names[i - 1]:>15s} -> {names[i]:<15s} {statistics.median(d):7.0f}")
        steps = []
        for (f, c, s, w) in keys:
            nxt = (f, c, s + 1, w)
            if nxt in rows and wg in rows[nxt] and wg in rows[(f, c, s, w)]:
                steps.append(rows[nxt][wg][0] - rows[(f, c, s, w)][wg][0])
        if steps:
            print(f"  step (entry to entry) median {statistics.median(steps):.0f}, "
                  f"min {min(steps)}, max {max(steps)}")
    print("\nskew wg1 - wg0 at each point (median, cycles; > 0: warpgroup 1 later)")
    for i in range(len(names)):
        d = [rows[k][1][i] - rows[k][0][i] for k in keys if 0 in rows[k] and 1 in rows[k]]
        if not d:
            continue
        print(f"  {names[i]:>15s} {statistics.median(d):7.0f}  (min {min(d)}, max {max(d)})")
    if len(names) in ARRIVAL:
        arrival = ARRIVAL[len(names)]
        # Per warp: its wait at the barrier, and how early it arrives against the step's last
        # arrival over the CTA's eight warps (0: the last; the last one's wait is the barrier's
        # own latency).
        last = collections.defaultdict(int)
        for (f, c, s, w), by_wg in rows.items():
            for vals in by_wg.values():
                last[(f, c, s)] = max(last[(f, c, s)], vals[arrival])
        print("\nper warp (median cycles): wait at the barrier (arrival -> exit; 4 points only),"
              " arrival before the last")
        for wg in (0, 1):
            for w in sorted({k[3] for k in keys}):
                ks = [k for k in keys if k[3] == w and wg in rows[k]]
                if ks:
                    wait = (statistics.median(rows[k][wg][3] - rows[k][wg][2] for k in ks)
                            if len(names) == 4 else float("nan"))
                    early = statistics.median(last[k[:3]] - rows[k][wg][arrival] for k in ks)
                    print(f"  wg {wg} warp {w}: wait {wait:6.0f}   before the last {early:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
