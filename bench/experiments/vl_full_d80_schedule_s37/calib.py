from model import *
m128 = {16384: 11.27, 4096: 3.01, 1024: 0.955}
b128 = (m128[16384] - m128[4096]) / 63 / 96 * 1e3
a128 = m128[4096] / 63 * 1e3 - 32 * b128
print("128: a %.3f us, b %.4f us/step; s1024 pred %.4f ms (meas %.3f)" % (a128, b128, 63 * (a128 + 8 * b128) / 1e3, m128[1024]))

def crit(S, a, b, p1):
    """Critical SM's (tiles, weighted steps) under greedy with these costs."""
    c = {192: Costs(a, b, {1: p1, 2: (1 + p1) / 2, 3: 1.0}), 128: Costs(a128, b128, {1: .65, 2: 1.0})}
    ranks = sweep_ranks(S, TALL, c)
    free = [(0.0, s) for s in range(SMS)]
    heapq.heapify(free)
    na = [0] * SMS; nb = [0.0] * SMS
    for r in ranks:
        f, s = heapq.heappop(free)
        na[s] += 1
        nb[s] += (r['cost'] - a) / b
        heapq.heappush(free, (f + r['cost'], s))
    f, s = max(free)
    return na[s], nb[s], f

def fit(p1, m16, m4):
    a, b = 4.0, 2.17
    for _ in range(6):
        A1, B1, _ = crit(16384, a, b, p1)
        A2, B2, _ = crit(4096, a, b, p1)
        det = A1 * B2 - A2 * B1
        a = (m16 * 1e3 * B2 - m4 * 1e3 * B1) / det
        b = (A1 * m4 * 1e3 - A2 * m16 * 1e3) / det
    return a, b

if __name__ == "__main__":
    for (m16, m4) in [(10.65, 2.93), (10.60, 2.91), (10.75, 3.00)]:
        for p1 in (0.35, 0.45, 0.55, 0.65, 0.8, 1.0):
            a, b = fit(p1, m16, m4)
            _, _, f1024 = crit(1024, a, b, p1)
            print("s16384 %.2f s4096 %.2f | p1 %.2f: a %6.2f us  b %.4f us/step  -> s1024 tall %.4f ms (est. meas ~0.995)" % (m16, m4, p1, a, b, f1024 / 1e3))
