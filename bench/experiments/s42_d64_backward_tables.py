#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compact tables from the pages s42_d64_backward_profile.sh exports (reads CSVs only; no ncu,
no GPU, so it also runs here on what came back):

    durations NAME=RAW.csv[.gz] ...   every profiled kernel's gpu__time_duration in launch order,
                                      then the kernels of one call (grouped from each launch of
                                      the first kernel of a call) with the median over calls
    metrics NAME=RAW.csv[.gz] ...     one launch each: s32's metric list side by side, the warp
                                      stall ratios, and per-CTA figures
    waits NAME=SASS.csv[.gz],RAW.csv[.gz] ...
                                      the wait sites (BAR, wgmma waits, mbarrier waits) of a SASS
                                      source page with their samples and cycles a warp-execution
    metric-list                       S32_METRICS comma-separated, for ncu --metrics

RAW is `ncu --import R --page raw --csv` (one row a launch, a units row under the header);
SASS is `ncu --import R --page source --print-source sass --csv` (bench/sass_stalls.py reads it).
"""
import argparse
import collections
import csv
import gzip
import math
import pathlib
import re
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import sass_stalls  # noqa: E402  (bench/sass_stalls.py)

# The metrics of the thirty-second session's table (bench/results/backward_vs_fa4_profile_s32.txt),
# in its order, and a few more for the per-CTA figures.
S32_METRICS = [
    "gpu__time_duration.sum",
    "sm__cycles_active.avg",
    "smsp__inst_executed.sum",
    "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed",
    "sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active",
    "smsp__issue_active.avg.pct_of_peak_sustained_active",
    "lts__throughput.avg.pct_of_peak_sustained_elapsed",
    "launch__grid_size",
    "launch__block_size",
    "launch__registers_per_thread",
    "smsp__cycles_active.avg",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum",
    "smsp__thread_inst_executed_per_inst_executed.ratio",
    "dram__bytes_read.sum",
    "gpc__cycles_elapsed.max",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "sm__warps_active.sum",
    "device__attribute_multiprocessor_count",
]
STALL = re.compile(r"^smsp__average_warps_issue_stalled_(\w+)_per_issue_active\.ratio$")
TIME_UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
              "second": 1e6, "s": 1e6}


def read_csv_rows(path):
    """The CSV rows from the header row ("ID" first, or "Address" for a source page) on:
    ncu's ==PROF== / ==WARNING== lines above it are dropped."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        lines = f.read().splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    return [] if at is None else list(csv.reader(lines[at:]))


def number(text):
    try:
        return float(text.replace(",", ""))
    except (AttributeError, ValueError):
        return math.nan


def raw_page(path):
    """[{column: (text, unit)}], one per launch in ID order."""
    rows = read_csv_rows(path)
    if not rows:
        return []
    header = rows[0]
    has_units = len(rows) > 1 and rows[1] and rows[1][0] == ""
    units = rows[1] if has_units else [""] * len(header)
    out = []
    for r in rows[2 if has_units else 1:]:
        if len(r) != len(header):
            continue
        out.append({h: (v, u) for h, v, u in zip(header, r, units)})
    out.sort(key=lambda launch: number(launch.get("ID", ("0", ""))[0]))
    return out


def short_name(name):
    m = re.search(r"FlashAttention[A-Za-z0-9]+", name)
    if m:
        return m.group(0)
    base = re.sub(r"^void\s+", "", name)
    base = re.split(r"[<(]", base, maxsplit=1)[0].split("::")[-1].strip()
    functor = re.search(r"\w*Functor\w*", name)
    if functor and functor.group(0) != base:
        base += "[" + functor.group(0).split("::")[-1] + "]"
    return base[:56]


def duration_us(launch):
    text, unit = launch.get("gpu__time_duration.sum", ("", ""))
    return number(text) * TIME_UNITS.get(unit.strip(), math.nan)


def cmd_durations(args):
    for spec in args.reports:
        label, path = spec.split("=", 1)
        launches = raw_page(path)
        print(f"\n### {label}: {len(launches)} kernels profiled ({path.split('/')[-1]})")
        rows = [(short_name(lc.get("Kernel Name", ("?", ""))[0]), duration_us(lc),
                 lc.get("Grid Size", ("", ""))[0], lc.get("Block Size", ("", ""))[0])
                for lc in launches]
        for i, (name, us, grid, block) in enumerate(rows):
            print(f"  {i:3d} {name:56s} {us:10.1f} us  grid {grid} block {block}")
        # One call: from a launch of its first kernel to the next such launch.
        starts = [s for s in args.start.split(",") if any(re.search(s, n) for n, *_ in rows)]
        if not starts:
            print(f"  (no launch matches {args.start}: no per-call table)")
            continue
        groups, current = [], None
        for name, us, *_ in rows:
            if re.search(starts[0], name):
                current = []
                groups.append(current)
            if current is not None:
                current.append((name, us))
        sequences = collections.Counter(tuple(n for n, _ in g) for g in groups)
        # The most frequent sequence; among equals the longest (a call cut off by the launch
        # count is shorter).
        common, count = max(sequences.items(), key=lambda kv: (kv[1], len(kv[0])))
        full = [g for g in groups if tuple(n for n, _ in g) == common]
        print(f"  one call ({count} of {len(groups)} calls alike; median, min-max, us):")
        for i, name in enumerate(common):
            values = [g[i][1] for g in full]
            print(f"    {name:56s} {statistics.median(values):10.1f}  "
                  f"{min(values):.1f}-{max(values):.1f}")
        totals = [sum(us for _, us in g) for g in full]
        skip = re.compile(args.not_backward) if args.not_backward else None
        bwd = [sum(us for n, us in g if not (skip and skip.search(n))) for g in full]
        print(f"    {'all kernels of the call':56s} {statistics.median(totals):10.1f}")
        if skip:
            print(f"    {'the backward (less ' + args.not_backward + ')':56s} "
                  f"{statistics.median(bwd):10.1f}")


def cmd_metrics(args):
    names, launches = [], []
    for spec in args.reports:
        label, path = spec.split("=", 1)
        page = raw_page(path)
        if not page:
            print(f"{label}: no launch in {path}")
            continue
        names.append(label)
        launches.append(page[0])
    if not launches:
        return
    print("\n| metric | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))

    def cell(launch, metric):
        text, unit = launch.get(metric, ("-", ""))
        return f"{text} {unit}".strip()
    for metric in S32_METRICS:
        print(f"| {metric} | " + " | ".join(cell(lc, metric) for lc in launches) + " |")
    stalls = sorted({h for lc in launches for h in lc if STALL.match(h)},
                    key=lambda h: -max(number(lc.get(h, ("0", ""))[0]) or 0 for lc in launches))
    for metric in stalls:
        print(f"| stall {STALL.match(metric).group(1)} (warps a issue) | "
              + " | ".join(cell(lc, metric) for lc in launches) + " |")

    def per_cta(launch):
        grid = number(launch.get("launch__grid_size", ("nan", ""))[0])
        sms = number(launch.get("device__attribute_multiprocessor_count", ("132", ""))[0])
        warps = number(launch.get("launch__block_size", ("nan", ""))[0]) / 32
        cycles = number(launch.get("sm__cycles_active.avg", ("nan", ""))[0])
        warp_cycles = number(launch.get("sm__warps_active.sum", ("nan", ""))[0])
        inst = number(launch.get("smsp__inst_executed.sum", ("nan", ""))[0])
        return (cycles * sms / grid, warp_cycles / (grid * warps), inst / grid)
    figures = [per_cta(lc) for lc in launches]
    print("| CTA life, cycles (sm__cycles_active.avg x SMs / grid: one CTA an SM) | "
          + " | ".join(f"{f[0]:,.0f}" for f in figures) + " |")
    print("| mean warp life, cycles (sm__warps_active.sum / (grid x warps a CTA)) | "
          + " | ".join(f"{f[1]:,.0f}" for f in figures) + " |")
    print("| instructions a CTA (smsp__inst_executed.sum / grid) | "
          + " | ".join(f"{f[2]:,.0f}" for f in figures) + " |")


WAITS = ("BAR.SYNC", "BAR.RED", "BAR.ARV", "WARPGROUP.DEPBAR", "SYNCS.PHASECHK", "DEPBAR")


def wait_reason(op):
    """The stall reason a wait site's cost shows as: named barriers and wgmma waits 'barrier',
    mbarrier try-waits and scoreboard waits 'long_sb'."""
    return "barrier" if op.startswith(("BAR.", "WARPGROUP.DEPBAR")) else "long_sb"


def cmd_waits(args):
    """Each wait site's samples: its own, plus its reason's samples on the next few rows (up to
    args.after, stopping at the next wait site), where a wait's stall is recorded: a BAR.SYNC's
    on the first row after it that cannot issue (s32: ours' BAR 1 at 7bef30, stall on 7bef40;
    FA4's BAR 5 at 7b6320, stall on the HGMMA at 7b6340)."""
    for spec in args.reports:
        label, paths = spec.split("=", 1)
        sass_path, _, raw_path = paths.partition(",")
        kernel = sass_stalls.Kernel(sass_path)
        if kernel.total == 0:
            print(f"\n### {label}: no samples in {sass_path}")
            continue
        cps = args.cps
        if cps is None and raw_path:
            page = raw_page(raw_path)
            if page:
                cps = number(page[0].get("sm__warps_active.sum", ("nan", ""))[0]) / kernel.total
        cps = cps if cps and not math.isnan(cps) else math.nan
        column = dict(kernel.reasons)
        print(f"\n### {label}: {kernel.total} samples, {cps:,.0f} warp-cycles a sample "
              "(sm__warps_active.sum / samples; s32 calibrated on consumer warps: see the .md)")
        print("  cycles a warp-execution: 'reason' = the wait's reason on it and the rows after; "
              "'all' = + its own other samples")
        print(f"  {'addr':6s} {'executions':>10s} {'samples':>8s} {'share':>6s} {'reason':>7s} "
              f"{'all':>6s}  SASS (reason)  top reasons of the window")
        data = kernel.data
        for i, r in enumerate(data):
            op = kernel.opcode(r)
            if not op.startswith(WAITS):
                continue
            reason = wait_reason(op)
            window = [r]
            for x in data[i + 1:i + 1 + args.after]:
                if kernel.opcode(x).startswith(WAITS):
                    break
                window.append(x)
            on_reason = sum(kernel.count(x, column[reason]) for x in window) if reason in column else 0
            own_other = kernel.samples(r) - (kernel.count(r, column[reason]) if reason in column else 0)
            executed = kernel.executed(r)
            if on_reason + own_other < args.min_share * kernel.total or executed == 0:
                continue
            print(f"  {r[0][-6:]} {executed:10d} {on_reason + own_other:8d} "
                  f"{100 * (on_reason + own_other) / kernel.total:5.2f}% "
                  f"{on_reason * cps / executed:7.0f} {(on_reason + own_other) * cps / executed:6.0f}  "
                  f"{r[1].strip()[:44]:44s} ({reason})  {kernel.top_reasons(window, 2)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("durations")
    d.add_argument("reports", nargs="+", help="NAME=RAW.csv[.gz]")
    d.add_argument("--start", default="build_backward_lists,delta_kernel",
                   help="comma-separated regexes; the first that matches a launch starts a call")
    d.add_argument("--not-backward", default="", help="regex of a call's kernels left out of "
                   "the backward subtotal (e.g. FlashAttentionForward)")
    m = sub.add_parser("metrics")
    m.add_argument("reports", nargs="+", help="NAME=RAW.csv[.gz]")
    w = sub.add_parser("waits")
    w.add_argument("reports", nargs="+", help="NAME=SASS.csv[.gz],RAW.csv[.gz]")
    w.add_argument("--min-share", type=float, default=0.002,
                   help="list a wait site holding at least this share of the samples (0.002)")
    w.add_argument("--cps", type=float, help="warp-cycles a sample (default: from RAW)")
    w.add_argument("--after", type=int, default=3, help="rows after a wait that may hold its stall (3)")
    sub.add_parser("metric-list", help="print S32_METRICS comma-separated (for ncu --metrics)")
    args = ap.parse_args(argv)
    if args.command == "metric-list":
        print(",".join(S32_METRICS))
        return 0
    {"durations": cmd_durations, "metrics": cmd_metrics, "waits": cmd_waits}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
