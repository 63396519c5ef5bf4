#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Hopper dK/dV kernels' step loop in SASS, before and after a change (s72): for each
sm90 dkdv_kernel instance of two `cuobjdump -sass` listings, the main loop (the backward
branch whose body holds >= 10 HGMMAs and a TRYWAIT: the consumers' step loop), its size, the
instructions from its head to the first HGMMA in program order (slow paths branched over
included) and the S2URs among them.

  cuobjdump -sass A.cubin > a.sass; cuobjdump -sass B.cubin > b.sass
  python3 bench/experiments/dkdv_loop_boundary.py a.sass b.sass
"""
import re
import sys


def functions(path):
    out, name = {}, None
    for line in open(path):
        m = re.match(r"\s+Function : (\S+)", line)
        if m:
            name = m.group(1)
            out[name] = []
            continue
        m = re.match(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if m and name:
            out[name].append((int(m.group(1), 16), m.group(2)))
    return out


def step_loop(code):
    for address, text in code:
        m = re.search(r"BRA (0x[0-9a-f]+)", text)
        if not m or "U.ANY" in text or int(m.group(1), 16) >= address:
            continue
        head = int(m.group(1), 16)
        body = [(a, t) for a, t in code if head <= a <= address]
        if sum("HGMMA" in t for _, t in body) >= 10 and any("TRYWAIT" in t for _, t in body):
            top = []
            for a, t in body:
                if "HGMMA" in t:
                    break
                top.append(t)
            return {"head": hex(head), "size": len(body), "top": len(top),
                    "top_s2ur": sum("S2UR" in t for t in top)}
    return None


def main(before, after):
    a, b = functions(before), functions(after)
    print("| kernel | loop size | head to first HGMMA | S2UR there |")
    print("|---|---:|---:|---:|")
    for name in sorted(a):
        if "sm9011dkdv_kernel" not in name or name not in b:
            continue
        x, y = step_loop(a[name]), step_loop(b[name])
        if not x or not y:
            continue
        short = re.sub(r"_ZN7varattn6detail4sm9011dkdv_kernelI\d*(\w+?)Li(\d+)ENS0_14score_modifierILb(\d)EEELb(\d).*",
                       r"\1 d\2 softcap=\3 atomic=\4", name)
        print(f"| {short} | {x['size']} -> {y['size']} | {x['top']} -> {y['top']} | "
              f"{x['top_s2ur']} -> {y['top_s2ur']} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
