#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads dkdv_step_probe.patch's lines ("probe cta C wg G step S: t0 ... t9", clock64 of one
SM) and prints, per warpgroup, the median cycles between the probe points over the steps and
CTAs, and the skew between the two warpgroups at each point (wg1 - wg0).

    python3 bench/experiments/step_probe_read.py FILE...

Points: 0 step entry (after the ring's full wait), 1 after the runs test, 2 S^T landed,
3 dP^T landed, 4 dS stored and the leading products issued, 5 past the dS barrier (1),
6 dQ (and by role dV, dK) waited, 7 dQ staged, 8 past barrier 3 / reduction issue,
9 the step's last wgmma wait done. dkdv_step_probe_light.patch's lines hold four points: entry,
the dS barrier's approach (before the reducer's wait for its previous boxes), its arrival and
its exit."""
import collections
import re
import statistics
import sys

NAMES = {10: ["entry", "runs", "S^T in", "dP^T in", "dS out", "dS barrier", "dQ waited",
              "dQ staged", "bar 3 / reduce", "wait<0>"],
         4: ["entry", "dS ready", "barrier in", "barrier out"]}


def main(paths):
    rows = collections.defaultdict(dict)  # (file, cta, step) -> wg -> [t0..t9]
    for path in paths:
        for line in open(path):
            m = re.match(r"probe cta (\d+) wg (\d+) step (\d+): (.*)", line)
            if m:
                vals = [int(x) for x in m.group(4).split()]
                rows[(path, int(m.group(1)), int(m.group(3)))][int(m.group(2))] = vals
    if not rows:
        print("no probe lines")
        return 1
    keys = sorted(rows)
    points = {len(v) for r in rows.values() for v in r.values()}
    if len(points) != 1 or next(iter(points)) not in NAMES:
        print(f"lines of mixed or unknown lengths: {sorted(points)}")
        return 1
    names = NAMES[next(iter(points))]
    print(f"{len(keys)} (file, CTA, step) rows, {len(names)} points")
    for wg in (0, 1):
        print(f"\nwarpgroup {wg}: median cycles from the previous point (and the step, entry to next entry)")
        for i in range(1, len(names)):
            d = [rows[k][wg][i] - rows[k][wg][i - 1] for k in keys if wg in rows[k]]
            print(f"  {names[i - 1]:>15s} -> {names[i]:<15s} {statistics.median(d):7.0f}")
        steps = []
        for (f, c, s) in keys:
            nxt = (f, c, s + 1)
            if nxt in rows and wg in rows[nxt] and wg in rows[(f, c, s)]:
                steps.append(rows[nxt][wg][0] - rows[(f, c, s)][wg][0])
        if steps:
            print(f"  step (entry to entry) median {statistics.median(steps):.0f}, "
                  f"min {min(steps)}, max {max(steps)}")
    print("\nskew wg1 - wg0 at each point (median, cycles; > 0: warpgroup 1 later)")
    for i in range(len(names)):
        d = [rows[k][1][i] - rows[k][0][i] for k in keys if 0 in rows[k] and 1 in rows[k]]
        print(f"  {names[i]:>15s} {statistics.median(d):7.0f}  (min {min(d)}, max {max(d)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
