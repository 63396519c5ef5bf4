from vl import *
from list_order_ref import slot as pow2slot

def ranks_pow2_class_major(segs, shape_of, c, device_list=False):
    """Rank decode like list_order.hpp's locate_rank: power-of-two step classes outermost,
    head (unit) major within a class, the list's order within a head. device_list: the items
    in segment order inside a class (device_plan.cuh's stable counting sort)."""
    items = []
    for i, L in enumerate(segs):
        sh = shape_of(L)
        for t in range(cdiv(L, sh['m'])):
            items.append((i, L, t, pow2slot(cdiv(L, sh['n']))))
    if device_list:
        items.sort(key=lambda x: x[3])            # stable: segment order inside a class
    else:
        items.sort(key=lambda x: (x[3], -x[1]))   # host list: keys desc (classes follow)
    out = []
    for s in sorted(set(x[3] for x in items)):
        cls = [x for x in items if x[3] == s]
        for h in range(HEADS):
            for (i, L, t, _) in cls:
                sh = shape_of(L)
                out.append(dict(seg=i, L=L, t=t, head=h, shape=sh, cost=c[sh['m']].tile(sh, L, L, t)))
    return out

def ranks_device_head_major(segs, shape_of, c):
    """fused_device today: per head the device list (class order, segment order inside)."""
    items = []
    for i, L in enumerate(segs):
        sh = shape_of(L)
        for t in range(cdiv(L, sh['m'])):
            items.append((i, L, t, pow2slot(cdiv(L, sh['n']))))
    items.sort(key=lambda x: x[3])
    out = []
    for h in range(HEADS):
        for (i, L, t, _) in items:
            sh = shape_of(L)
            out.append(dict(seg=i, L=L, t=t, head=h, shape=sh, cost=c[sh['m']].tile(sh, L, L, t)))
    return out
