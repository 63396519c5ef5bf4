#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Summarises Nsight Compute's per-instruction warp-stall samples of one kernel: the SASS
source page as CSV (bench/profile_on_gpu.sh with VARATTN_PROFILE_SOURCE=1 writes it gzipped).

    python3 bench/sass_stalls.py long_d128.sass.csv.gz [--top 30] [--listing out.txt]

Prints the stall reasons over all samples, then the instructions with the most samples and
their top reasons; --listing writes every instruction with its samples and execution count
(in address order), to read where a wait sits relative to the code around it.
"""
import argparse
import collections
import csv
import gzip
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="ncu --page source --print-source sass --csv output (.gz or not)")
    ap.add_argument("--top", type=int, default=30, help="instructions to list (default 30)")
    ap.add_argument("--listing", help="write the whole annotated SASS listing here")
    args = ap.parse_args()
    opener = gzip.open if args.csv.endswith(".gz") else open
    with opener(args.csv, "rt", newline="") as f:
        rows = list(csv.reader(f))
    header_at = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
    header, data = rows[header_at], [r for r in rows[header_at + 1:] if len(r) == len(rows[header_at])]
    col = {h: i for i, h in enumerate(header)}
    samples = col["Warp Stall Sampling (All Samples)"]
    reasons = [(h[len("stall_"):], i) for i, h in enumerate(header)
               if h.startswith("stall_") and "Not Issued" not in h]

    def count(row, index):
        return int(row[index] or 0)

    total = sum(count(r, samples) for r in data)
    if total == 0:
        print("no samples", file=sys.stderr)
        return 1
    by_reason = collections.Counter({name: sum(count(r, i) for r in data) for name, i in reasons})
    print(f"{total} samples")
    for reason, n in by_reason.most_common(12):
        print(f"  {reason:20s} {n:9d} {100 * n / total:5.1f}%")

    def top_reasons(row):
        pairs = sorted(((count(row, i), name) for name, i in reasons), reverse=True)[:3]
        return " ".join(f"{name}:{n}" for n, name in pairs if n > 0)

    print(f"\ntop {args.top} instructions (address, samples, share, SASS, reasons):")
    for r in sorted(data, key=lambda r: -count(r, samples))[: args.top]:
        n = count(r, samples)
        print(f"  {r[0][-6:]} {n:8d} {100 * n / total:5.1f}%  {r[1].strip()[:64]:64s} {top_reasons(r)}")
    if args.listing:
        executed = col.get("Instructions Executed")
        with open(args.listing, "w") as out:
            for r in data:
                runs = count(r, executed) if executed is not None else 0
                out.write(f"{r[0][-6:]} {count(r, samples):8d} {runs:10d}  {r[1].strip()[:72]:72s} "
                          f"{top_reasons(r)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
