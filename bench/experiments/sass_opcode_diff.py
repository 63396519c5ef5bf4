#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Two builds' SASS of one kernel, opcode by opcode: where a change moved code it did not touch.

s51 (forward_store_16b): the store's change left long-d128 +1.1% slower; the opcode counts of
the d128 forward were equal in the main loop but the softmax's FMNMX / MUFU.EX2 / FADD sat in
another order between the HGMMAs. This prints (1) the opcode counts that differ over the whole
function, (2) the edits (difflib) between the two opcode sequences from the first to the last
HGMMA (the main loop), each with its first opcodes.

  cuobjdump -sass A/varattn_bench > a.sass; cuobjdump -sass B/varattn_bench > b.sass
  python3 bench/experiments/sass_opcode_diff.py a.sass b.sass MANGLED_NAME_SUBSTRING
"""
import collections
import difflib
import re
import sys


def function(path, needle):
    """(address, instruction) pairs of the first function whose name contains needle."""
    text = open(path).read()
    names = [m for m in re.finditer(r"Function : (\S+)", text) if needle in m.group(1)]
    if not names:
        sys.exit(f"{path}: no function containing {needle}")
    start = names[0].end()
    end = text.find("Function : ", start)
    body = text[start:end if end > 0 else None]
    return names[0].group(1), [
        (int(m.group(1), 16), m.group(2).strip())
        for m in re.finditer(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", body)]


def opcode(instruction):
    return re.sub(r"^@!?U?P\w+\s+", "", instruction).split()[0]


def main_loop(instructions):
    at = [i for i, (_, s) in enumerate(instructions) if "HGMMA" in s]
    return instructions[at[0]:at[-1] + 1] if at else []


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, a = function(sys.argv[1], sys.argv[3])
    _, b = function(sys.argv[2], sys.argv[3])
    print(f"{name}\ninstructions: A {len(a)}, B {len(b)}")
    count_a = collections.Counter(opcode(s) for _, s in a)
    count_b = collections.Counter(opcode(s) for _, s in b)
    for op in sorted(set(count_a) | set(count_b)):
        if count_a[op] != count_b[op]:
            print(f"  {op:22s} A {count_a[op]:6d}  B {count_b[op]:6d}")
    loop_a = [opcode(s) for _, s in main_loop(a)]
    loop_b = [opcode(s) for _, s in main_loop(b)]
    print(f"first to last HGMMA: A {len(loop_a)}, B {len(loop_b)} instructions")
    matcher = difflib.SequenceMatcher(None, loop_a, loop_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            print(f"  {tag:7s} A[{i1}:{i2}] {loop_a[i1:i2][:6]}  B[{j1}:{j2}] {loop_b[j1:j2][:6]}")


if __name__ == "__main__":
    main()
