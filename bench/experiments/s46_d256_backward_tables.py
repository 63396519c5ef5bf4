#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The d256 backward's tables beyond s42's (s46_d256_backward_profile.sh exports the pages; this
reads CSVs only, no ncu and no GPU, so it also runs here on what came back):

    metric-names                       s42's metric list plus this profile's candidates, one a
                                       line (the script drops those ncu does not list)
    steps NAME=SASS[,RAW] ...          each kernel's CTA-steps: from the dS barrier's executions
                                       (ours), from the HGMMA tensor cycles over a step's, and
                                       from the tile model of bench/workloads.json (llm-d256-causal)
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
    --selftest                         the commands on made-up pages

NAME is a label (ours_d256, fa4_d256, ours_d128 get their step model by name); RAW is `ncu
--import R --page raw --csv` and SASS `--page source --print-source sass --csv` (gzipped or not).
"""
import argparse
import collections
import csv
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
# A step's tile (queries, keys, head dim) by label prefix: tensor cycles a step = 5 products of
# 2 q k d FLOP at 4,096 dense bf16 FLOP a cycle an SM.
TILES = {"ours_d256": (64, 64, 256), "fa4_d256": (64, 48, 256), "ours_d128": (64, 128, 128)}
# The d256 workload's step model (queries of a causal segment from a k tile's first key on).
MODEL_TILES = {"ours_d256": (64, 64), "fa4_d256": (64, 48)}
# Bytes a bulk reduction adds (ours: an 8 KB box, 64 queries x 32 channels; FA4: a warpgroup's
# 32 KB, 64 queries x 128 channels, fa3_fa4_sm90_backward_d256_reading.md section 2).
BULK_BYTES = {"UTMAREDG": 8192, "UBLKRED": 32768}
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


def model_steps(label, workload="llm-d256-causal"):
    """CTA-steps of a causal q = k segment list for the label's (queries, keys) tile, or None."""
    tile = next((t for p, t in MODEL_TILES.items() if label.startswith(p)), None)
    if tile is None:
        return None
    try:
        spec = json.loads((HERE.parent / "workloads.json").read_text())
    except OSError:
        return None
    spec = spec if isinstance(spec, list) else spec.get("workloads", [])
    w = next((x for x in spec if x["name"] == workload), None)
    if w is None:
        return None
    q_tile, k_tile = tile
    steps = 0
    for length in w.get("lengths_q", w["lengths"]):
        for j in range(math.ceil(length / k_tile)):
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
    tile = next((t for p, t in TILES.items() if label.startswith(p)), None)
    if kernel is not None and tile:
        q, k, d = tile
        cycles = sum(tensor_cycles(kernel).values())
        if cycles:
            return cycles / (10 * q * k * d / 4096), f"HGMMA cycles / {10 * q * k * d // 4096}"
    model = model_steps(label)
    return (model, "tile model") if model else (math.nan, "unknown")


class Sass(sass_stalls.Kernel):
    """sass_stalls.Kernel with the page's column names (col) kept."""

    def __init__(self, path):
        super().__init__(path)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", newline="") as f:
            header = next((r for r in csv.reader(f) if r and r[0] == "Address"), [])
        self.col = {h: i for i, h in enumerate(header)}


def load(specs, need_raw=True):
    out = []
    for spec in specs:
        label, sass, raw = spec_parts(spec)
        kernel = Sass(sass) if sass else None
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
        for r in kernel.data:
            op = kernel.opcode(r)
            family = next((f for f in BULK_BYTES if op.startswith(f)), None)
            if family:
                bulk += kernel.executed(r) * BULK_BYTES[family] / 32
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
    kernel = Sass(str(sass_path))
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
    args = ap.parse_args(argv)
    if args.command == "metric-names":
        print("\n".join(dict.fromkeys(S32_METRICS + EXTRA_METRICS)))
        return 0
    {"steps": cmd_steps, "l2": cmd_l2, "smem": cmd_smem, "segments": cmd_segments}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
