import re, sys
def functions(path):
    cur, out = None, {}
    for line in open(path):
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = m.group(1); out[cur] = []; continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if cur and m:
            out[cur].append((int(m.group(1), 16), m.group(2).strip()))
    return out
def short(name):
    m = re.search(r"score_modifierILb(\d)EEELb(\d)", name)
    return ("softcap" if m.group(1) == "1" else "plain") + "/" + ("atomic" if m.group(2) == "1" else "det")
if __name__ == "__main__":
    for name, ins in functions(sys.argv[1]).items():
        body = [i for i in ins if not i[1].startswith("NOP")]
        mufu = sum(1 for _, t in body if "MUFU.EX2" in t)
        print(short(name), "instructions", len(body), "MUFU.EX2", mufu)

def mask_paths(ins):
    """(masked copy, unmasked copy) instruction counts of the first with_mask_test branch after
    the first 'DEPBAR.LE gsb0, 0x1' (the S^T wait)."""
    addr = [a for a, _ in ins]
    for i, (a, t) in enumerate(ins):
        if "DEPBAR.LE gsb0, 0x1" in t:
            for j in range(i + 1, i + 4):
                m = re.match(r"@!?U?P\d BRA (0x[0-9a-f]+)", ins[j][1])
                if m:
                    target = int(m.group(1), 16)
                    # the masked copy: fall-through up to the target; its last unconditional BRA
                    # jumps to the join
                    k = addr.index(target)
                    last_bra = max(x for x in range(j + 1, k) if re.match(r"BRA 0x", ins[x][1]))
                    join = int(re.match(r"BRA (0x[0-9a-f]+)", ins[last_bra][1]).group(1), 16)
                    masked = sum(1 for x in range(j + 1, k) if not ins[x][1].startswith("NOP"))
                    unmasked = sum(1 for x in range(k, addr.index(join)) if not ins[x][1].startswith("NOP"))
                    return masked, unmasked, hex(target), hex(join)
            return None
    return None

if __name__ == "__main__":
    for name, ins in functions(sys.argv[1]).items():
        print(short(name), "masked/unmasked P copies", mask_paths(ins))
