#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host model of stage_split_dq's float2 stores (the head-dim-256 dK/dV kernel's dQ staging,
dkdv_split_kernel.cuh), before and after hopper_backward_d256_dq_stage_banks.patch.

Checks that each (box, query, channel) of a warpgroup's four boxes is written exactly once, at
the address the box layout gives it (swizzled_offset_128b: a float takes two 16-bit columns),
with the value of the dq register that holds it; and counts shared-memory wavefronts a store
instruction, taking a 64-bit store a half warp at a time (32 banks of 4 bytes; the most
accesses any bank gets in a half is that half's wavefronts).

    python3 bench/experiments/hopper_backward_d256_dq_stage_banks_check.py
    -> base: 8192 elements, 4.0 wavefronts a store; new: 8192 elements, 2.0
"""

BOX_BYTES = 64 * 128  # 64 queries x 32 float32 channels


def swizzled_offset_128b(row, col16):
    chunk = (col16 // 8) ^ (row % 8)
    return row * 128 + chunk * 16 + (col16 % 8) * 2


def element_address(box, query, channel):  # channel: a float's index in the box's 32
    return box * BOX_BYTES + swizzled_offset_128b(query, 2 * channel)


def stores(new):
    """Yields each store instruction's 32 (address, [(box, query, channel) x 2])."""
    for warp in range(4):
        for n in range(16):  # kOutTiles at head dim 256: a warpgroup's 128 channels / 8
            for half in range(2):
                lanes = []
                for lane in range(32):
                    partner = new and (lane & 2) != 0
                    src = n ^ 2 if partner else n  # the dq tile this lane's value comes from
                    tile = (n % 4) ^ (lane & 2) if new else n % 4
                    box = n // 4
                    col16 = (tile * 8 + (lane % 4) * 2) * 2
                    query = warp * 16 + lane // 4 + half * 8
                    # dq[src][2 half + e]: query, channel 8 src + 2 (lane % 4) + e of the
                    # warpgroup's 128, i.e. channel 8 (src % 4) + 2 (lane % 4) + e of box src / 4
                    assert src // 4 == box
                    held = [(box, query, (src % 4) * 8 + (lane % 4) * 2 + e) for e in range(2)]
                    lanes.append((box * BOX_BYTES + swizzled_offset_128b(query, col16), held))
                yield lanes


def run(new):
    written = set()
    wavefronts = []
    for lanes in stores(new):
        for address, held in lanes:
            for e, element in enumerate(held):
                assert element not in written, element
                written.add(element)
                assert address + 4 * e == element_address(*element), element
        total = 0
        for h in range(2):
            banks = {}
            for address, _ in lanes[16 * h:16 * h + 16]:
                for word in range(2):
                    bank = (address // 4 + word) % 32
                    banks[bank] = banks.get(bank, 0) + 1
            total += max(banks.values())
        wavefronts.append(total)
    assert len(written) == 4 * 64 * 32
    return len(written), sum(wavefronts) / len(wavefronts)


if __name__ == "__main__":
    for new in (False, True):
        count, per_store = run(new)
        print(f"{'new' if new else 'base'}: {count} elements, {per_store} wavefronts a store")
