#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Model of the d80 kPInSmem consume/produce protocol after hopper_forward_d80_fa4_step.patch.
Warp granularity: 3 consumer warpgroups x 4 warps, one producer thread; 2 ring stages;
mbarriers with phase parity (try_wait.parity semantics), named barriers counting 32 a warp,
wgmma ops collective per warpgroup (start when all 4 warps issued, complete at a random later
time), TMA copies landing at a random later time. Checks: deadlock, stage/Q overwritten while a
reader is issued-but-incomplete, wrong content at issue, P rows not all stored before a PV
issue, P stored / O rescaled while a PV of the warpgroup is incomplete, named-barrier
generations (right syncers / arrivers, no warp twice), counts balanced at the end.

  hopper_forward_d80_fa4_step_model.py [RUNS [SEED [MUTATION...]]]
MUTATIONs, each a bug the model must catch: v_early (V_{j-1} released before the P V wait),
store_early (P_j stored before it), no_meeting (no P meeting on tiles without turns), no_skip
(the last warpgroup arrives after its last turn too); k_early (K_j released before S_j's wait)
is not caught: the producer's in-order V wait hides it, as on the hardware. s70: 20,000 + 6,000
runs of the patch, 0 failures; each mutation fails 40-85% of 300-600 runs. MODEL_STAGES=3
(the three-stage variant): 3,000 runs, 0 failures.
A helper's model (s70 review), written for this patch.
"""
import os, random, sys

W = 3; WARPS = 4; STAGES = int(os.environ.get('MODEL_STAGES', '2'))  # s70: 3 too


class Err(Exception):
    pass


class MB:
    def __init__(s, count):
        s.count = count; s.pending = 0; s.done = 0

    def arrive(s):
        s.pending += 1
        if s.pending == s.count:
            s.pending = 0; s.done += 1

    def ok(s, parity):
        return (s.done & 1) != parity


class NB:
    def __init__(s, id):
        s.id = id; s.count = 0; s.waiters = set(); s.contrib = []; s.gen = 0; s.need = None


class Sim:
    def __init__(s, tiles, rng, variant):
        s.rng = rng; s.tiles = tiles; s.v = variant
        s.q_full = MB(1); s.q_empty = MB(W * WARPS)
        rel = W * WARPS if variant.get('all_threads_release_count') else W * WARPS
        s.k_full = [MB(1) for _ in range(STAGES)]; s.v_full = [MB(1) for _ in range(STAGES)]
        s.k_empty = [MB(rel) for _ in range(STAGES)]; s.v_empty = [MB(rel) for _ in range(STAGES)]
        s.nb = {i: NB(i) for i in range(1, 16)}
        s.stage_k = [None] * STAGES; s.stage_v = [None] * STAGES; s.q = None  # (content, valid)
        s.landings = []  # callables
        s.ops = {}  # (g, seq) -> dict(issued=set, started, done, reads, kind, step)
        s.seq = {(g, w): 0 for g in range(W) for w in range(WARPS)}
        s.outstanding = {(g, w): [] for g in range(W) for w in range(WARPS)}
        s.prow = {(g, w): None for g in range(W) for w in range(WARPS)}  # (item, step)
        s.agents = []

    # ---------------- helpers
    def open_reads(s, res):
        for key, op in s.ops.items():
            if not op['done'] and res in op['reads']:
                return True
        return False

    def issue(s, g, w, kind, item, step, reads, expect):
        key = (g, s.seq[(g, w)]); s.seq[(g, w)] += 1
        op = s.ops.setdefault(key, dict(issued=set(), started=False, done=False, reads=reads,
                                        kind=kind, item=item, step=step))
        if op['kind'] != kind or op['step'] != step or op['item'] != item:
            raise Err(f'warpgroup {g} warps issue different wgmma {op["kind"]}{op["step"]} vs {kind}{step}')
        op['issued'].add(w)
        for res, want in expect.items():
            have = s.read_res(res, g)
            if have != want:
                raise Err(f'g{g} w{w} issue {kind} item{item} step{step}: {res} holds {have}, wants {want}')
        if len(op['issued']) == WARPS:
            op['started'] = True
        s.outstanding[(g, w)].append(key)

    def read_res(s, res, g):
        if res[0] == 'K':
            c = s.stage_k[res[1]]; return c[0] if c and c[1] else ('invalid', c)
        if res[0] == 'V':
            c = s.stage_v[res[1]]; return c[0] if c and c[1] else ('invalid', c)
        if res[0] == 'Q':
            return s.q[0] if s.q and s.q[1] else ('invalid', s.q)
        if res[0] == 'P':  # all four warps' rows of warpgroup g
            vals = {s.prow[(g, w)] for w in range(WARPS)}
            return vals.pop() if len(vals) == 1 else ('mixed', vals)

    def incomplete(s, g, w, n):  # wait<n> may return?
        out = [k for k in s.outstanding[(g, w)] if not s.ops[k]['done']]
        # all but the last n committed groups must be complete
        last = s.outstanding[(g, w)][-n:] if n else []
        return [k for k in out if k not in last]

    def wg_pv_incomplete(s, g):
        return any(not op['done'] and op['kind'] == 'PV' and key[0] == g for key, op in s.ops.items())

    def nb_op(s, id, n, g, w, sync):
        b = s.nb[id]
        if b.need is None:
            b.need = n
        if b.need != n:
            raise Err(f'bar {id} count {n} vs {b.need}')
        if any(c == (g, w) for c, _ in b.contrib):
            raise Err(f'bar {id} gen {b.gen}: warp {(g, w)} contributes twice')
        b.contrib.append(((g, w), sync)); b.count += 32
        if sync:
            b.waiters.add((g, w))
        if b.count == n:
            # check the generation's shape
            syncers = {c for c, sy in b.contrib if sy}; arrivers = {c for c, sy in b.contrib if not sy}
            if 1 <= id <= 3:
                gg = id - 1; prev = (gg - 1) % W
                if syncers != {(gg, x) for x in range(WARPS)} or arrivers != {(prev, x) for x in range(WARPS)}:
                    raise Err(f'bar {id} gen {b.gen}: syncers {sorted(syncers)} arrivers {sorted(arrivers)}')
            elif 4 <= id <= 6:
                if syncers != {(id - 4, x) for x in range(WARPS)} or arrivers:
                    raise Err(f'bar {id}: bad gen')
            b.count = 0; b.waiters = set(); b.contrib = []; b.gen += 1; b.need = None
            return b.gen - 1
        if b.count > n:
            raise Err('overflow')
        return b.gen

    # ---------------- agents (generators yielding a predicate)
    def producer(s):
        first = 0
        for item in range(len(s.tiles) + 1):
            if item > 0:
                yield (lambda p=(item - 1) & 1: s.q_empty.ok(p))
            if item == len(s.tiles):
                s.q_full.arrive(); return
            kv = s.tiles[item]['kv']
            if kv == 0:
                s.q_full.arrive(); continue
            if s.open_reads(('Q',)):
                raise Err(f'Q of item {item} overwritten under a read')
            s.q = (item, False)

            def land_q(item=item):
                s.q = (item, True); s.q_full.arrive()
            s.landings.append(land_q)
            for step in range(kv):
                g = first + step; st, ph = g % STAGES, (g // STAGES) & 1
                for name, empty, stage, full in (('K', s.k_empty, s.stage_k, s.k_full),
                                                  ('V', s.v_empty, s.stage_v, s.v_full)):
                    if g >= STAGES:
                        yield (lambda st=st, ph=ph, empty=empty: empty[st].ok(ph ^ 1))
                    if s.open_reads((name, st)):
                        raise Err(f'{name} stage {st} overwritten under a read (g={g})')
                    stage[st] = (g, False)
                    s.landings.append(lambda st=st, g=g, stage=stage, full=full:
                                      (stage.__setitem__(st, (g, True)), full[st].arrive()))
            first += kv

    def consumer(s, g, w):
        v = s.v
        first = 0; item = 0
        nxt = lambda gg: (gg + 1) % W + 1  # id of the next warpgroup's barrier
        me = (g, w)

        def wgwait(n):
            while s.incomplete(g, w, n):
                yield (lambda: not s.incomplete(g, w, n))

        def nsync(id, n):
            gen = s.nb_op(id, n, g, w, True)
            b = s.nb[id]
            if b.gen == gen:  # not yet complete
                yield (lambda: b.gen > gen)

        def slot(step):
            gg = first + step; return (gg % STAGES, (gg // STAGES) & 1, gg)

        while True:
            yield (lambda p=item & 1: s.q_full.ok(p))
            if item == len(s.tiles):
                return
            t = s.tiles[item]; kv = t['kv']; gs = t['gs'][g]
            pp = all(t['gs'][x] == kv for x in range(W)) and not v.get('no_turns')
            if pp and g == W - 1 and kv > 0:
                s.nb_op(1, 256, g, w, False)

            def store_p(step):
                if s.wg_pv_incomplete(g):
                    raise Err(f'g{g} w{w}: P_{step} stored while a PV of the warpgroup is incomplete')
                s.prow[me] = (item, step)

            def rescale():
                if any(s.ops[k]['kind'] == 'PV' and not s.ops[k]['done'] for k in s.outstanding[me]):
                    raise Err('O rescaled under its PV')

            if gs > 0:
                at = slot(0)
                yield (lambda: s.k_full[at[0]].ok(at[1]))
                if pp:
                    yield from nsync(1 + g, 256)
                s.issue(g, w, 'S', item, 0, {('K', at[0]), ('Q',)}, {('K', at[0]): at[2], ('Q',): item})
                if pp:
                    s.nb_op(nxt(g), 256, g, w, False)
                yield from wgwait(0)
                s.k_empty[at[0]].arrive()
                store_p(0)
            for step in range(1, gs):
                prev = at; at = slot(step)
                yield (lambda at=at: s.k_full[at[0]].ok(at[1]))
                if pp:
                    yield from nsync(1 + g, 256)
                s.issue(g, w, 'S', item, step, {('K', at[0]), ('Q',)}, {('K', at[0]): at[2], ('Q',): item})
                yield (lambda prev=prev: s.v_full[prev[0]].ok(prev[1]))
                if not pp and not v.get('no_meeting'):
                    yield from nsync(4 + g, 128)
                s.issue(g, w, 'PV', item, step - 1, {('V', prev[0]), ('P', g)},
                        {('V', prev[0]): prev[2], ('P', g): (item, step - 1)})
                if pp:
                    s.nb_op(nxt(g), 256, g, w, False)
                if v.get('k_early'):
                    s.k_empty[at[0]].arrive()
                yield from wgwait(1)
                if not v.get('k_early'):
                    s.k_empty[at[0]].arrive()
                if v.get('v_early'):
                    s.v_empty[prev[0]].arrive()
                if v.get('store_early'):
                    store_p(step)
                yield from wgwait(0)
                if not v.get('v_early'):
                    s.v_empty[prev[0]].arrive()
                rescale()
                if not v.get('store_early'):
                    store_p(step)
            yield from wgwait(0)
            s.q_empty.arrive()
            if gs > 0:
                yield (lambda at=at: s.v_full[at[0]].ok(at[1]))
                if pp:
                    yield from nsync(1 + g, 256)
                else:
                    yield from nsync(4 + g, 128)
                s.issue(g, w, 'PV', item, gs - 1, {('V', at[0]), ('P', g)},
                        {('V', at[0]): at[2], ('P', g): (item, gs - 1)})
                if pp and (g != W - 1 or v.get('no_skip')):
                    s.nb_op(nxt(g), 256, g, w, False)
                yield from wgwait(0)
                s.v_empty[at[0]].arrive()
            for step in range(gs, kv):
                sk = slot(step)
                yield (lambda sk=sk: s.k_full[sk[0]].ok(sk[1]))
                s.k_empty[sk[0]].arrive()
                yield (lambda sk=sk: s.v_full[sk[0]].ok(sk[1]))
                s.v_empty[sk[0]].arrive()
            first += kv; item += 1

    def run(s):
        ag = [s.producer()] + [s.consumer(g, w) for g in range(W) for w in range(WARPS)]
        state = [None] * len(ag)  # current predicate; None = runnable
        alive = [True] * len(ag)
        for it in range(200000):
            cands = [('a', i) for i in range(len(ag)) if alive[i] and (state[i] is None or state[i]())]
            cands += [('l', i) for i in range(len(s.landings))]
            cands += [('c', k) for k, op in s.ops.items() if op['started'] and not op['done']]
            if not cands:
                if any(alive):
                    raise Err('DEADLOCK: ' + ', '.join(
                        ('producer' if i == 0 else f'c{(i - 1) // 4}.{(i - 1) % 4}') for i in range(len(ag)) if alive[i]))
                break
            kind, x = s.rng.choice(cands)
            if kind == 'l':
                s.landings.pop(x)()
            elif kind == 'c':
                s.ops[x]['done'] = True
            else:
                try:
                    state[x] = next(ag[x])
                except StopIteration:
                    alive[x] = False
        else:
            raise Err('too long')
        for id, b in s.nb.items():
            if b.count:
                raise Err(f'named barrier {id} left with {b.count}')
        for m in s.k_empty + s.v_empty + [s.q_empty]:
            if m.pending:
                raise Err('mbarrier left with pending arrivals')
        total = sum(t['kv'] for t in s.tiles)
        for st in range(STAGES):
            uses = len([x for x in range(total) if x % STAGES == st])
            if s.k_empty[st].done != uses or s.v_empty[st].done != uses:
                raise Err(f'stage {st}: {s.k_empty[st].done}/{s.v_empty[st].done} releases, {uses} uses')


def rand_tiles(rng, maxkv):
    tiles = []
    for _ in range(rng.randint(1, 5)):
        kv = rng.randint(0, maxkv)
        r = rng.random()
        if r < 0.5:
            gs = [kv] * W
        elif r < 0.8:  # causal-like: monotone nondecreasing
            a = sorted(rng.randint(0, kv) for _ in range(W)); a[-1] = kv if rng.random() < .7 else a[-1]
            gs = a
        else:
            gs = [rng.randint(0, kv) for _ in range(W)]
        tiles.append(dict(kv=kv, gs=gs))
    return tiles


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed0 = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    variant = {}
    for a in sys.argv[3:]:
        variant[a] = True
    bad = 0
    for i in range(n):
        rng = random.Random(seed0 + i)
        tiles = rand_tiles(rng, 5)
        try:
            Sim(tiles, rng, variant).run()
        except Err as e:
            bad += 1
            if bad <= 3:
                print('seed', seed0 + i, tiles, '->', e)
    print(f'{n} runs, {bad} failures', variant)
