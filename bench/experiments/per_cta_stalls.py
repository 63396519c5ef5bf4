#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where a kernel's per-CTA cost sits, instruction by instruction (fifty-sixth session).

s56's cycle fit (dkdv_short_tile_call.sh) split the Hopper d128 dK/dV kernel's SM time into
~4,100 cycles a CTA-step and ~8,400-12,500 a CTA: 12-17% of long-d128-window1024's kernel. This
takes the same fit to each SASS instruction. Given ncu source pages (SASS CSV, as
ncu_full.sh writes them) of one binary on rows that differ in steps a CTA, it fits every
instruction's warp-stall samples (and executions) as alpha x CTA-steps + beta x CTAs by least
squares, and prints where the beta part (the samples a CTA pays whatever its length) lands:
by instruction, with its stall reasons, and by class (code that runs once a CTA against code
that runs every step but waits longer at a tile's start or end). --check rows (the window
row, say) are then set against the fit, instruction by instruction: what masking adds.

    per_cta_stalls.py s1024.sass.csv.gz:STEPS:CTAS s16384.sass.csv.gz:STEPS:CTAS ... \
        [--check window.sass.csv.gz:STEPS:CTAS] [--top 30]

Rows are matched by position (one binary: the same SASS in the same order; checked).
"""
import argparse
import collections
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sass_stalls import Kernel  # noqa: E402


def row_spec(text):
    path, steps, ctas = text.rsplit(":", 2)
    return path, float(steps), float(ctas)


def fit2(points):
    """Least squares of y = a x + b c over (x, c, y); with c constant, b is the intercept / c."""
    sxx = sum(x * x for x, _, _ in points)
    scc = sum(c * c for _, c, _ in points)
    sxc = sum(x * c for x, c, _ in points)
    sxy = sum(x * y for x, _, y in points)
    scy = sum(c * y for _, c, y in points)
    det = sxx * scc - sxc * sxc
    if abs(det) < 1e-9 * max(sxx * scc, 1.0):
        raise SystemExit("the rows do not separate steps from CTAs (give rows of other lengths)")
    return (sxy * scc - scy * sxc) / det, (scy * sxx - sxy * sxc) / det


def load(spec):
    path, steps, ctas = spec
    k = Kernel(path)
    return {"name": pathlib.Path(path).name.split(".")[0], "kernel": k, "steps": steps,
            "ctas": ctas}


def same_code(rows):
    first = rows[0]["kernel"].data
    for r in rows[1:]:
        other = r["kernel"].data
        if len(other) != len(first) or any(a[1].strip() != b[1].strip()
                                           for a, b in zip(first, other)):
            raise SystemExit(f"{r['name']}: not the same SASS as {rows[0]['name']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", nargs="+", type=row_spec, help="CSV:CTA_STEPS:CTAS (two or more)")
    ap.add_argument("--check", action="append", type=row_spec, default=[],
                    help="CSV:CTA_STEPS:CTAS of a row to set against the fit")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    if len(args.rows) < 2:
        ap.error("two rows or more")
    rows = [load(s) for s in args.rows]
    checks = [load(s) for s in args.check]
    same_code(rows + checks)
    base = rows[0]["kernel"]
    n = len(base.data)

    def per_instruction(value):
        """alpha, beta of value(kernel, i) over the fitted rows, for every instruction i."""
        out = []
        for i in range(n):
            pts = [(r["steps"], r["ctas"], value(r["kernel"], i)) for r in rows]
            out.append(fit2(pts))
        return out

    samples = per_instruction(lambda k, i: k.samples(k.data[i]))
    executed = per_instruction(lambda k, i: k.executed(k.data[i]))
    short = min(rows, key=lambda r: r["steps"] / r["ctas"])

    print("rows (samples, per-CTA share of them by the fit, fit / actual):")
    for r in rows + checks:
        k = r["kernel"]
        beta = sum(b for _, b in samples) * r["ctas"]
        fit = sum(a * r["steps"] + b * r["ctas"] for a, b in samples)
        print(f"  {r['name']:28s} {k.total:9d} samples, {r['steps'] / r['ctas']:6.1f} steps a "
              f"CTA: per-CTA {100 * beta / max(k.total, 1):5.1f}%, fit / actual "
              f"{fit / max(k.total, 1):.3f}{'  (check)' if r in checks else ''}")

    # Class by executions: code run once a CTA (its executions' step term small at the short
    # row) against step code whose samples still carry a per-CTA part (waits at a tile's ends).
    by_class = collections.Counter()
    for (ea, eb), (sa, sb) in zip(executed, samples):
        once = ea * short["steps"] < 0.1 * max(eb * short["ctas"], 1e-9)
        by_class["run once a CTA" if once else "run every step"] += sb
    total_beta = sum(b for _, b in samples)
    print("\nper-CTA samples by the code they land on (a CTA's share):")
    for name, v in by_class.most_common():
        print(f"  {name:16s} {v:10.2f} samples a CTA  {100 * v / max(total_beta, 1e-9):5.1f}%")

    print(f"\ntop {args.top} instructions by per-CTA samples (offset, per CTA, share of the "
          f"per-CTA total, executions a CTA, SASS, {short['name']}'s stall reasons):")
    order = sorted(range(n), key=lambda i: -samples[i][1])
    start = int(short["kernel"].data[0][0], 16)
    for i in order[: args.top]:
        row = short["kernel"].data[i]
        ea, eb = executed[i]
        per_cta_exec = ea * short["steps"] / short["ctas"] + eb
        print(f"  +{int(row[0], 16) - start:06x} {samples[i][1]:8.3f} "
              f"{100 * samples[i][1] / max(total_beta, 1e-9):5.1f}%  {per_cta_exec:7.1f}  "
              f"{row[1].strip()[:60]:60s} {short['kernel'].top_reasons([row], 2)}")

    for c in checks:
        k = c["kernel"]
        start = int(k.data[0][0], 16)
        excess = []
        for i in range(n):
            a, b = samples[i]
            excess.append((k.samples(k.data[i]) - (a * c["steps"] + b * c["ctas"]), i))
        total = sum(e for e, _ in excess)
        print(f"\n{c['name']}: actual - fit = {total:.0f} samples "
              f"({100 * total / max(k.total, 1):+.1f}% of its {k.total}); largest, by instruction:")
        for e, i in sorted(excess, key=lambda t: -abs(t[0]))[: args.top // 2]:
            row = k.data[i]
            print(f"  +{int(row[0], 16) - start:06x} {e:+9.0f}  {row[1].strip()[:60]:60s} "
                  f"{k.top_reasons([row], 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
