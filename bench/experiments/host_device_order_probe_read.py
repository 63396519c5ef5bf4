#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads host_device_order_probe.sh's ab.txt (and kernels.txt): per workload, the variants'
samples by round and position, the order and plan-path contrasts against the repeat noise,
and a reading (host_device_order_s39.md, section 6).

  python3 host_device_order_probe_read.py OUT/ab.txt [OUT/kernels.txt]
  python3 host_device_order_probe_read.py --selftest
"""
import re
import statistics
import sys

VARIANTS = ("host", "device", "host_dlist", "device_hlist")
ROW = re.compile(r"^fwd/([^/]+)/([^/]+)/bf16\s+([\d.]+)\s+ms(?:\s+graph\s+(-?[\d.]+))?")


def parse_pads(lines):
    """{pad MiB: {variant: ms}} from the "== P<N>" blocks (llm-d128)."""
    pads, pad = {}, None
    for line in lines:
        if line.startswith("== "):
            pad = int(line.split()[1][1:]) if line.startswith("== P") else None
            continue
        m = ROW.match(line)
        if pad is None or not m:
            continue
        o = re.match(r"order(\d+)_(\w+)$", m.group(2))
        if o:
            pads.setdefault(pad, {})[o.group(2)] = float(m.group(3))
    return pads


def pad_report(pads, main):
    out = ["## placement: llm-d128 host and device with the buffer sets shifted (--varattn_pad_mib)"]
    for pad, d in sorted(pads.items()):
        cells = "  ".join(f"{v} {ms:.4f}" for v, ms in d.items())
        gap = (f"  host over device {pct(d['host'], d['device']):+.2f}%"
               if "host" in d and "device" in d else "")
        out.append(f"  pad {pad:5d} MiB: {cells}{gap}")
    for v in ("host", "device"):
        xs = [d[v] for d in pads.values() if v in d]
        base = main.get("llm-d128", {}).get(v, [])
        xs_all = xs + [x[2] for x in base]
        if len(xs_all) >= 2:
            out.append(f"  {v}: spread over pads and rounds {pct(max(xs_all), min(xs_all)):.2f}% "
                       f"({min(xs_all):.4f}-{max(xs_all):.4f} ms)")
    return "\n".join(out)


def parse(lines, graph=False):
    """{workload: {policy or variant: [(round, position, ms)]}} (position 0: fused and
    fused_device); `graph`: the graph_ms column instead of the eager median."""
    data = {}
    rnd = 0
    for line in lines:
        if line.startswith("== "):
            rnd = int(line.split()[1][1:]) if line.startswith("== R") else None
            continue
        if rnd is None:  # the placement blocks (parse_pads)
            continue
        m = ROW.match(line)
        if not m:
            continue
        w, policy, ms = m.group(1), m.group(2), float(m.group(3))
        if graph:
            if m.group(4) is None or float(m.group(4)) <= 0:
                continue
            ms = float(m.group(4))
        d = data.setdefault(w, {})
        o = re.match(r"order(\d+)_(\w+)$", policy)
        if o:
            d.setdefault(o.group(2), []).append((rnd, int(o.group(1)), ms))
        else:
            d.setdefault(policy, []).append((rnd, 0, ms))
    return data


def mean(xs):
    return statistics.mean(xs) if xs else float("nan")


def pct(a, b):
    return (a / b - 1) * 100


def report(data, kernels=None):
    out = []
    for w, d in data.items():
        out.append(f"## {w}")
        for name in ("fused", "fused_device") + VARIANTS:
            xs = d.get(name, [])
            if not xs:
                continue
            cells = " ".join(f"R{r}{'p' + str(p) if p else ''}:{ms:.4f}" for r, p, ms in xs)
            out.append(f"  {name:13s} mean {mean([x[2] for x in xs]):.4f} ms  [{cells}]")
        if not any(d.get(v) for v in VARIANTS):  # vl-full-d80: s39's preceding rows only
            if d.get("fused") and d.get("fused_device"):
                out.append(f"  fused over fused_device "
                           f"{pct(mean([x[2] for x in d['fused']]), mean([x[2] for x in d['fused_device']])):+.2f}%")
            continue
        m = {v: mean([x[2] for x in d.get(v, [])]) for v in VARIANTS + ("fused", "fused_device")}
        # repeat noise: the same variant twice in one round (positions 1/6 and 2/5)
        diffs = []
        for v in ("host", "device"):
            by_round = {}
            for r, p, ms in d.get(v, []):
                by_round.setdefault(r, []).append((p, ms))
            for r, xs in by_round.items():
                if len(xs) == 2:
                    xs.sort()
                    diffs.append(pct(xs[1][1], xs[0][1]))  # late over early
        noise = max((abs(x) for x in diffs), default=float("nan"))
        late = mean(diffs)
        gap = pct(m["fused"], m["fused_device"])
        order_h = pct(m["host"], m["host_dlist"])       # host order over device order, host plan
        order_d = pct(m["device_hlist"], m["device"])   # the same on the device plan
        path_h = pct(m["host"], m["device_hlist"])      # host plan over device plan, host order
        path_d = pct(m["host_dlist"], m["device"])      # the same with the device order
        out.append(f"  s39 rows: fused over fused_device {gap:+.2f}%")
        out.append(f"  order (host list over device list): host plan {order_h:+.2f}%, device plan "
                   f"{order_d:+.2f}%")
        out.append(f"  plan path (host plan over device plan): host list {path_h:+.2f}%, device "
                   f"list {path_d:+.2f}%")
        out.append(f"  repeat noise (same variant twice in a round, late over early): "
                   f"{', '.join(f'{x:+.2f}%' for x in diffs)}; max |.| {noise:.2f}%, mean "
                   f"{late:+.2f}%")
        thr = max(1.0, noise)
        order_real = abs(order_h) > thr and abs(order_d) > thr and order_h * order_d > 0
        path_real = abs(path_h) > thr and abs(path_d) > thr and path_h * path_d > 0
        if order_real and not path_real:
            verdict = ("ORDER: the list's order carries the gap in both plans ("
                       + ("the host list slower" if order_h > 0 else "the device list slower")
                       + "); section 6, A")
        elif path_real and not order_real:
            verdict = "PLAN PATH: the plan that runs carries it, whatever the order; section 6, B"
        elif order_real and path_real:
            verdict = "BOTH order and path beyond the noise: section 6, D"
        elif abs(gap) > thr:
            verdict = ("NEITHER, yet fused vs fused_device differs here: a row / fixture effect "
                       "(allocation history, position); section 6, C")
        else:
            verdict = "NO GAP in this call (fused vs fused_device within the noise); section 6, C"
        out.append(f"  reading (threshold {thr:.2f}%): {verdict}")
    if kernels:
        out.append("## ncu kernel durations, llm-d128 (us; median of the launches)")
        k = {}
        for line in kernels:
            p = line.split()
            if len(p) == 3 and p[0] == "kernel":
                k.setdefault(p[1], []).append(float(p[2]))
        for v in VARIANTS:
            if v in k:
                out.append(f"  {v:13s} median {statistics.median(k[v]):8.1f}  "
                           f"min {min(k[v]):8.1f}  n {len(k[v])}")
        if "host" in k and "device" in k:
            out.append(f"  host over device (kernel alone): "
                       f"{pct(statistics.median(k['host']), statistics.median(k['device'])):+.2f}%")
    return "\n".join(out)


SELFTEST = """== R1 host,device,host_dlist,device_hlist,device,host
fwd/llm-d128/fused/bf16 2.1300 ms
fwd/llm-d128/fused_device/bf16 2.0100 ms
fwd/llm-d128/order1_host/bf16 2.1200 ms
fwd/llm-d128/order2_device/bf16 2.0100 ms
fwd/llm-d128/order3_host_dlist/bf16 2.0150 ms
fwd/llm-d128/order4_device_hlist/bf16 2.1250 ms
fwd/llm-d128/order5_device/bf16 2.0120 ms
fwd/llm-d128/order6_host/bf16 2.1210 ms
== R2 device,host,device_hlist,host_dlist,host,device
fwd/llm-d128/fused/bf16 2.1310 ms
fwd/llm-d128/fused_device/bf16 2.0110 ms
fwd/llm-d128/order1_device/bf16 2.0100 ms
fwd/llm-d128/order2_host/bf16 2.1200 ms
fwd/llm-d128/order3_device_hlist/bf16 2.1250 ms
fwd/llm-d128/order4_host_dlist/bf16 2.0150 ms
fwd/llm-d128/order5_host/bf16 2.1210 ms
fwd/llm-d128/order6_device/bf16 2.0120 ms
"""


def main():
    if sys.argv[1:] == ["--selftest"]:
        text = report(parse(SELFTEST.splitlines()))
        print(text)
        assert "ORDER: the list's order" in text, text
        return 0
    lines = open(sys.argv[1]).read().splitlines()
    kernels = None
    if len(sys.argv) > 2:
        try:
            kernels = open(sys.argv[2]).read().splitlines()
        except OSError:
            kernels = None
    print("# eager medians (the bench's ms)")
    main_rows = parse(lines)
    print(report(main_rows, kernels))
    pads = parse_pads(lines)
    if pads:
        print(pad_report(pads, main_rows))
    graph = parse(lines, graph=True)
    if any(graph.values()):
        print("\n# graph replays (graph_ms: no host launch between runs)")
        print(report(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
