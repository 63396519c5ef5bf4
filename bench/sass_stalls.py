#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Summarises Nsight Compute's per-instruction warp-stall samples and execution counts of one
kernel: the SASS source page as CSV (bench/profile_on_gpu.sh with VARATTN_PROFILE_SOURCE=1
writes it gzipped; `ncu --import R.ncu-rep --page source --csv --print-source sass` makes it
from any report, a peer's kernel too).

    python3 bench/sass_stalls.py long_d128.sass.csv.gz [--top 30] [--listing out.txt]
    python3 bench/sass_stalls.py ours.sass.csv --versus fa4.sass.csv --per 419840 [--loop N]

Prints the stall reasons over all samples, then the instructions with the most samples and
their top reasons; --listing writes every instruction with its samples and execution count
(in address order), to read where a wait sits relative to the code around it.
--per N divides execution counts by N (e.g. a kernel's CTA-steps: 16 heads x 128 key tiles x
205 steps = 419,840 for long-d128's backward) and prints instructions by opcode, beside a
second kernel's with --versus. --loop N lists the code executed exactly N times (a loop body
run once a warp a step: N = CTA-steps x warps) as segments between wgmma issues, waits and
barriers, each with its instruction count, samples and reasons: where the tensor pipe's issue
waits on other work. --memory prints, by opcode, the shared-memory wavefronts and the L2
sectors of global accesses against ncu's ideal for them, and the instructions with the most
excess: bank conflicts and split accesses by instruction (s47: the d256 dQ staging's STS.64 at
3.88 wavefronts against an ideal 1.94). bench/experiments/s46_d256_backward_tables.py smem
has the same columns by class (STS, LDS, HGMMA shapes) with per-CTA-step figures for the
backward's pages.
"""
import argparse
import collections
import csv
import gzip
import sys


class Kernel:
    """One kernel's SASS rows: address, source, samples, executions, samples per reason."""

    def __init__(self, path):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", newline="") as f:
            rows = list(csv.reader(f))
        at = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
        header = rows[at]
        self.data = [r for r in rows[at + 1:] if len(r) == len(header)]
        col = {h: i for i, h in enumerate(header)}
        self.col = col
        self.samples_at = col["Warp Stall Sampling (All Samples)"]
        self.executed_at = col.get("Instructions Executed")
        self.reasons = [(h[len("stall_"):], i) for i, h in enumerate(header)
                        if h.startswith("stall_") and "Not Issued" not in h]
        self.total = sum(self.samples(r) for r in self.data)

    @staticmethod
    def count(row, index):
        return int((row[index] or "0").replace(",", "")) if index is not None else 0

    def samples(self, row):
        return self.count(row, self.samples_at)

    def executed(self, row):
        return self.count(row, self.executed_at)

    @staticmethod
    def opcode(row):
        words = row[1].split()
        if words and words[0].startswith("@"):
            words = words[1:]
        return words[0] if words else "?"

    def top_reasons(self, rows, n=3):
        by = collections.Counter()
        for r in rows:
            for name, i in self.reasons:
                by[name] += self.count(r, i)
        return " ".join(f"{name}:{100 * v / max(self.total, 1):.2f}%"
                        for name, v in by.most_common(n) if v > 0)

    def by_opcode(self):
        executed, sampled = collections.Counter(), collections.Counter()
        for r in self.data:
            op = self.opcode(r).split(".")[0]
            executed[op] += self.executed(r)
            sampled[op] += self.samples(r)
        return executed, sampled


def print_opcodes(kernels, names, per):
    counts = [k.by_opcode() for k in kernels]
    totals = [sum(e.values()) / per for e, _ in counts]
    print(f"\ninstructions executed / {per} ({' | '.join(names)}), share of samples:")
    print(f"  {'all':10s} " + " ".join(f"{t:10.1f}" for t in totals))
    ops = sorted(set().union(*(e for e, _ in counts)), key=lambda o: -sum(e[o] for e, _ in counts))
    for op in ops[:40]:
        cells = " ".join(f"{e[op] / per:10.1f}" for e, _ in counts)
        shares = " ".join(f"{100 * s[op] / max(k.total, 1):5.1f}%" for k, (_, s) in zip(kernels, counts))
        print(f"  {op:10s} {cells}   {shares}")


def print_memory(kernel, top=8):
    """Shared wavefronts and global L2 sectors against ncu's ideal, by opcode and by instruction."""
    pairs = (("L1 Wavefronts Shared", "L1 Wavefronts Shared Ideal", "shared wavefronts"),
             ("L2 Theoretical Sectors Global", "L2 Theoretical Sectors Global Ideal",
              "global L2 sectors"))
    for have, ideal, title in pairs:
        if have not in kernel.col or ideal not in kernel.col:
            continue
        h, i = kernel.col[have], kernel.col[ideal]
        by = collections.defaultdict(lambda: [0, 0, 0])
        excess = []
        for r in kernel.data:
            w, wi = kernel.count(r, h), kernel.count(r, i)
            if w == 0 or kernel.opcode(r).startswith("HGMMA"):  # wgmma operand reads: not ours
                continue
            cell = by[kernel.opcode(r)]
            cell[0] += kernel.executed(r)
            cell[1] += w
            cell[2] += wi
            if w > wi:
                excess.append((w - wi, r))
        print(f"\n{title} by opcode (executed, actual, ideal, actual / executed, ideal / executed):")
        for op, (ex, w, wi) in sorted(by.items(), key=lambda kv: -kv[1][1])[:12]:
            print(f"  {op:24s} {ex:13,d} {w:14,d} {wi:14,d}  {w / max(ex, 1):6.2f} {wi / max(ex, 1):6.2f}")
        for extra, r in sorted(excess, key=lambda e: -e[0])[:top]:
            print(f"  excess {extra:13,d}  {r[0][-6:]}  {r[1].strip()[:70]}")


def print_loop(kernel, runs, smsp_cycles=None):
    """The rows executed `runs` times, cut at each wgmma, wgmma wait, barrier and mbarrier op.
    With smsp_cycles (the kernel's sub-partition active cycles, summed over the SMs'
    sub-partitions: ncu's smsp__cycles_active.avg x 4 x SMs), each share also as cycles a run:
    a sample stands for smsp_cycles / all samples cycles (NOTES s70 1 compares two kernels'
    loop steps this way)."""
    print(f"\nloop body (rows executed {runs} times): segments between wgmma issues and waits")
    segment, instructions, looped = [], 0, 0
    per_run = smsp_cycles / max(kernel.total, 1) / runs if smsp_cycles else 0

    def cost(rows):
        n = sum(kernel.samples(r) for r in rows)
        text = f"{100 * n / max(kernel.total, 1):5.2f}%"
        return text + (f" {n * per_run:7.1f} cyc" if per_run else "")

    def flush():
        if segment:
            ops = collections.Counter(kernel.opcode(r).split(".")[0] for r in segment)
            print(f"  {segment[0][0][-6:]}  {len(segment):4d} instr {cost(segment)}  "
                  f"{dict(ops.most_common(5))}  {kernel.top_reasons(segment)}")
            segment.clear()

    for r in kernel.data:
        if kernel.executed(r) != runs:
            continue
        instructions += 1
        looped += kernel.samples(r)
        op = kernel.opcode(r)
        if op.split(".")[0] in ("HGMMA", "BAR", "SYNCS") or op.startswith("WARPGROUP.DEPBAR"):
            flush()
            print(f"  {r[0][-6:]}  {r[1].strip()[:60]:60s} {cost([r])}  "
                  f"{kernel.top_reasons([r], 2)}")
        else:
            segment.append(r)
    flush()
    print(f"  {instructions} instructions a run; {100 * looped / max(kernel.total, 1):.1f}% of "
          f"the samples" + (f", {looped * per_run:.1f} cycles a run" if per_run else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="ncu --page source --print-source sass --csv output (.gz or not)")
    ap.add_argument("--top", type=int, default=30, help="instructions to list (default 30)")
    ap.add_argument("--listing", help="write the whole annotated SASS listing here")
    ap.add_argument("--versus", help="a second kernel's CSV, for --per's opcode table")
    ap.add_argument("--per", type=float, help="print executions by opcode divided by this")
    ap.add_argument("--loop", type=int, help="list the rows executed this many times as segments")
    ap.add_argument("--smsp-cycles", type=float,
                    help="with --loop: the kernel's smsp__cycles_active.avg x sub-partitions "
                         "(4 an SM), to print each segment's cycles a run")
    ap.add_argument("--memory", action="store_true",
                    help="shared wavefronts and global L2 sectors against their ideal")
    args = ap.parse_args()
    kernel = Kernel(args.csv)
    if kernel.total == 0:
        print("no samples", file=sys.stderr)
        return 1
    by_reason = collections.Counter({name: sum(kernel.count(r, i) for r in kernel.data)
                                     for name, i in kernel.reasons})
    print(f"{kernel.total} samples")
    for reason, n in by_reason.most_common(12):
        print(f"  {reason:20s} {n:9d} {100 * n / kernel.total:5.1f}%")

    print(f"\ntop {args.top} instructions (address, samples, share, SASS, reasons):")
    for r in sorted(kernel.data, key=lambda r: -kernel.samples(r))[: args.top]:
        n = kernel.samples(r)
        print(f"  {r[0][-6:]} {n:8d} {100 * n / kernel.total:5.1f}%  {r[1].strip()[:64]:64s} "
              f"{kernel.top_reasons([r])}")
    if args.per:
        kernels, names = [kernel], [args.csv.split("/")[-1][:24]]
        if args.versus:
            kernels.append(Kernel(args.versus))
            names.append(args.versus.split("/")[-1][:24])
        print_opcodes(kernels, names, args.per)
    if args.loop:
        print_loop(kernel, args.loop, args.smsp_cycles)
    if args.memory:
        print_memory(kernel)
    if args.listing:
        with open(args.listing, "w") as out:
            for r in kernel.data:
                out.write(f"{r[0][-6:]} {kernel.samples(r):8d} {kernel.executed(r):10d}  "
                          f"{r[1].strip()[:72]:72s} {kernel.top_reasons([r])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
