from extra import *
tall_all = lambda L: TALL
for p1 in (0.55, 0.35, 0.8):
    c = costs_for(p1_tall=p1, p1_128={0.55: 0.65, 0.35: 0.5, 0.8: 0.8}[p1])
    A0 = run(ranks_head_major(VL, tall_all, c))
    A3 = run(ranks_device_head_major(VL, tall_all, c))
    B4 = run(ranks_pow2_class_major(VL, tall_all, c))
    B5 = run(ranks_pow2_class_major(VL, tall_all, c, device_list=True))
    B6 = run(ranks_class_major(VL, tall_all, c, 'keys'), extra=1.0)
    print("p1 %.2f" % p1)
    for n, st in (("A0", A0), ("A3 fused_device today", A3), ("B4 pow2 classes, host list", B4),
                  ("B5 pow2 classes, device list", B5), ("B1 no counter (+1us)", B6)):
        print(fmt(n, st, A0['makespan']))

# breakdown of the baseline
c = costs_for()
print("\nper-segment tiles (tall, p1 .55):")
tot = 0
for L in VL:
    n = cdiv(L, 192); st = cdiv(L, 144)
    costs = [c[192].tile(TALL, L, L, t) for t in range(n)]
    w = sum(costs) * HEADS
    tot += w
    exact = L * L / (192 * 144) * c[192].b * HEADS
    print("L %5d tiles %2d (last rows %3d) steps %2d tile cost %.1f us (last %.1f) work/132 %.1f us  exact-pairs work/132 %.1f  fixed a %.1f" % (
        L, n, L - (n - 1) * 192, st, costs[0], costs[-1], w / SMS, exact / SMS, n * c[192].a * HEADS / SMS))
print("total work/132 %.1f us" % (tot / SMS))
ex = sum(L * L for L in VL) / (192 * 144) * c[192].b * HEADS / SMS
print("pairs only at tall rate: %.1f us; per-tile fixed: %.1f us; padding: %.1f us" % (ex, 1376 * c[192].a / SMS, tot / SMS - ex - 1376 * c[192].a / SMS))
ex128 = sum(L * L for L in VL) / (128 * 128) * c[128].b * HEADS / SMS
print("pairs only at 128 rate: %.1f us" % ex128)
# timeline of the baseline: when does head 15's 6400 segment start/end
r = ranks_head_major(VL, tall_all, c)
free = [(0.0, s) for s in range(SMS)]; heapq.heapify(free)
starts = []
for x in r:
    f, s = heapq.heappop(free); starts.append((x['head'], x['L'], x['t'], f, f + x['cost'])); heapq.heappush(free, (f + x['cost'], s))
h15 = [s for s in starts if s[0] == 15 and s[1] == 6400]
print("head 15's 6400 tiles start %.1f-%.1f us, end %.1f-%.1f" % (min(s[3] for s in h15), max(s[3] for s in h15), min(s[4] for s in h15), max(s[4] for s in h15)))
last = sorted(starts, key=lambda s: -s[4])[:8]
print("last finishers (head, L, tile, start, end):", [(a, b, t, round(d, 1), round(e, 1)) for a, b, t, d, e in last])
fins = sorted(f for f, s in free)
print("SM finish times: min %.1f, 10%% %.1f, median %.1f, 90%% %.1f, max %.1f" % (fins[0], fins[13], fins[66], fins[118], fins[-1]))
