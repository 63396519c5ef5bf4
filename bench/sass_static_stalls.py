#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The static schedule of a stretch of SASS: the stall counts ptxas writes into each
instruction's control bits (bits 41-44 of the encoding's upper word on sm_70 to sm_90), summed.
Their sum is the fewest cycles one warp needs for the stretch with no other warp and no
dynamic wait; ptxas spaces a warp's MUFU instructions 8 cycles apart this way.

    cuobjdump -sass -fun KERNEL x.cubin > k.sass    (or the whole dump; --function picks one)
    python3 bench/sass_static_stalls.py k.sass --from 0x6ef0 --to 0x8080
    python3 bench/sass_static_stalls.py k.sass --softmax      # the Hopper forward's d128 loop

--softmax finds the forward loop's softmax block: from after the second `FSEL R151, R151, -INF`
(the causal mask's last select, where the unmasked path joins) to the loop's branch back;
valid for the d128 kernels' register assignment only. Prints the instruction count, the stall
sum, the stalls before the first MUFU, over the MUFUs, after the last, and the count by opcode.
"""
import argparse
import collections
import re
import sys


def parse(path, function=None):
    """(address, text, stall count) of each instruction of the dump (of one function)."""
    lines = open(path).read().split("\n")
    out, i, inside = [], 0, function is None
    while i < len(lines):
        name = re.search(r"Function : (\S+)", lines[i])
        if name:
            inside = function is None or function in name.group(1)
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*/\* (0x[0-9a-f]+) \*/", lines[i])
        if m and i + 1 < len(lines):
            upper = re.match(r"\s*/\* (0x[0-9a-f]+) \*/", lines[i + 1])
            if inside and upper:
                out.append((int(m.group(1), 16), m.group(2).strip(), (int(upper.group(1), 16) >> 41) & 0xF))
            i += 2
            continue
        i += 1
    return out


def softmax_block(ins):
    joins = [k for k, x in enumerate(ins) if x[1].startswith("FSEL R151, R151, -INF")]
    if len(joins) < 2:
        sys.exit("--softmax: no second `FSEL R151, R151, -INF` (not the d128 forward?)")
    start = joins[1] + 1
    end = next(k for k in range(start, len(ins)) if "BRA" in ins[k][1])
    return ins[start:end + 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sass", help="cuobjdump -sass output")
    ap.add_argument("--function", help="a substring of the function's mangled name")
    ap.add_argument("--from", dest="start", help="first address (hex)")
    ap.add_argument("--to", dest="end", help="last address (hex)")
    ap.add_argument("--softmax", action="store_true", help="the d128 forward loop's softmax")
    args = ap.parse_args()
    ins = parse(args.sass, args.function)
    if args.softmax:
        block = softmax_block(ins)
    else:
        lo, hi = int(args.start, 16), int(args.end, 16)
        block = [x for x in ins if lo <= x[0] <= hi]
    mufu = [k for k, x in enumerate(block) if "MUFU" in x[1]]
    stalls = lambda xs: sum(x[2] for x in xs)
    print(f"{len(block)} instructions, stall sum {stalls(block)}")
    if mufu:
        print(f"  before the first MUFU {stalls(block[:mufu[0]])}, MUFU span "
              f"{stalls(block[mufu[0]:mufu[-1] + 1])} ({len(mufu)} MUFU), after {stalls(block[mufu[-1] + 1:])}")
    ops = collections.Counter()
    for x in block:
        words = x[1].split()
        ops[(words[1] if words[0].startswith("@") else words[0]).split(".")[0]] += 1
    print("  " + ", ".join(f"{op} {n}" for op, n in ops.most_common()))


if __name__ == "__main__":
    main()
