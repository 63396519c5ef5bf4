"""List-scheduling model of varattn's Hopper forward on vl-full-d80 (static; no GPU).
Tile cost = a + steps * b * (rows fraction factor).  Greedy: each of 132 CTAs takes the next
tile of the list when it frees (the persistent grid's counter; the hardware's CTA dispatch for
one-CTA-a-tile grids)."""
import heapq, math, itertools, sys

SMS = 132
HEADS = 16
D = 80
VL = [4096, 2304, 1024, 576, 6400, 1600]
TALL = dict(m=192, n=144, wg=3)
STD = dict(m=128, n=128, wg=2)

def cdiv(a, b): return -(-a // b)

class Costs:
    """a: us a tile (fixed), b: us a full step; part[k]: a step's cost when k of the tile's
    warpgroups have rows, relative to the full step (k = wg: 1)."""
    def __init__(self, a, b, part):
        self.a, self.b, self.part = a, b, part
    def tile(self, shape, q_len, k_len, t):
        rows = min(shape['m'], q_len - t * shape['m'])
        wgs = cdiv(rows, 64)
        steps = cdiv(k_len, shape['n'])
        return self.a + steps * self.b * self.part[wgs]

def tiles_of(seg_index, L, shape, costs, head):
    out = []
    for t in range(cdiv(L, shape['m'])):
        out.append(dict(seg=seg_index, L=L, t=t, head=head, shape=shape,
                        keys=L, cost=costs[shape['m']].tile(shape, L, L, t)))
    return out

def host_list(segs, shape_of, costs):
    """work_list.hpp: per head the same list, items stable-sorted by tile_keys desc."""
    items = []
    for i, L in enumerate(segs):
        items += [(i, L, t) for t in range(cdiv(L, shape_of(L)['m']))]
    items.sort(key=lambda x: -x[1])  # stable: keys = L (non-causal)
    return items

def ranks_head_major(segs, shape_of, costs):
    """tile_schedule.cuh decode, band = 1 (MHA): rank = head * count + index."""
    items = host_list(segs, shape_of, costs)
    out = []
    for h in range(HEADS):
        for (i, L, t) in items:
            sh = shape_of(L)
            out.append(dict(seg=i, L=L, t=t, head=h, shape=sh,
                            cost=costs[sh['m']].tile(sh, L, L, t)))
    return out

def ranks_class_major(segs, shape_of, costs, by='keys'):
    """Longest first across all heads: sort the head-major ranks by keys (or by modelled cost),
    stable, so heads stay major within a class (K/V of few heads in flight)."""
    r = ranks_head_major(segs, shape_of, costs)
    if by == 'keys':
        r.sort(key=lambda x: -x['L'])
    else:
        r.sort(key=lambda x: -x['cost'])
    return r

def ranks_fa4(segs, shape_of, costs):
    """FA4 SingleTileVarlenScheduler (lpt off): batch order, head-major within a batch."""
    out = []
    for i, L in enumerate(segs):
        sh = shape_of(L)
        n = cdiv(L, sh['m'])
        for h in range(HEADS):
            for t in range(n):
                out.append(dict(seg=i, L=L, t=t, head=h, shape=sh,
                                cost=costs[sh['m']].tile(sh, L, L, t)))
    return out

def ranks_per_segment_launch(L, i, shape, costs):
    n = cdiv(L, shape['m'])
    return [dict(seg=i, L=L, t=t, head=h, shape=shape, cost=costs[shape['m']].tile(shape, L, L, t))
            for h in range(HEADS) for t in range(n)]

def greedy(ranks, extra=0.0, start=None):
    """Each SM takes the next rank when free. start: per-SM free times (a previous phase)."""
    free = list(start) if start else [0.0] * SMS
    heap = [(f, s) for s, f in enumerate(free)]
    heapq.heapify(heap)
    busy = [0.0] * SMS
    for r in ranks:
        f, s = heapq.heappop(heap)
        c = r['cost'] + extra
        busy[s] += c
        heapq.heappush(heap, (f + c, s))
    fin = [0.0] * SMS
    for f, s in heap: fin[s] = f
    return fin, busy

def stats(fin, busy, t0=0.0):
    span = max(fin) - t0
    work = sum(busy)
    first_idle = min(fin)
    tail_idle = sum(span + t0 - f for f in fin)
    return dict(makespan=span, work=work, busy=work / (SMS * span), first_idle=first_idle - t0,
                tail_idle=tail_idle, tail_frac=tail_idle / (SMS * span),
                ideal=work / SMS)

def sweep_ranks(S, shape, costs):
    segs = [S] * (65536 // S)
    return ranks_head_major(segs, lambda L: shape, costs)
