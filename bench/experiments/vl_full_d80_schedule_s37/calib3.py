from calib import *
def fit3(p1, meas, w=None):
    a, b = 5.0, 2.17
    for _ in range(6):
        rows = []
        for S, m in meas.items():
            A, B, _ = crit(S, a, b, p1)
            rows.append((A / (m * 1e3), B / (m * 1e3), 1.0))  # relative residual rows
        # least squares 2x2 normal equations: min sum (A a + B b - 1)^2 (rel.)
        saa = sum(r[0] * r[0] for r in rows); sab = sum(r[0] * r[1] for r in rows)
        sbb = sum(r[1] * r[1] for r in rows); sa1 = sum(r[0] for r in rows); sb1 = sum(r[1] for r in rows)
        det = saa * sbb - sab * sab
        a = (sa1 * sbb - sb1 * sab) / det
        b = (saa * sb1 - sab * sa1) / det
    res = {S: crit(S, a, b, p1)[2] / 1e3 / m - 1 for S, m in meas.items()}
    return a, b, res
meas = {16384: 10.65, 4096: 2.93, 1024: 0.995}
for p1 in (0.35, 0.45, 0.55, 0.65, 0.8, 1.0):
    a, b, res = fit3(p1, meas)
    print("p1 %.2f a %5.2f b %.4f  residuals %s" % (p1, a, b, {k: "%+.1f%%" % (100 * v) for k, v in res.items()}))
