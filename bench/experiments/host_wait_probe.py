#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Does one fwd+bwd call of the varattn op wait on the GPU, and where? (fifty-fifth session;
host_gap.md). s55's timeline put llm-d128-causal's 46 us gap inside
varattn::varlen_attention_backward's host code before its first launch, with no runtime call
in flight: either the host is slower than the GPU there, or something waits.

1. A sleep kernel of ~SLEEP_MS queued first, then one call's host side timed by stage: a stage
   that lasts about as long as the sleep's remainder waits on the GPU; one of a few ms does not.
2. The host's own rate: ITERS calls enqueued behind a long sleep (so that nothing the GPU does
   can hold the host), host us a call, forward and backward apart.
3. Step 1 under torch.profiler (CPU and CUDA): the host events longer than 5 ms, i.e. the op
   or runtime call that holds a wait.
With --queued, only (queued()): 60 fwd+bwd calls (compare.make_fwdbwd's) timed live by one
pair of events, live with a pair a call (compare.py's time_ms, the median), and queued (all
enqueued behind a sleep: the GPU's own time a call), each from a rested GPU, 5 rounds, for
each of --methods= (default varattn_op; fa4 needs the anchors installed; a method that does not
import stops the run). live - queued = what the host's pace costs a call unprofiled.

With --spin=S, only: the table's fwd+bwd call back to back for S seconds a method and row, for
py-spy outside (`py-spy record --native --threads --idle --format raw -o F -- python3 ...`;
bench/experiments/spy_top.py F: where each host thread sits).

  python3 bench/experiments/host_wait_probe.py [--queued | --spin=S] [--methods=varattn_op,fa4] [workloads]
"""
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import timeline  # noqa: E402  (bench/timeline.py: load_compare)

SLEEP_MS = 200
ITERS = 20


def sleep_gpu(torch, ms):
    """Queue a kernel that spins ~ms (torch.cuda._sleep counts cycles at the current clock)."""
    torch.cuda._sleep(int(ms * 1e3 * 1980))  # cycles at the H100's and H200's top clock


def queued(torch, compare, name, run, nsets, calls=60, rounds=5):
    """Per call ms of fwd+bwd calls (run(i): one call), three ways, each from the same rested
    GPU (a 300 ms sleep first), the order rotated a round: live (the host enqueues as the GPU
    runs; one pair of events over calls 1.., call 0 enqueued first so that the host's lead
    before it counts in no call), per_call (a pair a call, the median: compare.py's time_ms)
    and queued (every call enqueued behind the sleep: the GPU's own time a call). 60 calls of
    ~10 launches stay under a stream's ~1,024 pending launches."""
    modes = ["live", "per_call", "queued"]
    for r in range(rounds):
        figures = {}
        for mode in modes[r % 3:] + modes[:r % 3]:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            marks = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                     for _ in range(calls)] if mode == "per_call" else []
            sleep_gpu(torch, 300)
            if mode != "queued":
                torch.cuda.synchronize()  # rested as the queued mode, then live
            t0 = time.perf_counter()
            for i in range(calls):
                if marks:
                    marks[i][0].record()
                run(i % nsets)
                if marks:
                    marks[i][1].record()
                if i == 0:
                    start.record()
            host_s = time.perf_counter() - t0
            end.record()
            still_sleeping = mode == "queued" and not start.query()
            clock = compare.sm_clock_mhz(torch)
            torch.cuda.synchronize()
            ms = (statistics.median(a.elapsed_time(b) for a, b in marks) if marks
                  else start.elapsed_time(end) / (calls - 1))
            figures[mode] = (ms, host_s * 1e3 / calls, clock)
            if mode == "queued" and not still_sleeping:
                print(f"{name} round {r}: the sleep ended before the calls were enqueued; "
                      f"queued is not the GPU's own time this round", flush=True)
        live, per_call, q = figures["live"], figures["per_call"], figures["queued"]
        print(f"{name} round {r}: live {live[0]:.4f} ms a call (host {live[1]:.3f}, SM "
              f"{live[2]} MHz), per-call events median {per_call[0]:.4f} ({per_call[2]} MHz), "
              f"queued {q[0]:.4f} (host {q[1]:.3f}, {q[2]} MHz); live - queued "
              f"{(live[0] - q[0]) * 1e3:.1f} us, per-call - queued "
              f"{(per_call[0] - q[0]) * 1e3:.1f} us", flush=True)


def spin(torch, run, nsets, seconds):
    """Calls back to back for `seconds` (as compare.py's timing loop, without events), for a
    sampling profiler outside (py-spy record --native: where the host threads sit while the
    GPU runs; spy_top.py --under spin reads its raw output, the stacks under this function:
    the final synchronize is the caller's, so a host far ahead does not count its wait here).
    Returns (calls, host seconds)."""
    end, calls = time.perf_counter() + seconds, 0
    t0 = time.perf_counter()
    while time.perf_counter() < end:
        run(calls % nsets)
        calls += 1
    return calls, time.perf_counter() - t0


def main():
    compare = timeline.load_compare()
    import torch
    from torch.profiler import ProfilerActivity, profile
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    queued_only = "--queued" in flags
    spin_s = 0.0
    for f in flags:
        if f.startswith("--spin="):
            spin_s = float(f.split("=", 1)[1])
    queued_only = queued_only or spin_s > 0  # the same per-method loop, the table's call
    methods = ["varattn_op"]
    for f in flags:
        if f.startswith("--methods="):
            methods = [m for m in f.split("=", 1)[1].split(",") if m]
    names = args[0] if args else "llm-d128-causal,llm-d128-gqa28-causal,long-d128"
    dev = compare.Device(torch, "cuda", "bf16", quick=True, settle_s=0)
    modules = compare.optional_modules(set(compare.METHODS) - set(methods), print)
    workloads = compare.select_workloads(compare.load_workloads(compare.DEFAULT_WORKLOADS), names)
    missing = [m for m in methods if m in modules and modules[m][0] is None]
    if queued_only and missing:
        raise SystemExit(f"not importable: {missing} ({[modules[m][1] for m in missing]}); "
                         "the comparison needs every method (. /tmp/anchors.env for fa4)")
    for w, method in [(w, m) for w in workloads for m in (methods if queued_only else methods[:1])]:
        if method in missing:
            continue
        p = compare.Problem(dev, w)
        with p.pass_mode("fwdbwd"):
            if queued_only:
                try:  # the very call the table times (compare.make_fwdbwd), warmed up
                    run = compare.make_fwdbwd(p, method, {}, modules)
                    for i in range(5):
                        run(i % len(p.sets))
                    torch.cuda.synchronize()
                except Exception as e:  # a method without this workload's options
                    print(f"{w['name']} {method}: not run ({compare.short_error(e)})", flush=True)
                    del p
                    continue
                if spin_s > 0:
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    calls, host_s = spin(torch, run, len(p.sets), spin_s)
                    torch.cuda.synchronize()
                    total_s = time.perf_counter() - t0
                    print(f"{w['name']} {method} spin: {calls} calls, host "
                          f"{host_s * 1e3 / calls:.3f} ms a call enqueued, "
                          f"{total_s * 1e3 / calls:.3f} ms a call in all", flush=True)
                else:
                    queued(torch, compare, f"{w['name']} {method}", run, len(p.sets))
                del run, p
                continue
            forward, to_packed, _ = compare.make_method(p, method, {}, modules)

            def fwd(i):
                return to_packed(forward(i))

            def bwd(out, i):
                return torch.autograd.grad(out, p.sets[i], p.d_outs[i])
            for i in range(5):
                bwd(fwd(i % len(p.sets)), i % len(p.sets))
            torch.cuda.synchronize()
            # 1. one call behind a sleep, by stage
            for trial in range(3):
                sleep_gpu(torch, SLEEP_MS)
                t0 = time.perf_counter()
                out = fwd(0)
                t1 = time.perf_counter()
                bwd(out, 0)
                t2 = time.perf_counter()
                torch.cuda.synchronize()
                t3 = time.perf_counter()
                print(f"{w['name']} behind a {SLEEP_MS} ms sleep: forward host "
                      f"{(t1 - t0) * 1e3:.3f} ms, backward host {(t2 - t1) * 1e3:.3f} ms, "
                      f"then the GPU {(t3 - t2) * 1e3:.1f} ms", flush=True)
            # 2. the host's rate behind a long sleep
            sleep_gpu(torch, 2000)
            fsum = bsum = 0.0
            for i in range(ITERS):
                t0 = time.perf_counter()
                out = fwd(i % len(p.sets))
                t1 = time.perf_counter()
                bwd(out, i % len(p.sets))
                t2 = time.perf_counter()
                fsum += t1 - t0
                bsum += t2 - t1
            t_end = time.perf_counter()
            torch.cuda.synchronize()
            print(f"{w['name']} host rate over {ITERS} calls behind a sleep: forward "
                  f"{fsum / ITERS * 1e6:.1f} us, backward {bsum / ITERS * 1e6:.1f} us a call; "
                  f"GPU still busy {(time.perf_counter() - t_end) * 1e3:.0f} ms after", flush=True)
            # 3. who holds a wait
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                sleep_gpu(torch, SLEEP_MS)
                bwd(fwd(0), 0)
                torch.cuda.synchronize()
            long = sorted((e for e in prof.events()
                           if e.device_type == torch.autograd.DeviceType.CPU
                           and e.time_range.elapsed_us() > 5000),
                          key=lambda e: -e.time_range.elapsed_us())
            for e in long[:12]:
                print(f"  {w['name']} host event {e.name[:90]} (tid {e.thread}): "
                      f"{e.time_range.elapsed_us() / 1e3:.1f} ms", flush=True)
            if not long:
                print(f"  {w['name']}: no host event over 5 ms", flush=True)
        del forward, to_packed, fwd, bwd, p
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
