#!/usr/bin/env python3
"""hopper_backward_window_persistent.md's model: the d128 dK/dV kernel on long-d128-window512 /
-window1024 (one 16,384-row segment, 16 heads, 128 k tiles a head: 2,048 ranks, item-major)
over 132 SMs, one CTA an SM. HEAD: greedy dispatch of a CTA a rank, each costing
steps + m masked + F (step units). Persistent: CTA i takes in round j rank 132 j + i (j even) or 132 j + 131 - i (odd, a snake); its first
tile costs F, each later one F - S (S: the per-tile saving). Tiles from
backward_window_probe_model.tile (kv_tile::place<true>)."""
import heapq, sys
sys.path.insert(0, "bench/experiments")
from backward_window_probe_model import tile, mask, L, KEYS, HEADS, SMS

def ranks(window):
    tiles = [tile(mask(window), kt) for kt in range(L // KEYS)]
    return [tiles[kt] for kt in range(L // KEYS) for _ in range(HEADS)]  # item-major

def head(rs, m, F):
    heap = [0.0] * SMS
    for s, k in rs:
        t = heapq.heappop(heap)
        heapq.heappush(heap, t + s + m * k + F)
    return max(heap)

def persistent(rs, m, F, S, snake=True):
    end = 0.0
    rounds = (len(rs) + SMS - 1) // SMS
    for i in range(SMS):
        mine = [rs[r] for r in (j * SMS + (SMS - 1 - i if snake and j % 2 else i)
                                for j in range(rounds)) if r < len(rs)]
        end = max(end, sum(s + m * k for s, k in mine) + F + (len(mine) - 1) * (F - S))
    return end

for name, w in (("window512", 512), ("window1024", 1024)):
    rs = ranks(w)
    for m in (0.08,):
        for F in (1.5, 2.0, 2.35):
            h = head(rs, m, F)
            row = [f"{name} m {m} F {F}: HEAD {h:.1f} steps"]
            for S in (0.0, 0.4, 0.8, 1.2):
                p = persistent(rs, m, F, S)
                row.append(f"S {S}: {p / h - 1:+.1%}")
            row.append(f"(no snake, S 0: {persistent(rs, m, F, 0.0, False) / h - 1:+.1%})")
            print("  ".join(row))
