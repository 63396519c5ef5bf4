#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Two profiled launches of an ncu details file side by side: the metrics whose ratio is
outside [1 / R, R] (default R = 1.3), grouped by family, each with both values, the ratio and
both values per microsecond of each kernel's own time. The details file is what the profile
scripts write (bench/experiments/backward_profile_lib.sh `profile`: sections headed
"################ NAME: command").

    python3 bench/experiments/ncu_pair_diff.py ncu_details.txt ours_d256 fa4_d256 [--ratio 1.3]
    python3 bench/experiments/ncu_pair_diff.py ncu_details.txt --pairs   # every ours_X / fa4_X

This is how the forty-seventh session found, in s46's file, the d256 kernel's 2-sector
reduction requests (lts__t_requests_srcunit_tex_op_red 1.50x FA4's for 0.72x the sectors) and
its shared-store bank conflicts (12x): read the L2 requests against the sectors, and the bank
conflicts against the wavefronts, not only the totals.
"""
import argparse
import re
import sys

FAMILIES = (
    ("L2 requests and sectors", ("lts__t_requests", "lts__t_sectors", "lts__t_tag", "lts__d_")),
    ("L2 and xbar ports", ("lts__throughput", "lts__xbar", "xbar2lts", "lts2xbar", "l1tex__m_")),
    ("shared memory", ("l1tex__data_bank", "l1tex__data_pipe_lsu_wavefronts_mem_shared",
                       "op_shared", "shared_stsm", "shared_ld", "shared_st")),
    ("global memory (LSU)", ("l1tex__t_", "op_global", "op_ldgsts", "op_tma")),
    ("stalls", ("stall", "pcsamp")),
    ("instructions and pipes", ("inst_executed", "sm__pipe", "sm__inst", "smsp__inst")),
)


def sections(path):
    """{name: {metric: value}} of each '################ NAME: ...' section (first value wins)."""
    text = open(path, encoding="utf-8", errors="replace").read()
    out = {}
    for block in re.split(r"^################ ", text, flags=re.M)[1:]:
        name = block.split(":", 1)[0].strip()
        metrics = {}
        for line in block.splitlines():
            m = re.match(r"\s+([a-z][a-z0-9_.]+)\s+(?:\S+\s+)?([\d,]+(?:\.\d+)?)\s*$", line)
            if m:
                metrics.setdefault(m.group(1), float(m.group(2).replace(",", "")))
        out[name] = metrics
    return out


def family(metric):
    for title, keys in FAMILIES:
        if any(k in metric for k in keys):
            return title
    return None


# (title, numerator, denominator): the quotients that said more than either count in s46's file.
QUOTIENTS = (
    ("L2 sectors a reduction request (4.0: whole lines)", "lts__t_sectors_srcunit_tex_op_red.sum",
     "lts__t_requests_srcunit_tex_op_red.sum"),
    ("L2 sectors a read request", "lts__t_sectors_srcunit_tex_op_read.sum",
     "lts__t_requests_srcunit_tex_op_read.sum"),
    ("L2 sectors a fabric request", "lts__t_sectors_srcunit_ltcfabric.sum",
     "lts__t_requests_srcunit_ltcfabric.sum"),
    ("shared-store conflicts a store wavefront",
     "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum",
     "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum"),
    ("shared-load conflicts a load wavefront",
     "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
     "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum"),
)
# Not wavefronts a store instruction: the store wavefronts count STSM's too, the instruction
# count does not say which (our d128 reads 2.07 with every STS at its ideal 1.00). Per
# instruction: sass_stalls.py --memory.


def quotient(m, num, den):
    return m[num] / m[den] if num in m and den in m and m[den] else None


def diff(a_name, a, b_name, b, ratio):
    ta, tb = a.get("gpu__time_duration.sum"), b.get("gpu__time_duration.sum")
    print(f"## {a_name} / {b_name}: time {ta} / {tb} ms (ncu's unit: per-us columns use these)")
    print(f"| quotient | {a_name} | {b_name} |")
    print("|---|---:|---:|")
    for title, num, den in QUOTIENTS:
        qa, qb = quotient(a, num, den), quotient(b, num, den)
        if qa is not None or qb is not None:
            fa = "" if qa is None else f"{qa:.2f}"
            fb = "" if qb is None else f"{qb:.2f}"
            print(f"| {title} | {fa} | {fb} |")
    rows = {}
    for metric in sorted(set(a) & set(b)):
        if ".pct" in metric or "per_second" in metric or "per_cycle" in metric:
            continue
        x, y = a[metric], b[metric]
        if x == 0 and y == 0:
            continue
        r = x / y if y else float("inf")
        if 1 / ratio <= r <= ratio:
            continue
        title = family(metric)
        if title:
            rows.setdefault(title, []).append((metric, x, y, r))
    for title, _ in FAMILIES:
        if title not in rows:
            continue
        print(f"### {title}")
        print(f"| metric | {a_name} | {b_name} | ratio | {a_name} /us | {b_name} /us |")
        print("|---|---:|---:|---:|---:|---:|")
        for metric, x, y, r in rows[title]:
            pa = f"{x / (ta * 1000):,.1f}" if ta else ""
            pb = f"{y / (tb * 1000):,.1f}" if tb else ""
            print(f"| {metric} | {x:,.0f} | {y:,.0f} | {r:.2f} | {pa} | {pb} |")
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("details")
    ap.add_argument("a", nargs="?")
    ap.add_argument("b", nargs="?")
    ap.add_argument("--ratio", type=float, default=1.3)
    ap.add_argument("--pairs", action="store_true", help="every ours_X beside fa4_X")
    args = ap.parse_args(argv)
    data = sections(args.details)
    if args.pairs:
        pairs = [(n, "fa4_" + n[5:]) for n in data if n.startswith("ours_") and "fa4_" + n[5:] in data]
    elif args.a and args.b:
        pairs = [(args.a, args.b)]
    else:
        print("names: " + " ".join(data), file=sys.stderr)
        return 2
    for a_name, b_name in pairs:
        if a_name not in data or b_name not in data:
            print(f"no section {a_name if a_name not in data else b_name}", file=sys.stderr)
            return 1
        diff(a_name, data[a_name], b_name, data[b_name], args.ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
