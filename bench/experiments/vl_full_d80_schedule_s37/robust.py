from extra import *
tall_all = lambda L: TALL
print("| tall a us | tall b us/step | p1 | A0 today | ideal | tail % | B1 keys class-major | B4 pow2 classes | E1600 mixed+LPT | C0 all-128 |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (a, b) in ((2.0, 2.23), (4.98, 2.1944), (8.0, 2.17), (12.0, 2.13)):
    for p1 in (0.4, 0.7):
        c = costs_for(p1_tall=p1, p1_128=p1 + 0.1, tall_ab=(a, b))
        A0 = run(ranks_head_major(VL, tall_all, c)); M = A0['makespan']
        B1 = run(ranks_class_major(VL, tall_all, c, 'keys'))
        B4 = run(ranks_pow2_class_major(VL, tall_all, c))
        E = run(ranks_class_major(VL, shape_rule(1600), c, 'cost'))
        C0 = run(ranks_head_major(VL, shape_rule(None), c))
        print("| %.1f | %.3f | %.1f | %.1f | %.1f | %.1f%% | %+.1f%% | %+.1f%% | %+.1f%% | %+.1f%% |" % (
            a, b, p1, M, A0['ideal'], 100 * A0['tail_frac'], 100 * (B1['makespan'] / M - 1), 100 * (B4['makespan'] / M - 1),
            100 * (E['makespan'] / M - 1), 100 * (C0['makespan'] / M - 1)))
