from model import *
import calib3
from calib import a128, b128

def costs_for(p1_tall=0.55, p1_128=0.65, tall_ab=None):
    if tall_ab is None:
        a, b, _ = calib3.fit3(p1_tall, calib3.meas)
    else:
        a, b = tall_ab
    return {192: Costs(a, b, {1: p1_tall, 2: (1 + p1_tall) / 2, 3: 1.0}),
            128: Costs(a128, b128, {1: p1_128, 2: 1.0})}

def shape_rule(threshold):
    """segments of >= threshold rows take the tall tile (threshold None: all 128)."""
    return lambda L: TALL if (threshold is not None and L >= threshold) else STD

def run(ranks, extra=0.0):
    fin, busy = greedy(ranks, extra)
    return stats(fin, busy)

def sequential(launches, gap=0.0):
    """Back-to-back launches on one stream: each starts when the previous has drained."""
    t = 0.0; work = 0.0; idle = 0.0
    for r in launches:
        fin, busy = greedy(r)
        st = stats(fin, busy)
        t += st['makespan'] + gap
        work += st['work']
        idle += st['tail_idle'] + gap * SMS
    return dict(makespan=t, work=work, busy=work / (SMS * t), tail_idle=idle, tail_frac=idle / (SMS * t), ideal=work / SMS, first_idle=float('nan'))

def fmt(name, st, base=None):
    s = "| %-62s | %7.1f | %6.1f | %5.1f%% | %6.1f | %5.1f%% |" % (
        name, st['makespan'], st['ideal'], 100 * st['busy'], st['first_idle'], 100 * st['tail_frac'])
    if base: s += " %+5.1f%% |" % (100 * (st['makespan'] / base - 1))
    else: s += "  |"
    return s

def scenarios(c, verbose=True):
    out = []
    tall = shape_rule(2048)  # today: plan-wide, max_q 6400 >= 2048 -> every segment tall
    tall_all = lambda L: TALL
    base = run(ranks_head_major(VL, tall_all, c))
    B = base['makespan']
    out.append(("A0 today: all 192x144, head-major list, longest first per head (fused/bucketed)", base))
    out.append(("A1 same, no counter (+1 us a tile un-overlapped prologue, assumed)", run(ranks_head_major(VL, tall_all, c), extra=1.0)))
    ps = [ranks_per_segment_launch(L, i, TALL, c) for i, L in enumerate(VL)]
    out.append(("A2 per_segment: 6 launches in segment order (+2 us gap each, assumed)", sequential(ps, gap=2.0)))
    out.append(("B1 all 192x144, class-major (keys desc across heads, head-major within)", run(ranks_class_major(VL, tall_all, c, 'keys'))))
    out.append(("B2 all 192x144, strict LPT by modelled tile cost", run(ranks_class_major(VL, tall_all, c, 'cost'))))
    out.append(("B3 all 192x144, FA4's order (segment order, head-major within)", run(ranks_fa4(VL, tall_all, c))))
    out.append(("C0 all 128x128, head-major (max_q < 2048 plan; s34's B)", run(ranks_head_major(VL, shape_rule(None), c))))
    out.append(("C1 all 128x128, class-major", run(ranks_class_major(VL, shape_rule(None), c, 'keys'))))
    for T in (1024, 1600, 2304, 4096, 6400):
        sr = shape_rule(T)
        out.append(("D%d mixed, tall for >= %d, one grid, head-major" % (T, T), run(ranks_head_major(VL, sr, c))))
        out.append(("E%d mixed, tall for >= %d, one grid, class-major (LPT)" % (T, T), run(ranks_class_major(VL, sr, c, 'cost'))))
        # two launches back to back (bucketed-style split by length): long bucket (tall), then short (128)
        longs = [L for L in VL if L >= T]; shorts = [L for L in VL if L < T]
        l1 = ranks_head_major(longs, sr, c); l2 = ranks_head_major(shorts, sr, c)
        out.append(("F%d two launches, tall >= %d then 128, stream order (+2 us gap)" % (T, T), sequential([l1, l2], gap=2.0)))
        # second launch overlapping the first's tail (PDL-like): one greedy over l1 then l2
        out.append(("G%d two launches, 2nd fills 1st's tail (PDL-like), class-major" % T,
                    run(ranks_class_major(longs, sr, c, 'cost') + ranks_class_major(shorts, sr, c, 'cost'))))
    return out, B

if __name__ == "__main__":
    for p1 in (0.55, 0.35, 0.8):
        c = costs_for(p1_tall=p1, p1_128=0.65 if p1 == 0.55 else (0.5 if p1 == 0.35 else 0.8))
        print("\n### p1_tall %.2f; tall a %.2f us b %.4f us/step; 128 a %.2f b %.4f; 128 p1 %.2f" % (p1, c[192].a, c[192].b, c[128].a, c[128].b, c[128].part[1]))
        out, B = scenarios(c)
        print("| scenario | makespan us | ideal us (work/132) | busy | first SM idle at us | tail idle | vs A0 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, st in out: print(fmt(name, st, B))
