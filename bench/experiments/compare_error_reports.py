#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares two runs of the backward tests' error-report probe (backward_error_report_probe.patch:
one "errors ..." line a d128 case and run): for each element type, over the cases both runs
have (same description, in order), the median and largest ratio A / B of each gradient's
relative error and worst-row error, and each side's largest.

    python3 bench/experiments/compare_error_reports.py A.txt B.txt
"""
import re
import statistics
import sys

LINE = re.compile(r"errors (\S+) (.*): dq (\S+) dk (\S+) dv (\S+) worst (\S+) (\S+) (\S+)")
NAMES = ["dq", "dk", "dv", "worst dq", "worst dk", "worst dv"]


def load(path):
    cases = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            cases.setdefault((m.group(1), m.group(2)), []).append([float(x) for x in m.groups()[2:]])
    return cases


def main(a_path, b_path):
    a, b = load(a_path), load(b_path)
    for dtype in sorted({k[0] for k in a}):
        pairs = [(x, y) for k in a if k[0] == dtype and k in b for x, y in zip(a[k], b[k])]
        print(f"{dtype}: {len(pairs)} cases in both")
        for i, name in enumerate(NAMES):
            ratios = [x[i] / y[i] for x, y in pairs if y[i] > 0]
            if ratios:
                print(f"  {name:9s} A/B median {statistics.median(ratios):.3f}, max "
                      f"{max(ratios):.3f}; largest A {max(x[i] for x, _ in pairs):.3e}, "
                      f"B {max(y[i] for _, y in pairs):.3e}")
    only = [k for k in a if k not in b]
    print(f"{len(only)} case descriptions in A only (not run in B)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
