#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The ncu means a row and variant (ms) of every OUTDIR/*.log's "A1 ROW 1.62ms ..." lines
(bench/experiments/ncu_kernel_ab.sh's and patch_check_ncu.sh's), with A/B - 1:
    python3 bench/experiments/ncu_means.py OUTDIR"""
import re, sys, pathlib, statistics
for log in sorted(pathlib.Path(sys.argv[1]).glob("*.log")):
    runs = {}
    for line in log.read_text().splitlines():
        m = re.match(r"(?:\[\d+ s\] )?([AB])\d (\S+) (.*)", line)
        if not m:
            continue
        scale = {"n": 1e-6, "u": 1e-3, "m": 1.0, "s": 1e3}  # ncu's unit, to ms
        values = [float(v) * scale[u[0]] for v, u in
                  (re.fullmatch(r"([0-9.]+)([a-z]+)", x).groups() for x in m.group(3).split()
                   if re.fullmatch(r"[0-9.]+[nums][a-z]*", x))]
        runs.setdefault((m.group(2), m.group(1)), []).extend(values)
    for (row, variant) in sorted(runs):
        if variant != "A" or (row, "B") not in runs or not runs[(row, "A")] or not runs[(row, "B")]:
            continue
        a, b = statistics.mean(runs[(row, "A")]), statistics.mean(runs[(row, "B")])
        print(f"{log.stem:14s} {row:40s} A {a:.4f} B {b:.4f} ms  A/B-1 {100 * (a / b - 1):+.2f}%"
              f"  (n {len(runs[(row, 'A')])}/{len(runs[(row, 'B')])})")
