#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SASS of the Hopper dK/dV kernels (nvdisasm -c -gi of a cubin): per kernel, the instruction
count, the MUFU.EX2 count, and for every with_mask_test site (the conditional branch on
`partial` in mask.hpp's with_mask_test) the two copies it selects between: instructions of
the masked copy and of the unmasked copy (from the branch to the join). Also instructions
attributed to segment_mask::column_base_of and column_bits (any inlining frame).
Usage: mask_paths.py NVDISASM_TEXT SOURCE_ROOT [kernel regex]"""
import re, subprocess, sys, collections

def parse(path):
    funcs = collections.OrderedDict()
    cur = None
    stack = []
    pending = []
    for line in open(path):
        m = re.match(r"\s*\.text\.(\S+):$", line) or re.match(r"^\.text\.(\S+):", line)
        if m:
            cur = m.group(1); funcs[cur] = []; stack = []; pending = []
            continue
        if cur is None:
            continue
        m = re.match(r'\s*//## File "([^"]+)", line (\d+)(?: inlined at "([^"]+)", line (\d+))?', line)
        if m:
            pending.append((m.group(1), int(m.group(2))))
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
        if m:
            if pending:
                stack = pending; pending = []
            funcs[cur].append((int(m.group(1), 16), m.group(2).strip(), tuple(stack)))
            continue
        m = re.match(r"^(\.L_x_\d+):", line)
        if m:
            funcs[cur].append((None, m.group(1), ()))
    return funcs

def line_of(path, pattern, after=None):
    lines = open(path).read().splitlines()
    start = 0
    if after:
        start = next(i for i, l in enumerate(lines) if after in l)
    for i in range(start, len(lines)):
        if pattern in lines[i]:
            return i + 1
    raise ValueError(pattern)

def func_range(path, signature):
    """[first, last] lines of the function whose declaration contains signature (to the closing
    brace at its indentation)."""
    lines = open(path).read().splitlines()
    i = next(k for k, l in enumerate(lines) if signature in l)
    indent = len(lines[i]) - len(lines[i].lstrip())
    j = i + 1
    while not (lines[j].startswith(" " * indent + "}") and len(lines[j]) - len(lines[j].lstrip()) == indent):
        j += 1
    return i + 1, j + 1

def main():
    text, root = sys.argv[1], sys.argv[2]
    pat = sys.argv[3] if len(sys.argv) > 3 else r"sm90.*dkdv"
    mask_hpp = f"{root}/include/varattn/detail/mask.hpp"
    branch_line = line_of(mask_hpp, "if (partial) {", after="with_mask_test(bool partial")
    ranges = {}
    src = open(mask_hpp).read()
    if "column_base_of" in src:
        ranges["column_base_of"] = func_range(mask_hpp, "column_base column_base_of(")
        ranges["column_bits"] = func_range(mask_hpp, "static uint32_t column_bits(")
    funcs = parse(text)
    names = list(funcs)
    dem = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    for name, d in zip(names, dem):
        if not re.search(pat, d):
            continue
        ins = funcs[name]
        real = [x for x in ins if x[0] is not None and not x[1].startswith("NOP")]
        label_at = {}
        order = [x for x in ins]
        # label -> index in `order` of the next instruction
        for k, x in enumerate(order):
            if x[0] is None:
                label_at[x[1]] = k
        idx_real = [k for k, x in enumerate(order) if x[0] is not None]
        sites = []
        for k, x in enumerate(order):
            if x[0] is None:
                continue
            mb = re.match(r"@!?U?P\d+ BRA `?\(?(\.L_x_\d+)", x[1])
            if not mb:
                continue
            if not x[2] or not (x[2][0][0].endswith("mask.hpp") and x[2][0][1] == branch_line):
                continue
            target = label_at[mb.group(1)]
            # region A: k+1 .. target; its last unconditional BRA jumps to the join
            last = None
            for q in range(k + 1, target):
                if order[q][0] is not None and re.match(r"BRA `?\(?(\.L_x_\d+)", order[q][1]):
                    last = q
            if last is None:
                sites.append((hex(x[0]), "no join"))
                continue
            join = label_at[re.match(r"BRA `?\(?(\.L_x_\d+)", order[last][1]).group(1)]
            count = lambda a, b: sum(1 for q in range(a, b) if order[q][0] is not None and not order[q][1].startswith("NOP"))
            ex2 = lambda a, b: sum(1 for q in range(a, b) if order[q][0] is not None and "MUFU.EX2" in order[q][1])
            a_n, b_n = count(k + 1, target), count(target, join)
            a_e, b_e = ex2(k + 1, target), ex2(target, join)
            # the masked copy is the longer one
            sites.append((hex(x[0]), max(a_n, b_n), min(a_n, b_n), max(a_e, b_e) if a_n > b_n else a_e, "fallthrough" if a_n >= b_n else "target"))
        attrib = {}
        for key, (lo, hi) in ranges.items():
            attrib[key] = sum(1 for x in real if any(f.endswith("mask.hpp") and lo <= l <= hi for f, l in x[2]))
        ld = sum(1 for x in real if x[1].startswith("LDL") or " LDL" in x[1])
        st = sum(1 for x in real if x[1].startswith("STL") or " STL" in x[1])
        short = d.replace("varattn::detail::", "").replace("__nv_bfloat16", "bf16").replace("__half", "fp16")
        short = re.sub(r"\(.*", "", short).replace("score_modifier<false>", "plain").replace("score_modifier<true>", "softcap")
        print(f"{short}: {len(real)} instr, {sum('MUFU.EX2' in x[1] for x in real)} EX2, LDL {ld} STL {st}; "
              f"mask sites (masked/unmasked copy): {[(s[1], s[2]) if len(s) > 2 else s for s in sites]}"
              + (f"; {attrib}" if attrib else ""))

main()
