#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The d128 dK/dV loop step, ours against FA4's sm90 backward, by segments in cycles a
consumer warp and step, from s57's ncu source pages (dkdv_d128_step_vs_fa4_s71.md).

    python3 bench/experiments/dkdv_d128_step_vs_fa4_s71.py OURS_DIR FA4_DIR [--segments]

OURS_DIR holds sweep-d128-s{1024,16384}.{sass.csv.gz,txt} (s57_dkdv_per_cta_h100/pages.tgz
unpacked), FA4_DIR fa4_sweep-d128-s{1024,16384}.* (s57_fa4_pages_h100). Every row from the
consumer loop's top to its back edge counts, whatever its execution count (paths one
warpgroup takes, the masked path, the one warp's tensor reductions), plus the out-of-line
retries of the ring waits, divided by RUNS = CTAs that run steps x steps a CTA x 8 consumer
warps: a path one warpgroup takes counts half. Two scales:
  abs: samples / (median "selected" samples of the instructions issued exactly RUNS times):
       a warp's own cycles (s68 item 4's scale: an issue is one selected cycle, whatever the
       sampling interval and the number of warps resident);
  s70: samples x smsp__cycles_active.avg x 528 / all samples / RUNS (sass_stalls.py --loop
       --smsp-cycles): a warp's cycles / the warps resident on a sub-partition. Ours keeps
       11.95 warps active a SM and FA4 9.97 (its idle producer warps leave), so only abs
       compares the two kernels here (at d80, s70, both ran ~12.9-13.0: there it did).
"""
import csv
import gzip
import re
import statistics
import sys

# (first address's last 6 hex digits, label, aligned row); a segment runs to the next start.
OURS = [
    ("7cdf10", "place_step, ring parity", "top"),
    ("7ce520", "full barrier wait (Q, dO, lse, D; K, V at step 0)", "ring"),
    ("7ce540", "role branches, descriptors, WARPGROUP.ARRIVE", "pre"),
    ("7ce670", "S^T issue (8 HGMMA 64x80)", "S"),
    ("7ce840", "dP^T issue (8 HGMMA 64x80)", "dP"),
    ("7ce990", "S^T wait (DEPBAR.LE 1)", "Swait"),
    ("7ce9a0", "P^T first half: 10 lse LDS.64, FFMA, 20 MUFU (+ masked path)", "P1"),
    ("7cff80", "dP^T wait (DEPBAR.LE 0)", "dPwait"),
    ("7cff90", "P^T second half + dS^T + pack + 5 STSM", "P2dS"),
    ("7d0a80", "wg0: dV + dK issue (10 HGMMA 64x128)", "pre_bar"),
    ("7d0c10", "inactive warpgroup's zero dS (never here)", "pre_bar"),
    ("7d0cf0", "dS fence; dQ descriptors; wg1's bulk_wait_read", "fence"),
    ("7d0e00", "dS barrier (BAR.SYNC 1, 256)", "bar"),
    ("7d0e70", "dQ^T issue (8 HGMMA 64x80)", "dQ"),
    ("7d0fd0", "wg0: dQ wait (DEPBAR.LE 0: dV, dK, dQ)", "post"),
    ("7d0ff0", "wg1: dV + dK issue, DEPBAR.LE 2 (dQ)", "post"),
    ("7d1190", "dQ staging: 40 STS.32", "stage"),
    ("7d1430", "staging fence (MEMBAR, FENCE.VIEW.ASYNC)", "sfence"),
    ("7d1490", "barrier 3 (wg0 arrives, wg1 syncs); wg1 warp 0: 4 UTMAREDG", "handoff"),
    ("7d1790", "DEPBAR.LE 0, empty arrive, order.next, back edge", "end"),
    ("7d1890", None, None),
]
FA4 = [
    ("7c1150", "ring parity", "top"),
    ("7c1180", "Q full barrier wait (Q, lse)", "ring"),
    ("7c11c0", "descriptors, 10 lse LDS.64 ahead of S^T", "pre"),
    ("7c1310", "S^T issue (8 HGMMA 64x80)", "S"),
    ("7c1530", "dO full barrier wait (dO, dPsum)", "ring"),
    ("7c1570", "dP^T issue (8 HGMMA 64x80)", "dP"),
    ("7c18d0", "S^T wait (DEPBAR.LE 1)", "Swait"),
    ("7c18e0", "P^T: FSEL, FFMA, 9 MUFU, 10 dPsum LDS.64", "P1"),
    ("7c1f40", "dP^T wait (DEPBAR.LE 0)", "dPwait"),
    ("7c1f50", "31 MUFU + dS^T + pack + 5 STSM", "P2dS"),
    ("7c2930", "dV issue (5 HGMMA 64x128), both warpgroups", "pre_bar"),
    ("7c2a60", "dS fence (MEMBAR, FENCE.VIEW.ASYNC)", "fence"),
    ("7c2ad0", "dS barrier (BAR.SYNC 5, 256)", "bar"),
    ("7c2af0", "dQ^T issue (8 HGMMA; the first carries the barrier's tail)", "dQ"),
    ("7c2c20", "dV wait (DEPBAR.LE 1), dO release", "post"),
    ("7c2c40", "dK issue (5 HGMMA 64x128)", "post"),
    ("7c2cf0", "dQ wait (DEPBAR.LE 1)", "post"),
    ("7c2d00", "dQ buffer free (BAR.SYNC with the writer warp, 160)", "stage"),
    ("7c2d20", "dQ staging: 10 STS.128", "stage"),
    ("7c2dc0", "staging fence (MEMBAR, FENCE.VIEW.ASYNC)", "sfence"),
    ("7c2de0", "BAR.ARV to the writer warp (160)", "handoff"),
    ("7c2df0", "DEPBAR.LE 0 (dK), Q release, back edge", "end"),
    ("7c2e50", None, None),
]
ROWS = [  # aligned rows of the side-by-side table
    ("top", "step top (bookkeeping)"), ("ring", "ring waits"), ("pre", "before S^T's issue"),
    ("S", "S^T issue"), ("dP", "dP^T issue"), ("Swait", "S^T wait"),
    ("P1", "P^T to the dP^T wait"), ("dPwait", "dP^T wait"), ("P2dS", "rest of P^T, dS^T, STSM"),
    ("pre_bar", "products issued before the dS barrier"), ("fence", "dS fence"),
    ("bar", "dS barrier"), ("dQ", "dQ^T issue"), ("post", "after dQ^T: other issues, waits"),
    ("stage", "dQ staging stores"), ("sfence", "staging fence"), ("handoff", "dQ hand-off"),
    ("end", "step end, back edge"),
]
# Out-of-line retries of the consumers' ring waits (counted in the wait they belong to).
OUT_OF_LINE = {"ours": [("7d9dc0", "7d9df0", "7ce520")],
               "fa4": [("7c5410", "7c5470", "7c1180"), ("7c5470", "7c54d0", "7c1530")]}


def load(path):
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    at = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
    header = rows[at]
    col = {h: i for i, h in enumerate(header)}

    def num(r, name):
        return int((r[col[name]] or "0").replace(",", ""))
    return [{"addr": r[0][-6:], "samples": num(r, "Warp Stall Sampling (All Samples)"),
             "executed": num(r, "Instructions Executed"),
             "selected": num(r, "stall_selected")}
            for r in rows[at + 1:] if len(r) == len(header)]


def details(path):
    text = open(path).read()

    def metric(name):
        m = re.search(r"^\s*" + re.escape(name) + r"\s+(?:[a-z]+\s+)?([\d,\.]+)\s*$", text,
                      re.MULTILINE)
        return float(m.group(1).replace(",", ""))
    return {"elapsed": metric("Elapsed Cycles"), "sm_active": metric("SM Active Cycles"),
            "smsp_active": metric("Average SMSP Active Cycles"), "grid": metric("Grid Size"),
            "warps": metric("Achieved Active Warps Per SM")}


def segments(rows, segs, out_of_line, runs, smsp_active):
    total = sum(r["samples"] for r in rows)
    selected = statistics.median(r["selected"] for r in rows if r["executed"] == runs)
    s70 = smsp_active * 528 / total / runs
    starts = [int(a, 16) for a, _, _ in segs]
    sums = [0] * (len(segs) - 1)
    for r in rows:
        a = int(r["addr"], 16)
        for lo, hi, into in out_of_line:
            if int(lo, 16) <= a < int(hi, 16):
                a = int(into, 16)
        for i in range(len(segs) - 1):
            if starts[i] <= a < starts[i + 1]:
                sums[i] += r["samples"]
    return [(segs[i][1], segs[i][2], n / selected, n * s70) for i, n in enumerate(sums)], \
        selected, total


def main():
    ours_dir, fa4_dir = sys.argv[1], sys.argv[2]
    show_segments = "--segments" in sys.argv
    aligned = {}
    for row, steps in (("s1024", 13), ("s16384", 205)):  # ceil(L / 80) steps a CTA
        runs = 8192 * steps * 8  # 16 heads x L / 128 x segments = 8,192 CTAs run steps
        for name, base, segs in (("ours", f"{ours_dir}/sweep-d128-{row}", OURS),
                                 ("fa4", f"{fa4_dir}/fa4_sweep-d128-{row}", FA4)):
            d = details(base + ".txt")
            rows = load(base + ".sass.csv.gz")
            res, sel, total = segments(rows, segs, OUT_OF_LINE[name], runs, d["smsp_active"])
            step_abs = sum(c for _, _, c, _ in res)
            step_s70 = sum(c for _, _, _, c in res)
            cta_step = d["sm_active"] * 132 / 8192 / steps
            print(f"{name} {row}: grid {d['grid']:.0f} (8,192 run steps), RUNS {runs:,}, "
                  f"warps active a SM {d['warps']:.2f}, elapsed {d['elapsed']:,.0f}, "
                  f"SM active {d['sm_active']:,.0f} = {cta_step:,.0f} a CTA-step; median "
                  f"selected {sel}; loop {step_abs:,.0f} cycles a warp-step (abs), "
                  f"{step_s70:,.0f} (s70 scale)")
            if show_segments:
                for label, _, c_abs, c_s70 in res:
                    print(f"   {c_abs:7.0f} {c_s70:7.0f}  {label}")
            for _, group, c_abs, _ in res:
                aligned.setdefault((row, name), {}).setdefault(group, 0.0)
                aligned[(row, name)][group] += c_abs
    print(f"\n{'cycles a warp-step (abs)':42s} {'s16384 ours':>11s} {'FA4':>6s} {'diff':>6s}"
          f" {'s1024 ours':>11s} {'FA4':>6s} {'diff':>6s}")
    totals = {k: 0.0 for k in aligned}
    for key, label in ROWS:
        cells = []
        for row in ("s16384", "s1024"):
            o, f = aligned[(row, "ours")].get(key, 0.0), aligned[(row, "fa4")].get(key, 0.0)
            totals[(row, "ours")] += o
            totals[(row, "fa4")] += f
            cells.append(f"{o:11.0f} {f:6.0f} {o - f:+6.0f}")
        print(f"{label:42s} " + " ".join(cells))
    cells = []
    for row in ("s16384", "s1024"):
        o, f = totals[(row, "ours")], totals[(row, "fa4")]
        cells.append(f"{o:11.0f} {f:6.0f} {o - f:+6.0f}")
    print(f"{'step':42s} " + " ".join(cells))


if __name__ == "__main__":
    main()
