#!/usr/bin/env python3
"""Exhaustive model check of the persistent Hopper dK/dV kernels' tile handoff
(hopper_backward_persistent_counter.patch: run_roles' publish/read, produce_steps, the
consumers' step loop), together with the K/V/Q/dO mbarrier ring that runs on across tiles.

One CTA, abstract threads (every interleaving of their operations is explored, DFS over
states with a visited set):
  P0  the producer warp 0 lane 0: publish(n) (wait tile_empty (n-1)&1 for n > 0, write the
      slot, arrive tile_full), then read(n) like everyone, then produce_steps (K/V and Q/dO by
      TMA with expect_tx on full[], lse/D by cp.async, arrive full[]);
  P1  another producer thread (warp 0 lanes 1-31 and warps 1-3): read(n), produce_steps
      without the TMA issues;
  C0, C1  one thread of each consumer warpgroup: read(n) (spinning wait), the tile's steps
      (wait full[r%2] parity (r/2)&1, read K/V and buffer r%2, arrive empty[r%2]), the store.
      Mode "split" (d256 kernel): C0 is the dQ issuer, which releases item r during step r+1
      (after bulk_wait_read) or at the tile's end, its reads of buffer r lasting until then.

mbarrier semantics (PTX ISA, mbarrier.try_wait.parity): a barrier has a current phase number
ph and a pending arrival count (and a tx-count); the phase completes when the pending count
and tx-count reach 0, then ph += 1 and the count is re-armed. try_wait.parity(p) succeeds iff
the phase with parity p has completed, i.e. iff (ph & 1) != p -- exactly, with no notion of
which instance of parity p the waiter meant (so a barrier two phases ahead would alias).

Checks, at every step of every interleaving:
  * slot: a reader's copy of handoff n finds handoff n (not n-1: stale; not n+1: overwritten
    before it read), and the publisher writes handoff n only after every thread copied n-1;
  * K/V, ring buffers: every read finds the data of its own tile / item, landed, and it is
    still there when the read ends (no overwrite mid-read, TMA landings included);
  * each arrival / expect_tx lands in the barrier phase it is meant for (tile_full n: phase n,
    full/empty item r: phase r//2);
  * no deadlock: a state where some thread is not finished and nothing can move;
  * at the end: every thread processed the same tiles, the end signal (unit < 0) was seen.

Tile sequences: every sequence of 0..MAX_TILES tiles with items in ITEMS (0: a tile without
steps, no K/V load), in persistent mode (tiles then the end signal) and the one-tile mode
(per-segment / non-persistent: handoff 0 only, no end signal after a found tile).

Mutants (each must fail): see MUTANTS below.

Also: the grid-level rank hand-out (initial = blockIdx.x, take = gridDim.x + atomicAdd) over
random interleavings of several CTAs, and locate_rank_in_warp (work_list.cuh) ported to
Python: every (unit, list index) taken exactly once, a CTA stopping at its first miss loses
nothing.

Usage: python3 hopper_backward_persistent_counter_handoff_model.py [--quick]
"""
import itertools
import random
import sys

MAX_TILES = 3
ITEMS = (0, 1, 2, 3)

# Threads
P0, P1, C0, C1 = range(4)
NAMES = ["P0", "P1", "C0", "C1"]
PRODUCERS = (P0, P1)
CONSUMERS = (C0, C1)

# Barriers: index into the barrier tuple
FULL0, FULL1, EMPTY0, EMPTY1, TFULL, TEMPTY = range(6)
BAR_NAMES = ["full0", "full1", "empty0", "empty1", "tile_full", "tile_empty"]


class Violation(Exception):
    pass


# The "arrival lands in its phase" assertions. Off for a second pass over the mutants, so
# that each shows its data-level failure (stale or overwritten slot, K/V, deadlock) too.
PHASE_CHECKS = True


def build_programs(tiles, persistent, split, mutant):
    """Each thread's operations, straight-line given the tile sequence (a stale read is a
    violation caught at the read, so no thread's path depends on what it read)."""
    n_tiles = len(tiles)
    item0s = []
    acc = 0
    for m in tiles:
        item0s.append(acc)
        acc += m + (1 if (mutant == "item0_counts_empty_tiles" and m == 0) else 0)
    # handoffs: persistent: tiles 0..n-1 then the end (n); one-tile mode: handoff 0 only
    # (a tile, or the end if the CTA has none)
    if persistent:
        handoffs = list(range(n_tiles + 1))
    else:
        handoffs = [0]
    progs = {t: [] for t in range(4)}

    def is_end(n):
        return n >= n_tiles

    def read(t, n, parked):
        ops = progs[t]
        parity = n & 1
        if mutant == "read_wrong_parity":
            parity ^= 1
        if mutant == "arrive_before_copy":
            ops.append(("arrive", TEMPTY, n))
            ops.append(("wait", TFULL, parity))
            ops.append(("read_slot", n))
        else:
            ops.append(("wait", TFULL, parity))
            ops.append(("read_slot", n))
            ops.append(("arrive", TEMPTY, n))

    def produce(t, j):
        ops = progs[t]
        m = tiles[j]
        i0 = item0s[j]
        if m == 0:
            return
        if i0 > 0 and mutant != "no_tile_start_wait":
            ops.append(("wait", EMPTY0 + (i0 - 1) % 2, ((i0 - 1) // 2) & 1))
        b0 = i0 % 2
        if t == P0:
            ops.append(("expect_tx", FULL0 + b0, 1, i0))
            ops.append(("tma_kv", j, FULL0 + b0))
        load_step(t, i0)
        for item in range(1, m + 1):
            ops.append(("arrive", FULL0 + (i0 + item - 1) % 2, i0 + item - 1))
            if item == m:
                break
            ring = i0 + item
            if item >= 2:
                ops.append(("wait", EMPTY0 + ring % 2, ((ring - 2) // 2) & 1))
            load_step(t, ring)

    def load_step(t, ring):
        ops = progs[t]
        b = ring % 2
        if t == P0:
            ops.append(("expect_tx", FULL0 + b, 1, ring))
            ops.append(("tma_q", ring, FULL0 + b))
        ops.append(("write_rows", ring))  # cp.async lse/D, drained before the arrive

    def consume(t, j):
        ops = progs[t]
        m = tiles[j]
        i0 = item0s[j]
        issuer = split and t == C0
        for item in range(m):
            ring = i0 + item
            b = ring % 2
            ops.append(("wait", FULL0 + b, (ring // 2) & 1))
            ops.append(("read_begin", j, ring))
            ops.append(("read_kv_end", j))  # the step's wgmmas on K/V are done (wait<0>)
            if issuer:
                if item > 0:
                    ops.append(("read_buf_end", ring - 1))  # bulk_wait_read: staged dQ read
                    ops.append(("arrive", EMPTY0 + (ring - 1) % 2, ring - 1))
            else:
                ops.append(("read_buf_end", ring))
                ops.append(("arrive", EMPTY0 + b, ring))
        if issuer and m > 0:
            last = i0 + m - 1
            ops.append(("read_buf_end", last))
            ops.append(("arrive", EMPTY0 + last % 2, last))
        ops.append(("store", j))

    for n in handoffs:
        # P0: publish then read
        if mutant != "no_end_signal" or not is_end(n):
            if n > 0 and mutant != "no_tile_empty_wait":
                ops = progs[P0]
                ops.append(("wait", TEMPTY, (n - 1) & 1))
            progs[P0].append(("write_slot", n))
            progs[P0].append(("arrive", TFULL, n))
        for t in range(4):
            read(t, n, t in PRODUCERS)
        if is_end(n):
            break
        for t in PRODUCERS:
            produce(t, n)
        for t in CONSUMERS:
            consume(t, n)
    for t in range(4):
        progs[t].append(("done",))
    return [tuple(progs[t]) for t in range(4)], item0s


def counts(mutant):
    full = 2  # P0, P1
    empty = 2  # C0, C1
    tfull = 1
    tempty = 4 if mutant != "tile_empty_count_consumers" else 2
    return (full, full, empty, empty, tfull, tempty)


def check(tiles, persistent, split, mutant=None):
    """Explores every interleaving. Returns the number of states; raises Violation."""
    progs, item0s = build_programs(tiles, persistent, split, mutant)
    cnt = counts(mutant)
    # state: pcs, barriers ((phase, pending, tx) x 6), slot, kv (tile, landed),
    # bufs ((item, q_landed, rows_written) x 2), pending TMAs (frozenset), reads in flight,
    # copies (per thread: slots copied), stores (per consumer: tiles stored)
    bars0 = tuple((0, cnt[i], 0) for i in range(6))
    init = (
        (0, 0, 0, 0),
        bars0,
        -1,  # slot
        (-1, True),  # kv: tile, landed
        ((-1, True, 3), (-1, True, 3)),  # bufs: item, Q/dO landed, rows written (mask P0|P1)
        frozenset(),  # pending TMAs: (kind, id, bar)
        (0, 0, 0, 0),  # slot copies a thread
        ((), ()),  # tiles stored by C0, C1
    )
    seen = set()
    stack = [init]
    seen.add(init)
    finals = 0
    while stack:
        st = stack.pop()
        succ = list(successors(st, progs, cnt, tiles, item0s, persistent, mutant))
        if not succ:
            pcs = st[0]
            if all(progs[t][pcs[t]][0] == "done" for t in range(4)) and not st[5]:
                final_checks(st, tiles, persistent)
                finals += 1
                continue
            raise Violation("deadlock: " + describe(st, progs))
        for s in succ:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return len(seen)


def describe(st, progs):
    pcs, bars = st[0], st[1]
    parts = []
    for t in range(4):
        parts.append(f"{NAMES[t]}@{progs[t][pcs[t]]}")
    parts.append(" bars " + ", ".join(f"{BAR_NAMES[i]}=ph{b[0]}/pend{b[1]}/tx{b[2]}"
                                      for i, b in enumerate(bars)))
    return "; ".join(parts)


def final_checks(st, tiles, persistent):
    stores = st[7]
    expect = tuple(range(len(tiles))) if persistent else tuple(range(min(1, len(tiles))))
    for c in (0, 1):
        if stores[c] != expect:
            raise Violation(f"consumer {c} stored tiles {stores[c]}, expected {expect}")


def arrive_bar(bars, i, cnt, expect_phase, who):
    ph, pend, tx = bars[i]
    if PHASE_CHECKS and expect_phase is not None and ph != expect_phase:
        raise Violation(f"{who}: arrival on {BAR_NAMES[i]} lands in phase {ph}, meant {expect_phase}")
    pend -= 1
    if pend < 0:
        raise Violation(f"{who}: {BAR_NAMES[i]} over-arrived")
    if pend == 0 and tx == 0:
        ph, pend = ph + 1, cnt[i]
    return bars[:i] + ((ph, pend, tx),) + bars[i + 1:]


def tx_bar(bars, i, cnt, delta):
    ph, pend, tx = bars[i]
    tx += delta
    if pend == 0 and tx == 0:
        ph, pend = ph + 1, cnt[i]
    return bars[:i] + ((ph, pend, tx),) + bars[i + 1:]


def successors(st, progs, cnt, tiles, item0s, persistent, mutant):
    pcs, bars, slot, kv, bufs, pend, copies, stores = st
    # async TMA landings
    for op in pend:
        kind, ident, bar = op
        npend = pend - {op}
        if kind == "kv":
            nkv = (ident, True)
            nb = tx_bar(bars, bar, cnt, -1)
            yield (pcs, nb, slot, nkv, bufs, npend, copies, stores)
        else:  # q: ident = ring item
            b = ident % 2
            it, ql, rw = bufs[b]
            assert it == ident
            nbufs = list(bufs)
            nbufs[b] = (it, True, rw)
            nb = tx_bar(bars, bar, cnt, -1)
            yield (pcs, nb, slot, kv, tuple(nbufs), npend, copies, stores)
    for t in range(4):
        op = progs[t][pcs[t]]
        kind = op[0]
        who = f"{NAMES[t]} {op}"
        npcs = pcs[:t] + (pcs[t] + 1,) + pcs[t + 1:]
        if kind == "done":
            continue
        if kind == "wait":
            _, b, parity = op
            if (bars[b][0] & 1) != parity:
                yield (npcs, bars, slot, kv, bufs, pend, copies, stores)
            continue
        if kind == "arrive":
            _, b, n = op
            phase = n if b in (TFULL, TEMPTY) else n // 2
            if mutant == "tile_empty_count_consumers" and b == TEMPTY:
                phase = None
            nb = arrive_bar(bars, b, cnt, phase, who)
            yield (npcs, nb, slot, kv, bufs, pend, copies, stores)
            continue
        if kind == "write_slot":
            _, n = op
            if n > 0 and any(c < n for c in copies):
                raise Violation(f"{who}: slot overwritten with handoff {n} before every thread "
                                f"copied handoff {n - 1} (copies {copies})")
            yield (npcs, bars, n, kv, bufs, pend, copies, stores)
            continue
        if kind == "read_slot":
            _, n = op
            if slot != n:
                raise Violation(f"{who}: read the slot holding handoff {slot}, meant {n}")
            nc = copies[:t] + (n + 1,) + copies[t + 1:]
            yield (npcs, bars, slot, kv, bufs, pend, nc, stores)
            continue
        if kind == "expect_tx":
            _, b, nbytes, ring = op
            if PHASE_CHECKS and bars[b][0] != ring // 2:
                raise Violation(f"{who}: expect_tx lands in phase {bars[b][0]}, meant {ring // 2}")
            nb = bars[:b] + ((bars[b][0], bars[b][1], bars[b][2] + nbytes),) + bars[b + 1:]
            yield (npcs, nb, slot, kv, bufs, pend, copies, stores)
            continue
        if kind == "tma_kv":
            _, j, b = op
            nkv = (j, False)  # being overwritten
            npend = pend | {("kv", j, b)}
            yield (npcs, bars, slot, nkv, bufs, npend, copies, stores)
            continue
        if kind == "tma_q":
            _, ring, b = op
            bi = ring % 2
            it, ql, rw = bufs[bi]
            if it != ring:
                rw = 0
            nbufs = list(bufs)
            nbufs[bi] = (ring, False, rw)
            npend = pend | {("q", ring, b)}
            yield (npcs, bars, slot, kv, tuple(nbufs), npend, copies, stores)
            continue
        if kind == "write_rows":
            _, ring = op
            bi = ring % 2
            it, ql, rw = bufs[bi]
            if it != ring:  # the first write of item `ring` into this buffer
                ql, rw = False, 0
            nbufs = list(bufs)
            nbufs[bi] = (ring, ql, rw | (1 << t))  # each producer thread its rows
            yield (npcs, bars, slot, kv, tuple(nbufs), pend, copies, stores)
            continue
        if kind == "read_begin":
            _, j, ring = op
            if kv != (j, True):
                raise Violation(f"{who}: K/V holds {kv}, meant tile {j} landed")
            it, ql, rw = bufs[ring % 2]
            if not (it == ring and ql and rw == 3):
                raise Violation(f"{who}: buffer {ring % 2} holds {bufs[ring % 2]}, meant item {ring} landed")
            yield (npcs, bars, slot, kv, bufs, pend, copies, stores)
            continue
        if kind == "read_kv_end":
            _, j = op
            if kv != (j, True):
                raise Violation(f"{who}: K/V overwritten ({kv}) while tile {j}'s step read it")
            yield (npcs, bars, slot, kv, bufs, pend, copies, stores)
            continue
        if kind == "read_buf_end":
            _, ring = op
            it, ql, rw = bufs[ring % 2]
            if not (it == ring and ql and rw == 3):
                raise Violation(f"{who}: buffer {ring % 2} overwritten ({bufs[ring % 2]}) while item {ring} was read")
            yield (npcs, bars, slot, kv, bufs, pend, copies, stores)
            continue
        if kind == "store":
            _, j = op
            c = t - C0
            ns = list(stores)
            ns[c] = stores[c] + (j,)
            yield (npcs, bars, slot, kv, bufs, pend, copies, tuple(ns))
            continue
        raise AssertionError(op)


# The ring buffers' "item" field is shared by the TMA and the lse/D writes of one item; a
# write of item r into buffer r%2 while item r-2 is still being read is caught by the
# reader's read_buf_end / read_begin (its item no longer matches).

MUTANTS = [
    "no_tile_empty_wait",          # publisher overwrites the slot without waiting tile_empty
    "read_wrong_parity",           # readers wait tile_full on the wrong parity
    "arrive_before_copy",          # readers arrive tile_empty before copying the slot
    "tile_empty_count_consumers",  # tile_empty counts only the consumers' arrivals
    "no_tile_start_wait",          # produce_steps without the empty(item0-1) wait
    "no_end_signal",               # the end (unit < 0) is never published
    "item0_counts_empty_tiles",    # item0 advanced by a tile without steps
]


def sequences(max_tiles, items):
    for n in range(max_tiles + 1):
        yield from itertools.product(items, repeat=n)


# ---- grid level: ranks ----

def locate_rank_in_warp(rank, counts, units):
    """work_list.cuh's locate_rank_in_warp, lane by lane."""
    n = list(counts)
    filled = [c != 0 for c in n]
    if sum(filled) <= 1:
        slot = filled.index(True) if any(filled) else 0
        count = n[slot]
        if rank >= count * units:
            return (False, 0, 0)
        return (True, rank // count, rank % count)
    end = list(itertools.accumulate(n))
    span_end = list(itertools.accumulate(c * units for c in n))
    past = [rank < s for s in span_end]
    if not any(past):
        return (False, 0, 0)
    slot = past.index(True)
    slot_n = n[slot]
    first = end[slot] - slot_n
    within = rank - (span_end[slot] - slot_n * units)
    return (True, within // slot_n, first + within % slot_n)


def check_ranks(trials, rng):
    for _ in range(trials):
        classes = [0] * 32
        for _ in range(rng.randint(0, 5)):
            classes[rng.randrange(32)] = rng.randint(0, 9)
        units = rng.randint(1, 4)
        total = sum(classes)
        capacity = total + rng.randint(0, 5)
        ranks = capacity * units
        if ranks == 0:
            continue
        ctas = rng.randint(1, ranks)  # min(ranks, SMs x resident)
        counter = 0
        taken = []
        # each CTA: initial (blockIdx.x), then takes until a miss; random interleaving
        alive = {b: None for b in range(ctas)}
        for b in range(ctas):
            found = locate_rank_in_warp(b, classes, units)
            if found[0]:
                taken.append(found[1:])
            else:
                del alive[b]
        while alive:
            b = rng.choice(list(alive))
            rank = ctas + counter
            counter += 1
            if rank >= capacity * units:
                del alive[b]
                continue
            found = locate_rank_in_warp(rank, classes, units)
            if not found[0]:
                del alive[b]
                continue
            taken.append(found[1:])
        want = sorted((u, i) for u in range(units) for i in range(total))
        if sorted(taken) != want:
            raise Violation(f"ranks: classes {classes} units {units} ctas {ctas}: "
                            f"taken {sorted(taken)} != {want}")
        if counter > capacity * units:
            raise Violation("counter ran past capacity x units")


def main():
    quick = "--quick" in sys.argv
    max_tiles = 2 if quick else MAX_TILES
    total_states = 0
    runs = 0
    for split in (False, True):
        for persistent in (True, False):
            for tiles in sequences(max_tiles, ITEMS):
                if not persistent and len(tiles) > 1:
                    continue
                total_states += check(tiles, persistent, split)
                runs += 1
    print(f"correct protocol: {runs} (tile sequence, mode) runs, {total_states} states, "
          f"no violation, no deadlock")
    global PHASE_CHECKS
    failed = 0
    for PHASE_CHECKS, mutant in itertools.product((True, False), MUTANTS):
        found = None
        for split in (False, True):
            for tiles in sequences(max_tiles, ITEMS):
                try:
                    check(tiles, True, split, mutant)
                except Violation as v:
                    found = (tiles, split, str(v))
                    break
            if found:
                break
        if found:
            print(f"mutant {mutant} (phase checks {'on' if PHASE_CHECKS else 'off'}): caught, tiles {found[0]} split={found[1]}: {found[2][:160]}")
        else:
            print(f"mutant {mutant} (phase checks {'on' if PHASE_CHECKS else 'off'}): NOT caught")
            failed += 1
    check_ranks(2000 if quick else 20000, random.Random(1))
    print("ranks: every (unit, index) taken exactly once, counter <= capacity x units")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
