#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The top stall sites of ncu source pages (`ncu --section SourceCounters --section
WarpStateStats --page source --print-source sass --csv ... | gzip`), one table a page: each
site's samples, share, executions, SASS and its two main reasons.
    python3 bench/experiments/ncu_source_top_stalls.py A.csv.gz [B.csv.gz ...]
(s46: the d128 dQ writer's A and B pages, hopper_backward_d128_dq_writer.md.)"""
import csv, gzip, sys, io
def load(path):
    lines = gzip.open(path,'rt').read().splitlines()
    i = next(k for k,l in enumerate(lines) if l.startswith('"Address"'))
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[i:]))))
    return rows
for path in sys.argv[1:]:
    rows = load(path)
    tot = sum(int(r["Warp Stall Sampling (All Samples)"] or 0) for r in rows)
    print(path, "samples", tot, "instructions executed", sum(int(r["Instructions Executed"] or 0) for r in rows))
    top = sorted(rows, key=lambda r: -int(r["Warp Stall Sampling (All Samples)"] or 0))[:16]
    for r in top:
        s = int(r["Warp Stall Sampling (All Samples)"] or 0)
        reasons = {k[6:]: int(r[k] or 0) for k in r if k.startswith("stall_") and "Not Issued" not in k}
        best = sorted(reasons.items(), key=lambda kv: -kv[1])[:2]
        print(f'  {r["Address"]:>6} {s:7d} {100*s/tot:5.1f}% exec {r["Instructions Executed"]:>9} {r["Source"][:60]:60s} {best}')
