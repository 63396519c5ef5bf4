#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bench rows of several variants (binaries or settings) run in interleaved rounds, for the
device calls that compare more than an A and a B (gqa_step_order_call.sh,
forward_d80_leads_call.sh).

  variant_rows.py parse RUN.json          # varattn_bench --benchmark_format=json: "row ms" lines
  variant_rows.py table ROWS.txt BASE     # "== order VARIANT round R" headers, then parse's
                                          # lines: a markdown table of each row's mean a
                                          # variant and its change against BASE
"""
import collections
import json
import re
import sys


def parse(path):
    text = open(path).read()
    try:
        rows = json.loads(text[text.find("{"):])["benchmarks"] if "{" in text else []
    except json.JSONDecodeError:  # cut short: the rows written before
        rows = [json.loads(m) for m in re.findall(r'\{\s*"name"[^{}]*\}', text)]
    for b in rows:
        name = re.sub("/min_time:[0-9.]*/manual_time", "", b["name"])
        print(name, "error" if b.get("error_occurred") else "%.4f" % b["real_time"])


def table(path, base):
    times = collections.defaultdict(list)
    variants = []
    variant = None
    for line in open(path):
        m = re.match(r"== order (\S+)", line)
        if m:
            variant = m.group(1)
            if variant not in variants:
                variants.append(variant)
            continue
        parts = line.split()
        if variant is not None and len(parts) == 2 and parts[1] != "error":
            times[(parts[0], variant)].append(float(parts[1]))
    if base not in variants and variants:
        base = variants[0]  # the named base did not run
    print(f"| row (bench ms, mean of rounds; change against {base}) | " + " | ".join(variants) + " |")
    print("|---|" + "---:|" * len(variants))
    for row in sorted({r for r, _ in times}):
        ref = times.get((row, base))
        cells = []
        for v in variants:
            t = times.get((row, v))
            if not t:
                cells.append("-")
                continue
            mean = sum(t) / len(t)
            change = (f" ({100 * (mean / (sum(ref) / len(ref)) - 1):+.1f}%)"
                      if ref and v != base else "")
            cells.append(f"{mean:.4f}{change}")
        print(f"| {row} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "parse":
        parse(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
