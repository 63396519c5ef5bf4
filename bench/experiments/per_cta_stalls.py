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

Rows are matched by position (one binary: the same SASS in the same order; checked with the
absolute branch targets made offsets, as each process loads the module elsewhere). Samples are
scaled by each row's sampling interval (ncu picks it per launch) from the sibling .raw.csv.gz
that ncu_full.sh writes; a row with dropped samples is refused. Offsets printed are from the
kernel's first instruction (sass_stalls.py --listing prints absolute addresses' last digits).
The intercept is sensitive to the step term (a 1% drift in the longest row moves the per-CTA
total by ~15%), so the two-row fits are printed beside the full one as a stability check.
"""
import argparse
import collections
import csv
import gzip
import itertools
import pathlib
import re
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


def sampling(path):
    """(interval cycles, dropped bytes, sm__cycles_active.avg) from the sibling raw page."""
    raw = pathlib.Path(str(path).replace(".sass.csv", ".raw.csv"))
    if raw == pathlib.Path(path) or not raw.exists():
        return None
    opener = gzip.open if raw.suffix == ".gz" else open
    with opener(raw, "rt", newline="") as f:
        rows = list(csv.reader(f))
    head, values = rows[0], rows[-1]

    def value(name):
        return float(values[head.index(name)].replace(",", "")) if name in head else None
    return (value("smsp__pcsamp_interval_cycles"), value("smsp__pcsamp_dropped_bytes"),
            value("sm__cycles_active.avg"))


def load(spec):
    path, steps, ctas = spec
    k = Kernel(path)
    name = pathlib.Path(path).name.split(".")[0]
    got = sampling(path)
    if got is None or got[0] is None:
        print(f"{name}: no sampling interval (no .raw.csv.gz beside it): samples taken as they are")
        scale = 1.0
    else:
        interval, dropped, active = got
        if dropped:
            raise SystemExit(f"{name}: {dropped:.0f} bytes of warp samples dropped: refit without it")
        scale = interval
        if active:
            print(f"{name}: interval {interval:.0f} cycles; samples x interval / 132 = "
                  f"{k.total * interval / 132:,.0f} against sm__cycles_active.avg {active:,.0f}")
    return {"name": name, "kernel": k, "steps": steps, "ctas": ctas, "scale": scale,
            "start": int(k.data[0][0], 16)}


def text(row, start):
    """The SASS with absolute addresses (branch targets) as offsets from the kernel start."""
    return re.sub(r"0x[0-9a-fA-F]{9,}", lambda m: f"+{int(m.group(0), 16) - start:x}",
                  row[1].strip())


def same_code(rows):
    first = rows[0]
    for r in rows[1:]:
        a, b = first["kernel"].data, r["kernel"].data
        if len(a) != len(b) or any(text(x, first["start"]) != text(y, r["start"])
                                   for x, y in zip(a, b)):
            raise SystemExit(f"{r['name']}: not the same SASS as {first['name']}")


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
    n = len(rows[0]["kernel"].data)
    reasons = rows[0]["kernel"].reasons

    # Warp-cycles sampled: samples x the row's interval (1 if unknown), so rows compare.
    def sampled(r, i, column=None):
        k = r["kernel"]
        row = k.data[i]
        return r["scale"] * (k.samples(row) if column is None else k.count(row, column))

    def fit_rows(fitted, value):
        """alpha, beta of value(row, i) over `fitted`, for every instruction i."""
        return [fit2([(r["steps"], r["ctas"], value(r, i)) for r in fitted]) for i in range(n)]

    samples = fit_rows(rows, sampled)
    executed = fit_rows(rows, lambda r, i: r["kernel"].executed(r["kernel"].data[i]))
    short = min(rows, key=lambda r: r["steps"] / r["ctas"])
    total_beta = sum(b for _, b in samples)

    def total(r):
        return sum(sampled(r, i) for i in range(n))

    print("\nrows (warp-cycles sampled; the per-CTA share of them by the fit; fit / actual):")
    for r in rows + checks:
        fit = sum(a * r["steps"] + b * r["ctas"] for a, b in samples)
        print(f"  {r['name']:28s} {total(r):14,.0f}, {r['steps'] / r['ctas']:6.1f} steps a CTA: "
              f"per-CTA {100 * total_beta * r['ctas'] / max(total(r), 1):5.1f}%, fit / actual "
              f"{fit / max(total(r), 1):.3f}{'  (check)' if r in checks else ''}")

    # Class by executions: code run once a CTA (its executions' step term small at the short
    # row) against step code whose samples still carry a per-CTA part (waits at a tile's ends).
    # Positive and negative betas apart: a negative one (a step wait that grows with length)
    # would otherwise cancel a tile-end wait.
    def once(i):
        ea, eb = executed[i]
        return ea * short["steps"] < 0.1 * max(eb * short["ctas"], 1e-9)

    def by_class(fitted_samples):
        out = collections.Counter()
        for i, (_, b) in enumerate(fitted_samples):
            name = "run once a CTA" if once(i) else "run every step"
            out[(name, "+" if b >= 0 else "-")] += b
        return out

    pairs = list(itertools.combinations(rows, 2)) if len(rows) > 2 else []
    pair_fits = [(f"{a['name']}+{b['name']}", fit_rows([a, b], sampled)) for a, b in pairs]
    print(f"\nper-CTA warp-cycles a CTA by the code they land on (all rows"
          f"{''.join(f' | {name}' for name, _ in pair_fits)}):")
    classes = [by_class(samples)] + [by_class(f) for _, f in pair_fits]
    for key in sorted(set().union(*classes)):
        cells = " | ".join(f"{c[key]:12,.0f}" for c in classes)
        print(f"  {key[0]:16s} {key[1]}  {cells}")
    print(f"  {'total':16s}    " + " | ".join(f"{sum(c.values()):12,.0f}" for c in classes))

    print(f"\ntop {args.top} instructions by per-CTA warp-cycles (offset, a CTA, share of the "
          f"per-CTA total, the two-row fits' range, executions a CTA, SASS, the per-CTA part's "
          f"stall reasons):")
    order = sorted(range(n), key=lambda i: -samples[i][1])
    for i in order[: args.top]:
        row = short["kernel"].data[i]
        ea, eb = executed[i]
        spread = [f[i][1] for _, f in pair_fits]
        span = f"{min(spread):8,.0f}..{max(spread):<8,.0f}" if spread else ""
        by_reason = sorted(((fit2([(r["steps"], r["ctas"], sampled(r, i, col)) for r in rows])[1],
                             name) for name, col in reasons), reverse=True)
        why = " ".join(f"{name}:{100 * v / max(samples[i][1], 1e-9):.0f}%"
                       for v, name in by_reason[:2] if v > 0)
        print(f"  +{int(row[0], 16) - short['start']:06x} {samples[i][1]:10,.0f} "
              f"{100 * samples[i][1] / max(total_beta, 1e-9):5.1f}%  {span} "
              f"{ea * short['steps'] / short['ctas'] + eb:7.1f}  "
              f"{text(row, short['start'])[:56]:56s} {why}")

    for c in checks:
        excess = []
        for i in range(n):
            a, b = samples[i]
            excess.append((sampled(c, i) - (a * c["steps"] + b * c["ctas"]), i))
        over = sum(e for e, _ in excess)
        print(f"\n{c['name']}: actual - fit = {over:,.0f} warp-cycles "
              f"({100 * over / max(total(c), 1):+.1f}% of its {total(c):,.0f}); largest, by "
              f"instruction:")
        for e, i in sorted(excess, key=lambda t: -abs(t[0]))[: args.top // 2]:
            row = c["kernel"].data[i]
            print(f"  +{int(row[0], 16) - c['start']:06x} {e:+12,.0f}  "
                  f"{text(row, c['start'])[:56]:56s} {c['kernel'].top_reasons([row], 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
