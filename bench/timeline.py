#!/usr/bin/env python3
"""Where a method's time goes, kernel by kernel, under back-to-back load: the kernels of one
call as the CUDA profiler (torch.profiler, CUPTI activity records; no replay, no serialisation)
sees them in a loop of calls, the idle time between them, and the SM clock and power that
nvidia-smi samples during an event-timed loop of the same calls.

ncu times each kernel alone (replayed, the GPU otherwise idle); a benchmark times the calls back
to back, where clocks fall under sustained power and launches may leave gaps. This script puts
both views of one workload side by side, for varattn's op and the peers compare.py runs
(methods and tensors made by compare.py's own code), so that a gap against a peer can be
split into kernel time, time between kernels, and clock.

  python3 bench/timeline.py OUTDIR --workloads long-d128-causal,long-d128 \
      [--methods varattn_op,fa4,cudnn] [--pass fwd,fwdbwd] [--dtype bf16] [--iters 40]
      [--spaced-ms 100] [--rounds 5] [--launches] [--gc-off] [--graph]

Writes OUTDIR/timeline.json and prints a table a (workload, pass, method), with the three
largest gaps between kernels (span_summary: the kernel that ended the busy interval, the next
one, µs a call), so that idle time is located before it is guessed at. --launches adds the
host's side: how much of each gap passed before the host launched the next kernel, and what
the host ran meanwhile (the host ops overlapping those late windows, and any CUDA runtime
call in progress when the GPU went idle), µs a gap as the lateness is. --gc-off times and
profiles each method with Python's cyclic GC collected first and off. --graph then captures
each method's call into CUDA graphs as compare.py does (graph_view) and profiles the replays:
the graph figure's kernels and gaps.
--rounds R (R > 1) then times the methods of each (workload, pass) again in R interleaved
rounds (the order rotated each round), so that a ratio against a peer is not the card's drift
between two methods timed a minute apart: prints each method's median, min and max over the
rounds and each peer's ratio to varattn_op round by round.
"""
import argparse
import contextlib
import gc
import importlib.util
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
# nvidia-smi samples at or below this power are the GPU between loops (idle ~80 W on the
# H200), not the method under load; the clock and power reported are the others' medians.
LOADED_WATTS = 150


def load_compare():
    spec = importlib.util.spec_from_file_location("varattn_compare", HERE / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_POWER_FIELD = []  # power_field()'s answer, once


def power_field():
    """nvidia-smi's power.draw.instant where the driver has it (R530+), else power.draw, which
    recent drivers average over about a second (a loop shorter than that reads low)."""
    if not _POWER_FIELD:
        try:
            ok = subprocess.run(["nvidia-smi", "--query-gpu=power.draw.instant",
                                 "--format=csv,noheader"], capture_output=True,
                                timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _POWER_FIELD.append("power.draw.instant" if ok else "power.draw")
    return _POWER_FIELD[0]


@contextlib.contextmanager
def smi_samples(samples, period_ms=20):
    """nvidia-smi's SM clock (MHz), power (W, power_field()) and clock-event reasons every
    period_ms while the body runs; appended to `samples` as (mhz, watts, reasons)."""
    cmd = ["nvidia-smi", f"--query-gpu=clocks.sm,{power_field()},clocks_event_reasons.active",
           "--format=csv,noheader,nounits", f"-lms={period_ms}"]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        proc = None
    time.sleep(0.15)  # its first sample before the load
    try:
        yield
    finally:
        if proc is not None:
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            for line in out.splitlines():
                parts = [x.strip() for x in line.split(",")]
                try:
                    samples.append((float(parts[0]), float(parts[1]), parts[2]))
                except (ValueError, IndexError):
                    pass


def kernel_view(torch, run, nsets, iters, pause_s=0.0, launches=False):
    """The CUDA kernels of `iters` calls in a loop under torch.profiler: per kernel name its
    count a call and mean µs; the calls' span (first kernel's start to last kernel's end,
    over the loop, a call's share) and the kernels' summed time a call. With pause_s, the host
    waits for each call and sleeps that long before the next: kernels of a rested GPU (its
    clocks up, as ncu's one launch sees them, but without ncu's cache flush); the span and idle
    figures then measure the pauses. With `launches`, the host's side is profiled too (its
    runtime calls: a few µs of host time an op more) and each gap says how much of it passed
    before the host asked for the next kernel (launch_spans)."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CUDA] + ([ProfilerActivity.CPU] if launches else [])
    torch.cuda.synchronize()
    before = torch.cuda.memory_stats()
    with profile(activities=activities) as prof:
        for i in range(iters):
            run(i % nsets)
            if pause_s > 0:
                torch.cuda.synchronize()
                time.sleep(pause_s)
        torch.cuda.synchronize()
    churn = allocator_churn(before, torch.cuda.memory_stats(), iters)
    spans, host = [], None
    if launches:
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "trace.json"
            prof.export_chrome_trace(str(path))
            events = json.loads(path.read_text()).get("traceEvents", [])
            spans, host = launch_spans(events), host_events(events)
        if not spans:
            print("  (no device events in the trace's categories: gaps without launch times)")
    if not spans:
        spans = [(e.time_range.start, e.time_range.end, e.name) for e in prof.events()
                 if str(e.device_type).endswith("CUDA")]
    view = span_summary(spans, iters, host=host) if spans else None
    if view is not None:
        view["allocator"] = churn
    return view


# The caching allocator's counters whose growth inside a loop of calls means it went to the
# driver: cudaMalloc / cudaFree (a cudaFree waits for the whole device) or a retry after
# freeing its cached blocks. None of them should move once a loop is warm.
CHURN_STATS = ("num_device_alloc", "num_device_free", "num_alloc_retries", "num_sync_all_streams")


def allocator_churn(before, after, iters):
    """Of torch.cuda.memory_stats() before and after `iters` calls: each CHURN_STATS counter's
    growth a call (absent counters: 0), and the peak reserved bytes after."""
    out = {k: (after.get(k, 0) - before.get(k, 0)) / iters for k in CHURN_STATS}
    out["reserved_peak_bytes"] = after.get("reserved_bytes.all.peak", 0)
    return out


# Device work in a Kineto trace, and the host calls that enqueue it (runtime or driver API).
DEVICE_CATS = {"kernel", "gpu_memset", "gpu_memcpy"}
HOST_CATS = {"cuda_runtime", "cuda_driver"}


def launch_spans(events):
    """(start µs, end µs, name, launch µs) of each device event of a chrome trace (torch.profiler
    with CPU and CUDA activities), launch being the start of the host call with its
    correlation id (None where the trace has none). One clock for both sides."""
    def cat(e):  # Kineto writes them lower-case; older traces differ in case
        return str(e.get("cat", "")).lower()
    launch = {}
    for e in events:
        if cat(e) in HOST_CATS and "correlation" in e.get("args", {}):
            launch[e["args"]["correlation"]] = float(e["ts"])
    spans = []
    for e in events:
        if cat(e) in DEVICE_CATS and e.get("ph") == "X":
            start = float(e["ts"])
            name = "Memset (Device)" if cat(e) == "gpu_memset" else e.get("name", "?")
            spans.append((start, start + float(e.get("dur", 0)), name,
                          launch.get(e.get("args", {}).get("correlation"))))
    return spans


# What the host runs: ATen ops, Python functions and annotations, CUDA runtime/driver calls.
HOST_WORK_CATS = HOST_CATS | {"cpu_op", "python_function", "user_annotation"}


def host_events(events):
    """(start µs, end µs, name, is_runtime, thread) of each complete host event of a chrome
    trace, for span_summary's account of what the host did while it was late; is_runtime marks
    CUDA runtime/driver calls (a synchronize or a blocking copy among them is a wait on the
    GPU); thread is the trace's tid (the Python thread and the autograd engine's differ)."""
    out = []
    for e in events:
        c = str(e.get("cat", "")).lower()
        if c in HOST_WORK_CATS and e.get("ph") == "X":
            start = float(e["ts"])
            out.append((start, start + float(e.get("dur", 0)), e.get("name", "?"),
                        c in HOST_CATS, e.get("tid")))
    return out


def host_account(host, windows, gaps, top=5):
    """Of host events (host_events) and the late windows ((GPU idle from, next launch) µs) of
    one gap pair's `gaps` occurrences with a known launch (late ones and not): `busy`, per
    (host event name, thread) the µs a gap it overlapped the windows, the `top` largest (the
    enclosing ones, e.g. the autograd node the host was in, come first: they overlap whole
    windows); `waits`, per runtime call in progress when the GPU went idle (a synchronize or a
    blocking copy that the idle released shows here, however soon it returned), its µs a gap
    past the idle start. A gap, as host_late_us is: the figures sit side by side."""
    busy, waits = {}, {}
    for s, e, name, runtime, thread in host:
        for a, b in windows:
            if s < b and e > a:
                busy[name, thread] = busy.get((name, thread), 0.0) + min(e, b) - max(s, a)
            if runtime and s < a < e:
                waits[name, thread] = waits.get((name, thread), 0.0) + min(e, b) - a

    def ranked(d):
        return [(n[:80], t, us / gaps)
                for (n, t), us in sorted(d.items(), key=lambda kv: -kv[1])[:top]]
    return {"busy": ranked(busy), "waits": ranked(waits)}


def span_summary(spans, iters, top_gaps=6, host=None):
    """Of the kernels' (start µs, end µs, name[, launch µs]) over `iters` calls: the calls'
    span, the union of the kernels' intervals (busy) and the rest (idle), a call's share each;
    per kernel name its count a call and mean µs; and where the idle lies: the gaps between the
    end of the busy interval and the next kernel's start, by (the kernel that ended it, the
    next one), the `top_gaps` largest pairs by µs a call (timeline_test.py). Where spans carry
    the host's launch time, each gap pair also gets `host_late_us`: the mean part of its gaps
    that passed before the next kernel was even launched (the host behind the GPU; the rest is
    the launch's own latency or a wait on the device); with `host` (host_events), each such pair
    also gets `host`: host_account of its late windows, what the host was doing meanwhile."""
    spans = sorted(tuple(s) + (None,) * (4 - len(s)) for s in spans)
    busy, end, last = 0.0, None, None
    gaps = {}
    for s, e, name, launch in spans:  # the union of the kernels' intervals
        if end is None or s >= end:
            if end is not None and s > end:
                late = None if launch is None else min(s - end, max(0.0, launch - end))
                gaps.setdefault((last, name), []).append((s - end, late, end))
            busy += e - s
            end, last = e, name
        elif e > end:
            busy += e - end
            end, last = e, name
    by_name = {}
    for s, e, name, _ in spans:
        by_name.setdefault(name, []).append(e - s)
    rows = sorted(({"kernel": n[:110], "per_call": len(d) / iters, "mean_us": statistics.mean(d),
                    "total_us_per_call": sum(d) / iters} for n, d in by_name.items()),
                  key=lambda r: -r["total_us_per_call"])
    gap_rows = []
    for (a, b), d in gaps.items():
        lengths = [g for g, _, _ in d]
        late = [x for _, x, _ in d if x is not None]
        gap_rows.append({"after": a[:80], "before": b[:80], "per_call": len(d) / iters,
                         "mean_us": statistics.mean(lengths),
                         "total_us_per_call": sum(lengths) / iters,
                         "host_late_us": statistics.mean(late) if late else None,
                         "windows": [(t, t + x) for _, x, t in d if x], "known": len(late)})
    gap_rows = sorted(gap_rows, key=lambda r: -r["total_us_per_call"])[:top_gaps]
    for g in gap_rows:
        windows, known = g.pop("windows"), g.pop("known")
        if host is not None and windows:
            g["host"] = host_account(host, windows, known)
    wall = spans[-1][1] - spans[0][0]
    return {"span_us_per_call": wall / iters, "busy_us_per_call": busy / iters,
            "idle_us_per_call": (wall - busy) / iters, "kernels": rows, "gaps": gap_rows}


def graph_view(compare, dev, torch, p, run, nsets, iters, samples):
    """The method's call captured into CUDA graphs as compare.py captures it (one a set, the
    fwd+bwd pass on fresh leaves: Problem.capture_inputs), then replayed: (event-timed ms,
    kernel_view of `iters` replays) or (None, {"na": why}) where it cannot be captured. What
    the graph figure of compare.py's table is made of, kernel by kernel and gap by gap; the
    timed replays' nvidia-smi samples (smi_samples) are appended to `samples`."""
    if compare.GRAPHS_OFF:  # an earlier capture left the allocator unusable for more
        return None, {"na": compare.GRAPHS_OFF["why"]}
    graphs = outs = None
    try:
        graphs, outs = compare.capture_graphs(dev, run, nsets, p.capture_inputs)
        replay = compare.graph_replay(graphs)
        with smi_samples(samples):
            ms, _ = dev.time_ms(replay, len(graphs), warmup=3, max_reps=iters * 4, budget_s=1.5)
        return ms, kernel_view(torch, replay, len(graphs), iters)
    except compare.GraphUnavailable as e:
        return None, {"na": str(e)}
    except Exception as e:  # a replay that fails: this method has no graph view (as compare.py)
        return None, {"na": f"graph failed: {compare.short_error(e)}"}
    finally:
        del graphs, outs
        try:
            torch.cuda.synchronize()
        except Exception:
            pass
        compare.empty_cache(torch)


def print_view(view, spaced=None):
    """A kernel_view's lines: span, busy and idle a call, the kernels, the three largest gaps."""
    print(f"  profiled: span {view['span_us_per_call']:.1f} us a call, kernels "
          f"busy {view['busy_us_per_call']:.1f}, idle "
          f"{view['idle_us_per_call']:.1f}")
    rested = {k["kernel"]: k["mean_us"] for k in (spaced or {}).get("kernels", [])}
    for k in view["kernels"][:8]:
        alone = (f"  (a launch: {k['mean_us']:.1f} us loaded, "
                 f"{rested[k['kernel']]:.1f} rested)"
                 if k["kernel"] in rested else "")
        print(f"    {k['total_us_per_call']:9.1f} us  x{k['per_call']:.0f}  "
              f"{k['kernel']}{alone}")
    churn = view.get("allocator") or {}
    if any(churn.get(k) for k in CHURN_STATS):
        print("    allocator a call: " + ", ".join(
            f"{k} {churn[k]:.2f}" for k in CHURN_STATS if churn.get(k)))
    for g in view["gaps"][:3]:  # where the idle lies
        print(f"    idle {g['total_us_per_call']:6.1f} us a call "
              f"(x{g['per_call']:.2f}, {g['mean_us']:.1f} us each) after "
              f"{g['after'][:50]} before {g['before'][:50]}"
              + (f"; the host {g['host_late_us']:.1f} us late"
                 if g.get("host_late_us") is not None else ""))
        for what, label in (("waits", "waiting in"), ("busy", "meanwhile in")):
            if (g.get("host") or {}).get(what):
                print(f"      host {label}: " + "; ".join(
                    f"{n} (tid {t}) {us:.1f} us" for n, t, us in g["host"][what]))


def print_rounds(compare, dev, p, workload, kind, runs, nsets, args):
    """compare.interleaved_rounds of the methods that ran, printed with each peer's ratio."""
    names = list(runs)
    with p.pass_mode(kind):
        times = compare.interleaved_rounds(dev, runs, nsets, args.rounds, warmup=3,
                                           max_reps=args.iters * 4, budget_s=1.0)
    print(f"\n{workload} {kind}: {args.rounds} interleaved rounds, ms (median, min, max)")
    for name in names:
        t = times[name]
        print(f"  {name:12s} {statistics.median(t):8.3f} {min(t):8.3f} {max(t):8.3f}")
    ratios = {}
    if "varattn_op" in times:
        ours = times["varattn_op"]
        for name in names:
            if name == "varattn_op":
                continue
            ratios[name] = [peer / mine for peer, mine in zip(times[name], ours)]
            print(f"  {name} / varattn_op by round: "
                  + " ".join(f"{x:.3f}" for x in ratios[name])
                  + f"  (median {statistics.median(ratios[name]):.3f})")
    return {"workload": workload, "pass": kind, "ms": times, "ratio_to_varattn_op": ratios}


@contextlib.contextmanager
def gc_paused(paused):
    """With `paused`, Python's cyclic GC collected, then off inside (on again after)."""
    if not paused:
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--workloads", default="long-d128-causal,long-d128")
    parser.add_argument("--methods", default="varattn_op,fa4,cudnn")
    parser.add_argument("--pass", dest="passes", default="fwd,fwdbwd")
    parser.add_argument("--dtype", choices=("bf16", "fp16"), default="bf16")
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--spaced-ms", type=float, default=0.0,
                        help="also profile 10 calls, each after a pause of this many ms "
                             "(kernels of a rested GPU beside the loaded ones)")
    parser.add_argument("--launches", action="store_true",
                        help="profile the host's runtime calls too: how much of each gap "
                             "passed before the host launched the next kernel")
    parser.add_argument("--gc-off", action="store_true",
                        help="time and profile each method with Python's cyclic GC collected "
                             "first and off: whether a gap is a GC pass landing at a fixed "
                             "point of the loop (NOTES fifty-fourth, item 4)")
    parser.add_argument("--graph", action="store_true",
                        help="also capture each method's call into CUDA graphs (as compare.py "
                             "does for its graph figures) and profile the replays")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time the methods again in this many interleaved rounds")
    args = parser.parse_args(argv)
    compare = load_compare()
    import torch
    # No settle: its timings (up to 4 x --iters reps) are long enough to be loaded already,
    # and its figures stay comparable with the fourteenth and fifteenth sessions'.
    dev = compare.Device(torch, "cuda", args.dtype, quick=True, settle_s=0)
    methods = [m for m in args.methods.split(",") if m]
    modules = compare.optional_modules(set(compare.METHODS) - set(methods), print)
    workloads = compare.select_workloads(compare.load_workloads(compare.DEFAULT_WORKLOADS),
                                         args.workloads)
    out = {"device": dev.device_name, "dtype": args.dtype, "torch": torch.__version__,
           "power_field": power_field(),
           "gc_off": args.gc_off,
           "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "rows": [],
           "rounds": []}
    for w in workloads:
        p = compare.Problem(dev, w)
        nsets = len(p.sets)
        for kind in [x for x in args.passes.split(",") if x]:
            runs = {}  # the methods that ran, for the interleaved rounds
            for name in methods:
                if name in modules and modules[name][0] is None:
                    continue
                with p.pass_mode(kind):
                    try:
                        run = (compare.make_method(p, name, {}, modules)[0] if kind == "fwd"
                               else compare.make_fwdbwd(p, name, {}, modules))
                        for i in range(5):
                            run(i % nsets)
                    except Exception as e:  # a method without this workload's options
                        print(f"{w['name']} {kind} {name}: not run ({compare.short_error(e)})")
                        continue
                    runs[name] = run
                    samples = []
                    with gc_paused(args.gc_off):
                        with smi_samples(samples):
                            ms, _ = dev.time_ms(run, nsets, warmup=3, max_reps=args.iters * 4,
                                                budget_s=1.5)
                        view = kernel_view(torch, run, nsets, args.iters,
                                           launches=args.launches)
                        spaced = (kernel_view(torch, run, nsets, 10, args.spaced_ms / 1e3)
                                  if args.spaced_ms > 0 else None)
                loaded = [s for s in samples if s[1] > LOADED_WATTS]
                row = {"workload": w["name"], "pass": kind, "method": name, "ms": ms,
                       "sm_mhz": statistics.median([s[0] for s in loaded]) if loaded else None,
                       "watts": statistics.median([s[1] for s in loaded]) if loaded else None,
                       "reasons": sorted({s[2] for s in loaded}), "samples": len(loaded),
                       "profile": view, "spaced_profile": spaced}
                out["rows"].append(row)
                print(f"\n{w['name']} {kind} {name}: {ms:.3f} ms event-timed, SM "
                      f"{row['sm_mhz']} MHz, {row['watts']} W ({len(loaded)} samples, "
                      f"reasons {row['reasons']})")
                if view:
                    print_view(view, spaced)
                if args.graph:
                    gsamples = []
                    with p.pass_mode(kind), gc_paused(args.gc_off):
                        gms, gview = graph_view(compare, dev, torch, p, run, nsets, args.iters,
                                                gsamples)
                    gloaded = [x for x in gsamples if x[1] > LOADED_WATTS]
                    row["graph_ms"], row["graph_profile"] = gms, gview
                    row["graph_sm_mhz"] = (statistics.median([x[0] for x in gloaded])
                                           if gloaded else None)
                    row["graph_watts"] = (statistics.median([x[1] for x in gloaded])
                                          if gloaded else None)
                    row["graph_reasons"] = sorted({x[2] for x in gloaded})
                    row["graph_samples"] = len(gloaded)
                    if gms is None:
                        print(f"  graph: n/a ({gview['na']})")
                    else:
                        print(f"  graph replays: {gms:.3f} ms event-timed, SM "
                              f"{row['graph_sm_mhz']} MHz, {row['graph_watts']} W ({len(gloaded)} "
                              f"samples, reasons {row['graph_reasons']})")
                        if gview:
                            print_view(gview)
            if args.rounds > 1 and len(runs) > 1:
                out["rounds"].append(print_rounds(compare, dev, p, w["name"], kind, runs,
                                                  nsets, args))
        del p
        compare.empty_cache(torch)  # never raises (a capture left underway)
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / "timeline.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
