#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host check of forward_mask_row_bits.patch's bit rule (segment_mask::apply_rows): for random
masks (none, right-bounded, two-sided windows), segment key counts, queries, key blocks of 2-16
n8 tiles and threads t = lane % 4, the bits from first_key/end_key equal visible() on every
column 8 n + 2 t + p. Python integers with the kernel's arithmetic shifts and the funnel shift's
clamp to 32. Run: python3 bench/experiments/forward_mask_row_bits_check.py (s44: 2,996,748
elements, 0 mismatches)."""
import random
INT_MIN, INT_MAX = -2**31, 2**31-1
def first_key(q, mn):
    f = q + mn
    return 0 if f < 0 else f
def end_key(q, rows, mx, kl):
    e = q + rows + mx
    return kl if e > kl else (0 if e < 0 else e)
def visible(q, k, mn, mx, kl):
    off = k - q
    return k < kl and off >= mn and off <= mx
def ones(c):
    c = max(0, min(c, 32))  # funnelshift_lc clamps to 32; c >= 0 here
    return (1 << c) - 1
def below(x, T):
    cl = lambda c: 0 if c < 0 else (T if c > T else c)
    return cl((x + 7) >> 3) + cl((x + 6) >> 3)
bad = 0; n = 0
random.seed(1)
for trial in range(200000):
    T = random.choice([8, 16, 2, 4])
    kl = random.randint(0, 300)
    kind = random.random()
    if kind < 0.3: mn, mx = INT_MIN, INT_MAX
    elif kind < 0.6: mn, mx = INT_MIN, random.randint(-100, 100)   # causal-like (right bound)
    else:
        a = random.randint(-150, 150); b = random.randint(a, a + 200)
        mn, mx = a, b
    q = random.randint(0, 300)
    key0 = random.randint(0, 40) * 8
    t = random.randint(0, 3)
    column0 = key0 + 2 * t
    F = first_key(q, mn); E = end_key(q, 1, mx, kl)
    bits = ones(below(E - column0, T)) & ~ones(below(F - column0, T))
    for nn in range(T):
        for p in range(2):
            k = key0 + nn * 8 + 2 * t + p
            want = visible(q, k, mn, mx, kl)
            got = bool(bits >> (2 * nn + p) & 1)
            n += 1
            if want != got:
                bad += 1
                if bad < 5: print("mismatch", dict(T=T, kl=kl, mn=mn, mx=mx, q=q, key0=key0, t=t, k=k, want=want, got=got))
print("checked", n, "mismatches", bad)
