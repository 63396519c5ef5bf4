#!/usr/bin/env python3
"""Counts for the Hopper d128 dK/dV kernel (varattn HEAD 1ca647e) on one equal-length segment:
kv_tile::place<FromFirstQuery> (128-key tiles, 80-row steps), full_steps / place_step per
consumer warpgroup (64 keys each), segment_mask::make / visible. Written for the window
analysis (no GPU). Usage: python3 window_backward_model.py"""
import heapq

IMIN, IMAX = -2**31, 2**31 - 1
L, HEADS, SMS = 16384, 16, 132
KEYS, Q, WG = 128, 80, 64


def mask(left, right, lq=L, lk=L):  # segment_mask::make
    d = lk - lq
    return (lk, IMIN if left < 0 else d - left, IMAX if right < 0 else d + right)


def visible(m, q, k):
    return k < m[0] and m[1] <= k - q <= m[2]


def first_key(m, q0):
    return max(0, q0 + m[1])


def end_key(m, q0, rows):
    return max(0, min(m[0], q0 + rows + m[2]))


def place(m, kt, q_len=L, step=Q, from_first=True):
    key0 = kt * KEYS
    keys = min(KEYS, m[0] - key0)
    qf = max(0, key0 - m[2])
    ql = min(key0 + keys - 1 - m[1], q_len - 1)
    if ql < qf:
        return key0, []
    if from_first:
        return key0, [qf + i * step for i in range((ql - qf) // step + 1)]
    return key0, [j * step for j in range(qf // step, ql // step + 1)]


def group_state(m, key0, g, q0, rows=Q):
    """'full', 'partial' or 'inactive' for warpgroup g (keys key0 + 64 g + [0, 64)) on the
    step of rows [q0, q0 + rows): place_step's flags (full_steps' fast path agrees)."""
    gk0 = key0 + g * WG
    sees = gk0 < m[0] and end_key(m, q0, rows) > gk0 and first_key(m, q0) < gk0 + WG
    if not sees:
        return "inactive"
    unm_first, unm_end = first_key(m, q0 + rows - 1), end_key(m, q0, 1)
    partial = gk0 < unm_first or gk0 + WG > unm_end
    return "partial" if partial else "full"


def tile_counts(m, kt, step=Q, from_first=True):
    key0, starts = place(m, kt, step=step, from_first=from_first)
    c = dict(steps=len(starts), cta_masked=0, cta_full=0, wg_full=0, wg_partial=0, wg_inactive=0,
             rows=len(starts) * step, useful=0, steps_list=[])
    keys = min(KEYS, m[0] - key0)
    for q0 in starts:
        st = [group_state(m, key0, g, q0, step) for g in (0, 1)]
        for s in st:
            c["wg_" + s] += 1
        c["cta_masked" if "partial" in st else "cta_full"] += 1
        c["steps_list"].append(tuple(st))
    # visible (query, key) pairs of the tile: per key, its visible queries
    for k in range(key0, key0 + keys):
        lo = max(0, k - m[2])
        hi = min(L - 1, k - m[1])
        c["useful"] += max(0, hi - lo + 1)
    return c


def summarize(name, m, step=Q, from_first=True):
    tiles = [tile_counts(m, kt, step, from_first) for kt in range(L // KEYS)]
    tot = {k: sum(t[k] for t in tiles) for k in
           ("steps", "cta_masked", "cta_full", "wg_full", "wg_partial", "wg_inactive", "rows",
            "useful")}
    computed = tot["rows"] * KEYS
    print(f"\n== {name} (steps of {step} rows, {'from the first visible query' if from_first else 'on multiples'}) ==")
    print(f"per head: {len(tiles)} k tiles, CTA-steps {tot['steps']}, masked CTA-steps "
          f"{tot['cta_masked']} ({tot['cta_masked'] / tot['steps']:.1%}), unmasked {tot['cta_full']}")
    print(f"warpgroup-steps {2 * tot['steps']}: full {tot['wg_full']}, partial {tot['wg_partial']}, "
          f"inactive {tot['wg_inactive']}")
    print(f"rows x 128 keys computed {computed:,}, visible pairs {tot['useful']:,}: useful "
          f"{tot['useful'] / computed:.3f}")
    return tiles, tot


def band_minimum(m, step, grp):
    """(step x grp) blocks on a fixed grid from query 0 / key 0 that hold a visible pair."""
    n = 0
    for qb in range(0, L, step):
        for kb in range(0, L, grp):
            lo = first_key(m, qb)
            hi = end_key(m, qb, step)
            if hi > kb and lo < kb + grp:
                n += 1
    return n


def greedy(durations, sms=SMS):
    heap = [0.0] * sms
    heapq.heapify(heap)
    for d in durations:
        t = heapq.heappop(heap)
        heapq.heappush(heap, t + d)
    return max(heap)


def main():
    win = mask(1023, 0)
    cau = mask(-1, 0)
    tw, Tw = summarize("long-d128-window1024", win)
    t0 = tw[0]
    print("tile 0 steps (warpgroup 0, warpgroup 1):")
    for i, s in enumerate(t0["steps_list"]):
        print(f"  step {i:2d} rows key0+{i * Q:4d}..+{i * Q + Q - 1:4d}: {s}")
    print("last tiles (kt, steps, masked CTA-steps):",
          [(kt, tw[kt]["steps"], tw[kt]["cta_masked"]) for kt in range(118, 128)])
    tc, Tc = summarize("long-d128-causal", cau)
    summarize("long-d128-window1024, FA4's sm90 local tile", win, step=64)
    summarize("long-d128-causal, FA4's sm90 causal tile", cau, step=64)
    summarize("long-d128-window1024, 80-row steps on multiples (pre-47f5adc grid)", win,
              from_first=False)
    print("\nminimum (80-row x 64-key blocks on a fixed grid touching the band):",
          band_minimum(win, 80, 64), "per head; (80 x 128):", band_minimum(win, 80, 128))

    # CTAs, waves, dispatch
    ctas = HEADS * len(tw)
    print(f"\nCTAs {ctas} (128 k tiles x 16 heads), {ctas / SMS:.2f} waves at 1 CTA an SM")
    for m_cost in (0.16,):
        for F in (0.0, 1.0, 2.0):
            def dur(t):
                return t["steps"] + m_cost * t["cta_masked"] + F
            head_major = [dur(tw[i]) for h in range(HEADS) for i in range(len(tw))]
            tile_major = [dur(tw[i]) for i in range(len(tw)) for h in range(HEADS)]
            lpt = sorted(head_major, reverse=True)
            total = sum(head_major)
            bal = total / SMS
            print(f"window m={m_cost} F={F}: per SM {bal:.1f} step-units; greedy head-major "
                  f"{greedy(head_major):.1f} (+{greedy(head_major) / bal - 1:.1%}), tile-major "
                  f"{greedy(tile_major):.1f} (+{greedy(tile_major) / bal - 1:.1%}), LPT "
                  f"{greedy(lpt):.1f} (+{greedy(lpt) / bal - 1:.1%}); F share {F * ctas / total:.1%}, "
                  f"masked share {m_cost * HEADS * Tw['cta_masked'] / total:.1%}")
            hm = [t["steps"] + m_cost * t["cta_masked"] + F for h in range(HEADS) for t in tc]
            print(f"causal m={m_cost} F={F}: per SM {sum(hm) / SMS:.1f}; greedy head-major "
                  f"+{greedy(hm) / (sum(hm) / SMS) - 1:.1%}; F share {F * ctas / sum(hm):.1%}, "
                  f"masked share {m_cost * HEADS * Tc['cta_masked'] / sum(hm):.1%}")


if __name__ == "__main__":
    main()


def jitter_study(seed=1, trials=20, sigma=0.03):
    """Greedy dispatch with each CTA's duration x (1 + N(0, sigma)): the tail of head-major
    (HEAD's order) against tile-major ranks, ours (80-row steps, m 0.16, F 1) and FA4's
    (64-row steps at 0.833 of ours, F 1)."""
    import random
    rnd = random.Random(seed)
    win = mask(1023, 0)
    ours = [tile_counts(win, kt) for kt in range(L // KEYS)]
    fa4 = [tile_counts(win, kt, step=64) for kt in range(L // KEYS)]
    for name, tiles, unit, m in (("ours", ours, 1.0, 0.16), ("FA4 (64-row, 0.833)", fa4, 0.833, 0.0)):
        for F in (1.0,):
            d = [t["steps"] * unit + m * t["cta_masked"] + F for t in tiles]
            res = {"head-major": [], "tile-major": []}
            for _ in range(trials):
                noise = [[1 + rnd.gauss(0, sigma) for _ in d] for _ in range(HEADS)]
                hm = [d[i] * noise[h][i] for h in range(HEADS) for i in range(len(d))]
                tm = [d[i] * noise[h][i] for i in range(len(d)) for h in range(HEADS)]
                bal = sum(hm) / SMS
                res["head-major"].append(greedy(hm) / bal - 1)
                res["tile-major"].append(greedy(tm) / bal - 1)
            print(f"{name} F={F} sigma={sigma}: per SM {sum(d) * HEADS / SMS:.1f} units; tail over balance: "
                  + ", ".join(f"{k} {sum(v) / len(v):+.1%} (min {min(v):+.1%}, max {max(v):+.1%})"
                              for k, v in res.items()))


if __name__ == "__main__":
    print()
    for s in (0.0, 0.03, 0.08):
        jitter_study(sigma=s, trials=1 if s == 0 else 20)
