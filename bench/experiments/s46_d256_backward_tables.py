#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The d256 backward's tables beyond s42's (s46_d256_backward_profile.sh exports the pages; this
reads CSVs only, no ncu and no GPU, so it also runs here on what came back):

    metric-names                       s42's metric list plus this profile's candidates, one a
                                       line (the script drops those ncu does not list)
    steps NAME=SASS[,RAW] ...          each kernel's CTA-steps: from the dS barrier's executions
                                       (ours), from the HGMMA tensor cycles over a step's, and
                                       from the tile model of bench/workloads.json (KERNELS)
    l2 NAME=RAW[,SASS] ...             hypothesis (a): the L2's sub-unit throughputs, sectors by
                                       operation (red, atom, read, write, TMA) side by side, in
                                       bytes a CTA-step and TB/s, and the reductions' sectors
                                       expected from the SASS (UTMAREDG / UBLKRED / REDG)
    smem NAME=SASS,RAW ...             hypothesis (b): shared-memory wavefronts by instruction class
                                       (HGMMA by shape, LDS/LDSM, STS/STSM), a CTA-step, and each
                                       HGMMA shape's wavefronts a tensor cycle; L2 theoretical
                                       sectors by opcode
    segments NAME=SASS,RAW ...         hypotheses (c)-(e): the code in address order cut at every
                                       wgmma group, wait, barrier and reduction, with cycles a
                                       warp-execution and a CTA-step; per-CTA code (prologue,
                                       epilogue) apart from the steps
    d128 NAME=SASS,RAW ... [--s32 F] [--opcodes N]
                                       the d128 kernels per CTA-step and per 80 x 128 block of
                                       work side by side (ours | FA4, causal and not), with s32's
                                       llm-d128 pair from F (backward_vs_fa4_profile_s32.txt and
                                       the ncu_s32_bwd_llm_d128_*.sass.csv.gz beside it), each
                                       ours / FA4 ratio, then instructions by opcode a block
    --selftest                         the commands on made-up pages

NAME is a label: ours_d256, fa4_d256 (llm-d256-causal), ours_d128, fa4_d128 (llm-d128-causal),
ours_d128nc, fa4_d128nc (llm-d128) get their tile, step model and bulk bytes by name (KERNELS;
a label that starts with one of them, e.g. ours_d128nc_s32, gets the longest's). RAW is `ncu
--import R --page raw --csv` and SASS `--page source --print-source sass --csv` (gzipped or not).
"""
import argparse
import collections
import gzip
import json
import math
import pathlib
import re
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import sass_stalls  # noqa: E402  (bench/sass_stalls.py)
from s42_d64_backward_tables import S32_METRICS, number, raw_page  # noqa: E402

SMS_DEFAULT = 132
CONSUMER_WARPS = 8  # both kernels: two consumer warpgroups
# Candidates beyond s32's list; s46_d256_backward_profile.sh keeps those `ncu --query-metrics`
# lists. The SpeedOfLight section's breakdown already brings the lts__*/l1tex__* percentages
# (lts__d_atomic_input_cycles_active, lts__t_tag_requests, ... in s42's raw pages).
EXTRA_METRICS = [
    "lts__t_sectors.sum",
    "lts__t_sectors_op_read.sum",
    "lts__t_sectors_op_write.sum",
    "lts__t_sectors_op_red.sum",
    "lts__t_sectors_op_atom.sum",
    "lts__t_requests_op_red.sum",
    "lts__t_requests_op_atom.sum",
    "lts__t_sectors_srcunit_tex.sum",
    "lts__t_sectors_srcunit_tex_op_read.sum",
    "lts__t_sectors_srcunit_tex_op_write.sum",
    "lts__t_sectors_srcunit_tex_op_red.sum",
    "lts__t_sectors_srcunit_tex_op_atom.sum",
    "lts__t_sectors_srcunit_ltcfabric.sum",
    "lts__t_sector_hit_rate.pct",
    "lts__d_atomic_input_cycles_active.avg.pct_of_peak_sustained_elapsed",
    "lts__t_sectors.avg.pct_of_peak_sustained_elapsed",
    "lts__t_tag_requests.avg.pct_of_peak_sustained_elapsed",
    "dram__bytes_write.sum",
    "l1tex__m_xbar2l1tex_read_bytes_mem_global_op_tma_ld.sum",
    "l1tex__m_l1tex2xbar_write_bytes_mem_global_op_tma_st.sum",
    "l1tex__m_l1tex2xbar_write_bytes_mem_global_op_tma_red.sum",
    "l1tex__m_xbar2l1tex_read_bytes_pipe_tma.sum",
    "l1tex__m_l1tex2xbar_write_bytes_pipe_tma.sum",
    "l1tex__tmain_requests.sum",
    "sm__pipe_tma_cycles_active.avg.pct_of_peak_sustained_active",
    "l1tex__data_bank_reads.sum",
    "l1tex__data_bank_writes.sum",
    "l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed",
    "l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed",
    "sm__pipe_tensor_op_hmma_cycles_active.sum",
    "smsp__issue_active.sum",
    "sm__ctas_launched.sum",
]
# Each profiled kernel by label (the longest key the label equals or starts with, so
# ours_d128nc_s32 is ours_d128nc's): its workload, a CTA-step's tile (queries, keys, head dim),
# whether its causal steps start at a k tile's first visible query (ours at d128: 80-row steps on
# 128-key tiles, kv_tile::place<true>) rather than on multiples of the step from query 0, and the
# bytes one bulk reduction adds, by opcode. Tensor cycles a step = 5 products of 2 q k d FLOP at
# 4,096 dense bf16 FLOP a cycle an SM. Bulk bytes: ours an 8 KB box at d256 (64 queries x 32
# channels x 4 bytes) and 10 KB at d128 (80 x 32 x 4: traits kDqBoxBytes = kQueries x 128); FA4
# a warpgroup's tile_m x head dim x 4 / 2 (flash_bwd_sm90.py tma_copy_bytes["dQ"]): 32 KB at
# d256, 16 KB at d128 causal (tile_m 64), 20 KB at d128 non-causal (tile_m 80). FA4's sm90
# tiles: interface.py _tile_size_bwd_sm90 of flash-attn-4 4.0.0b36 (d256 64 x 48; d128 n 128,
# m 64 causal or local, else 80).
KERNELS = {
    "ours_d256": {"workload": "llm-d256-causal", "tile": (64, 64, 256), "bulk": {"UTMAREDG": 8192}},
    "fa4_d256": {"workload": "llm-d256-causal", "tile": (64, 48, 256), "bulk": {"UBLKRED": 32768}},
    "ours_d128": {"workload": "llm-d128-causal", "tile": (80, 128, 128), "from_first": True,
                  "bulk": {"UTMAREDG": 10240}},
    "fa4_d128": {"workload": "llm-d128-causal", "tile": (64, 128, 128), "bulk": {"UBLKRED": 16384}},
    "ours_d128nc": {"workload": "llm-d128", "tile": (80, 128, 128), "bulk": {"UTMAREDG": 10240}},
    "fa4_d128nc": {"workload": "llm-d128", "tile": (80, 128, 128), "bulk": {"UBLKRED": 20480}},
}
# A label without a config (an ad-hoc name): the d256 kernels' bytes.
BULK_BYTES = {"UTMAREDG": 8192, "UBLKRED": 32768}
# The d128 comparison's unit of work: one 80-query x 128-key block (ours' and FA4's non-causal
# step; FA4's causal step is 0.8 of it).
WORK_BLOCK = (80, 128)
PREFIX = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
TIME_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
           "second": 1e6, "s": 1e6}


def value(launch, metric):
    """A metric in base units (byte, sector, cycle, ...; time in us), or nan."""
    text, unit = launch.get(metric, ("", ""))
    v = number(text)
    unit = unit.strip()
    if unit in TIME_US:
        return v * TIME_US[unit]
    m = re.match(r"^([KMGT])(byte|sector|cycle|inst|warp|wavefront|request)s?$", unit)
    return v * PREFIX[m.group(1)] if m else v


def fmt(v, digits=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def kernel_config(label):
    """The KERNELS entry of the longest key the label equals or starts with, or {}."""
    keys = [k for k in KERNELS if label == k or label.startswith(k)]
    return KERNELS[max(keys, key=len)] if keys else {}


def workload_spec(name):
    try:
        spec = json.loads((HERE.parent / "workloads.json").read_text())
    except OSError:
        return None
    spec = spec if isinstance(spec, list) else spec.get("workloads", [])
    return next((x for x in spec if x["name"] == name), None)


def model_steps(label):
    """CTA-steps of the label's workload (q = k segments) for its (queries, keys) tile, or None:
    non-causal every (k tile, q step); causal the q steps from the one holding the k tile's first
    key (FA4's m_block_min, ours on multiples of the step), or, from_first, steps from the k
    tile's first key itself (ours at d128)."""
    cfg = kernel_config(label)
    w = workload_spec(cfg["workload"]) if cfg else None
    if w is None:
        return None
    q_tile, k_tile, _ = cfg["tile"]
    causal = w.get("causal", False)
    steps = 0
    for length in w.get("lengths_q", w["lengths"]):
        for j in range(math.ceil(length / k_tile)):
            if not causal:
                steps += math.ceil(length / q_tile)
            elif cfg.get("from_first"):
                steps += math.ceil((length - j * k_tile) / q_tile)
            else:
                steps += max(0, math.ceil(length / q_tile) - (j * k_tile) // q_tile)
    return steps * w["heads_q"]


def hgmma_shape(op):
    m = re.match(r"HGMMA\.(\d+)x(\d+)x(\d+)", op)
    return tuple(int(x) for x in m.groups()) if m else None


def tensor_cycles(kernel):
    """Tensor-pipe cycles the kernel's HGMMAs need (a warp's execution is a quarter of a wgmma:
    m64nNk16 is 2,048 N FLOP, N / 2 cycles at 4,096 FLOP a cycle), by shape."""
    by = collections.Counter()
    for r in kernel.data:
        shape = hgmma_shape(kernel.opcode(r))
        if shape:
            m, n, k = shape
            by[shape] += kernel.executed(r) / 4 * (2 * m * n * k) / 4096
    return by


def spec_parts(spec):
    label, _, paths = spec.partition("=")
    parts = [p for p in paths.split(",") if p]
    sass = next((p for p in parts if ".sass." in p or p.endswith("sass.csv")), None)
    raw = next((p for p in parts if p is not sass), None)
    return label, sass, raw


DS_BARRIER = re.compile(r"^(@!?U?P\w+\s+)?BAR\.SYNC(\.DEFER_BLOCKING)?\s+0x1\s*,")


def steps_of(label, kernel, overrides):
    """(CTA-steps, how): an override, else ours' dS barrier (named barrier 1, once a consumer
    warp a step), else HGMMA tensor cycles over a step's (the label's tile), else the model."""
    if label in overrides:
        return overrides[label], "given"
    if kernel is not None and label.startswith("ours"):
        bar = [kernel.executed(r) for r in kernel.data if DS_BARRIER.match(r[1].strip())]
        if bar:
            return max(bar) / CONSUMER_WARPS, "dS barrier executions / 8"
    tile = kernel_config(label).get("tile")
    if kernel is not None and tile:
        q, k, d = tile
        cycles = sum(tensor_cycles(kernel).values())
        if cycles:
            return cycles / (10 * q * k * d / 4096), f"HGMMA cycles / {10 * q * k * d // 4096}"
    model = model_steps(label)
    return (model, "tile model") if model else (math.nan, "unknown")


def load(specs, need_raw=True):
    out = []
    for spec in specs:
        label, sass, raw = spec_parts(spec)
        kernel = sass_stalls.Kernel(sass) if sass else None
        page = raw_page(raw) if raw else []
        if need_raw and not page:
            print(f"{label}: no launch in {raw}")
            continue
        out.append((label, kernel, page[0] if page else {}))
    return out


def parse_overrides(items):
    return {k: float(v) for k, _, v in (i.partition("=") for i in items or [])}


def cmd_steps(args):
    overrides = parse_overrides(args.steps)
    for label, kernel, launch in load(args.reports, need_raw=False):
        n, how = steps_of(label, kernel, overrides)
        if args.number:  # the first kernel's CTA-steps alone, rounded (for sass_stalls.py --per)
            print(round(n) if not math.isnan(n) else "nan")
            return
        cycles = sum(tensor_cycles(kernel).values()) if kernel else math.nan
        print(f"{label}: {fmt(n)} CTA-steps ({how}); model {fmt(model_steps(label) or math.nan)}; "
              f"HGMMA tensor cycles {fmt(cycles)}; grid {launch.get('launch__grid_size', ('-',))[0]}")


L2_COLUMN = re.compile(
    r"^(lts__t_(sectors|requests|bytes)\w*\.sum|lts__t_sector\w*hit_rate\.pct"
    r"|lts__\w+\.avg\.pct_of_peak_sustained_elapsed|l1tex__m_\w+\.(sum|avg\.pct_of_peak_sustained_elapsed)"
    r"|l1tex__data_bank_\w+\.(sum|avg\.pct_of_peak_sustained_elapsed)|l1tex__tmain\w*\.(sum|avg\.pct\w*)"
    r"|sm__pipe_tma\w*\.avg\.pct\w*|sm__inst_executed_pipe_tma\w*\.avg\.pct_of_peak_sustained_active"
    r"|dram__bytes\w*\.sum)$")


def cmd_l2(args):
    overrides = parse_overrides(args.steps)
    runs = load(args.reports)
    if not runs:
        return
    names = [r[0] for r in runs]
    steps = [steps_of(label, kernel, overrides)[0] for label, kernel, _ in runs]
    dur = [value(launch, "gpu__time_duration.sum") for _, _, launch in runs]
    print("\n| metric | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    print("| gpu__time_duration.sum (us) | " + " | ".join(fmt(d) for d in dur) + " |")
    print("| CTA-steps | " + " | ".join(fmt(s) for s in steps) + " |")
    columns = sorted({c for _, _, launch in runs for c in launch if L2_COLUMN.match(c)})
    for c in columns:
        vals = [value(launch, c) for _, _, launch in runs]
        if all(math.isnan(v) or v == 0 for v in vals):
            continue
        cells = []
        for v, d, s in zip(vals, dur, steps):
            if c.endswith(".sum") and not math.isnan(v):
                per = 32 if "sectors" in c else 1 if "bytes" in c else math.nan
                extra = ""
                if not math.isnan(per):
                    b = v * per
                    extra = f" ({b / d / 1e6:.2f} TB/s" if d > 0 else " ("
                    extra += f", {b / s / 1024:.1f} KB a step)" if s > 0 else ")"
                cells.append(fmt(v) + extra)
            else:
                cells.append(fmt(v, 2))
        print(f"| {c} | " + " | ".join(cells) + " |")
    # The reductions the SASS issues against the L2's count: whether bulk ones are counted.
    print("\nreductions from the SASS (bulk: executions x bytes a bulk op, 32-byte sectors; REDG: "
          "its L2 Theoretical Sectors Global) against lts__t_sectors_op_red.sum:")
    for (label, kernel, launch), d in zip(runs, dur):
        if kernel is None:
            continue
        col = kernel.col
        sectors_at = col.get("L2 Theoretical Sectors Global")
        bulk, regs, ops = 0.0, 0.0, collections.Counter()
        box = kernel_config(label).get("bulk", BULK_BYTES)
        for r in kernel.data:
            op = kernel.opcode(r)
            family = next((f for f in box if op.startswith(f)), None)
            if family:
                bulk += kernel.executed(r) * box[family] / 32
                ops[op] += kernel.executed(r)
            elif op.startswith(("REDG", "RED.", "ATOMG")) and sectors_at is not None:
                regs += kernel.count(r, sectors_at)
                ops[op.split(".")[0]] += kernel.executed(r)
        measured = value(launch, "lts__t_sectors_op_red.sum")
        print(f"  {label}: bulk {fmt(bulk)} + register {fmt(regs)} = {fmt(bulk + regs)} sectors "
              f"({(bulk + regs) * 32 / 1e9:.2f} GB); measured {fmt(measured)}; "
              f"executions {dict(ops)}")


def op_class(op):
    if op.startswith("HGMMA"):
        shape = hgmma_shape(op)
        return f"HGMMA {shape[0]}x{shape[1]}x{shape[2]}" if shape else "HGMMA"
    base = op.split(".")[0]
    if base in ("LDS", "LDSM", "STS", "STSM", "LDGSTS", "ATOMS", "REDS"):
        return base
    return "other"


def cmd_smem(args):
    overrides = parse_overrides(args.steps)
    for label, kernel, launch in load(args.reports):
        if kernel is None:
            continue
        col = kernel.col
        wf_at, ideal_at = col.get("L1 Wavefronts Shared"), col.get("L1 Wavefronts Shared Ideal")
        l2_at = col.get("L2 Theoretical Sectors Global")
        l2x_at = col.get("L2 Theoretical Sectors Global Excessive")
        steps, how = steps_of(label, kernel, overrides)
        sms = value(launch, "device__attribute_multiprocessor_count")
        sms = SMS_DEFAULT if math.isnan(sms) else sms
        cycles = value(launch, "sm__cycles_active.avg")
        wf, ideal, ex, samples = (collections.Counter() for _ in range(4))
        l2, l2x = collections.Counter(), collections.Counter()
        for r in kernel.data:
            op = kernel.opcode(r)
            c = op_class(op)
            if wf_at is not None:
                wf[c] += kernel.count(r, wf_at)
                ideal[c] += kernel.count(r, ideal_at)
            ex[c] += kernel.executed(r)
            samples[c] += kernel.samples(r)
            if l2_at is not None and kernel.count(r, l2_at):
                key = ".".join(op.split(".")[:2])
                l2[key] += kernel.count(r, l2_at)
                l2x[key] += kernel.count(r, l2x_at) if l2x_at is not None else 0
        total = sum(wf.values())
        tc = tensor_cycles(kernel)
        print(f"\n### {label}: shared-memory wavefronts by class ({fmt(steps)} CTA-steps, {how}; "
              f"1 wavefront a cycle an SM)")
        print(f"  {'class':18s} {'executions':>12s} {'wavefronts':>13s} {'ideal':>13s} "
              f"{'a CTA-step':>10s} {'a warp-exec':>11s} {'share':>6s}")
        for c in sorted(wf, key=lambda c: -wf[c]):
            if wf[c] == 0:
                continue
            print(f"  {c:18s} {ex[c]:12,d} {wf[c]:13,d} {ideal[c]:13,d} {fmt(wf[c] / steps):>10s} "
                  f"{wf[c] / max(ex[c], 1):11.2f} {100 * wf[c] / max(total, 1):5.1f}%")
        metric = value(launch, "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum")
        print(f"  all (SASS) {total:,d}; l1tex__data_pipe_lsu_wavefronts_mem_shared.sum {fmt(metric)}; "
              f"a CTA-step {fmt(total / steps)} against {fmt(cycles * sms / steps)} SM cycles a "
              f"CTA-step (one CTA an SM): the LSU's shared pipe "
              f"{100 * total / (cycles * sms):.1f}% busy")
        for name in ("l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed",
                     "l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed",
                     "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed"):
            print(f"  {name}: {fmt(value(launch, name), 2)}")
        if tc:
            print("  HGMMA by shape, a CTA-step: tensor cycles, operand wavefronts (the shared pipe's "
                  "cycles at 1 a cycle), wavefronts a tensor cycle (> 1: the shared pipe, not the "
                  "tensor pipe, sets that product's pace)")
            for shape in sorted(tc):
                c = f"HGMMA {shape[0]}x{shape[1]}x{shape[2]}"
                print(f"    {c:18s} {fmt(tc[shape] / steps):>8s} tensor cycles {fmt(wf[c] / steps):>8s} "
                      f"wavefronts {wf[c] / max(tc[shape], 1):5.2f} a cycle")
            active = value(launch, "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active")
            print(f"    all HGMMA: {fmt(sum(tc.values()) / steps)} tensor cycles a CTA-step; "
                  f"sm__pipe_tensor_op_hmma_cycles_active {fmt(active, 2)}%")
        if l2:
            print("  L2 theoretical sectors by opcode (the SASS page; bulk TMA ops are not in it): "
                  "sectors (excessive), a CTA-step")
            for key in sorted(l2, key=lambda k: -l2[k]):
                print(f"    {key:14s} {l2[key]:14,d} ({l2x[key]:,d})  {fmt(l2[key] / steps)}")


CUT_OPS = ("BAR.", "WARPGROUP.", "SYNCS.", "DEPBAR", "UTMAREDG", "UBLKRED", "UTMALDG", "UBLKCP",
           "EXIT", "MEMBAR", "FENCE")
WAIT_OPS = ("BAR.SYNC", "BAR.RED", "WARPGROUP.DEPBAR", "SYNCS.PHASECHK", "DEPBAR")


def segments(kernel):
    """Executed rows in address order as (kind, rows): 'mma' = one wgmma group (WARPGROUP.ARRIVE
    to the HGMMA that commits it, gsb0, with the descriptor arithmetic between); 'wait' = a wait
    alone (BAR.SYNC, wgmma wait, mbarrier try-wait, DEPBAR: its stall samples mostly land on the
    next rows, s42_d64_backward_tables.py waits counts them there); 'op' = another CUT_OPS row
    alone; 'code' = the rows between, also cut where the execution count changes by > 10%."""
    out, cur = [], []
    mode = "code"

    def close():
        nonlocal mode
        if cur:
            out.append((mode, list(cur)))
            cur.clear()
        mode = "code"
    for r in kernel.data:
        ex = kernel.executed(r)
        if ex == 0:
            continue
        op = kernel.opcode(r)
        is_mma = op.startswith("HGMMA")
        commits = is_mma and "gsb0" in r[1]
        if mode == "mma":
            if is_mma or not op.startswith(CUT_OPS):
                cur.append(r)
                if commits:
                    close()
                continue
            close()
        if op.startswith("WARPGROUP.ARRIVE") or is_mma:
            close()
            mode = "mma"
            cur.append(r)
            if commits:
                close()
            continue
        if op.startswith(CUT_OPS):
            close()
            mode = "wait" if op.startswith(WAIT_OPS) else "op"
            cur.append(r)
            close()
            continue
        if cur and abs(ex - kernel.executed(cur[0])) > 0.1 * max(ex, kernel.executed(cur[0])):
            close()
        cur.append(r)
    close()
    return out


def cmd_segments(args):
    overrides = parse_overrides(args.steps)
    for label, kernel, launch in load(args.reports):
        if kernel is None or kernel.total == 0:
            print(f"\n### {label}: no SASS samples")
            continue
        steps, how = steps_of(label, kernel, overrides)
        grid = value(launch, "launch__grid_size")
        sms = value(launch, "device__attribute_multiprocessor_count")
        sms = SMS_DEFAULT if math.isnan(sms) else sms
        cycles = value(launch, "sm__cycles_active.avg")
        cps = value(launch, "sm__warps_active.sum") / kernel.total
        tensor = value(launch, "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active")
        step_cycles = cycles * sms / steps
        print(f"\n### {label}: {kernel.total:,d} samples, {fmt(cps)} warp-cycles a sample; "
              f"{fmt(steps)} CTA-steps ({how}), grid {fmt(grid)}")
        print(f"  SM cycles a CTA-step (sm__cycles_active.avg x SMs / steps, one CTA an SM): "
              f"{fmt(step_cycles)}; tensor active {fmt(tensor, 1)}% -> tensor-idle "
              f"{fmt(step_cycles * (1 - tensor / 100))} cycles a step; CTA life "
              f"{fmt(cycles * sms / grid)} cycles")
        print("  'a step' = samples x warp-cycles a sample / (steps x 8): a consumer segment's "
              "wall cycles a step when its 8 warps run it together;\n  'a warp-exec' = cycles a "
              "warp spends per execution; a wait's stall shows on the rows after it (reason "
              "'barrier' or 'long_sb'): the waits table has them")
        print(f"  {'addr':6s} {'instr':>5s} {'exec/step':>9s} {'exec/CTA':>8s} {'share':>6s} "
              f"{'a step':>7s} {'a warp-exec':>11s}  first op / ops; top reasons")
        per_step_sum, once = 0.0, 0
        for kind, seg in segments(kernel):
            s = sum(kernel.samples(r) for r in seg)
            ex = max(kernel.executed(r) for r in seg)
            share = s / kernel.total
            a_step = s * cps / (steps * CONSUMER_WARPS)
            per_exec = s * cps / ex
            ex_step, ex_cta = ex / steps, ex / grid
            ops = [kernel.opcode(r) for r in seg]
            in_steps = ex_step >= 0.8 * CONSUMER_WARPS
            if in_steps:
                per_step_sum += a_step
            elif ex_cta <= 12.5:  # at most once a warp a CTA (12 warps; a warp's per-step code
                once += s        # runs ~19 times a CTA at d256)
            if share < args.min_share and not (in_steps and kind in ("mma", "wait")):
                continue
            if kind == "mma":
                shapes = collections.Counter(o.split(".")[1] for o in ops if o.startswith("HGMMA"))
                what = "wgmma group " + " ".join(f"{n} x {sh}" for sh, n in shapes.items())
            elif kind in ("wait", "op"):
                what = seg[0][1].strip()[:56]
            else:
                what = str(dict(collections.Counter(o.split(".")[0] for o in ops).most_common(4)))
            print(f"  {seg[0][0][-6:]} {len(seg):5d} {ex_step:9.2f} {ex_cta:8.2f} {100 * share:5.2f}% "
                  f"{a_step:7.0f} {per_exec:11.0f}  {what[:64]}; {kernel.top_reasons(seg, 2)}")
        print(f"  sum of 'a step' over the segments all 8 consumer warps run every step: "
              f"{fmt(per_step_sum)} cycles (against {fmt(step_cycles)} SM cycles a CTA-step)")
        print(f"  once-a-CTA code (<= 12.5 warp-executions a CTA: prologue, epilogue, a partial last "
              f"step's path): {100 * once / kernel.total:.1f}% of samples, "
              f"{fmt(once * cps / grid / CONSUMER_WARPS)} cycles a CTA if 8 warps spend it together, "
              f"against a CTA life of {fmt(cycles * sms / grid)}")


# s32's llm-d128 pair (bench/results/backward_vs_fa4_profile_s32.txt, `## metrics`: ncu --set
# full, one launch each, H200, FA4 4.0.0b36 = this wheel) as columns of the d128 table: the
# file's column and the SASS page beside it in bench/results.
S32_COLUMNS = {"ours_d128nc_s32": ("llm_d128_head", "ncu_s32_bwd_llm_d128_ours.sass.csv.gz"),
               "fa4_d128nc_s32": ("fa4_llm_d128", "ncu_s32_bwd_llm_d128_fa4.sass.csv.gz")}


def s32_runs(path):
    """[(label, sass_stalls.Kernel or None, launch)] of s32's llm-d128 pair: the launch from the text table
    (value and unit split at the first space), sm__warps_active.sum from its warps-active
    percentage (x 64 warps x sm__cycles_active.avg x SMs: exact on s42's pages)."""
    lines = pathlib.Path(path).read_text().splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "## metrics"), None)
    if at is None or at + 1 >= len(lines) or not lines[at + 1].startswith("metric |"):
        return []
    names = [c.strip() for c in lines[at + 1].split("|")]
    table = collections.defaultdict(dict)
    for line in lines[at + 2:]:
        if not line.strip() or line.startswith("#"):
            break
        cells = line.split("|")
        for name, cell in zip(names[1:], cells[1:]):
            text, _, unit = cell.strip().partition(" ")
            table[name][cells[0].strip()] = (text, unit.strip())
    out = []
    for label, (column, sass_name) in S32_COLUMNS.items():
        launch = dict(table.get(column, {}))
        if not launch:
            continue
        launch.setdefault("device__attribute_multiprocessor_count", (str(SMS_DEFAULT), ""))
        if "sm__warps_active.sum" not in launch:
            warps = (value(launch, "sm__warps_active.avg.pct_of_peak_sustained_active") / 100 * 64
                     * value(launch, "sm__cycles_active.avg")
                     * value(launch, "device__attribute_multiprocessor_count"))
            launch["sm__warps_active.sum"] = (f"{warps:.0f}", "warp")
        sass = pathlib.Path(path).resolve().parent / sass_name
        out.append((label, sass_stalls.Kernel(str(sass)) if sass.exists() else None, launch))
    return out


CONSUMER_BARRIER = re.compile(r"^(@!?U?P\w+\s+)?BAR\.SYNC(\.DEFER_BLOCKING)?\s+\S+\s*,\s*0x100\s*$")


def consumer_barrier(kernel, steps, cps):
    """(cycles a step, SASS) of the CTA-wide consumer barrier (256 threads) run by every consumer
    warp every step (ours' dS barrier 1, FA4's PdS barrier) with the most 'barrier' samples on it
    and the next 8 rows up to the next wait (s42's waits look 3 rows on; s27's d128 page has
    bar 1's stall 4 rows on, on a UMOV), as samples x warp-cycles a sample / (steps x 8)."""
    if kernel is None or math.isnan(steps) or not steps:
        return math.nan, "-"
    column = dict(kernel.reasons).get("barrier")
    if column is None:
        return math.nan, "-"
    best = (math.nan, "-")
    for i, r in enumerate(kernel.data):
        if not CONSUMER_BARRIER.match(r[1].strip()) or kernel.executed(r) < 0.8 * CONSUMER_WARPS * steps:
            continue
        window = [r] + kernel.data[i + 1:i + 9]
        cut = next((j for j, x in enumerate(window[1:], 1) if kernel.opcode(x).startswith(
            ("BAR.", "WARPGROUP.DEPBAR", "SYNCS.PHASECHK", "DEPBAR"))), len(window))
        samples = sum(kernel.count(x, column) for x in window[:cut])
        cycles = samples * cps / (steps * CONSUMER_WARPS)
        if math.isnan(best[0]) or cycles > best[0]:
            best = (cycles, r[1].strip()[:40])
    return best


def facts(label, kernel, launch, overrides):
    """The per-CTA-step figures of one kernel (nan where a metric is missing)."""
    cfg = kernel_config(label)
    q, k, d = cfg.get("tile", (math.nan, math.nan, math.nan))
    steps, how = steps_of(label, kernel, overrides)
    sms = value(launch, "device__attribute_multiprocessor_count")
    sms = SMS_DEFAULT if math.isnan(sms) else sms
    cycles = value(launch, "sm__cycles_active.avg")
    grid = value(launch, "launch__grid_size")
    us = value(launch, "gpu__time_duration.sum")
    tensor = value(launch, "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active")
    step_cycles = cycles * sms / steps
    blocks = q * k / (WORK_BLOCK[0] * WORK_BLOCK[1])
    total = kernel.total if kernel is not None else 0
    cps = value(launch, "sm__warps_active.sum") / total if total else math.nan
    bulk = math.nan
    if kernel is not None:
        box = cfg.get("bulk", BULK_BYTES)
        bulk = sum(kernel.executed(r) * box[f] for r in kernel.data
                   for f in box if kernel.opcode(r).startswith(f)) / steps / 1024

    def kb(metric):  # sectors -> KB a step
        return value(launch, metric) * 32 / 1024 / steps

    def stall(reason):
        return value(launch, f"smsp__average_warps_issue_stalled_{reason}_per_issue_active.ratio")
    barrier, barrier_sass = consumer_barrier(kernel, steps, cps)
    f = {
        "workload": cfg.get("workload", "-"),
        "tile": f"{q} x {k}" if cfg else "-",
        "us": us,
        "ghz": value(launch, "gpc__cycles_elapsed.max") / us / 1e3,
        "grid": grid,
        "steps": steps, "how": how,
        "model": model_steps(label) or math.nan,
        "steps_cta": steps / grid,
        "blocks": blocks,
        "step_cycles": step_cycles,
        "block_cycles": step_cycles / blocks,
        "tensor_model": 10 * q * k * d / 4096,
        "tensor_sass": sum(tensor_cycles(kernel).values()) / steps if kernel is not None else math.nan,
        "tensor_pct": tensor,
        "tensor_busy": step_cycles * tensor / 100,
        "tensor_idle": step_cycles * (1 - tensor / 100),
        "inst": value(launch, "smsp__inst_executed.sum") / steps,
        "inst_block": value(launch, "smsp__inst_executed.sum") / steps / blocks,
        "sass_inst": (sum(kernel.executed(r) for r in kernel.data) / steps
                      if kernel is not None else math.nan),
        "issue": value(launch, "smsp__issue_active.avg.pct_of_peak_sustained_active"),
        "wf": value(launch, "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum") / steps,
        "wf_ld": value(launch, "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum") / steps,
        "wf_st": value(launch, "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum") / steps,
        "wf_pct": value(launch,
                        "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed"),
        "conflicts": value(launch, "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum") / steps,
        "lts": value(launch, "lts__throughput.avg.pct_of_peak_sustained_elapsed"),
        "l2_read": kb("lts__t_sectors_op_read.sum"),
        "l2_red": kb("lts__t_sectors_op_red.sum"),
        "l2_write": kb("lts__t_sectors_op_write.sum"),
        "bulk": bulk,
        "dram": value(launch, "dram__bytes_read.sum") / 1e6,
        "warps": value(launch, "sm__warps_active.avg.pct_of_peak_sustained_active"),
        "xu": value(launch, "sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active"),
        "barrier": barrier, "barrier_sass": barrier_sass,
        "cta_life": cycles * sms / grid,
    }
    for r in ("barrier", "long_scoreboard", "short_scoreboard", "mio_throttle", "wait", "gmma",
              "math_pipe_throttle"):
        f["stall_" + r] = stall(r)
    return f


D128_ROWS = [  # (key, row name, digits); text rows have digits None
    ("workload", "workload", None),
    ("tile", "a CTA-step: queries x keys", None),
    ("us", "gpu__time_duration (us)", 1),
    ("ghz", "SM clock, GHz (gpc__cycles_elapsed.max / duration)", 3),
    ("grid", "grid (CTAs, one an SM)", 0),
    ("steps", "CTA-steps (how: below)", 0),
    ("model", "CTA-steps, tile model", 0),
    ("steps_cta", "CTA-steps a CTA", 2),
    ("step_cycles", "SM cycles a CTA-step (sm__cycles_active.avg x SMs / steps)", 0),
    ("block_cycles", "SM cycles an 80 x 128 block of work (a step / (q k / 80 x 128))", 0),
    ("tensor_model", "tensor cycles a step: 5 products at 4,096 FLOP a cycle", 0),
    ("tensor_sass", "tensor cycles a step: the SASS's HGMMAs", 0),
    ("tensor_pct", "tensor pipe active, % of active cycles", 2),
    ("tensor_busy", "tensor-busy cycles a step (a step x active)", 0),
    ("tensor_idle", "tensor-idle cycles a step (a step x (1 - active))", 0),
    ("inst", "instructions a CTA-step (smsp__inst_executed.sum / steps)", 0),
    ("inst_block", "instructions an 80 x 128 block", 0),
    ("sass_inst", "SASS 'Instructions Executed' a CTA-step (s32's opcode table's 'all')", 0),
    ("issue", "issue slots busy, % of active", 2),
    ("wf", "shared wavefronts a step", 0),
    ("wf_ld", "  of them loads (op_ld)", 0),
    ("wf_st", "  of them stores (op_st)", 0),
    ("wf_pct", "shared pipe, % of peak elapsed", 2),
    ("conflicts", "shared-store bank conflicts a step", 1),
    ("lts", "L2 throughput, % of peak elapsed", 2),
    ("l2_read", "L2 read sectors a step, KB", 1),
    ("l2_red", "L2 reduction sectors a step, KB", 1),
    ("l2_write", "L2 write sectors a step, KB", 1),
    ("bulk", "dQ bulk reductions a step, KB (SASS executions x bytes a bulk op)", 1),
    ("dram", "DRAM read, MB", 1),
    ("warps", "warps active, % of peak", 2),
    ("xu", "xu pipe, % of active", 2),
    ("stall_barrier", "stall barrier (warps a issue)", 3),
    ("stall_long_scoreboard", "stall long_scoreboard", 3),
    ("stall_short_scoreboard", "stall short_scoreboard", 3),
    ("stall_mio_throttle", "stall mio_throttle", 3),
    ("stall_wait", "stall wait", 3),
    ("stall_gmma", "stall gmma", 3),
    ("stall_math_pipe_throttle", "stall math_pipe_throttle", 3),
    ("barrier", "the consumers' CTA barrier (dS / PdS): cycles a step, 8-warp view", 0),
    ("cta_life", "CTA life, cycles (sm__cycles_active.avg x SMs / grid)", 0),
]


def cmd_d128(args):
    """The d128 kernels side by side per CTA-step and per 80 x 128 block of work, with s32's
    llm-d128 pair (--s32), the ours / FA4 ratio of each pair present, then instructions by
    opcode an 80 x 128 block (--opcodes)."""
    overrides = parse_overrides(args.steps)
    runs = load(args.reports, need_raw=True)
    if args.s32:
        if pathlib.Path(args.s32).exists():
            runs += s32_runs(args.s32)
        else:
            print(f"(no {args.s32}: no s32 columns)")
    if not runs:
        return
    names = [r[0] for r in runs]
    table = {label: facts(label, kernel, launch, overrides) for label, kernel, launch in runs}
    pairs = [(a, "fa4" + a[4:]) for a in names if a.startswith("ours") and "fa4" + a[4:] in table]
    heads = names + [f"{a} / {b}" for a, b in pairs]
    print("\n| per CTA-step | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(heads))
    for key, name, digits in D128_ROWS:
        vals = [table[n][key] for n in names]
        if digits is not None and all(math.isnan(v) for v in vals):
            continue
        cells = [v if digits is None else fmt(v, digits) for v in vals]
        for a, b in pairs:
            x, y = table[a][key], table[b][key]
            ok = digits is not None and not (math.isnan(x) or math.isnan(y)) and y != 0
            cells.append(f"{x / y:.3f}" if ok else "")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for n in names:
        f = table[n]
        print(f"  {n}: CTA-steps by {f['how']}; consumer barrier {f['barrier_sass']}")
    if any(n.endswith("_s32") for n in names):
        print("  (s32 columns: s32's --set full pages and text table, s32's code: ours before s33-s45's "
              "d128 changes, FA4 the same wheel (4.0.0b36); across runs compare cycles, not us: the "
              "clock row)")
    if args.opcodes:
        sass = [(n, k, table[n]) for n, k, _ in runs if k is not None]
        if not sass:
            return
        per = [f["steps"] * f["blocks"] for _, _, f in sass]
        counts = [k.by_opcode() for _, k, _ in sass]
        print(f"\ninstructions executed an 80 x 128 block of work (CTA-steps x q k / (80 x 128)), "
              f"then share of samples ({' | '.join(n for n, _, _ in sass)}):")
        totals = [sum(e.values()) / p for (e, _), p in zip(counts, per)]
        print(f"  {'all':10s} " + " ".join(f"{t:10.1f}" for t in totals))
        ops = sorted(set().union(*(e for e, _ in counts)),
                     key=lambda o: -max(e[o] / p for (e, _), p in zip(counts, per)))
        for op in ops[:args.opcodes]:
            cells = " ".join(f"{e[op] / p:10.1f}" for (e, _), p in zip(counts, per))
            shares = " ".join(f"{100 * s[op] / max(k.total, 1):5.1f}%"
                              for (_, k, _), (_, s) in zip(sass, counts))
            print(f"  {op:10s} {cells}   {shares}")


def selftest():
    """Made-up pages: a loop of 10 steps x 8 warps on 2 CTAs, an HGMMA group, the dS barrier,
    a bulk reduction and an epilogue STG."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="s46_tables_"))
    header = ["ID", "Kernel Name", "gpu__time_duration.sum", "sm__cycles_active.avg",
              "sm__warps_active.sum", "launch__grid_size", "device__attribute_multiprocessor_count",
              "lts__t_sectors_op_red.sum", "lts__t_sectors_op_read.sum",
              "lts__d_atomic_input_cycles_active.avg.pct_of_peak_sustained_elapsed",
              "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum",
              "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active"]
    units = ["", "", "usecond", "cycle", "warp", "", "", "sector", "Ksector", "%", "", "%"]
    row = ["0", "dkdv_split_kernel", "10", "1000", "24000", "2", "2", "16,384", "2", "40", "1000", "30"]
    raw = tmp / "ours_d256.raw.csv"
    raw.write_text("\n".join(",".join(f'"{x}"' for x in r) for r in (header, units, row)) + "\n")
    cols = ["Address", "Source", "Warp Stall Sampling (All Samples)", "Instructions Executed",
            "L1 Wavefronts Shared", "L1 Wavefronts Shared Ideal", "L2 Theoretical Sectors Global",
            "L2 Theoretical Sectors Global Excessive", "stall_barrier", "stall_long_sb", "stall_lg"]
    sass = [("0x10", "HGMMA.64x32x16.F32.BF16 R40, gdesc[UR16], RZ", 100, 160, 960, 960, 0, 0, 0, 0, 0),
            ("0x20", "HGMMA.64x32x16.F32.BF16 R40, gdesc[UR16], R40, gsb0", 50, 160, 960, 960, 0, 0, 0, 0, 0),
            ("0x30", "BAR.SYNC.DEFER_BLOCKING 0x1, 0x100", 20, 160, 0, 0, 0, 0, 20, 0, 0),
            ("0x40", "FMUL R1, R2, R3", 300, 160, 0, 0, 0, 0, 0, 300, 0),
            ("0x50", "UTMAREDG.4D.ADD [UR24], [UR16]", 10, 40, 0, 0, 0, 0, 0, 10, 0),
            ("0x60", "REDG.E.ADD.F32x2.FTZ.RN.STRONG.GPU desc[UR46][R6.64], R24", 30, 16, 0, 0, 64, 0, 0, 0, 30),
            ("0x70", "STG.E [R2.64], R5", 40, 16, 0, 0, 32, 16, 0, 40, 0),
            ("0x80", "EXIT", 0, 24, 0, 0, 0, 0, 0, 0, 0)]
    lines = ['"Kernel Name","dkdv_split_kernel"', ",".join(f'"{c}"' for c in cols)]
    lines += [",".join(f'"{x}"' for x in r) for r in sass]
    sass_path = tmp / "ours_d256.sass.csv"
    sass_path.write_text("\n".join(lines) + "\n")
    spec = f"ours_d256={sass_path},{raw}"
    kernel = sass_stalls.Kernel(str(sass_path))
    n, how = steps_of("ours_d256", kernel, {})
    assert (n, how) == (20, "dS barrier executions / 8"), (n, how)
    assert abs(sum(tensor_cycles(kernel).values()) - 2 * 40 * 16) < 1e-9
    launch = raw_page(str(raw))[0]
    assert value(launch, "lts__t_sectors_op_read.sum") == 2000.0
    assert value(launch, "gpu__time_duration.sum") == 10.0
    assert model_steps("ours_d256") == 142528, model_steps("ours_d256")
    assert model_steps("fa4_d256") == 192480, model_steps("fa4_d256")
    kinds = [(k, seg[0][0]) for k, seg in segments(kernel)]
    assert kinds == [("mma", "0x10"), ("wait", "0x30"), ("code", "0x40"), ("op", "0x50"),
                     ("code", "0x60"), ("op", "0x80")], kinds
    for argv in (["steps", spec], ["l2", spec], ["smem", spec], ["segments", spec]):
        main(argv)
    # d128: the labels' configs and step models, s32's text table, the d128 command.
    assert kernel_config("ours_d128nc_s32") is KERNELS["ours_d128nc"]
    assert kernel_config("fa4_d128") is KERNELS["fa4_d128"] and kernel_config("ad-hoc") == {}
    assert kernel_config("fa4_d256")["tile"] == (64, 48, 256)
    assert model_steps("ours_d128nc") == model_steps("fa4_d128nc") == 228096  # s32's count
    assert model_steps("ours_d128") == 118432, model_steps("ours_d128")  # from the first query
    assert model_steps("fa4_d128") == 146400, model_steps("fa4_d128")  # 64 x 128, m_block_min
    with gzip.open(tmp / "ncu_s32_bwd_llm_d128_ours.sass.csv.gz", "wt") as f:
        f.write(sass_path.read_text())
    s32 = tmp / "s32.txt"
    s32.write_text("# s32\n\n## metrics\nmetric | vit_head | llm_d128_head | fa4_llm_d128\n"
                   "gpu__time_duration.sum | 1 ms | 10.0 us | 9.0 us\n"
                   "sm__cycles_active.avg | 1 cycle | 1000.000000 cycle | 900 cycle\n"
                   "launch__grid_size | 1 | 2  | 2 \n"
                   "sm__warps_active.avg.pct_of_peak_sustained_active | 1 % | 9.090909 % | 10 %\n"
                   "\n## next\n")
    runs = dict((label, (k, lc)) for label, k, lc in s32_runs(str(s32)))
    assert set(runs) == {"ours_d128nc_s32", "fa4_d128nc_s32"}, set(runs)
    assert runs["fa4_d128nc_s32"][0] is None and runs["ours_d128nc_s32"][0] is not None
    k32, l32 = runs["ours_d128nc_s32"]
    assert value(l32, "gpu__time_duration.sum") == 10.0 and l32["launch__grid_size"] == ("2", "")
    assert abs(value(l32, "sm__warps_active.sum") - 0.0909090 * 64 * 1000 * 132) < 1
    f = facts("ours_d128nc", kernel, launch, {})
    assert f["steps"] == 20 and abs(f["bulk"] - 40 * 10240 / 20 / 1024) < 1e-9, f
    assert abs(f["barrier"] - 20 * (24000 / kernel.total) / (20 * 8)) < 1e-9, f["barrier"]
    assert f["tensor_model"] == 3200 and f["blocks"] == 1.0
    assert facts("fa4_d128", None, launch, {})["blocks"] == 0.8
    main(["d128", f"ours_d128nc={sass_path},{raw}", "--s32", str(s32), "--opcodes", "5"])
    real = HERE.parent / "results" / "backward_vs_fa4_profile_s32.txt"
    if real.exists():  # s32's pair: its text table and SASS pages as committed
        got = {label: steps_of(label, k, {})[0] for label, k, _ in s32_runs(str(real)) if k}
        assert all(v == 228096 for v in got.values()), got
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    print("\nselftest: ok")
    return 0


def main(argv=None):
    if argv is None and sys.argv[1:] == ["--selftest"]:
        return selftest()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("metric-names")
    for name in ("steps", "l2", "smem", "segments"):
        p = sub.add_parser(name)
        p.add_argument("reports", nargs="+", help="NAME=SASS.csv[.gz],RAW.csv[.gz] (either)")
        p.add_argument("--steps", action="append", help="NAME=N: that kernel's CTA-steps")
        if name == "steps":
            p.add_argument("--number", action="store_true", help="print the first one's steps alone")
        if name == "segments":
            p.add_argument("--min-share", type=float, default=0.003,
                           help="list a plain segment with at least this share of the samples")
    p = sub.add_parser("d128")
    p.add_argument("reports", nargs="*", help="NAME=SASS.csv[.gz],RAW.csv[.gz] (RAW needed)")
    p.add_argument("--steps", action="append", help="NAME=N: that kernel's CTA-steps")
    p.add_argument("--s32", help="bench/results/backward_vs_fa4_profile_s32.txt: s32's llm-d128 "
                   "pair as two more columns (their SASS pages from the same folder)")
    p.add_argument("--opcodes", type=int, default=0, help="list this many opcodes an 80 x 128 block")
    args = ap.parse_args(argv)
    if args.command == "metric-names":
        print("\n".join(dict.fromkeys(S32_METRICS + EXTRA_METRICS)))
        return 0
    {"steps": cmd_steps, "l2": cmd_l2, "smem": cmd_smem, "segments": cmd_segments,
     "d128": cmd_d128}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
