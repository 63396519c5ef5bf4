#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host-built vs device-built Hopper forward orders on llm-d128 (s39 helper study; no GPU).

A list-scheduling model of the persistent grid (132 SMs; each CTA takes the next rank from
the tile counter when its tile ends) over the rank sequences of both plans and of alternative
orders, plus an L2 model of k/v reuse (LRU over (segment, head) k/v blocks, pinned while a
tile that reads them is in flight) and a time-resolved DRAM demand.

  python3 order_model.py                # the tables of host_device_order_s39.md
  python3 order_model.py --check PREFIX # the Python orders equal order_lists' CSVs
  python3 order_model.py --causal       # llm-d128-causal (one class: by_class = false)

Tile cost: a + b * steps * part, part = 1 for tiles with > 64 rows, p1 (default 0.65) for
a last tile of <= 64 rows (one consumer warpgroup has rows; s37's vl_full_d80 model).
"""
import argparse
import bisect
import csv
import heapq
import itertools
import random
import sys

LENGTHS = [2072, 1950, 257, 2683, 2877, 459, 3633, 1321, 1458, 2746, 1049, 2717, 2694, 1334,
           554, 1799]
HEADS = 32
SMS = 132
BM = BN = 128
KV_BYTES_PER_ROW = 128 * 2 * 2  # k and v, d128, bf16
CLASSES = 32


def ceil_div(a, b):
    return (a + b - 1) // b


def slot(steps):
    return CLASSES - 1 - steps.bit_length()


def tile_keys(L, t, causal):
    rows = min(BM, L - t * BM)
    if rows <= 0:
        return 0
    if not causal:
        return L
    # bottom-right causal with q = k: row r sees keys [0, r]; the tile's last row t*BM+rows-1
    return t * BM + rows


def items_of(lengths, causal):
    """Every (segment, tile, keys, steps, rows) in segment order."""
    out = []
    for s, L in enumerate(lengths):
        for t in range(ceil_div(L, BM)):
            k = tile_keys(L, t, causal)
            out.append((s, t, k, ceil_div(k, BN), min(BM, L - t * BM)))
    return out


def host_list(lengths, causal):
    """build_work_list: stable sort by exact keys, descending."""
    return sorted(items_of(lengths, causal), key=lambda it: -it[2])


def device_list(lengths, causal):
    """build_work_list_kernel: class runs in segment order within a class; a rising run
    (causal) reversed."""
    by_class = [[] for _ in range(CLASSES)]
    for s, L in enumerate(lengths):
        its = [it for it in items_of(lengths, causal) if it[0] == s]
        # runs of consecutive tiles in one class
        i = 0
        while i < len(its):
            j = i
            while j + 1 < len(its) and slot(its[j + 1][3]) == slot(its[i][3]):
                j += 1
            run = its[i:j + 1]
            if len(run) > 1 and run[-1][2] > run[0][2]:
                run = run[::-1]
            by_class[slot(its[i][3])].extend(run)
            i = j + 1
    return [it for c in by_class for it in c]


def class_ends(lst):
    ends = [0] * CLASSES
    for it in lst:
        ends[slot(it[3])] += 1
    for c in range(1, CLASSES):
        ends[c] += ends[c - 1]
    return ends


def ranks(lst, heads=HEADS, by_class=True):
    """locate_class_rank with band 1: class-major, head-major within a class."""
    out = []
    if not by_class:
        for h in range(heads):
            out.extend((it, h) for it in lst)
        return out
    ends = class_ends(lst)
    first = 0
    for c in range(CLASSES):
        end = ends[c]
        if end == first:
            continue
        for h in range(heads):
            out.extend((it, h) for it in lst[first:end])
        first = end
    return out


# --- alternative orders (rank sequences) -------------------------------------------------

def order_exact_lpt(lengths, causal, heads=HEADS, head_major_ties=True):
    """Exact longest-first across heads: every (tile, head) by steps descending; ties head
    major (head, then the host list's order) or item major."""
    lst = host_list(lengths, causal)
    pos = {(it[0], it[1]): i for i, it in enumerate(lst)}
    seq = [(it, h) for it in lst for h in range(heads)]
    if head_major_ties:
        seq.sort(key=lambda x: (-x[0][3], x[1], pos[(x[0][0], x[0][1])]))
    else:
        seq.sort(key=lambda x: (-x[0][3], pos[(x[0][0], x[0][1])], x[1]))
    return seq


def order_within_class(lengths, causal, key, heads=HEADS):
    """Class-major ranks over a list whose classes are those of the plans, re-ordered within
    each class by `key(item)` (stable over the segment-ordered list)."""
    dev = device_list(lengths, causal)
    by_c = [[] for _ in range(CLASSES)]
    for it in dev:
        by_c[slot(it[3])].append(it)
    lst = [it for c in by_c for it in sorted(c, key=key)]
    return ranks(lst, heads)


def order_seg_major_across_heads(lengths, causal, heads=HEADS):
    """Per class, one segment for every head before the next segment (segment major, then
    head, then tile): a segment's k/v of all heads in flight together."""
    dev = device_list(lengths, causal)
    by_c = [[] for _ in range(CLASSES)]
    for it in dev:
        by_c[slot(it[3])].append(it)
    seq = []
    for c in by_c:
        segs = []
        for it in c:
            if it[0] not in segs:
                segs.append(it[0])
        for s in segs:
            for h in range(heads):
                seq.extend((it, h) for it in c if it[0] == s)
    return seq


# --- the schedule ------------------------------------------------------------------------

def cost(it, a, b, p1):
    part = p1 if it[4] <= 64 else 1.0
    return a + b * it[3] * part


def simulate(seq, a, b, p1=0.65, sms=SMS, take=0.0):
    """Greedy list schedule: every SM takes the next rank when free (plus `take` us for the
    counter's atomic and decode, not overlapped). Returns (makespan, starts, ends, sm)."""
    free = [(0.0, i) for i in range(sms)]
    heapq.heapify(free)
    starts, ends, sm_of = [], [], []
    for it, h in seq:
        t, i = heapq.heappop(free)
        t0 = t + take
        t1 = t0 + cost(it, a, b, p1)
        starts.append(t0)
        ends.append(t1)
        sm_of.append(i)
        heapq.heappush(free, (t1, i))
    return max(ends), starts, ends, sm_of


def balanced(seq, a, b, p1=0.65, sms=SMS):
    return sum(cost(it, a, b, p1) for it, _ in seq) / sms


def sm_finish_stats(ends, sm_of, sms=SMS):
    last = [0.0] * sms
    for e, i in zip(ends, sm_of):
        last[i] = max(last[i], e)
    last.sort()
    return last[0], last[len(last) // 2], last[-1]


# --- L2 and DRAM ---------------------------------------------------------------------------

def l2_model(seq, starts, ends, capacity_mb, lengths=LENGTHS):
    """LRU over (segment, head) k/v blocks (512 B a key row), a block pinned while any tile
    that reads it is in flight; a tile that starts on a block not resident loads it (a miss:
    its bytes from DRAM). Returns (k/v DRAM MB, misses, peak in-flight k/v MB, mean in-flight
    k/v MB, peak distinct (segment, head) in flight)."""
    cap = capacity_mb * 1e6
    events = []
    for n, ((it, h), s, e) in enumerate(zip(seq, starts, ends)):
        events.append((s, 1, n))
        events.append((e, 0, n))  # ends before starts at the same time
    events.sort()
    resident = {}  # key -> last use time (LRU), ordered by insertion for eviction scan
    pins = {}
    used = 0.0
    dram = 0.0
    misses = 0
    inflight_bytes = 0.0
    peak = 0.0
    area = 0.0
    last_t = 0.0
    peak_keys = 0
    for t, kind, n in events:
        area += inflight_bytes * (t - last_t)
        last_t = t
        it, h = seq[n]
        key = (it[0], h)
        size = lengths[it[0]] * KV_BYTES_PER_ROW
        if kind == 0:
            pins[key] -= 1
            if pins[key] == 0:
                del pins[key]
                inflight_bytes -= size
            resident[key] = t
            continue
        if key not in pins:
            pins[key] = 0
            inflight_bytes += size
        pins[key] += 1
        peak = max(peak, inflight_bytes)
        peak_keys = max(peak_keys, len(pins))
        if key in resident:
            resident[key] = t
            continue
        misses += 1
        dram += size
        resident[key] = t
        used += size
        while used > cap:
            # evict the least recently used unpinned block
            victims = [(lt, k) for k, lt in resident.items() if k not in pins]
            if not victims:
                break
            lt, k = min(victims)
            used -= lengths[k[0]] * KV_BYTES_PER_ROW
            del resident[k]
    span = max(ends)
    return dram / 1e6, misses, peak / 1e6, area / span / 1e6, peak_keys


def dram_demand(seq, starts, ends, lengths=LENGTHS, window=10.0):
    """Time-resolved DRAM demand (TB/s) if every (segment, head) block is read from DRAM once,
    streamed over the first tile that reads it, plus each tile's q (read) and o (write)
    spread over the tile. Returns (peak over `window`-us bins, mean)."""
    first = {}
    for n, ((it, h), s, e) in enumerate(zip(seq, starts, ends)):
        key = (it[0], h)
        if key not in first or s < first[key][0]:
            first[key] = (s, e, lengths[it[0]] * KV_BYTES_PER_ROW)
    span = max(ends)
    bins = [0.0] * (int(span / window) + 2)

    def spread(s, e, nbytes):
        if e <= s:
            return
        rate = nbytes / (e - s)
        i = int(s / window)
        while i * window < e:
            lo, hi = max(s, i * window), min(e, (i + 1) * window)
            if hi > lo:
                bins[i] += rate * (hi - lo)
            i += 1

    for s, e, nbytes in first.values():
        spread(s, e, nbytes)
    for (it, h), s, e in zip(seq, starts, ends):
        spread(s, e, 2 * it[4] * 128 * 2)
    # bytes per window us -> TB/s
    rates = [x / (window * 1e-6) / 1e12 for x in bins[:-1]]
    total = sum(bins)
    return max(rates), total / (span * 1e-6) / 1e12


# --- reports --------------------------------------------------------------------------------

def orders(causal):
    host = host_list(LENGTHS, causal)
    dev = device_list(LENGTHS, causal)
    by_class = not causal
    o = {
        "host (today's fused)": ranks(host, by_class=by_class),
        "device (today's fused_device)": ranks(dev, by_class=by_class),
    }
    if not causal:
        o["host, one class (before 1ca60e6)"] = ranks(host, by_class=False)
        o["device, one class (before 1ca60e6)"] = ranks(dev, by_class=False)
        # no two segments share a length here: this is the host order reversed in each class
        o["class-major, shortest first in class"] = order_within_class(
            LENGTHS, causal, key=lambda it: it[2])
        o["exact LPT across heads, head-major ties"] = order_exact_lpt(LENGTHS, causal)
        o["exact LPT across heads, item-major ties"] = order_exact_lpt(
            LENGTHS, causal, head_major_ties=False)
        o["class-major, segment major across heads"] = order_seg_major_across_heads(
            LENGTHS, causal)
    else:
        o["host, class-major"] = ranks(host, by_class=True)
        o["device, class-major"] = ranks(dev, by_class=True)
    return o


def table(causal, grid, p1, take):
    os_ = orders(causal)
    names = list(os_)
    print(f"\n## Makespan (us), {'llm-d128-causal' if causal else 'llm-d128'}, 132 SMs, "
          f"p1 = {p1}, take = {take} us; vs host (today's fused)")
    print("| order | " + " | ".join(f"a={a} b={b}" for a, b in grid) + " |")
    print("|---|" + "---:|" * len(grid))
    base = {}
    for name in names:
        cells = []
        for a, b in grid:
            m = simulate(os_[name], a, b, p1, take=take)[0]
            if name == names[0]:
                base[(a, b)] = m
            bal = balanced(os_[name], a, b, p1)
            cells.append(f"{m:.1f} ({(m / base[(a, b)] - 1) * 100:+.2f}%, tail "
                         f"{(m / bal - 1) * 100:.2f}%)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def detail(causal, a, b, p1, take):
    os_ = orders(causal)
    print(f"\n## Schedule detail at a = {a}, b = {b}, p1 = {p1}: makespan, balanced, SM "
          f"finish (min/median/max), L2 (LRU over (segment, head) k/v) at 25 and 50 MB, "
          f"DRAM demand")
    print("| order | makespan | balanced | SM finish min/med/max | k/v in flight peak/mean MB"
          " (peak blocks) | k/v DRAM MB @25 / @50 (compulsory "
          f"{sum(LENGTHS) * KV_BYTES_PER_ROW * HEADS / 1e6:.0f}) | DRAM TB/s peak (10 us) / mean |")
    print("|---|---:|---:|---|---|---|---|")
    for name, seq in os_.items():
        m, s, e, sm = simulate(seq, a, b, p1, take=take)
        bal = balanced(seq, a, b, p1)
        f0, f1, f2 = sm_finish_stats(e, sm)
        d25, _, pk, mean_kv, pkeys = l2_model(seq, s, e, 25)
        d50 = l2_model(seq, s, e, 50)[0]
        peak_bw, mean_bw = dram_demand(seq, s, e)
        print(f"| {name} | {m:.1f} | {bal:.1f} | {f0:.0f}/{f1:.0f}/{f2:.0f} | "
              f"{pk:.1f}/{mean_kv:.1f} ({pkeys}) | {d25:.0f} / {d50:.0f} | "
              f"{peak_bw:.2f} / {mean_bw:.2f} |")


def tail_detail(causal, a, b, p1, take, name_filter=("host (today", "device (today")):
    os_ = orders(causal)
    for name, seq in os_.items():
        if not name.startswith(name_filter):
            continue
        m, s, e, sm = simulate(seq, a, b, p1, take=take)
        order = sorted(range(len(seq)), key=lambda n: -e[n])[:6]
        print(f"\n{name}: the last tiles to end (a={a}, b={b}):")
        for n in order:
            it, h = seq[n]
            print(f"  rank {n}: s{it[0]} tile {it[1]} head {h} ({it[3]} steps) "
                  f"{s[n]:.1f}-{e[n]:.1f} us")
        # class boundaries in time
        ends_ = class_ends(host_list(LENGTHS, causal))
        first = 0
        for c in range(CLASSES):
            if ends_[c] == first:
                continue
            lo, hi = first * HEADS, ends_[c] * HEADS
            if not causal:
                print(f"  class slot {c}: ranks [{lo}, {hi}) start {s[lo]:.1f}-{s[hi - 1]:.1f} us,"
                      f" last end {max(e[lo:hi]):.1f} us")
            first = ends_[c]


def random_within_class(causal, a, b, p1, take, draws=200, seed=7):
    rng = random.Random(seed)
    dev = device_list(LENGTHS, causal)
    by_c = [[] for _ in range(CLASSES)]
    for it in dev:
        by_c[slot(it[3])].append(it)
    ms = []
    for _ in range(draws):
        lst = []
        for c in by_c:
            segs = sorted({it[0] for it in c})
            rng.shuffle(segs)
            lst.extend(it for sg in segs for it in c if it[0] == sg)
        ms.append(simulate(ranks(lst), a, b, p1, take=take)[0])
    ms.sort()
    host = simulate(orders(causal)["host (today's fused)"], a, b, p1, take=take)[0]
    dev_m = simulate(orders(causal)["device (today's fused_device)"], a, b, p1, take=take)[0]
    print(f"\n## {draws} random segment orders within each class (a={a}, b={b}): makespan "
          f"min {ms[0]:.1f}, 5% {ms[len(ms) // 20]:.1f}, median {ms[len(ms) // 2]:.1f}, "
          f"95% {ms[len(ms) * 19 // 20]:.1f}, max {ms[-1]:.1f} us; host {host:.1f}, "
          f"device {dev_m:.1f} (host's percentile "
          f"{bisect.bisect_left(ms, host) * 100 // draws}%, device's "
          f"{bisect.bisect_left(ms, dev_m) * 100 // draws}%)")


def check(prefix):
    ok = True
    for name, lst in (("host", host_list(LENGTHS, False)), ("device", device_list(LENGTHS, False))):
        seq = ranks(lst)
        with open(f"{prefix}_{name}.csv") as f:
            rows = list(csv.DictReader(f))
        same = len(rows) == len(seq) and all(
            int(r["segment"]) == it[0] and int(r["tile"]) == it[1] and int(r["head"]) == h and
            int(r["steps"]) == it[3] for r, (it, h) in zip(rows, seq))
        print(f"{name}: {len(rows)} ranks from order_lists, {len(seq)} here: "
              f"{'identical' if same else 'DIFFERENT'}")
        ok = ok and same
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", metavar="PREFIX")
    ap.add_argument("--check-causal", metavar="PREFIX")
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--p1", type=float, default=0.65)
    ap.add_argument("--take", type=float, default=0.0)
    args = ap.parse_args()
    if args.check:
        sys.exit(0 if check(args.check) else 1)
    if args.check_causal:
        ok = True
        for name, lst in (("host", host_list(LENGTHS, True)), ("device", device_list(LENGTHS, True))):
            seq = ranks(lst, by_class=False)
            with open(f"{args.check_causal}_{name}.csv") as f:
                rows = list(csv.DictReader(f))
            same = len(rows) == len(seq) and all(
                int(r["segment"]) == it[0] and int(r["tile"]) == it[1] and int(r["head"]) == h
                for r, (it, h) in zip(rows, seq))
            print(f"causal {name}: {'identical' if same else 'DIFFERENT'}")
            ok = ok and same
        sys.exit(0 if ok else 1)
    grid = [(4, 1.2), (4, 1.7), (6, 1.45), (8, 1.2), (8, 1.7)]
    table(args.causal, grid, args.p1, args.take)
    detail(args.causal, 5.0, 1.55, args.p1, args.take)
    if not args.causal:
        tail_detail(args.causal, 5.0, 1.55, args.p1, args.take)
        random_within_class(args.causal, 5.0, 1.55, args.p1, args.take)
    blocks_report(5.0, 1.55, args.p1, args.causal)



# --- block-level L2 (appended) ----------------------------------------------------------

def l2_blocks(seq, starts, ends, capacity_mb, a, p1=0.65, lengths=LENGTHS, o_allocates=True):
    """LRU over 64 KB k/v step blocks ((segment, head, step): 128 keys of k and of v) and each
    tile's own q (read at its start) and o (written at its end; allocates in L2 when
    `o_allocates`). A tile reads step j's block at start + a / 2 + j * (its step time). Returns
    (k/v DRAM MB, total DRAM MB incl. q and o, k/v hit rate)."""
    from collections import OrderedDict
    ev = []
    for n, ((it, h), s, e) in enumerate(zip(seq, starts, ends)):
        qo = it[4] * 128 * 2
        ev.append((s, 0, ("q", n), qo))
        steps = it[3]
        dt = (e - s - a) / steps if steps else 0.0
        for j in range(steps):
            ev.append((s + a / 2 + j * dt, 1, (it[0], h, j), 128 * 128 * 2 * 2))
        if o_allocates:
            ev.append((e, 2, ("o", n), qo))
    ev.sort(key=lambda x: x[0])
    cap = capacity_mb * 1e6
    lru = OrderedDict()
    used = 0.0
    kv_miss = kv_all = total_miss = 0.0
    for t, kind, key, size in ev:
        if kind == 1:
            kv_all += size
        if key in lru:
            lru.move_to_end(key)
            continue
        if kind != 2:
            total_miss += size
        if kind == 1:
            kv_miss += size
        lru[key] = size
        used += size
        while used > cap:
            _, sz = lru.popitem(last=False)
            used -= sz
    if not o_allocates:
        total_miss += sum(it[4] * 256 for it, _ in seq)
    return kv_miss / 1e6, total_miss / 1e6, 1 - kv_miss / kv_all


def start_spread(seq, starts):
    """Per (segment, head): last tile's start - first tile's start (us)."""
    first, last = {}, {}
    for (it, h), s in zip(seq, starts):
        k = (it[0], h)
        first[k] = min(first.get(k, s), s)
        last[k] = max(last.get(k, s), s)
    d = sorted(last[k] - first[k] for k in first)
    return d[len(d) // 2], d[len(d) * 9 // 10], d[-1]


def blocks_report(a=5.0, b=1.55, p1=0.65, causal=False, caps=(4, 8, 12.5, 25, 50)):
    os_ = orders(causal)
    print(f"\n## Block-level L2 ({'llm-d128-causal' if causal else 'llm-d128'}; LRU of 64 KB "
          f"k/v step blocks, each tile's q and o), a = {a}, b = {b}")
    print("| order | start spread of a (segment, head)'s tiles median/90%/max us | "
          "k/v DRAM MB @" + "/@".join(str(c) for c in caps) + " MB | all DRAM MB @25 |")
    print("|---|---|---|---:|")
    for name, seq in os_.items():
        m, s, e, sm = simulate(seq, a, b, p1)
        sp = start_spread(seq, s)
        r = {c: l2_blocks(seq, s, e, c, a, p1) for c in caps}
        print(f"| {name} | {sp[0]:.1f}/{sp[1]:.1f}/{sp[2]:.1f} | "
              + "/".join(f"{r[c][0]:.0f}" for c in caps) + f" | {r[25][1]:.0f} |")


if __name__ == "__main__":
    main()
