#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host model of hopper_forward_q_registers.patch's load_query_fragments: the Q tile as the
copy engine leaves it (swizzled_tile<kBlockM, HeadDim>::offset, the 128-byte swizzle in
64-column blocks), ldmatrix.x4 as PTX defines it (lane l gives row l % 8 of matrix l / 8;
register i of lane t holds matrix i's row t / 4, columns 2 (t % 4) and + 1), and the A
fragment mma_rs_bk expects (the mma.sync A layout, pack_a_fragment's: a[0] row g, k 2t;
a[1] row g + 8; a[2] row g, k 8 + 2t; a[3] row g + 8, k 8 + 2t; warp w rows 16w..16w+15).
Checks every thread's every register of every k-step of both warpgroups, head dims 80, 96, 128.
  python3 bench/experiments/hopper_forward_q_registers_check.py"""


def swizzled_offset_128(row, col):  # wgmma.cuh swizzled_offset<128>, col < 64
    chunk = (col // 8) ^ (row % 8)
    return row * 128 + chunk * 16 + (col % 8) * 2


def tile_offset(row, col, rows):  # swizzled_tile<rows, D>::offset
    return col // 64 * rows * 128 + swizzled_offset_128(row, col % 64)


def check(head_dim, rows=128):
    ksteps = (head_dim + 15) // 16
    blocks = (head_dim + 63) // 64
    image = {}  # byte offset -> (row, col) of the element stored there
    for r in range(rows):
        for c in range(ksteps * 16):  # columns up to the k16 padding (zeros past head_dim)
            if c < blocks * 64:
                image[tile_offset(r, c, rows)] = (r, c)
    bad = 0
    for group in range(rows // 64):
        base = group * 64 * 128  # sq + row0 * 128
        for thread in range(128):
            warp, lane = thread // 32, thread % 32
            for kk in range(ksteps):
                # the patch's per-lane address (load_query_fragments)
                addr = {}
                for l in range(32):
                    m = l // 8
                    row = warp * 16 + (m & 1) * 8 + l % 8
                    addr[l] = base + tile_offset(row, kk * 16 + (m >> 1) * 8, rows)
                for reg in range(4):
                    # ldmatrix: register `reg` of lane `lane` = matrix reg, row lane // 4,
                    # elements 2 (lane % 4) and + 1 of the 16 bytes lane 8 reg + lane // 4 named
                    src = addr[8 * reg + lane // 4] + (lane % 4) * 4
                    got = (image.get(src), image.get(src + 2))
                    g, t = lane // 4, lane % 4
                    r = group * 64 + warp * 16 + g + (8 if reg & 1 else 0)
                    k = kk * 16 + (8 if reg & 2 else 0) + 2 * t
                    want = ((r, k), (r, k + 1))
                    if got != want:
                        bad += 1
    return bad


if __name__ == "__main__":
    total = 0
    for d in (80, 96, 128):
        bad = check(d)
        total += bad
        print(f"head dim {d}: {bad} mismatched registers")
    raise SystemExit(1 if total else 0)
