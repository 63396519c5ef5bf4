#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tables from the pages hopper_backward_tail_diagnosis.sh exports (CSV only: no ncu, no GPU;
it also runs here on the pages.tgz that came back, unpacked):

    python3 bench/experiments/hopper_backward_tail_diagnosis.py PAGES_DIR

PAGES_DIR holds NAME.raw.csv.gz (`ncu --import R --page raw --csv --print-units base`, one
dK/dV launch) and for some runs NAME.sass.csv.gz (`--page source --print-source sass --csv`).
NAME is VARIANT_ROW: variants H (the tree), S (the split-step patch), Pr (probe: no dQ
reductions in CTAs of <= 64 keys), Pg (probe: CTAs of <= 64 keys only pass the ring); rows
s257, k256 (tail-d64-s257 and its -k256 control), vit, k1024 (vit-l14-d64 and -k1024).

Prints: (1) the metrics side by side; (2) the static model of tensor-pipe cycles and L2
reduction sectors against the counters; (3) per 1-key CTA: the row less its control (the
control has as many CTAs that exit at once: its grid is the same size), instructions, tensor
cycles, L2 sectors, stall warp-cycles by reason; (4) the split patch and the probes against H;
(5) from the SASS pages: where the 1-key CTAs' warps wait (samples of the row less its
control, address by address, same binary), and the code the control never runs (the split
arm's HGMMAs there are the proof that the split ran). See hopper_backward_tail_diagnosis.md.
"""
import collections
import math
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import sass_stalls  # noqa: E402  (bench/sass_stalls.py)
from s42_d64_backward_tables import number, read_csv_rows  # noqa: E402

SMS = 132
# Rows: (CTAs of the row, of them 1-key tail CTAs, main steps a CTA). The -k controls launch
# the same grid (k_capacity = rows_k / 128 + segments) with as many CTAs exiting at once.
ROWS = {
    "s257": dict(row="tail-d64-s257", full=8160, tail=4080, steps=2, control="k256"),
    "k256": dict(row="tail-d64-s257-k256", full=8160, tail=0, steps=2, control=None),
    "vit": dict(row="vit-l14-d64", full=8192, tail=1024, steps=8, control="k1024"),
    "k1024": dict(row="vit-l14-d64-k1024", full=8192, tail=0, steps=8, control=None),
}
VARIANTS = {"H": "HEAD", "S": "split-step patch", "Pr": "probe: no dQ reductions (<=64 keys)",
            "Pg": "probe: ring only (<=64 keys)"}
# Tensor-pipe cycles, in units of one m64n64k16 (32 cycles at 2,048 bf16 MACs a cycle an SM;
# the model matched s42's vit figure, 48.47% of peak, to four digits): a full main step 80
# (S, dP, dV, dK, dQ: 8 each a warpgroup), a full tail step (32 queries) 20; a 1-key CTA's main
# step 48 in H (warpgroup 0's 40, warpgroup 1's dQ 8), 40 in S (20 each), its tail step 12.
U = 32
TAIL_MAIN_U = {"H": 48, "S": 40, "Pr": 48, "Pg": 0}
TAIL_TAIL_U = {"H": 12, "S": 12, "Pr": 12, "Pg": 0}
# L2 reduction sectors (32 B): a main step's two 128-row x 32-channel float32 boxes, 1,024,
# whatever the keys; a 1-row tail step 8 (rows past the segment clipped).
RED_MAIN, RED_TAIL = 1024, 8
STALL = re.compile(r"^smsp__average_warps_issue_stalled_(\w+)_per_issue_active\.ratio$")
# Units to scale: time to us, prefixed counts and bytes to plain ones. ncu 2025 writes short
# units ("ns", "us", "ms", "B", "KB"; s43's pages: "ms", "%", "inst"), older ones long
# ("nsecond", "Kbyte"); --print-units base should leave no prefix, but both spellings are here.
TIME = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3,
        "s": 1e6, "second": 1e6}
PREFIX = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
COUNTS = ("B", "byte", "sector", "inst", "cycle", "warp", "request", "wavefront", "thread")


def unit_scale(unit):
    u = unit.strip()
    if u in TIME:
        return TIME[u]
    if len(u) > 1 and u[0] in PREFIX and u[1:] in COUNTS:
        return PREFIX[u[0]]
    return 1.0
# Raw-page columns left out of table (1): device attributes and the like, hundreds of rows.
NOISE = ("device__", "derived__", "c2clink__", "nvlrx__", "nvltx__", "nvlink__", "numa__",
         "pmsampling", "profiler__", "smsp__pcsamp_", "dmma", "launch__func", "launch__uses")
WAITS = ("BAR.SYNC", "BAR.ARV", "WARPGROUP.DEPBAR", "SYNCS.PHASECHK", "DEPBAR", "MEMBAR")


def raw(path):
    """{metric: value} of the page's first launch (units scaled: time to us, bytes to bytes)."""
    rows = read_csv_rows(str(path))
    if len(rows) < 2:
        return {}
    header = rows[0]
    units = rows[1] if rows[1] and rows[1][0] == "" else [""] * len(header)
    data = [r for r in rows[1:] if len(r) == len(header) and r[0] != ""]
    if not data:
        return {}
    out = {}
    for h, v, u in zip(header, data[0], units):
        x = number(v)
        out[h] = x * unit_scale(u) if not math.isnan(x) else v
    return out


def val(m, key):
    x = m.get(key, math.nan)
    return x if isinstance(x, float) else math.nan


def fmt(x):
    if isinstance(x, str):
        return x[:14]
    if math.isnan(x):
        return "-"
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:,.3f}M"
    if a >= 1e3:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def predicted_hmma(variant, row):
    r = ROWS[row]
    full = r["full"] * (r["steps"] * 80 + 20)
    tail = r["tail"] * (r["steps"] * TAIL_MAIN_U.get(variant, 48) + TAIL_TAIL_U.get(variant, 12))
    return (full + tail) * U


def predicted_red(variant, row):
    r = ROWS[row]
    per = r["steps"] * RED_MAIN + RED_TAIL
    tail_per = 0 if variant in ("Pr", "Pg") else per
    return r["full"] * per + r["tail"] * tail_per


def stall_sums(m):
    """Warp-cycles stalled by reason: the ratio a issue times the issue-active cycles."""
    issue = val(m, "smsp__issue_active.sum")
    return {STALL.match(k).group(1): v * issue for k, v in m.items()
            if STALL.match(k) and isinstance(v, float)}


def sass_base(kernel):
    """The kernel's first address on its SASS page (0 if the column holds no hex)."""
    try:
        return min(int(r[0], 16) for r in kernel.data)
    except ValueError:
        return 0


def sass_offset(row, base):
    try:
        return int(row[0], 16) - base
    except ValueError:
        return row[0]


def sass_text(row, base):
    """The instruction with absolute branch targets made kernel offsets (as in --page source)."""
    return re.sub(r"0x[0-9a-f]{9,}",
                  lambda m: f"+{int(m.group(0), 16) - base:#x}" if int(m.group(0), 16) >= base
                  else m.group(0), row[1].strip())


def main() -> int:
    pages = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    runs = {}
    for p in sorted(pages.glob("*.raw.csv.gz")):
        name = p.name[:-len(".raw.csv.gz")]
        m = raw(p)
        if m:
            runs[name] = m
    if not runs:
        print(f"no raw pages in {pages}")
        return 1
    order = [f"{v}_{r}" for v in VARIANTS for r in ROWS if f"{v}_{r}" in runs]
    order += [n for n in runs if n not in order]

    # (1) the metrics side by side
    metrics = []
    for m in runs.values():
        for k in m:
            if "__" in k and not STALL.match(k) and not k.startswith(NOISE) and k not in metrics:
                metrics.append(k)
    print("## (1) one dK/dV launch each (ncu --clock-control none; time in us, bytes in bytes)\n")
    print("| metric | " + " | ".join(order) + " |")
    print("|---|" + "---:|" * len(order))
    for k in metrics:
        print(f"| {k} | " + " | ".join(fmt(runs[n].get(k, math.nan)) for n in order) + " |")
    reasons = sorted({r for n in order for r in stall_sums(runs[n])},
                     key=lambda r: -max(stall_sums(runs[n]).get(r, 0) for n in order))
    for r in reasons[:14]:
        print(f"| stall {r} (warp-cycles) | "
              + " | ".join(fmt(stall_sums(runs[n]).get(r, math.nan)) for n in order) + " |")

    # (2) the static model against the counters
    print("\n## (2) model: tensor-pipe cycles (sm__pipe_tensor_op_hmma_cycles_active.sum) and "
          "L2 reduction sectors (lts__t_sectors_op_red.sum)\n")
    print("| run | hmma measured | hmma model | meas/model | red measured | red model | meas/model |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in order:
        v, _, row = n.partition("_")
        if row not in ROWS:
            continue
        hm, hp = val(runs[n], "sm__pipe_tensor_op_hmma_cycles_active.sum"), predicted_hmma(v, row)
        rm, rp = val(runs[n], "lts__t_sectors_op_red.sum"), predicted_red(v, row)
        print(f"| {n} | {fmt(hm)} | {fmt(hp)} | {hm / hp:.4f} | {fmt(rm)} | {fmt(rp)} | "
              f"{rm / rp if rp else math.nan:.4f} |")

    # (3) per 1-key CTA: the row less its control
    print("\n## (3) per 1-key tail CTA: (row - control) / tail CTAs; per full CTA: control / "
          "full CTAs (its early-exit CTAs included)\n")
    keys = [("SM-time us (duration x 132 / CTAs)", "gpu__time_duration.sum", SMS),
            ("SM cycles (sm__cycles_active.avg x 132)", "sm__cycles_active.avg", SMS),
            ("instructions", "smsp__inst_executed.sum", 1),
            ("issue-active cycles", "smsp__issue_active.sum", 1),
            ("tensor-pipe cycles", "sm__pipe_tensor_op_hmma_cycles_active.sum", 1),
            ("XU (MUFU) instructions", "sm__inst_executed_pipe_xu.sum", 1),
            ("L2 red sectors", "lts__t_sectors_op_red.sum", 1),
            ("L2 read sectors", "lts__t_sectors_op_read.sum", 1),
            ("L2 write sectors", "lts__t_sectors_op_write.sum", 1),
            ("shared wavefronts", "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum", 1),
            ("warp-cycles active", "sm__warps_active.sum", 1)]
    pairs = []
    for v in VARIANTS:
        for row, r in ROWS.items():
            c = r["control"]
            if c and f"{v}_{row}" in runs and f"H_{c}" in runs:
                # the control of the same binary where it was run, else H's (same code path)
                cn = f"{v}_{c}" if f"{v}_{c}" in runs else f"H_{c}"
                pairs.append((f"{v}_{row}", cn, r["tail"], ROWS[c]["full"], r["steps"]))
    if pairs:
        print("| per CTA | " + " | ".join(f"1-key {a} - {b}" for a, b, *_ in pairs)
              + " | " + " | ".join(f"full {b}" for b in dict.fromkeys(b for _, b, *_ in pairs))
              + " |")
        print("|---|" + "---:|" * (len(pairs) + len(dict.fromkeys(b for _, b, *_ in pairs))))
        for label, key, scale in keys:
            cells = [(val(runs[a], key) - val(runs[b], key)) * scale / t for a, b, t, *_ in pairs]
            fulls = [val(runs[b], key) * scale / f
                     for b, f in dict.fromkeys((b, f) for _, b, _, f, _ in pairs)]
            print(f"| {label} | " + " | ".join(fmt(x) for x in cells) + " | "
                  + " | ".join(fmt(x) for x in fulls) + " |")
        for r in reasons[:12]:
            cells = [(stall_sums(runs[a]).get(r, 0) - stall_sums(runs[b]).get(r, 0)) / t
                     for a, b, t, *_ in pairs]
            fulls = [stall_sums(runs[b]).get(r, 0) / f
                     for b, f in dict.fromkeys((b, f) for _, b, _, f, _ in pairs)]
            print(f"| stall {r} warp-cycles | " + " | ".join(fmt(x) for x in cells) + " | "
                  + " | ".join(fmt(x) for x in fulls) + " |")
        # per step and per CTA: two rows with 2 and 8 main steps give c = F + steps x s
        for v in VARIANTS:
            a, b = f"{v}_s257", f"{v}_vit"
            if a in runs and b in runs and "H_k256" in runs and "H_k1024" in runs:
                def one_key(n, c, t):
                    return (val(runs[n], "gpu__time_duration.sum")
                            - val(runs[c], "gpu__time_duration.sum")) * SMS / t
                c2, c8 = one_key(a, "H_k256", 4080), one_key(b, "H_k1024", 1024)
                s = (c8 - c2) / 6
                f2 = val(runs["H_k256"], "gpu__time_duration.sum") * SMS / 8160
                f8 = val(runs["H_k1024"], "gpu__time_duration.sum") * SMS / 8192
                sf = (f8 - f2) / 6
                print(f"\n{v}: 1-key CTA = {c2 - 2 * s:.2f} us fixed + {s:.3f} us a main step "
                      f"(from s257 {c2:.2f}, vit {c8:.2f}); full CTA = {f2 - 2 * sf:.2f} + "
                      f"{sf:.3f} a step (k256 {f2:.2f}, k1024 {f8:.2f}); 1-key / full step "
                      f"{s / sf if sf else math.nan:.2f}")

    # (4) the split patch and the probes against H, row by row
    print("\n## (4) variants against H (same row)\n")
    print("| row | variant | duration us | vs H | of the 1-key cost (row - control) | "
          "tensor cycles vs H (model) | instructions vs H |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row, r in ROWS.items():
        h = runs.get(f"H_{row}")
        if not h:
            continue
        c = runs.get(f"H_{r['control']}") if r["control"] else None
        cost = (val(h, "gpu__time_duration.sum") - val(c, "gpu__time_duration.sum")) if c else math.nan
        for v in VARIANTS:
            m = runs.get(f"{v}_{row}")
            if not m or v == "H":
                continue
            d = val(m, "gpu__time_duration.sum") - val(h, "gpu__time_duration.sum")
            dh = val(m, "sm__pipe_tensor_op_hmma_cycles_active.sum") - val(
                h, "sm__pipe_tensor_op_hmma_cycles_active.sum")
            model = predicted_hmma(v, row) - predicted_hmma("H", row)
            di = val(m, "smsp__inst_executed.sum") - val(h, "smsp__inst_executed.sum")
            print(f"| {r['row']} | {v} | {val(m, 'gpu__time_duration.sum'):.1f} | {d:+.1f} "
                  f"({100 * d / val(h, 'gpu__time_duration.sum'):+.2f}%) | "
                  f"{100 * -d / cost if cost == cost and cost else math.nan:.0f}% removed | "
                  f"{fmt(dh)} ({fmt(model)}) | {fmt(di)} |")

    # (5) the SASS pages: where the 1-key CTAs wait, and the code only they run
    for v in VARIANTS:
        a, b = pages / f"{v}_s257.sass.csv.gz", pages / f"{v}_k256.sass.csv.gz"
        if not (a.exists() and b.exists()):
            continue
        ka, kb = sass_stalls.Kernel(str(a)), sass_stalls.Kernel(str(b))
        # The page's addresses are where the module was loaded in that process (s42's two runs
        # of one binary: 0x7f8f3b7bc900 and 0x7f88777bd900): rows match by offset in the kernel.
        base_a, base_b = sass_base(ka), sass_base(kb)
        rows_b = {sass_offset(r, base_b): r for r in kb.data}
        same = len(ka.data) == len(kb.data) and all(
            sass_offset(r, base_a) in rows_b
            and sass_text(rows_b[sass_offset(r, base_a)], base_b) == sass_text(r, base_a)
            for r in ka.data)
        print(f"\n## (5) {v} ({VARIANTS[v]}): tail-d64-s257 less -k256, offset by offset "
              f"({'same SASS' if same else 'SASS DIFFERS: rows matched by offset only'}); "
              f"samples {ka.total:,} - {kb.total:,} = {ka.total - kb.total:+,}")
        delta = []
        for r in ka.data:
            rb = rows_b.get(sass_offset(r, base_a))
            ds = ka.samples(r) - (kb.samples(rb) if rb else 0)
            de = ka.executed(r) - (kb.executed(rb) if rb else 0)
            reasons_d = collections.Counter()
            for (name, i), (_, j) in zip(ka.reasons, kb.reasons):
                reasons_d[name] = ka.count(r, i) - (kb.count(rb, j) if rb else 0)
            delta.append((r, ds, de, reasons_d, kb.executed(rb) if rb else 0))
        by_kind = collections.Counter()
        for r, ds, *_ in delta:
            op = ka.opcode(r)
            kind = next((w for w in WAITS if op.startswith(w)), None)
            kind = kind or ("HGMMA" if op.startswith("HGMMA") else
                            "MUFU" if op.startswith("MUFU") else "other")
            by_kind[kind] += ds
        total = sum(ds for _, ds, *_ in delta)
        print("  delta samples by kind: " + "  ".join(
            f"{k} {v_:+,} ({100 * v_ / total if total else 0:.0f}%)" for k, v_ in by_kind.most_common()))
        reason_total = collections.Counter()
        for *_, rd, _ in delta:
            reason_total.update(rd)
        print("  delta samples by reason: " + "  ".join(
            f"{k} {v_:+,}" for k, v_ in reason_total.most_common(8)))
        print("  top addresses by delta samples (address, SASS, delta samples, delta executions, "
              "top delta reasons):")
        for r, ds, de, rd, _ in sorted(delta, key=lambda x: -x[1])[:22]:
            top = " ".join(f"{k}:{x:+}" for k, x in rd.most_common(2) if x)
            print(f"    {sass_offset(r, base_a):#07x} {sass_text(r, base_a)[:58]:58s} {ds:+7,} "
                  f"{de:+11,}  {top}")
        only = [(r, ds, de) for r, ds, de, _, eb in delta if eb == 0 and ka.executed(r) > 0]
        hg = sum(ka.executed(r) for r, _, _ in only if ka.opcode(r).startswith("HGMMA"))
        print(f"  code the control never runs: {len(only)} SASS rows, "
              f"{sum(ka.executed(r) for r, _, _ in only):,} warp-instructions executed, "
              f"{hg:,} of them HGMMA, {sum(ds for _, ds, _ in only):,} samples "
              "(S: the split arm's HGMMAs, 2 steps x 4080 CTAs x 8 warps x 20 = 1,305,600 expected; "
              "H: none expected, its 1-key CTAs run the full step's code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
