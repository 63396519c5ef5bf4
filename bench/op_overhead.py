#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Host cost of the varattn op, eager, on one workload of bench/workloads.json (default
vl-window-d80: short segments, where the host, not the GPU, sets an eager call's time).

    python3 bench/op_overhead.py [WORKLOAD] [--calls N] [--profile]

Per call, host microseconds (perf_counter over N calls enqueued back to back, one sync at the
end) and GPU microseconds (CUDA events around the same N calls), for:
  fwd            varattn.varlen_attention, no gradient
  fwd+grad       the same with q, k, v requiring grad (the autograd node is recorded)
  fwd+bwd        that, then torch.autograd.grad (the autograd engine runs the backward op)
  ops fwd+bwd    torch.ops.varattn.varlen_attention + varlen_attention_backward called
                 directly under no_grad (as compare.py times FA2: no autograd)
  graph fwd      the fwd call replayed from a CUDA graph (GPU time only)
  graph fwd+bwd  the fwd+bwd call replayed from a CUDA graph (GPU time only)
When host us > GPU us the eager call is host-bound, and the difference between the rows says
where the host time goes. --profile adds torch.profiler's table (self CPU time) of fwd+bwd.
Every row runs the workload's options as compare.py does: causal, the sliding window
(window_left, window_right) and softcap (before, the window and softcap were dropped, so a
windowed workload such as long-d128-window1024 timed the plain causal problem).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import time

import torch

import varattn

HERE = pathlib.Path(__file__).resolve().parent


def workload(name):
    for w in json.loads((HERE / "workloads.json").read_text())["workloads"]:
        if w["name"] == name:
            return w
    raise SystemExit(f"no workload {name} in bench/workloads.json")


def per_call(fn, calls):
    """(host us, GPU us) a call: fn enqueued `calls` times back to back."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0 = time.perf_counter()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    host = (time.perf_counter() - t0) * 1e6 / calls
    torch.cuda.synchronize()
    return host, start.elapsed_time(end) * 1e3 / calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", nargs="?", default="vl-window-d80")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    w = workload(args.workload)
    lengths = w["lengths"]
    total = sum(lengths)
    hq, hkv, d = w["heads_q"], w["heads_kv"], w["head_dim"]
    causal = bool(w.get("causal", False))
    window = (int(w.get("window_left", -1)), int(w.get("window_right", -1)))
    softcap = float(w.get("softcap", 0.0))
    options = {"causal": causal, "max_seqlen_q": max(lengths), "window_size": window,
               "softcap": softcap}
    torch.manual_seed(0)
    dev, dt = "cuda", torch.bfloat16
    q = torch.randn(total, hq, d, device=dev, dtype=dt)
    k = torch.randn(total, hkv, d, device=dev, dtype=dt)
    v = torch.randn(total, hkv, d, device=dev, dtype=dt)
    d_out = torch.randn(total, hq, d, device=dev, dtype=dt)
    cu = torch.tensor([0] + list(itertools.accumulate(lengths)), device=dev,
                      dtype=torch.int32)
    max_q = max(lengths)
    qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))

    def fwd():
        varattn.varlen_attention(q, k, v, cu, **options)

    def fwd_grad():
        varattn.varlen_attention(qg, kg, vg, cu, **options)

    def fwd_bwd():
        out = varattn.varlen_attention(qg, kg, vg, cu, **options)
        return torch.autograd.grad(out, (qg, kg, vg), d_out)

    def ops_fwd_bwd():
        with torch.no_grad():
            out, lse = torch.ops.varattn.varlen_attention(q, k, v, cu, cu, causal, None, max_q,
                                                          max_q, window[0], window[1], softcap,
                                                          True, False)
            return torch.ops.varattn.varlen_attention_backward(d_out, q, k, v, out, lse, cu, cu,
                                                               causal, None, max_q, window[0],
                                                               window[1], softcap, False)

    rows = {}
    for name, fn in (("fwd", fwd), ("fwd+grad", fwd_grad), ("fwd+bwd", fwd_bwd),
                     ("ops fwd+bwd", ops_fwd_bwd)):
        rows[name] = per_call(fn, args.calls)
    # The graphs: each captured on the side stream after warm-up there (as compare.py does).
    for name, fn in (("graph fwd", fwd), ("graph fwd+bwd", fwd_bwd)):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        rows[name] = (float("nan"), per_call(graph.replay, args.calls)[1])

    print(f"{args.workload}: {len(lengths)} segments, {total} tokens, heads {hq}:{hkv}, d{d}, "
          f"causal {causal}, window {window}, softcap {softcap}, "
          f"{torch.cuda.get_device_name()}, torch {torch.__version__}, varattn "
          f"{varattn.__version__}; {args.calls} calls a row")
    print(f"{'':16s} {'host us':>9s} {'GPU us':>9s}")
    for name, (host, gpu) in rows.items():
        print(f"{name:16s} {host:9.1f} {gpu:9.1f}")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                fwd_bwd()
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
