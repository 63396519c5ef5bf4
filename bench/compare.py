#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""varattn against PyTorch's varlen attention paths, in one call on the GPU machine.

    python3 bench/compare.py VARATTN_BENCH OUTDIR [--dtype bf16|fp16] [--workloads LIST]
                             [--quick] [--skip METHODS] [--bench-json FILE] [--deadline-s S]
                             [--no-graph] [--pass fwd|fwdbwd|fwd,fwdbwd]
    python3 bench/compare.py --plot-only COMPARE_JSON OUT_PNG [--pass fwd|fwdbwd]
                                                                 # re-plot a saved run, no GPU

1. Measures the device's ceilings: bf16/fp16 matmul rate (8192^3) and device-to-device copy
   bandwidth (bytes read + written).
2. Runs VARATTN_BENCH (the varattn_bench binary; '-' skips it) for the selected workloads,
   its JSON written to a temporary file with --benchmark_out (its console output and progress
   lines go to our log), or reads --bench-json FILE instead (e.g. bench.json of run_on_gpu.sh's
   bench stage; entries whose FLOP count shows other segment lengths are not compared).
3. Per workload (bench/workloads.json; varattn_bench has the same ones compiled in, from
   bench/workloads_data.hpp, and reports the JSON's sha256), times the PyTorch anchors with
   CUDA events (median after warm-up, inputs rotated over buffer sets that exceed 2x L2),
   counts their host syncs with torch.cuda.set_sync_debug_mode("warn"), and checks each
   against a float32 reference (compared in float64) on a subset of query rows, computed with
   the workload's options (window mask, softcap; and its logsumexp where the workload asks
   for one and the method returns it):
     loop_bound  per-segment SDPA, each bound read from the device cu_seqlens (q[.., cu[i-1]:cu[i]])
     loop_split  per-segment SDPA after one .tolist() and torch.split (the Qwen2-VL pattern)
     fa2         aten._flash_attention_forward (FlashAttention-2 varlen), q/k/v [total, h, d];
                 window_size_left/right; its logsumexp is always computed
     mem_eff     aten._efficient_attention_forward (varlen), q/k/v [1, total, h, d]
     flex        FlexAttention with a document mask, torch.compile(flex_attention); windows in
                 the mask, softcap as a score_mod, logsumexp through return_aux/return_lse
     fa4         FlashAttention-4 (flash_attn.cute.flash_attn_varlen_func: window_size,
                 softcap, return_lse), where it is importable (else skipped)
     cudnn       cuDNN's varlen SDPA through the frontend's op (nvidia-cudnn-frontend 1.32:
                 import cudnn.sdpa.fwd.torch_op, torch.ops.cudnn.sdpa_fwd), q/k/v [total, h, d]:
                 windows as its diagonal band (FA's left w is its left bound w + 1), causal
                 bottom-right aligned (causal_bottom_right) where a segment has len_q != len_k,
                 logsumexp as its stats ([total_q, h, 1], natural log); no softcap. Where
                 importable (else skipped); a configuration cuDNN declines
                 (cudnnGraphNotSupportedError) is shown as absent
   and varattn itself through its PyTorch op where the package is installed
     varattn_op  varattn.varlen_attention(..., window_size=, softcap=, return_lse=)
   A method without one of the workload's options or shapes (METHOD_OPTIONS: the SDPA loops
   and mem_eff have no options, FA2 and cuDNN no softcap; mem_eff no GQA/MQA; the SDPA loops
   no bottom-right causal mask, which a causal segment with len_q != len_k needs) is shown as
   absent on that row, not as an error.
   Every method is also timed as CUDA-graph replays (not with --no-graph): after its eager
   timing, its call on each input set is captured into a torch.cuda.CUDAGraph (global capture
   mode, after two warm-up calls on the capture stream), the replays timed as the eager calls
   are, and set 0's replayed output checked against the reference. A method with host syncs,
   or whose capture fails, gets 'graph: n/a (reason)'. varattn_bench's graph_ms is varattn's.
   In the forward + backward pass the warm-up and the capture run on fresh leaf aliases of
   the sets' q, k, v (Problem.capture_inputs), never on the leaves the eager calls used.
4. Prints one table per workload (every anchor, and every varattn launch policy: per_segment
   and fused; eager ms and graph ms) and a summary: best peer = the fastest accurate method
   other than varattn over both timings, eager and graph; FA2, FA4, cuDNN and the varattn op
   with an eager and a graph column each; speedups those of varattn's fastest eager policy,
   named there, against the best peer, from its eager and from its graph time. Writes
   OUTDIR/compare.json, OUTDIR/compare.md and OUTDIR/compare.png (rewritten after every
   workload, so a cut-off run keeps what it did). Exits 3 if VARATTN_BENCH was given but gave
   no result.
5. compare.png (matplotlib; skipped with a note where it is missing): per workload, each
   method's time over varattn's (its fastest launch policy), each at its faster accurate
   timing of eager and graph replay, on a log axis with a line at 1.
6. --pass fwdbwd (or fwd,fwdbwd for both passes; default fwd, whose output is as before):
   forward + backward. Per workload, every method's call that returns dq, dk, dv: one forward
   and the backward of sum(out * d_out) for a fixed random d_out a set (torch.autograd.grad
   with d_out as the output gradient, on the sets' q, k, v, which require grad): varattn_op
   through its register_autograd (varattn::varlen_attention_backward); fa2 explicitly,
   aten._flash_attention_forward then aten._flash_attention_backward (no autograd engine);
   fa4 through flash_attn.cute's FlashAttnVarlenFunc; cudnn through sdpa_fwd's autograd
   (return_lse=True, the frontend's sdpa_bwd); mem_eff through its aten autograd node
   (compute_log_sumexp on); flex and the SDPA loops through their own autograd. An installed
   module without a backward, or a NotImplementedError, makes the method absent with the
   reason. Timed as the forward is (eager and CUDA-graph replays of the whole step); each
   gradient checked against float32 autograd of the same tensors over every query and key row
   of the check segments (first, last, longest, and others within GRAD_REF_FLOP_BUDGET):
   relative error of dq, dk and dv each, above 2e-2 (bf16) or 1e-2 (fp16) flagged HIGH and
   not eligible as best peer. FLOPs = the forward's 4 · Σ visible pairs · d · heads_q x 3.5
   (backward = 2.5x forward). Tables "<workload>, forward + backward" and "Summary, forward +
   backward": each method's fwd+bwd ms (eager, graph), best peer, and the varattn op's x best
   (eager, graph) and x FA2 (varattn_bench has no backward: the op is varattn here). Without
   fwd, varattn_bench is not run and the chart is the fwd+bwd one (each method over the op);
   exits 3 if the op gave no fwd+bwd time at all (unless skipped).
7. --rounds R (R > 1): after each pass's timings of a workload, the varattn op and every
   accurate peer are timed again eagerly in R interleaved rounds, the order rotated by one a
   round (interleaved_rounds), so that each ratio pairs timings seconds apart: one pass times
   each method once, a minute from the others, and the card's clock drift between them moved
   the same code's x best by up to 0.05 on an H100 (bench/NOTES.md, fiftieth session). The
   workload tables add the rounds' times and the best peer / op ratio's median and range, the
   summaries a column "x best (rounds)" ("1.03 (0.91-1.16)"; the forward's, "x best (rounds,
   op)", is the op's where its "x best" is the best policy's). Only the peers within 1.25x of
   the fastest peer's eager time (ROUNDS_PEER_SPAN; eager, though the best peer may be a
   replay) take part. Costs about R x those methods x (1 s + the timing budget: 0.5 s with
   --quick, 2 s without) per pass and workload; skipped where the deadline leaves less. With
   --graph-rounds (and graph timings on), the same rounds then time those methods' CUDA-graph
   replays (each method's graphs captured again, held through its rounds only:
   timed_rounds), for the summaries' "x best (graph rounds)": the issue's graph figure,
   whose one-shot form moved by up to 0.08 with the clock (fifty-fifth session: the op's eager
   and graph timings of one row at 1,620 and 1,522 MHz). About doubles the rounds' time.

--workloads takes names and the groups main, causal, options, serving, sweep, probe, all
(default: main,causal). The group options holds issue 12's rows (windows, softcap, logsumexp,
head dims 72 and 256), serving issue 13's (GQA prefill, chunked prefill and few queries against
long keys with len_q != len_k, ViT-L/14, MQA), probe rows kept for one measurement of the
backward (long-d128-window1024 at other windows; varattn_bench registers only their bwd/, so
here they take --pass fwdbwd). varattn_bench's fwd/<workload>/fused_sm80 (the sm80 kernel family forced)
is listed beside the launch policies but never taken as varattn's best.
BENCHMARKS.md describes the method and the formulas.
"""
import argparse
import contextlib
import hashlib
import json
import math
import os
import pathlib
import re
import statistics
import subprocess
import sys
import threading
import time
import traceback
import warnings

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_WORKLOADS = HERE / "workloads.json"
ANCHORS = ("loop_bound", "loop_split", "fa2", "mem_eff", "flex", "fa4", "cudnn")
# Measured like the anchors (same inputs, reference and timing), but varattn itself: never
# the "best anchor".
OURS = ("varattn_op",)
METHODS = ANCHORS + OURS
ANCHOR_TITLES = {
    "loop_bound": "SDPA loop, sync per bound",
    "loop_split": "SDPA loop, .tolist()+split",
    "fa2": "FA2 varlen (aten)",
    "mem_eff": "mem-efficient varlen (aten)",
    "flex": "FlexAttention, doc mask",
    "fa4": "FA4 varlen (flash_attn.cute)",
    "cudnn": "cuDNN varlen SDPA (frontend op)",
    "varattn_op": "varattn op (PyTorch)",
}
# The options and shapes each method computes; on a workload that needs another, the method is
# absent. Options: window, softcap, lse (the workload's attention options). Shapes: gqa (fewer
# KV heads than query heads: GQA, MQA) and causal_bottom_right (causal over segments whose
# query and key lengths differ: query i of a segment sits at key i + len_k - len_q, as in
# FlashAttention and varattn). The SDPA loops: no options; SDPA's is_causal is top-left
# aligned, so no causal_bottom_right; GQA through enable_gqa. mem_eff: no options, one head
# count for q and k/v (its kernel checks it), causal bottom-right (CausalFromBottomRight).
# FA2 through aten has windows and always returns its logsumexp, but no softcap. cuDNN's torch
# op: window_left/window_right, return_lse and causal_bottom_right, no softcap argument.
METHOD_OPTIONS = {
    "loop_bound": {"gqa"},
    "loop_split": {"gqa"},
    "fa2": {"window", "lse", "gqa", "causal_bottom_right"},
    "mem_eff": {"causal_bottom_right"},
    "flex": {"window", "softcap", "lse", "gqa", "causal_bottom_right"},
    "fa4": {"window", "softcap", "lse", "gqa", "causal_bottom_right"},
    "cudnn": {"window", "lse", "gqa", "causal_bottom_right"},
    "varattn_op": {"window", "softcap", "lse", "gqa", "causal_bottom_right"},
}
# How a missing option or shape is named on an absent row ("no ...").
FEATURE_TEXT = {"window": "window", "softcap": "softcap", "lse": "lse",
                "gqa": "GQA/MQA (heads_q != heads_kv)",
                "causal_bottom_right": "bottom-right causal (len_q != len_k)"}
# The peers given their own columns (eager and graph) in the summary.
SUMMARY_PEERS = ("fa2", "fa4", "cudnn")
SHORT_TITLES = {"fa2": "FA2", "fa4": "FA4", "cudnn": "cuDNN"}
OPTION_DEFAULTS = {"window_left": -1, "window_right": -1, "softcap": 0.0, "lse": False}
# What the lead measured on an H100 (bf16, ms); ours should land within ~20% of these.
EXPECTED_H100_BF16 = {
    "vl-window-d80": {"fa2": 0.149, "mem_eff": 0.144},
    "vl-full-d80": {"fa2": 1.451, "loop_split": 1.116},
    "llm-d128": {"fa2": 3.52, "loop_split": 2.67},
    "tiny-d64": {"fa2": 0.80, "mem_eff": 0.41},
    "long-d128": {"fa2": 6.18, "loop_split": 3.77},
}
EXPECTED_TOLERANCE = 0.20
# Relative error above which an output is flagged (bf16/fp16 operands land near 1e-3..1e-2).
REL_ERR_LIMIT = {"bf16": 2e-2, "fp16": 5e-3}
# Largest |logsumexp - reference| (natural log) before a method's logsumexp is flagged.
LSE_ERR_LIMIT = 1e-2
# --deadline-s inside a workload: seconds that must be left to start a method (its first call
# may compile: flex, FA4, cuDNN) and to start its CUDA-graph capture and replays.
METHOD_MIN_S = 20
GRAPH_MIN_S = 10
# timed_rounds' estimate of one method's capture (two warm-up calls and a graph a set).
GRAPH_CAPTURE_S = 3
# --rounds times again only the peers within this factor of the fastest peer's eager time (the
# contenders for best peer; a peer 1.25x behind does not become the best by the card's drift).
ROUNDS_PEER_SPAN = 1.25
# --pass: the forward ("fwd") and forward + backward ("fwdbwd": the gradients of
# sum(out * d_out) for a fixed random d_out, measure_fwdbwd).
PASSES = ("fwd", "fwdbwd")
# Forward + backward FLOPs = the forward's x 3.5: the backward's five products (S = q k^T again,
# dP = dO v^T, dV += P^T dO, dK += dS^T q, dQ += dS k) are 2.5 times the forward's two.
FWDBWD_FLOP_FACTOR = 3.5
# Relative error of each gradient (dq, dk, dv) above which a method is flagged: issue 14's
# gradient tolerances (bf16 2e-2, fp16 1e-2).
GRAD_REL_ERR_LIMIT = {"bf16": 2e-2, "fp16": 1e-2}
# The gradient reference (float32 autograd over whole segments): the first, last and longest
# check segments always, the others while their float32 FLOPs stay within this; each chunk of
# query rows holds at most this many scores ([heads_q, rows, len_k], float32).
GRAD_REF_FLOP_BUDGET = 2e13
GRAD_REF_CHUNK_ELEMS = 1 << 26
MEM_EFF_MASK = {False: 0, True: 2}  # CustomMaskType: NoCustomMask = 0, CausalFromBottomRight = 2


# ----------------------------------------------------------------------------------------------
# Workloads and the counts every program reports (the same formulas as bench/workloads.hpp).

def load_workloads(path):
    doc = json.loads(pathlib.Path(path).read_text())
    if doc.get("schema") not in (1, 2):  # 2 added the options (absent: the defaults)
        raise ValueError(f"{path}: schema {doc.get('schema')!r} is neither 1 nor 2")
    out = []
    for w in doc["workloads"]:
        w = dict(w)
        w.setdefault("group", "")
        w.setdefault("causal", False)
        w.setdefault("encoder_layers", 0)
        for key, default in OPTION_DEFAULTS.items():
            w.setdefault(key, default)
        w["lengths_q"] = list(w.pop("lengths"))
        w["lengths_k"] = list(w.pop("lengths_k", w["lengths_q"]))
        if len(w["lengths_k"]) != len(w["lengths_q"]):
            raise ValueError(f"{w['name']}: lengths_k and lengths differ in count")
        out.append(w)
    return out


def select_workloads(all_workloads, spec):
    groups = {w["group"] for w in all_workloads}
    names = {w["name"] for w in all_workloads}
    chosen = []
    for token in [t.strip() for t in spec.split(",") if t.strip()]:
        if token == "all":
            picked = all_workloads
        elif token in groups:
            picked = [w for w in all_workloads if w["group"] == token]
        elif token in names:
            picked = [w for w in all_workloads if w["name"] == token]
        else:
            raise SystemExit(f"--workloads: '{token}' is neither a workload nor a group "
                             f"({', '.join(sorted(groups))}, all)")
        for w in picked:
            if w not in chosen:
                chosen.append(w)
    return chosen


def options_asked(w):
    """The options a workload asks for beyond plain (causal) attention: a subset of
    {"window", "softcap", "lse"}."""
    asked = set()
    if w.get("window_left", -1) != -1 or w.get("window_right", -1) != -1:
        asked.add("window")
    if w.get("softcap", 0.0):
        asked.add("softcap")
    if w.get("lse", False):
        asked.add("lse")
    return asked


def features_needed(w):
    """What a method must compute for this workload: options_asked(w), plus "gqa" where the
    heads differ and "causal_bottom_right" where a causal workload has a segment with
    len_q != len_k (METHOD_OPTIONS)."""
    needed = options_asked(w)
    if w["heads_q"] != w["heads_kv"]:
        needed.add("gqa")
    if w.get("causal") and any(a != b for a, b in zip(w["lengths_q"], w["lengths_k"])):
        needed.add("causal_bottom_right")
    return needed


def options_text(w):
    parts = []
    if "window" in options_asked(w):
        parts.append(f"window ({w['window_left']}, {w['window_right']})")
    if w.get("softcap", 0.0):
        parts.append(f"softcap {w['softcap']:g}")
    if w.get("lse", False):
        parts.append("logsumexp out")
    return ", ".join(parts)


_UNBOUNDED = 1 << 62


def _sum_min(a, b, c, cap):
    """sum over i in [a, b] of min(cap, i + c)."""
    if b < a:
        return 0
    total, t = 0, min(b, cap - c)  # i <= t: i + c
    if t >= a:
        n = t - a + 1
        total += n * c + (a + t) * n // 2
    lo = max(a, t + 1)
    if b >= lo:
        total += (b - lo + 1) * cap
    return total


def _sum_max0(a, b, c):
    """sum over i in [a, b] of max(0, i + c)."""
    lo = max(a, -c)
    if b < lo:
        return 0
    n = b - lo + 1
    return n * c + (lo + b) * n // 2


def segment_pairs(lq, lk, causal, left=-1, right=-1):
    """Query-key pairs of one segment, bottom-right aligned (varattn's options): query i sees
    key j iff i + off - left <= j <= i + off + right, off = lk - lq, -1 unbounded, causal
    folding into right = min(right, 0). Closed form of
    sum_i max(0, min(lk - 1, i + off + right) - max(0, i + off - left) + 1)."""
    left = _UNBOUNDED if left < 0 else left
    right = _UNBOUNDED if right < 0 else right
    if causal:
        right = min(right, 0)
    if lq <= 0 or lk <= 0:
        return 0
    off = lk - lq
    i0 = max(0, -(off + right))  # first query whose last visible key is a key
    i1 = min(lq - 1, lk - 1 - off + left)  # last query whose first visible key is a key
    if i1 < i0:
        return 0
    return (_sum_min(i0, i1, off + right, lk - 1) - _sum_max0(i0, i1, off - left)
            + (i1 - i0 + 1))


def visible_pairs(w):
    """Query-key pairs evaluated (the same count as bench/workloads.hpp's)."""
    causal = w["causal"]
    left, right = w.get("window_left", -1), w.get("window_right", -1)
    return sum(segment_pairs(lq, lk, causal, left, right)
               for lq, lk in zip(w["lengths_q"], w["lengths_k"]))


def flops(w):
    return 4.0 * visible_pairs(w) * w["heads_q"] * w["head_dim"]


def fwdbwd_flops(w):
    """Forward + backward: the forward's FLOPs x FWDBWD_FLOP_FACTOR (3.5)."""
    return FWDBWD_FLOP_FACTOR * flops(w)


def fwdbwd_bytes(w, element_size):
    """Forward + backward: the forward reads q, k, v and writes o and the logsumexp (4 bytes a
    query row and head); the backward reads q, k, v, o, d_o and the logsumexp and writes dq,
    dk, dv."""
    rows_q, rows_k = sum(w["lengths_q"]), sum(w["lengths_k"])
    return (float(element_size) * w["head_dim"] * (6 * rows_q * w["heads_q"] + 6 * rows_k * w["heads_kv"])
            + 8.0 * rows_q * w["heads_q"])


def bytes_moved(w, element_size):
    """q, k, v read once, o written once; with lse, 4 bytes a query row and head more."""
    rows_q, rows_k = sum(w["lengths_q"]), sum(w["lengths_k"])
    lse = 4.0 * rows_q * w["heads_q"] if w.get("lse", False) else 0.0
    return (float(element_size) * w["head_dim"] * (2 * rows_q * w["heads_q"] + 2 * rows_k * w["heads_kv"])
            + lse)


# ----------------------------------------------------------------------------------------------
# varattn_bench

BENCH_NAME = re.compile(r"^(fwd|encoder)/([^/]+)/([^/]+)/([^/]+)")
# Launch policies varattn_bench registers (kPolicies in varattn_bench.cu); each gets a row in
# every workload table, "not measured" when the bench gave no result for it.
POLICIES = ("per_segment", "fused", "bucketed")
# Benchmarks with a kernel family forced (kPolicies' "<policy>_sm80") or the tile counter's
# grid forced either way ("fused_no_counter": one CTA a tile; "fused_counter": the persistent
# grid also where plan::tile_counter() says no; neither is what fused runs): listed, never "best".
FORCED_KERNEL = re.compile(r"(_sm[0-9]+|_counter)$")
SUMMARY_VARIANTS = ("fused_sm80",)  # a summary column each, after POLICIES
# Workload names that may go into --benchmark_filter verbatim. Google Benchmark compiles the
# filter with std::regex(..., std::regex_constants::extended) (POSIX ERE): there '\-' is an
# invalid escape (libstdc++: "Invalid escape in regular expression"; the bench then runs
# nothing, prints nothing and exits 0), so names are never escaped; '-' and '_' need none.
FILTER_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def bench_filter(workloads):
    """A --benchmark_filter selecting the fwd/ and encoder/ benchmarks of `workloads`: only
    letters, digits, '-', '_', '/', '|', '(', ')' and '^', valid ERE and ECMAScript alike.
    Names with other characters make it fall back to every benchmark (results are keyed by
    workload name afterwards, so extra ones are ignored)."""
    names = [w["name"] for w in workloads]
    if names and all(FILTER_SAFE_NAME.match(n) for n in names):
        return "^(fwd|encoder)/(" + "|".join(names) + ")/"
    return "^(fwd|encoder)/"


def run_varattn_bench(binary, workloads, dtype, timeout_s, quick, log=print):
    """Runs varattn_bench with its JSON written to a temporary file (--benchmark_out), its
    console table and progress lines (stdout and stderr) passed through to our log."""
    import tempfile
    import threading
    from collections import deque
    with tempfile.TemporaryDirectory(prefix="varattn_compare_") as tmp:
        out_path = pathlib.Path(tmp) / "varattn_bench.json"
        cmd = [binary, f"--benchmark_out={out_path}", "--benchmark_out_format=json",
               f"--benchmark_filter={bench_filter(workloads)}",
               f"--varattn_dtype={dtype}"]
        if quick:
            cmd.append("--varattn_min_time=0.2")
        log("$ " + " ".join(cmd))
        timeout_s = max(timeout_s, 30)
        tail = deque(maxlen=40)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", bufsize=1)
        except OSError as e:
            return {"error": f"cannot run {binary}: {e}"}
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            proc.kill()
        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                log(line)
            rc = proc.wait()
        finally:
            timer.cancel()
        text = out_path.read_text(errors="replace") if out_path.exists() else ""
        if timed_out.is_set():
            why = f"varattn_bench timed out after {timeout_s:.0f} s"
        elif rc != 0:
            why = f"varattn_bench exited {rc}"
        else:
            why = None
        if not text.strip():
            hint = next((l for l in tail if "Could not compile" in l or "Failed to match" in l
                         or "no CUDA device" in l), None) or next((l for l in reversed(tail) if l.strip()), None)
            return {"error": (why or "varattn_bench wrote no JSON") + (f" ({hint.strip()})" if hint else ""),
                    "output_tail": "\n".join(tail)}
        result = parse_bench_json(text, source=f"varattn_bench --benchmark_out")
        if why:  # a run cut short still gives the benchmarks it finished
            result["error"] = why + ("; " + result["error"] if result.get("error") else "")
            result["output_tail"] = "\n".join(tail)
        elif not result.get("error"):
            missing = [w["name"] for w in workloads if w["name"] not in result["results"]]
            if len(missing) == len(workloads):
                result["error"] = "varattn_bench ran no benchmark of the selected workloads"
        return result


def _salvage_json(text):
    """Google Benchmark writes its JSON benchmark by benchmark and closes it at the end; a run
    that was killed leaves '... "benchmarks": [ {...}, {...' behind. Cut after the last
    complete benchmark object and close the document."""
    cut = text.rfind("\n    }")
    if cut < 0 or '"benchmarks"' not in text[:cut]:
        return None
    try:
        return json.loads(text[:cut + len("\n    }")] + "\n  ]\n}\n")
    except json.JSONDecodeError:
        return None


def parse_bench_json(text, source="varattn_bench"):
    """Results of a varattn_bench JSON document (--benchmark_out, or --benchmark_format=json
    stdout: anything before the first '{' is skipped), keyed by workload name."""
    start = text.find("{")
    if start < 0:
        return {"error": f"{source}: no JSON (no CUDA device?)", "output_tail": text[-2000:]}
    note = None
    try:
        doc = json.loads(text[start:])
    except json.JSONDecodeError as e:
        doc = _salvage_json(text[start:])
        if doc is None:
            return {"error": f"{source}: bad JSON: {e}", "output_tail": text[-2000:]}
        note = f"{source}: JSON cut off; kept the {len(doc.get('benchmarks', []))} complete benchmarks"
    results = {}
    for b in doc.get("benchmarks", []):
        m = BENCH_NAME.match(b.get("name", ""))
        if not m or b.get("run_type", "iteration") != "iteration":
            continue
        kind, workload, policy, dtype = m.groups()
        entry = {"kind": kind, "policy": policy, "dtype": dtype, "label": b.get("label", "")}
        if b.get("error_occurred"):
            entry["error"] = b.get("error_message", "error")
        for key in ("ms", "ms_mean", "ms_min", "tflops", "gbps", "host_syncs", "graph_ms", "flops",
                    "bytes", "ms_per_layer", "layers", "buffer_sets", "iterations"):
            if key in b:
                entry[key] = b[key]
        results.setdefault(workload, []).append(entry)
    out = {"context": doc.get("context", {}), "results": results}
    if note:
        out["error"] = note
    return out


# ----------------------------------------------------------------------------------------------
# Measurement on the device (torch imported only here).

# Seconds of back-to-back calls before a method's timed reps (--settle-s). Without them each
# method was timed in whatever power state the one before it left: on the H200, under the
# 700 W cap, a method timed after a lighter one ran at a higher clock for its ten quick reps
# (sixteenth session: FA4's long-d128 forward 3.068 ms eager, then 3.479 as a graph replay
# timed right after; in a 4 s loop FA4/ours 0.95 where the table said 0.87). Settled, each
# method is timed at its own sustained clock. The ceilings (matmul, copy) are not settled.
SETTLE_S = 0.3


def sm_clock_mhz(torch):
    """The SM clock now (NVML through torch.cuda.clock_rate), or None where unavailable."""
    try:
        return int(torch.cuda.clock_rate())
    except Exception:
        return None


class GpuSampler:
    """NVML's SM clock (MHz), board power (W: instantaneous where NVML has the field, else its
    ~1 s average) and clock-event reasons
    every period_s, read by one thread for the whole run; a timing takes the samples inside its
    own window (the settle and the reps). One read after the reps, as before, gave 1,770 and
    1,875 MHz for the same kernels (s42): under the 700 W cap the clock moves within a loop, so
    a method's clock and power are medians over its load. 50 ms: ~15 samples a quick timing,
    and the thread takes the GIL from a host-bound loop rarely. No samples without pynvml."""

    def __init__(self, torch, period_s=0.05):
        self.samples = []  # (perf_counter, mhz, watts, reasons mask)
        try:
            import pynvml
            pynvml.nvmlInit()
            try:
                index = torch.cuda._get_nvml_device_index(torch.cuda.current_device())
            except Exception:
                index = 0
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            reasons = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
                pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
            watts = self._instant_watts(pynvml, handle) or \
                (lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
            self.read = lambda: (pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
                                 watts(), int(reasons(handle)))
            self.read()
        except Exception:
            return
        threading.Thread(target=self._run, args=(period_s,), daemon=True).start()

    @staticmethod
    def _instant_watts(pynvml, handle):
        """A reader of NVML's instantaneous board power (field NVML_FI_DEV_POWER_INSTANT, mW),
        or None where the driver or pynvml lacks it. nvmlDeviceGetPowerUsage is a ~1 s trailing
        average on Hopper: s43's first run read 186-225 W for FA4 timings that ran straight
        after an idle warm-up (its JIT) and 600-690 W for the same kernels later."""
        field = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", None)
        if field is None:
            return None
        by_type = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal",
                   6: "usVal"}

        def read():
            value = pynvml.nvmlDeviceGetFieldValues(handle, [field])[0]
            if value.nvmlReturn != 0:
                raise RuntimeError(f"NVML_FI_DEV_POWER_INSTANT: nvmlReturn {value.nvmlReturn}")
            return getattr(value.value, by_type[value.valueType]) / 1000.0

        try:
            read()
        except Exception:
            return None
        return read

    def _run(self, period_s):  # a daemon thread: it ends with the process
        while True:
            time.sleep(period_s)
            try:
                self.samples.append((time.perf_counter(),) + self.read())
            except Exception:
                return

    def window(self, t0, t1):
        """{sm_mhz, watts, power_capped (share of samples), samples} over [t0, t1], or {}."""
        inside = [s for s in list(self.samples) if t0 <= s[0] <= t1]
        if not inside:
            return {}
        return {"sm_mhz": int(statistics.median(s[1] for s in inside)),
                "watts": round(statistics.median(s[2] for s in inside)),
                # NVML's clocks-event bit 0x4: the software power cap holds the clock down
                "power_capped": round(sum(1 for s in inside if s[3] & 0x4) / len(inside), 2),
                "samples": len(inside)}


class Device:
    def __init__(self, torch, name, dtype_name, quick, settle_s=SETTLE_S, rounds=1,
                 graph_rounds=False):
        self.torch = torch
        self.settle_s = settle_s
        self.rounds = rounds  # interleaved rounds after a pass's timings (interleaved_rounds)
        self.graph_rounds = graph_rounds  # the rounds over CUDA-graph replays too (timed_rounds)
        self.last_sm_mhz = None
        self.last_load = {}  # GpuSampler.window of the last timing
        self.name = name
        self.cuda = name == "cuda"
        self.dtype_name = dtype_name
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
        self.quick = quick
        self.warmup = 2 if quick else 5
        self.max_reps = 10 if quick else 50
        self.budget_s = 0.5 if quick else 2.0
        if self.cuda:
            props = torch.cuda.get_device_properties(0)
            self.device_name = props.name
            self.l2_bytes = int(getattr(props, "L2_cache_size", 50 << 20) or (50 << 20))
            self.sampler = GpuSampler(torch)
        else:
            self.device_name = "cpu"
            self.l2_bytes = 32 << 20

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def time_ms(self, fn, nsets, warmup=None, max_reps=None, budget_s=None, settle_s=None):
        """Median ms of fn(i): warm-up, settle_s seconds of back-to-back calls (SETTLE_S), then
        reps each bracketed by its own pair of events, all enqueued before one final sync (so
        the measurement adds no idle gaps). self.last_load: the clock, power and power-cap
        share NVML sampled over the settle and the reps (GpuSampler); self.last_sm_mhz: their
        median clock, or one read after the reps where there were no samples."""
        torch = self.torch
        warmup = self.warmup if warmup is None else warmup
        max_reps = self.max_reps if max_reps is None else max_reps
        budget_s = self.budget_s if budget_s is None else budget_s
        settle_s = self.settle_s if settle_s is None else settle_s
        for i in range(warmup):
            fn(i % nsets)
        self.sync()
        t0 = time.perf_counter()
        fn(0)
        self.sync()
        estimate = max(time.perf_counter() - t0, 1e-6)
        t_load = time.perf_counter()
        if self.cuda and settle_s > 0:
            chunk = max(1, int(0.02 / estimate))  # ~20 ms enqueued between syncs
            end, n = time.perf_counter() + settle_s, 0
            while time.perf_counter() < end:
                for _ in range(chunk):
                    fn(n % nsets)
                    n += 1
                self.sync()
        reps = int(max(3, min(max_reps, budget_s / estimate)))
        if not self.cuda:
            samples = []
            for r in range(reps):
                t0 = time.perf_counter()
                fn((r + 1) % nsets)
                samples.append((time.perf_counter() - t0) * 1e3)
            return statistics.median(samples), samples
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for r in range(reps):
            starts[r].record()
            fn((r + 1) % nsets)
            ends[r].record()
        torch.cuda.synchronize()
        samples = [s.elapsed_time(e) for s, e in zip(starts, ends)]
        self.last_load = self.sampler.window(t_load, time.perf_counter())
        self.last_sm_mhz = self.last_load.get("sm_mhz") or sm_clock_mhz(torch)
        return statistics.median(samples), samples

    def count_syncs(self, fn):
        """Host syncs of one call, as counted by torch.cuda.set_sync_debug_mode('warn')."""
        if not self.cuda:
            return None
        torch = self.torch
        torch.cuda.synchronize()
        previous = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                fn(0)
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        torch.cuda.synchronize()
        return sum(1 for w in caught if "synchroniz" in str(w.message).lower())


def measure_ceilings(dev):
    torch = dev.torch
    out = {}
    n = 8192 if dev.cuda else 512
    a = torch.randn(n, n, device=dev.name, dtype=dev.dtype)
    b = torch.randn(n, n, device=dev.name, dtype=dev.dtype)
    ms, _ = dev.time_ms(lambda i: a @ b, 1, warmup=3, max_reps=20, budget_s=1.0, settle_s=0)
    out["matmul_n"] = n
    out["matmul_ms"] = ms
    out["matmul_tflops"] = 2.0 * n ** 3 / (ms * 1e-3) / 1e12
    del a, b
    elems = (1 << 30) // 2 if dev.cuda else (1 << 24)  # 1 GiB of 16-bit elements
    src = torch.randn(elems, device=dev.name, dtype=dev.dtype)
    dst = torch.empty_like(src)
    ms, _ = dev.time_ms(lambda i: dst.copy_(src), 1, warmup=3, max_reps=20, budget_s=1.0,
                        settle_s=0)
    out["copy_bytes"] = 2 * src.numel() * src.element_size()
    out["copy_ms"] = ms
    out["copy_gbps"] = out["copy_bytes"] / (ms * 1e-3) / 1e9
    del src, dst
    if dev.cuda:
        torch.cuda.empty_cache()
    return out


class Problem:
    """One workload's tensors on the device: several sets of packed q, k, v [total, h, d]."""

    def __init__(self, dev, w):
        torch = self.torch = dev.torch
        self.dev, self.w = dev, w
        self.hq, self.hkv, self.d = w["heads_q"], w["heads_kv"], w["head_dim"]
        self.causal = bool(w["causal"])
        self.window = (int(w.get("window_left", -1)), int(w.get("window_right", -1)))
        self.softcap = float(w.get("softcap", 0.0))
        self.lse = bool(w.get("lse", False))
        self.asked = options_asked(w)
        self.needs = features_needed(w)
        self.lq, self.lk = w["lengths_q"], w["lengths_k"]
        self.off_q = [0]
        for x in self.lq:
            self.off_q.append(self.off_q[-1] + x)
        self.off_k = [0]
        for x in self.lk:
            self.off_k.append(self.off_k[-1] + x)
        self.total_q, self.total_k = self.off_q[-1], self.off_k[-1]
        self.max_q, self.max_k = max(self.lq, default=0), max(self.lk, default=0)
        self.cu_q = torch.tensor(self.off_q, dtype=torch.int32, device=dev.name)
        self.cu_k = torch.tensor(self.off_k, dtype=torch.int32, device=dev.name)
        elem = torch.empty((), dtype=dev.dtype).element_size()
        set_bytes = elem * self.d * (self.total_q * self.hq + 2 * self.total_k * self.hkv)
        # Sets other than the one in use total at least 2x L2 (as varattn_bench does).
        nsets = max(2, -(-2 * dev.l2_bytes // max(set_bytes, 1)) + 1)
        if dev.cuda:
            free, _ = torch.cuda.mem_get_info()
            nsets = max(1, min(nsets, int(0.4 * free) // max(set_bytes, 1), 16))
        else:
            nsets = 2
        self.sets = []
        gen = self.gen = torch.Generator(device=dev.name)
        gen.manual_seed(int(time.time_ns()) & 0x7FFFFFFF)  # fresh inputs every run
        for _ in range(nsets):
            self.sets.append(tuple(
                torch.randn(rows, h, self.d, device=dev.name, dtype=dev.dtype, generator=gen)
                for rows, h in ((self.total_q, self.hq), (self.total_k, self.hkv), (self.total_k, self.hkv))))
        self.set_bytes = set_bytes
        # The forward + backward pass (grad_mode): the sets' q, k, v require grad, and d_outs[i]
        # is set i's fixed random output gradient, made on first use.
        self.grad = False
        self.d_outs = None

    @contextlib.contextmanager
    def grad_mode(self):
        """The forward + backward pass: q, k, v of every set require grad (the methods made
        inside it build their backward: mem_eff its logsumexp, cuDNN return_lse), and d_outs
        holds one fixed random d_out a set (what sum(out * d_out)'s gradient is taken of)."""
        torch = self.torch
        if self.d_outs is None:
            self.d_outs = [torch.randn(self.total_q, self.hq, self.d, device=self.dev.name,
                                       dtype=self.dev.dtype, generator=self.gen)
                           for _ in self.sets]
        for t in (t for s in self.sets for t in s):
            t.requires_grad_(True)
        self.grad = True
        try:
            yield self
        finally:
            self.grad = False
            for t in (t for s in self.sets for t in s):
                t.requires_grad_(False)

    @contextlib.contextmanager
    def pass_mode(self, kind):
        """The autograd state a pass's methods are made and run in: "fwdbwd" in grad_mode with
        grad enabled, "fwd" without grad (bench/timeline.py and bench/run_method.py)."""
        torch = self.torch
        with contextlib.ExitStack() as stack:
            if kind == "fwdbwd":
                stack.enter_context(self.grad_mode())
                stack.enter_context(torch.enable_grad())
            else:
                stack.enter_context(torch.no_grad())
            yield self

    @contextlib.contextmanager
    def capture_inputs(self):
        """The input sets a CUDA-graph capture runs on, its warm-up calls included. In
        grad_mode: fresh leaf aliases of every set's q, k, v (t.detach().requires_grad_(True):
        the same storage, so the graphs replay on the sets' memory and set 0's reference still
        checks them; a new autograd identity, so their AccumulateGrad nodes are made by the
        warm-up, on the capture stream), swapped into self.sets for the block. Without them the
        capture reuses any AccumulateGrad node of the eager leaves that is still alive: one
        made by an eager call, on the legacy default stream, and kept alive past it (by a
        library holding that call's output or saved tensors: the autograd graph holds the
        node, which leaves only hold weakly). The engine then makes that node's stream wait on
        the capture (Engine::evaluate_function waits on each input's ready event,
        InputBuffer::add records it on the producer's stream): cudaStreamWaitEvent on the
        legacy stream, "operation would make the legacy stream depend on a capturing blocking
        stream" (cudaErrorStreamCaptureImplicit), for that method and every later one on the
        same leaves (PyTorch 2.11 warns "The AccumulateGrad node's stream does not match" once
        per process). Outside grad_mode the sets themselves."""
        if not self.grad:
            yield self
            return
        kept = self.sets
        self.sets = [tuple(t.detach().requires_grad_(True) for t in s) for s in kept]
        try:
            yield self
        finally:
            self.sets = kept

    # -- reference --------------------------------------------------------------------------
    def visible(self, local, lq, lk):
        """[rows, lk] bool: which keys each query row (local index in its segment) sees."""
        torch = self.torch
        j = torch.arange(lk, device=local.device)[None, :]
        diag = local[:, None] + (lk - lq)
        seen = torch.ones(local.numel(), lk, dtype=torch.bool, device=local.device)
        left, right = self.window
        if self.causal:
            right = 0 if right < 0 else min(right, 0)
        if left >= 0:
            seen &= j >= diag - left
        if right >= 0:
            seen &= j <= diag + right
        return seen

    def check_segments(self, max_segments):
        """The segments the accuracy checks read: the first, last and longest with queries, then
        others in a fixed random order, up to max_segments (the forward's and the gradients'
        checks pick the same ones)."""
        nonempty = [i for i, x in enumerate(self.lq) if x > 0]
        if not nonempty:
            return []
        chosen = []
        for i in (nonempty[0], nonempty[-1], max(nonempty, key=lambda s: self.lq[s])):
            if i not in chosen:
                chosen.append(i)
        rng = __import__("random").Random(1234)
        others = [i for i in nonempty if i not in chosen]
        rng.shuffle(others)
        return chosen + others[:max(0, max_segments - len(chosen))]

    def reference(self, max_rows, max_segments):
        """float32 attention (no TF32) for a subset of query rows of set 0, with the workload's
        window and softcap. Returns (global row indices, ref [rows, hq, d], lse [hq, rows]
        (natural log, -inf for a row that sees no key), segment of each row, local index)."""
        torch = self.torch
        q, k, v = self.sets[0]
        chosen = self.check_segments(max_segments)
        if not chosen:
            return None
        rows_all, refs, lses, segs, locals_ = [], [], [], [], []
        group = self.hq // self.hkv
        scale = 1.0 / math.sqrt(self.d)
        for s in sorted(chosen):
            lq, lk, bq, bk = self.lq[s], self.lk[s], self.off_q[s], self.off_k[s]
            if lq <= max_rows:
                local = torch.arange(lq, device=q.device)
            else:  # both ends: the first rows (fewest causal keys) and the last
                half = max_rows // 2
                local = torch.cat([torch.arange(half, device=q.device),
                                   torch.arange(lq - half, lq, device=q.device)])
            qs = q[bq + local].float()  # [r, hq, d]
            ks = k[bk:bk + lk].float()
            vs = v[bk:bk + lk].float()
            if group > 1:
                ks = ks.repeat_interleave(group, dim=1)
                vs = vs.repeat_interleave(group, dim=1)
            scores = torch.einsum("rhd,khd->hrk", qs, ks) * scale
            if self.softcap > 0:
                scores = self.softcap * torch.tanh(scores / self.softcap)
            if self.causal or "window" in self.asked:
                hidden = ~self.visible(local, lq, lk)
                scores = scores.masked_fill(hidden[None], float("-inf"))
            lses.append(torch.logsumexp(scores, dim=-1))  # [hq, r], -inf where no key
            p = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # rows with no key give 0
            refs.append(torch.einsum("hrk,khd->rhd", p, vs))
            rows_all.append(bq + local)
            segs.append(torch.full_like(local, s))
            locals_.append(local)
        return (torch.cat(rows_all), torch.cat(refs), torch.cat(lses, dim=1), torch.cat(segs),
                torch.cat(locals_))

    def grad_reference(self, max_segments, flop_budget):
        """float32 autograd (no TF32) of sum(out * d_out) on set 0 (in grad_mode), over every
        query and key row of the check segments (check_segments: the first, last and longest
        always; the others while their float32 work stays within flop_budget), with the
        workload's mask and softcap. A segment is done in query-row chunks (the loss is a sum
        over rows, so dq of a chunk is its own and dk, dv are summed over the chunks), each
        chunk's scores [hq, rows, len_k] within GRAD_REF_CHUNK_ELEMS. Returns {"q_rows",
        "k_rows" (global row indices), "dq" [q rows, hq, d], "dk", "dv" [k rows, hkv, d]}
        (float32), or None where no segment has queries."""
        torch = self.torch
        q, k, v = (t.detach() for t in self.sets[0])
        d_out = self.d_outs[0]
        candidates = self.check_segments(max_segments)
        nonempty = [i for i, x in enumerate(self.lq) if x > 0]
        fixed = set(nonempty[:1] + nonempty[-1:] + [max(nonempty, key=lambda i: self.lq[i])]) \
            if nonempty else set()
        chosen, spent = [], 0.0
        for s in candidates:
            cost = FWDBWD_FLOP_FACTOR * 4.0 * self.lq[s] * self.lk[s] * self.hq * self.d
            if s in fixed or spent + cost <= flop_budget:
                chosen.append(s)
                spent += cost
        if not chosen:
            return None
        group = self.hq // self.hkv
        scale = 1.0 / math.sqrt(self.d)
        q_rows, k_rows, dqs, dks, dvs = [], [], [], [], []
        for s in sorted(chosen):
            lq, lk, bq, bk = self.lq[s], self.lk[s], self.off_q[s], self.off_k[s]
            ks = k[bk:bk + lk].float().requires_grad_(True)
            vs = v[bk:bk + lk].float().requires_grad_(True)
            dq = torch.zeros(lq, self.hq, self.d, device=q.device)
            dk = torch.zeros(lk, self.hkv, self.d, device=q.device)
            dv = torch.zeros_like(dk)
            chunk = max(1, GRAD_REF_CHUNK_ELEMS // max(1, self.hq * lk))
            for r0 in range(0, lq, chunk):
                local = torch.arange(r0, min(lq, r0 + chunk), device=q.device)
                qs = q[bq + local].float().requires_grad_(True)
                ke = ks.repeat_interleave(group, dim=1) if group > 1 else ks  # sums back in grad
                ve = vs.repeat_interleave(group, dim=1) if group > 1 else vs
                scores = torch.einsum("rhd,khd->hrk", qs, ke) * scale
                if self.softcap > 0:
                    scores = self.softcap * torch.tanh(scores / self.softcap)
                keyless = None
                if self.causal or "window" in self.asked:
                    hidden = ~self.visible(local, lq, lk)
                    keyless = hidden.all(dim=1)  # rows that see no key: output 0, gradient 0
                    # Their scores stay unmasked (finite softmax) and the row is zeroed after.
                    scores = scores.masked_fill((hidden & ~keyless[:, None])[None], float("-inf"))
                p = torch.softmax(scores, dim=-1)
                if keyless is not None:
                    p = p * (~keyless).to(p.dtype)[None, :, None]
                out = torch.einsum("hrk,khd->rhd", p, ve)
                gq, gk, gv = torch.autograd.grad(out, (qs, ks, vs), d_out[bq + local].float())
                dq[r0:r0 + local.numel()] = gq
                dk += gk
                dv += gv
                del scores, p, out, gq, gk, gv
            q_rows.append(torch.arange(bq, bq + lq, device=q.device))
            k_rows.append(torch.arange(bk, bk + lk, device=q.device))
            dqs.append(dq)
            dks.append(dk)
            dvs.append(dv)
        return {"q_rows": torch.cat(q_rows), "k_rows": torch.cat(k_rows), "dq": torch.cat(dqs),
                "dk": torch.cat(dks), "dv": torch.cat(dvs), "segments": len(chosen)}

    def fwdbwd_fa2(self):
        """FlashAttention-2 varlen forward and backward through aten, called explicitly (no
        autograd engine): _flash_attention_forward, then _flash_attention_backward(d_out, q, k,
        v, out, logsumexp, cu_q, cu_k, max_q, max_k, 0.0, causal, rng_state, unused) with the
        forward's window; under no_grad so that the forward records no autograd node."""
        torch = self.torch
        fwd = torch.ops.aten._flash_attention_forward
        bwd = torch.ops.aten._flash_attention_backward
        kwargs = {"scale": None}
        if "window" in self.asked:
            kwargs["window_size_left"], kwargs["window_size_right"] = self.window

        def run(i):
            q, k, v = self.sets[i]
            with torch.no_grad():
                out, lse, rng_state, unused = fwd(q, k, v, self.cu_q, self.cu_k, self.max_q,
                                                  self.max_k, 0.0, self.causal, False, **kwargs)[:4]
                return bwd(self.d_outs[i], q, k, v, out, lse, self.cu_q, self.cu_k, self.max_q,
                           self.max_k, 0.0, self.causal, rng_state, unused, **kwargs)
        return run

    # -- anchors: each returns run(set_index) -> output, to_packed(output) -> [total, hq, d] --
    def _views_bhsd(self, i):
        q, k, v = self.sets[i]
        return tuple(t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))  # [1, h, total, d] views

    def _sdpa(self):
        import torch.nn.functional as F
        kwargs = {"is_causal": self.causal}
        if self.hq != self.hkv:
            kwargs["enable_gqa"] = True
        if self.causal and self.lq != self.lk:
            raise NotImplementedError("SDPA's is_causal is top-left aligned; len_q != len_k "
                                      "needs bottom-right")
        return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs)

    @staticmethod
    def _from_bhsd(out):
        return out[0].transpose(0, 1)

    def anchor_loop_bound(self):
        torch, sdpa, n = self.torch, self._sdpa(), len(self.lq)
        cu_q, cu_k = self.cu_q, self.cu_k

        def run(i):
            q4, k4, v4 = self._views_bhsd(i)
            outs = []
            for s in range(1, n + 1):  # every bound is a 0-d device tensor: a sync per use
                outs.append(sdpa(q4[:, :, cu_q[s - 1]:cu_q[s]], k4[:, :, cu_k[s - 1]:cu_k[s]],
                                 v4[:, :, cu_k[s - 1]:cu_k[s]]))
            return torch.cat(outs, dim=2)
        return run, self._from_bhsd

    def anchor_loop_split(self):
        torch, sdpa = self.torch, self._sdpa()
        cu_q, cu_k = self.cu_q, self.cu_k

        def run(i):
            q4, k4, v4 = self._views_bhsd(i)
            lengths_q = (cu_q[1:] - cu_q[:-1]).tolist()  # one sync
            lengths_k = lengths_q if self.lq == self.lk else (cu_k[1:] - cu_k[:-1]).tolist()
            qs = torch.split(q4, lengths_q, dim=2)
            ks = torch.split(k4, lengths_k, dim=2)
            vs = torch.split(v4, lengths_k, dim=2)
            return torch.cat([sdpa(a, b, c) for a, b, c in zip(qs, ks, vs)], dim=2)
        return run, self._from_bhsd

    def anchor_fa2(self):
        torch = self.torch
        op = torch.ops.aten._flash_attention_forward
        kwargs = {"scale": None}
        if "window" in self.asked:  # keyword-only SymInt? arguments (PyTorch >= 2.5); -1 unbounded
            kwargs["window_size_left"], kwargs["window_size_right"] = self.window

        def run(i):
            q, k, v = self.sets[i]
            # (output, softmax_logsumexp, rng_state, unused, debug_attn_mask)
            return op(q, k, v, self.cu_q, self.cu_k, self.max_q, self.max_k, 0.0, self.causal,
                      False, **kwargs)[:2]
        return run, lambda out: out[0], (lambda out: out[1])

    def anchor_mem_eff(self):
        torch = self.torch
        op = torch.ops.aten._efficient_attention_forward
        mask = MEM_EFF_MASK[self.causal]
        grad = self.grad  # compute_log_sumexp: its backward reads the logsumexp

        def run(i):
            q, k, v = self.sets[i]
            return op(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), None, self.cu_q, self.cu_k,
                      self.max_q, self.max_k, 0.0, mask, grad, scale=None)[0]
        return run, lambda out: out[0]

    def anchor_flex(self, compiled_flex):
        torch = self.torch
        from torch.nn.attention import flex_attention as flex_module
        from torch.nn.attention.flex_attention import create_block_mask
        dev = self.dev.name
        seg_q = torch.repeat_interleave(torch.arange(len(self.lq), device=dev),
                                        torch.tensor(self.lq, device=dev)).to(torch.int32)
        seg_k = torch.repeat_interleave(torch.arange(len(self.lk), device=dev),
                                        torch.tensor(self.lk, device=dev)).to(torch.int32)
        start_q, start_k = self.cu_q, self.cu_k
        len_q = torch.tensor(self.lq, device=dev, dtype=torch.int32)
        len_k = torch.tensor(self.lk, device=dev, dtype=torch.int32)

        def document(b, h, q_idx, kv_idx):
            return seg_q[q_idx] == seg_k[kv_idx]

        def document_causal(b, h, q_idx, kv_idx):  # bottom-right within each document
            s = seg_q[q_idx]
            visible = (kv_idx - start_k[seg_k[kv_idx]]) <= (q_idx - start_q[s] + len_k[s] - len_q[s])
            return (s == seg_k[kv_idx]) & visible

        left, right = self.window
        if self.causal:
            right = 0 if right < 0 else min(right, 0)

        def document_window(b, h, q_idx, kv_idx):  # bottom-right window within each document
            s = seg_q[q_idx]
            diag = q_idx - start_q[s] + len_k[s] - len_q[s]
            j = kv_idx - start_k[s]
            visible = s == seg_k[kv_idx]
            if left >= 0:
                visible = visible & (j >= diag - left)
            if right >= 0:
                visible = visible & (j <= diag + right)
            return visible

        if "window" in self.asked:
            mask_mod = document_window
        else:
            mask_mod = document_causal if self.causal else document
        shape = (mask_mod, None, None, self.total_q, self.total_k)
        try:  # eager: materializes one [total_q, total_k] bool mask (5.6 GB for tiny-d64)
            block_mask = create_block_mask(*shape, device=dev)
        except (RuntimeError, MemoryError):
            if self.dev.cuda:
                torch.cuda.empty_cache()
            block_mask = torch.compile(create_block_mask)(*shape, device=dev)
        kwargs = {"block_mask": block_mask}
        if self.hq != self.hkv:
            kwargs["enable_gqa"] = True
        if self.softcap > 0:
            cap = self.softcap

            def softcap_mod(score, b, h, q_idx, kv_idx):  # score is already scaled
                return cap * torch.tanh(score / cap)
            kwargs["score_mod"] = softcap_mod
        lse_of = None
        if self.lse:  # PyTorch 2.9+: return_aux=AuxRequest(lse=True); before: return_lse=True
            if hasattr(flex_module, "AuxRequest"):
                kwargs["return_aux"] = flex_module.AuxRequest(lse=True)

                def lse_of(out):
                    return out[1].lse[0]
            else:
                kwargs["return_lse"] = True

                def lse_of(out):
                    return out[1][0]

        def run(i):
            q4, k4, v4 = self._views_bhsd(i)
            return compiled_flex(q4, k4, v4, **kwargs)
        if lse_of is None:
            return run, self._from_bhsd
        return run, lambda out: self._from_bhsd(out[0]), lse_of

    def anchor_fa4(self, fa4_varlen):
        """FlashAttention-4's varlen forward: window ends None = unbounded (FA2's -1)."""
        kwargs = {"cu_seqlens_q": self.cu_q, "cu_seqlens_k": self.cu_k, "max_seqlen_q": self.max_q,
                  "max_seqlen_k": self.max_k, "causal": self.causal}
        if "window" in self.asked:
            kwargs["window_size"] = tuple(None if x < 0 else x for x in self.window)
        if self.softcap > 0:
            kwargs["softcap"] = self.softcap
        if self.lse:
            kwargs["return_lse"] = True

        def run(i):
            q, k, v = self.sets[i]
            return fa4_varlen(q, k, v, **kwargs)  # (out, lse or None)
        return run, lambda out: out[0], ((lambda out: out[1]) if self.lse else None)

    def anchor_cudnn(self, sdpa_fwd):
        """cuDNN's varlen SDPA: torch.ops.cudnn.sdpa_fwd(q, k, v, attn_scale, ...) of
        nvidia-cudnn-frontend 1.32 (cudnn/sdpa/fwd/torch_op.py), q/k/v packed [total, h, d]
        (THD: the varlen path is taken when cu_seqlens_q is given; max_seqlen_q/_kv must be
        > 0), fp16/bf16, returning (out [total_q, hq, d], stats). Its options, translated as
        the frontend's own torch varlen provider does (cudnn/torch/sdpa_provider.py):
        - window_left = FA's left + 1 (cuDNN's diagonal_band_left_bound masks j <= i - lb, so
          lb keys are visible including the diagonal); -1 unbounded.
        - window_right: FA's right 0 is is_causal (their op rejects is_causal with a right
          bound > 0); > 0 is the band's right bound; -1 unbounded.
        - causal_bottom_right: its default diagonal is top-left; FA's (and varattn's) is
          bottom-right. Set only where some segment has len_q != len_k (elsewhere both are
          the same mask, and top-left is the configuration ANCHORS.md measured); the op
          accepts it only with an active band.
        - return_lse: the op's default is True; passed explicitly. stats is [total_q, hq, 1]
          float32, natural log (the graph is built without stats_use_log2); returned here as
          a [hq, total_q] view, FlashAttention's varlen layout.
        No softcap (METHOD_OPTIONS keeps those rows absent). In grad_mode return_lse is always
        on: the op is differentiable (register_autograd, frontend 1.32) only with it."""
        causal = self.causal
        left, right = self.window if "window" in self.asked else (-1, -1)
        if right == 0 or (causal and right > 0):
            causal, right = True, -1  # causal is right = min(right, 0)
        elif causal:
            right = -1
        band = causal or left >= 0 or right >= 0
        kwargs = {
            "is_causal": causal,
            "causal_bottom_right": bool(band and self.lq != self.lk),
            "window_left": left + 1 if left >= 0 else -1,
            "window_right": right,
            "cu_seqlens_q": self.cu_q, "cu_seqlens_kv": self.cu_k,
            "max_seqlen_q": max(self.max_q, 1), "max_seqlen_kv": max(self.max_k, 1),
            "return_lse": self.lse or self.grad,  # its autograd backward needs the stats
        }
        scale = 1.0 / math.sqrt(self.d)

        def run(i):
            q, k, v = self.sets[i]
            return sdpa_fwd(q, k, v, scale, **kwargs)  # (out, stats; empty without return_lse)
        if self.lse:
            return run, lambda out: out[0], lambda out: out[1][:, :, 0].transpose(0, 1)
        return run, lambda out: out[0]

    def anchor_varattn_op(self, varattn_module):
        """varattn's PyTorch op, with the options as keyword arguments (window_size=(l, r),
        softcap=, return_lse=: then it returns (out, lse))."""
        kwargs = {"causal": self.causal, "max_seqlen_q": self.max_q, "max_seqlen_k": self.max_k}
        if "window" in self.asked:
            kwargs["window_size"] = self.window
        if self.softcap > 0:
            kwargs["softcap"] = self.softcap
        if self.lse:
            kwargs["return_lse"] = True
        fn = varattn_module.varlen_attention

        def run(i):
            q, k, v = self.sets[i]
            return fn(q, k, v, self.cu_q, self.cu_k, **kwargs)
        if self.lse:
            return run, lambda out: out[0], lambda out: out[1]
        return run, lambda out: out


def expected_syncs(anchor, w):
    """What the anchor's code must sync, to tell a miscount from a surprise."""
    if anchor == "loop_bound":
        return 6 * len(w["lengths_q"])  # two bounds for each of q, k, v per segment
    if anchor == "loop_split":
        return 1 if w["lengths_q"] == w["lengths_k"] else 2
    return 0


def graph_replay(graphs):
    """run(i) of captured graphs (capture_graphs): graph i modulo their number, replayed."""
    def replay(i):
        return graphs[i % len(graphs)].replay()
    return replay


def measure_graph(dev, run, nsets, syncs, checked, inputs=None):
    """The method replayed from CUDA graphs (capture_graphs): {"ms", "reps", "ms_min", and
    checked(output of set 0's graph): "rel_err", "accurate", ...}, or {"na": why} where it
    cannot be captured: a method with host syncs (counted eagerly) is not tried (a sync
    breaks the capture). inputs: as capture_graphs'. The graphs and their pools are released
    before it returns."""
    torch = dev.torch
    if not dev.cuda:
        return {"na": "no CUDA device"}
    if syncs:
        return {"na": f"{syncs} host sync{'s' if syncs != 1 else ''} a call"}
    if GRAPHS_OFF:
        return {"na": GRAPHS_OFF["why"]}
    graphs = outs = None
    try:
        graphs, outs = capture_graphs(dev, run, nsets, inputs)
        ms, samples = dev.time_ms(graph_replay(graphs), len(graphs))
        found = {"ms": ms, "reps": len(samples), "ms_min": min(samples), "sm_mhz": dev.last_sm_mhz,
                 "load": dev.last_load}
        graphs[0].replay()  # set 0's inputs, whose rows the reference holds
        torch.cuda.synchronize()
        found.update(checked(outs[0]))
        return found
    except GraphUnavailable as e:
        return {"na": str(e)}
    except Exception as e:  # a replay that fails: the method has no graph time
        try:
            torch.cuda.synchronize()
        except Exception:
            pass
        return {"na": f"graph failed: {short_error(e)}"}
    finally:
        del graphs, outs
        empty_cache(torch)


def rel_err(torch, out_packed, rows, ref):
    got = out_packed[rows].double()
    ref = ref.double()
    if not bool(torch.isfinite(got).all()):
        return float("nan")
    den = ref.norm().item()
    return (got - ref).norm().item() / (den if den > 0 else 1.0)


def lse_err(torch, lse, check, total_q, hq):
    """Largest |lse - reference| over the checked rows (float64), or (None, why) where the
    method's logsumexp has a layout this does not read. Layouts: [hq, total_q] (FlashAttention
    varlen, varattn), [total_q, hq], and [segments, hq, max_q] (padded per segment)."""
    rows, _, ref, segs, local = check
    shape = tuple(lse.shape)
    if shape == (hq, total_q):
        got = lse[:, rows]
    elif shape == (total_q, hq):
        got = lse[rows].transpose(0, 1)
    elif len(shape) == 3 and shape[1] == hq and shape[0] > int(segs.max()) and shape[2] > int(local.max()):
        got = lse[segs, :, local].transpose(0, 1)
    else:
        return None, f"logsumexp layout {list(shape)} not read"
    got, ref = got.double(), ref.double()
    keyless = torch.isinf(ref) & (ref < 0)
    if bool((keyless & ~(torch.isinf(got) & (got < 0))).any()):
        return float("inf"), "keyless rows not -inf"
    finite = ~keyless
    if not bool(torch.isfinite(got[finite]).all()):
        return float("nan"), None
    if not bool(finite.any()):
        return 0.0, None
    return (got[finite] - ref[finite]).abs().max().item(), None


def make_compiled_flex(torch):
    from torch.nn.attention.flex_attention import flex_attention
    import torch._dynamo
    for knob in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, max(getattr(torch._dynamo.config, knob), 256))
    return torch.compile(flex_attention, dynamic=False)


def optional_modules(skip, log):
    """The optional methods' modules: FA4's varlen function, cuDNN's sdpa_fwd op and the
    varattn package, each imported once where installed; an entry is (module or None, why
    not)."""
    found = {}
    if "fa4" not in skip:
        try:
            from flash_attn.cute import flash_attn_varlen_func as fa4_varlen
            found["fa4"] = (fa4_varlen, None)
        except Exception as e:  # ImportError, or a CUTLASS DSL that fails to load
            found["fa4"] = (None, f"flash_attn.cute not importable ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0] if str(e) else ''})"[:200])
    if "cudnn" not in skip:
        try:  # the import registers torch.ops.cudnn.sdpa_fwd (nvidia-cudnn-frontend >= 1.32)
            import torch
            import cudnn
            import cudnn.sdpa.fwd.torch_op  # noqa: F401
            found["cudnn"] = (torch.ops.cudnn.sdpa_fwd, None)
            try:
                log(f"cudnn: frontend {getattr(cudnn, '__version__', '?')}, backend "
                    f"{cudnn.backend_version_string() if hasattr(cudnn, 'backend_version_string') else '?'}")
            except Exception:
                pass
        except Exception as e:  # ImportError, an older frontend without the op, no libcudnn
            found["cudnn"] = (None, f"cudnn.sdpa.fwd.torch_op not importable ({type(e).__name__}: "
                                    f"{str(e).splitlines()[0] if str(e) else ''})"[:200])
    if "varattn_op" not in skip:
        try:
            import varattn as varattn_module
            found["varattn_op"] = (varattn_module, None)
        except Exception as e:
            found["varattn_op"] = (None, f"the varattn package is not importable ({type(e).__name__}: "
                                         f"{str(e).splitlines()[0] if str(e) else ''})"[:200])
    for name, (module, why) in found.items():
        log(f"{name}: {'available' if module is not None else why}")
    return found


def make_method(p, name, compiled_flex_holder, modules):
    """(run, to_packed, lse_of or None) for method `name` on problem p."""
    if name == "flex":
        if compiled_flex_holder.get("fn") is None:
            compiled_flex_holder["fn"] = make_compiled_flex(p.torch)
        made = p.anchor_flex(compiled_flex_holder["fn"])
    elif name in modules:
        made = getattr(p, "anchor_" + name)(modules[name][0])
    else:
        made = getattr(p, "anchor_" + name)()
    return made if len(made) == 3 else (made[0], made[1], None)


def make_fwdbwd(p, name, compiled_flex_holder, modules):
    """run(set index) -> (dq, dk, dv) for method `name` on problem p (in grad_mode): one
    forward and one backward, the gradients of sum(out * d_out) for set i's fixed d_out. FA2
    calls aten's forward and backward ops itself (Problem.fwdbwd_fa2); every other method runs
    its forward (make_method: the same call as the forward pass) on the sets' q, k, v, which
    require grad, and torch.autograd.grad(out, (q, k, v), d_out): the varattn op's
    register_autograd, FA4's FlashAttnVarlenFunc, cuDNN's sdpa_fwd autograd (sdpa_bwd),
    EfficientAttentionBackward0 for mem_eff, flex's and SDPA's own."""
    if name == "fa2":
        return p.fwdbwd_fa2()
    torch = p.torch
    forward, to_packed, _ = make_method(p, name, compiled_flex_holder, modules)

    def run(i):
        q, k, v = p.sets[i]
        return torch.autograd.grad(to_packed(forward(i)), (q, k, v), p.d_outs[i])
    return run


def backward_support(modules, torch):
    """{method: why it is absent from the forward + backward pass} for the installed optional
    methods whose module has no backward: the varattn op without varlen_attention_backward or
    its autograd kernel (a package from before issue 14), a cuDNN frontend whose sdpa_fwd has
    no autograd (before 1.32) or no sdpa_bwd, a flash_attn.cute without FlashAttnVarlenFunc."""
    why = {}

    def has_autograd(op):
        try:
            return bool(torch._C._dispatch_has_kernel_for_dispatch_key(op, "Autograd"))
        except Exception:
            return True  # cannot tell: let the call show it
    if modules.get("varattn_op", (None,))[0] is not None:
        if not hasattr(torch.ops.varattn, "varlen_attention_backward"):
            why["varattn_op"] = "installed op has no backward (no varattn::varlen_attention_backward)"
        elif not has_autograd("varattn::varlen_attention"):
            why["varattn_op"] = "installed op is not differentiable (no autograd kernel)"
    if modules.get("cudnn", (None,))[0] is not None:
        if not hasattr(torch.ops.cudnn, "sdpa_bwd"):
            why["cudnn"] = "frontend op has no backward (no torch.ops.cudnn.sdpa_bwd)"
        elif not has_autograd("cudnn::sdpa_fwd"):
            why["cudnn"] = "frontend op is not differentiable (no autograd for cudnn::sdpa_fwd)"
    fa4 = modules.get("fa4", (None,))[0]
    if fa4 is not None:
        interface = sys.modules.get(getattr(fa4, "__module__", "") or "")
        if interface is not None and not hasattr(interface, "FlashAttnVarlenFunc"):
            why["fa4"] = f"flash_attn.cute has no varlen backward ({interface.__name__}.FlashAttnVarlenFunc missing)"
    return why


class GraphUnavailable(Exception):
    """A method that cannot be replayed from a CUDA graph; the message says why."""


# Set (to the reason) once a failed capture left the caching allocator in a state that could not
# be repaired: no further method is captured in this run (measure_graph answers n/a).
GRAPHS_OFF = {}


def short_error(e, n=160):
    text = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return text[:n]


def empty_cache(torch):
    """torch.cuda.empty_cache() that never raises (it asserts that no capture is underway)."""
    try:
        torch.cuda.empty_cache()
        return None
    except Exception as e:
        return e


def undo_failed_capture(torch, pool, side):
    """What CUDAGraph.capture_end() leaves undone when it raises: it calls
    endAllocateToPool only after a successful cudaStreamEndCapture (an invalidated capture
    fails there), and a graph whose capture did not end never releases its pool, so the caching
    allocator keeps the capture listed as underway and the next torch.cuda.empty_cache()
    fails its INTERNAL ASSERT(captures_underway.empty()), in this method and every later one.
    Ends the allocator's capture into `pool` (the handle given to capture_begin) where it is
    still underway, then releases the pool once (as torch.cuda.use_mem_pool does); ends a
    capture still open on `side` first. Sets GRAPHS_OFF where the allocator stays unhealthy."""
    try:
        with torch.cuda.stream(side):
            if torch.cuda.is_current_stream_capturing():  # capture_end never reached the driver
                stray = torch.cuda.CUDAGraph()  # its capture stream: side, current here
                try:
                    stray.capture_end()  # cudaStreamEndCapture, then raises (no capture id)
                except Exception:
                    pass
                del stray
    except Exception:
        pass
    device = torch.cuda.current_device()
    try:
        torch._C._cuda_endAllocateToPool(device, pool)  # raises where capture_end did it
    except Exception:
        pass  # capture_end got that far: the graph's destructor releases the pool
    else:
        try:
            torch._C._cuda_releasePool(device, pool)
        except Exception:
            pass
    try:
        torch.cuda.synchronize()
    except Exception:
        pass
    e = empty_cache(torch)
    if e is not None:
        GRAPHS_OFF.setdefault("why", f"allocator unusable after a failed capture ({short_error(e, 80)})")


def capture_graphs(dev, run, nsets, inputs=None):
    """Captures run(i) for every input set i into its own torch.cuda.CUDAGraph (a graph
    replays the tensors it captured, so one graph a set keeps the inputs rotating as the eager
    timing does). The method has run eagerly before (compiled, warmed up); two more calls run
    on the capture stream first, as PyTorch's CUDA-graph notes ask. Capture mode "global", as
    varattn_bench's: a host sync, a library's own cudaMalloc or a launch on another stream
    breaks the capture. Each graph captures into its own pool from graph_pool_handle(), so
    that a failed capture's pool can be ended and released (undo_failed_capture). inputs: a
    context manager (Problem.capture_inputs) held around the warm-up and the captures, under
    which run(i) sees the inputs it is to capture (the forward + backward pass: leaves no
    eager call has used). Returns (graphs, outputs: the tensors each graph writes on replay);
    raises GraphUnavailable with the reason where the method cannot be captured."""
    torch = dev.torch
    if not dev.cuda:
        raise GraphUnavailable("no CUDA device")
    with (inputs() if inputs is not None else contextlib.nullcontext()):
        return _capture_graphs(torch, run, nsets)


def _capture_graphs(torch, run, nsets):
    """capture_graphs' warm-up and captures, on a new side stream."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(2):
            run(i % nsets)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graphs, outs = [], []
    for i in range(nsets):
        g = torch.cuda.CUDAGraph()
        pool = torch.cuda.graph_pool_handle()
        failure, ended, out = None, False, None
        # capture_begin/capture_end by hand, not torch.cuda.graph(): its __exit__ leaves the
        # capture stream current when capture_end raises.
        with torch.cuda.stream(side):
            try:  # it registers the pool with the allocator before cudaStreamBeginCapture
                g.capture_begin(pool=pool, capture_error_mode="global")
            except Exception as e:
                why = f"capture_begin failed: {short_error(e)}"
                e = None
                graphs.clear()
                outs.clear()
                undo_failed_capture(torch, pool, side)
                del g
                raise GraphUnavailable(why)
            try:
                out = run(i)
            except Exception as e:  # the first failure is the reason (capture_end's follows)
                failure = e
            finally:
                try:
                    g.capture_end()
                    ended = True
                except Exception as e:
                    failure = failure or e
        if failure is not None:
            why = f"capture failed: {short_error(failure)}"
            failure = out = None  # drop the tensors the failed capture allocated
            graphs.clear()
            outs.clear()
            if not ended:  # before the graph goes: the allocator's filter refers to it
                undo_failed_capture(torch, pool, side)
            del g  # a graph whose capture ended releases its pool here
            if ended:
                try:
                    torch.cuda.synchronize()
                except Exception:
                    pass
                empty_cache(torch)
            raise GraphUnavailable(why)
        graphs.append(g)
        outs.append(out)
    torch.cuda.synchronize()
    return graphs, outs


def mhz(entry):
    """' at N MHz, P W' (median clock and power over a timing's load), ' at N MHz' (one read
    after it), or '' where neither was read."""
    watts = (entry.get("load") or {}).get("watts")
    power = f", {watts} W" if watts else ""
    return f" at {entry['sm_mhz']} MHz{power}" if entry.get("sm_mhz") else ""


def interleaved_rounds(dev, runs, nsets, rounds, warmup=3, max_reps=None, budget_s=None):
    """{name: [ms a round]}: each of runs {name: run} event-timed once a round (dev.time_ms, no
    settle), `rounds` rounds, the order rotated by one a round, so that every method is timed
    beside every other within seconds and a ratio between two of them is the methods', not the
    card's drift between timings a minute apart (clock and power move by several percent)."""
    names = list(runs)
    times = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            ms, _ = dev.time_ms(runs[name], nsets, warmup=warmup, max_reps=max_reps,
                                budget_s=budget_s, settle_s=0)
            times[name].append(ms)
    return times


def rounds_ratio(anchors, graph=False):
    """The varattn op against the best peer in the interleaved rounds (entries' "rounds_ms";
    with graph, their graph entries' ones: timed_rounds): per round, the fastest peer's ms
    over the op's; {"median", "min", "max", "rounds", "peers"} or None where the op or every
    peer has no rounds."""
    def times(a):
        return ((a.get("graph") or {}) if graph else a).get("rounds_ms")
    op = times(anchors.get("varattn_op", {}))
    peers = {n: times(a) for n, a in anchors.items() if n in ANCHORS and times(a)}
    if not op or not peers:
        return None
    ratios = [min(t[r] for t in peers.values()) / op[r] for r in range(len(op))]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "rounds": len(ratios), "peers": sorted(peers)}


def rounds_text(x):
    """'1.03 (0.91-1.16)' of rounds_ratio's result, '-' without one."""
    if not x:
        return "-"
    return f"{x['median']:.2f} ({x['min']:.2f}-{x['max']:.2f})"


def time_methods(dev, p, w, skip, modules, log, build, flops_, bytes_, graph, deadline,
                 unsupported=None, backward=False):
    """Times every method of METHODS on problem p, eagerly and (with graph) as CUDA-graph
    replays: build(name) -> (run, checked), run(set index) -> output, checked(output of set 0)
    -> {"rel_err", "accurate", ...} against the reference. flops_ and bytes_ give TFLOP/s and
    GB/s. unsupported: {method: why} for installed methods that cannot do this pass (absent).
    backward: the forward + backward pass, where a NotImplementedError or an output without a
    gradient makes the method absent rather than an error. Returns {method: entry}. deadline
    (a time.time(), or None): a method is not started with less than METHOD_MIN_S left before
    it (skipped, note 'deadline'), nor its graph timing with less than GRAPH_MIN_S.
    With dev.rounds > 1, the op and the accurate peers within ROUNDS_PEER_SPAN of the fastest
    peer's eager time are then timed again eagerly in that many interleaved rounds
    (interleaved_rounds): each entry's "rounds_ms"."""
    entries = {}
    contenders = {}  # name -> run: the accurate eager timings the rounds take again
    unsupported = unsupported or {}
    for name in METHODS:
        if name in skip:
            entries[name] = {"skipped": True}
            continue
        if name in modules and modules[name][0] is None:
            entries[name] = {"skipped": True, "note": "not installed"}
            continue
        if name in unsupported:
            entries[name] = {"absent": unsupported[name]}
            log(f"  {name:<11} absent ({unsupported[name]})")
            continue
        missing = [FEATURE_TEXT[f] for f in sorted(p.needs - METHOD_OPTIONS[name])]
        if missing:  # the method lacks an option or shape this row needs: absent, not wrong
            entries[name] = {"absent": "no " + ", no ".join(missing)}
            log(f"  {name:<11} absent (no {', '.join(missing)})")
            continue
        if deadline is not None and deadline - time.time() < METHOD_MIN_S:
            entries[name] = {"skipped": True, "note": "deadline"}
            log(f"  {name:<11} skipped ({deadline - time.time():.0f} s left before the deadline)")
            continue
        t0 = time.perf_counter()
        entry = {}
        try:
            run, checked = build(name)
            out = run(0)  # first call: compiles flex / FA4, checks the output
            dev.sync()
            entry.update(checked(out))
            del out
            ms, samples = dev.time_ms(run, len(p.sets))
            entry.update(ms=ms, reps=len(samples), ms_min=min(samples), sm_mhz=dev.last_sm_mhz,
                         load=dev.last_load,
                         tflops=flops_ / (ms * 1e-3) / 1e12,
                         gbps=bytes_ / (ms * 1e-3) / 1e9)
            entry["syncs"] = dev.count_syncs(run)
            entry["syncs_expected"] = expected_syncs(name, w)
            if entry.get("accurate", True) and (name in ANCHORS or name == "varattn_op"):
                contenders[name] = run
            if graph and deadline is not None and deadline - time.time() < GRAPH_MIN_S:
                entry["graph"] = {"na": "deadline"}
            elif graph:
                entry["graph"] = measure_graph(dev, run, len(p.sets), entry["syncs"], checked,
                                               inputs=p.capture_inputs)
                if str(entry["graph"].get("na", "")).startswith("graph failed"):
                    contenders.pop(name, None)  # a failed capture may leave its state behind
        except Exception as e:  # a method that fails is a table entry, not a crash
            contenders.pop(name, None)  # an error after its eager timing: no rounds
            text = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
            if isinstance(e, TypeError) and "keyword" in str(e) and name == "varattn_op":
                # an installed op from before the options: absent, not wrong
                entry = {"absent": f"installed op lacks an option ({text})"}
            elif name == "cudnn" and type(e).__name__ == "cudnnGraphNotSupportedError":
                # cuDNN declined the configuration (no engine for it): absent, not wrong
                entry = {"absent": f"cuDNN has no engine for it ({text})"}
            elif backward and ((isinstance(e, NotImplementedError)
                                and not str(e).startswith("Could not run"))
                               or "does not require grad" in str(e)):
                # the method declines this configuration's backward (or has none); a kernel
                # missing for the device ("Could not run 'aten::...'") stays an error
                entry = {"absent": f"not implemented ({text})"}
            else:
                entry = {"error": text}
            frames = traceback.extract_tb(e.__traceback__)
            if frames:
                log(f"    at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}")
            try:
                dev.sync()
            except Exception:
                pass
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        entries[name] = entry
        extra = f"  lse_err {entry['lse_err']:.2e}" if entry.get("lse_err") is not None else ""
        if entry.get("grad_err"):
            extra += "  (" + " ".join(f"{k} {fmt(v, '.2e')}" for k, v in entry["grad_err"].items()) + ")"
        g = entry.get("graph")
        if g is None:
            gtext = ""
        elif "ms" in g:
            gtext = (f"  graph {g['ms']:.3f} ms{mhz(g)} rel_err "
                     f"{g.get('rel_err', float('nan')):.2e}"
                     + ("" if g.get("accurate", True) else " HIGH"))
        else:
            gtext = f"  graph: n/a ({g.get('na', '?')})"
        log(f"  {name:<11} " + (f"{entry['ms']:9.3f} ms{mhz(entry)}  syncs {entry.get('syncs')}  "
                                f"rel_err {entry.get('rel_err', float('nan')):.2e}{extra}{gtext}"
                                if "ms" in entry else entry.get("error", entry.get("absent", ""))) +
            f"  ({entry['seconds']} s)")
    if dev.rounds > 1:
        rounds_of(dev, p, entries, contenders, deadline, log)
    return entries


def rounds_of(dev, p, entries, contenders, deadline, log):
    """time_methods' interleaved rounds (timed_rounds): the op and the peers within
    ROUNDS_PEER_SPAN of the fastest peer's eager ms (contenders: name -> run), none with fewer
    than two of them; then, with dev.graph_rounds, the same rounds over CUDA-graph replays of
    those of them with an accurate graph timing."""
    peers = [n for n in contenders if n != "varattn_op"]
    if "varattn_op" not in contenders or not peers:
        return
    fastest = min(entries[n]["ms"] for n in peers)
    runs = {n: r for n, r in contenders.items()
            if n == "varattn_op" or entries[n]["ms"] <= ROUNDS_PEER_SPAN * fastest}
    if not timed_rounds(dev, p, entries, runs, deadline, log, graph=False):
        return
    replayed = {n: r for n, r in runs.items() if (entries[n].get("graph") or {}).get("ms")
                and entries[n]["graph"].get("accurate", True)}
    if dev.graph_rounds and "varattn_op" in replayed and len(replayed) > 1:
        timed_rounds(dev, p, entries, replayed, deadline, log, graph=True)


def timed_rounds(dev, p, entries, runs, deadline, log, graph):
    """The interleaved rounds of runs (name -> eager run): each entry's "rounds_ms", or with
    graph its graph entry's, over replays of runs captured again (capture_graphs, as
    measure_graph's, whose graphs are gone by now) and held only through these rounds. Left
    out (logged; the pass's other figures stand) where the deadline leaves less than the
    estimate (rounds x methods x (the timing budget + 1 s of warm-up), plus GRAPH_CAPTURE_S a
    captured method) plus GRAPH_MIN_S, or where a capture or a round fails. True if timed."""
    kind = "graph rounds" if graph else "rounds"
    need = len(runs) * (dev.rounds * (dev.budget_s + 1.0) + (GRAPH_CAPTURE_S if graph else 0))
    if deadline is not None and deadline - time.time() < need + GRAPH_MIN_S:
        log(f"  {kind} skipped ({deadline - time.time():.0f} s left before the deadline, "
            f"~{need:.0f} s needed)")
        return False
    held = {}
    try:
        if graph:
            for name, run in runs.items():
                held[name] = capture_graphs(dev, run, len(p.sets), p.capture_inputs)
            runs = {n: graph_replay(graphs) for n, (graphs, _) in held.items()}
        times = interleaved_rounds(dev, runs, len(p.sets), dev.rounds)
    except Exception as e:  # the first pass's figures stand without these rounds
        log(f"  {kind} failed: {short_error(e)}")
        try:
            dev.sync()
        except Exception:
            pass
        return False
    finally:
        if graph:
            held.clear()
            empty_cache(dev.torch)
    for name, t in times.items():
        (entries[name]["graph"] if graph else entries[name])["rounds_ms"] = t
        log(f"  {name:<11} {kind}: " + " ".join(f"{x:.3f}" for x in t) + " ms")
    log(f"  best peer / op by {'graph round' if graph else 'round'}, median (min-max): "
        f"{rounds_text(rounds_ratio(entries, graph=graph))}")
    return True


def measure_workload(dev, w, skip, compiled_flex_holder, log, modules=None, graph=True,
                     deadline=None, passes=("fwd",), backward_why=None):
    """Times every method on workload w eagerly and, with graph, as CUDA-graph replays (each
    checked against the float32 reference): the forward ("fwd" in passes: record["anchors"])
    and forward + backward ("fwdbwd": record["fwdbwd"], measure_fwdbwd). Returns the workload's
    record. deadline: as time_methods'."""
    torch = dev.torch
    modules = modules or {}
    p = Problem(dev, w)
    elem = 2
    record = {
        "name": w["name"], "group": w["group"], "heads_q": w["heads_q"], "heads_kv": w["heads_kv"],
        "head_dim": w["head_dim"], "causal": w["causal"], "segments": len(w["lengths_q"]),
        "window_left": w.get("window_left", -1), "window_right": w.get("window_right", -1),
        "softcap": w.get("softcap", 0.0), "lse": w.get("lse", False),
        "tokens_q": p.total_q, "tokens_k": p.total_k, "flops": flops(w),
        "bytes": bytes_moved(w, elem), "buffer_sets": len(p.sets), "anchors": {},
    }
    max_rows, max_segments = (256, 4) if dev.quick else (1024, 8)
    if "fwd" in passes:
        t0 = time.perf_counter()
        check = p.reference(max_rows, max_segments)
        rows, ref = (None, None) if check is None else check[:2]
        record["reference"] = {"rows_checked": 0 if rows is None else int(rows.numel()),
                               "seconds": round(time.perf_counter() - t0, 2),
                               "options": options_text(w) or "none"}
        limit = REL_ERR_LIMIT[dev.dtype_name]

        def checked(out, to_packed, lse_of):
            """rel_err / accurate (and lse_err) of one output against the reference."""
            found = {}
            if rows is None:
                return found
            found["rel_err"] = rel_err(torch, to_packed(out), rows, ref)
            found["accurate"] = bool(found["rel_err"] <= limit)
            if p.lse and lse_of is not None:
                err, why = lse_err(torch, lse_of(out), check, p.total_q, p.hq)
                found["lse_err"] = err
                if why:
                    found["lse_note"] = why
                if err is not None:
                    found["accurate"] = found["accurate"] and bool(err <= LSE_ERR_LIMIT)
            return found

        def build(name):
            run, to_packed, lse_of = make_method(p, name, compiled_flex_holder, modules)
            return run, lambda out: checked(out, to_packed, lse_of)
        record["anchors"] = time_methods(dev, p, w, skip, modules, log, build, record["flops"],
                                         record["bytes"], graph, deadline)
    if "fwdbwd" in passes:
        record["fwdbwd"] = measure_fwdbwd(dev, p, w, skip, compiled_flex_holder, log, modules,
                                          graph, deadline, max_segments, backward_why)
    del p
    if dev.cuda:
        empty_cache(torch)
    return record


def measure_fwdbwd(dev, p, w, skip, compiled_flex_holder, log, modules, graph, deadline,
                   max_segments, backward_why=None):
    """The forward + backward pass of workload w (problem p): every method's call that returns
    the gradients (dq, dk, dv) of sum(out * d_out) for a fixed random d_out a set
    (make_fwdbwd), timed and checked as the forward is, each gradient against the float32
    autograd reference (Problem.grad_reference) by relative error. backward_why: {method: why}
    for installed methods without a backward (backward_support). Returns
    {"flops", "bytes", "reference", "anchors"}."""
    torch = dev.torch
    sub = {"flops": fwdbwd_flops(w), "bytes": fwdbwd_bytes(w, 2), "anchors": {}}
    log("  forward + backward:")
    with p.grad_mode():
        t0 = time.perf_counter()
        ref = p.grad_reference(max_segments, GRAD_REF_FLOP_BUDGET)
        sub["reference"] = {
            "q_rows_checked": 0 if ref is None else int(ref["q_rows"].numel()),
            "k_rows_checked": 0 if ref is None else int(ref["k_rows"].numel()),
            "segments_checked": 0 if ref is None else ref["segments"],
            "seconds": round(time.perf_counter() - t0, 2), "options": options_text(w) or "none"}
        limit = GRAD_REL_ERR_LIMIT[dev.dtype_name]

        def checked(grads):
            """grad_err {dq, dk, dv}, rel_err (the largest) and accurate (all within the limit;
            NaN never) of one call's gradients against the reference."""
            if ref is None:
                return {}
            errs = {}
            for key, got in zip(("dq", "dk", "dv"), grads):
                rows = ref["q_rows"] if key == "dq" else ref["k_rows"]
                errs[key] = rel_err(torch, got.detach(), rows, ref[key])
            worst = max(errs.values(), key=lambda e: math.inf if math.isnan(e) else e)
            return {"grad_err": errs, "rel_err": worst,
                    "accurate": bool(all(e <= limit for e in errs.values()))}

        def build(name):
            return make_fwdbwd(p, name, compiled_flex_holder, modules), checked
        sub["anchors"] = time_methods(dev, p, w, skip, modules, log, build, sub["flops"],
                                      sub["bytes"], graph, deadline, unsupported=backward_why,
                                      backward=True)
        del ref
    return sub


# ----------------------------------------------------------------------------------------------
# Tables.

def fmt(x, spec):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def method_times(a):
    """(ms, mode) of each accurate timing of a method's entry: its eager time ("eager") and its
    CUDA-graph replay time ("graph"), each where it exists and its output check passed. A
    graph without its own check (no reference rows) inherits the eager one."""
    times = []
    if "ms" in a and a.get("accurate", True):
        times.append((a["ms"], "eager"))
    g = a.get("graph") or {}
    if g.get("ms", 0) > 0 and g.get("accurate", a.get("accurate", True)):
        times.append((g["ms"], "graph"))
    return times


def best_peer(record):
    """The fastest accurate peer (ANCHORS: everything but varattn) over both timings, eager
    and CUDA-graph replay: {"method", "mode", "ms"}, or None."""
    found = [(ms, name, mode) for name, a in record.get("anchors", {}).items() if name in ANCHORS
             for ms, mode in method_times(a)]
    if not found:
        return None
    ms, name, mode = min(found)
    return {"method": name, "mode": mode, "ms": ms}


def analyse(record, ceilings, varattn_entries, dtype, device_name):
    """Adds floor, varattn rows and speedups to a workload record."""
    floor_flops_ms = record["flops"] / (ceilings["matmul_tflops"] * 1e12) * 1e3
    floor_bytes_ms = record["bytes"] / (ceilings["copy_gbps"] * 1e9) * 1e3
    record["floor_ms"] = max(floor_flops_ms, floor_bytes_ms)
    record["floor_bound"] = "compute" if floor_flops_ms >= floor_bytes_ms else "memory"
    record["varattn"] = varattn_entries or []
    best = best_peer(record)
    record["best_peer"] = best
    record["best_anchor"] = best["method"] if best else None
    fa2 = record["anchors"].get("fa2", {})
    expected = EXPECTED_H100_BF16.get(record["name"], {}) if ("H100" in device_name and dtype == "bf16") else {}
    for name, ms_expected in expected.items():
        a = record["anchors"].get(name, {})
        if "ms" in a:
            a["expected_ms"] = ms_expected
            a["vs_expected"] = a["ms"] / ms_expected - 1.0
            a["within_expected"] = abs(a["vs_expected"]) <= EXPECTED_TOLERANCE
    for v in record["varattn"]:
        # A bench built from another workloads.json (or --bench-json of an older run) has
        # other segment lengths: its FLOP counter gives it away, and it is not compared.
        per_forward = v.get("flops", 0) / max(v.get("layers", 1) or 1, 1)
        if per_forward > 0 and abs(per_forward / record["flops"] - 1.0) > 1e-6 and "error" not in v:
            v["error"] = (f"varattn_bench ran other segment lengths ({per_forward / 1e9:,.2f} GFLOP "
                          f"per forward, here {record['flops'] / 1e9:,.2f}); not compared")
    for v in record["varattn"]:
        if v.get("kind") != "fwd" or "ms" not in v or v["ms"] <= 0 or "error" in v:
            continue
        v["floor_fraction"] = record["floor_ms"] / v["ms"]
        if best:
            v["speedup_vs_best"] = best["ms"] / v["ms"]
            if v.get("graph_ms", -1) > 0:
                v["graph_speedup_vs_best"] = best["ms"] / v["graph_ms"]
        if "ms" in fa2:
            v["speedup_vs_fa2"] = fa2["ms"] / v["ms"]
    fwd = [v for v in record["varattn"] if v.get("kind") == "fwd" and "floor_fraction" in v
           and "error" not in v and not FORCED_KERNEL.search(v.get("policy", ""))]
    # varattn's best launch policy (eager ms) is the one the summary's speedups are about
    # (the forced-kernel variants, fused_sm80, are shown but never taken).
    record["varattn_best"] = min(fwd, key=lambda v: v["ms"])["policy"] if fwd else None
    record["rounds_vs_best"] = rounds_ratio(record["anchors"])
    record["graph_rounds_vs_best"] = rounds_ratio(record["anchors"], graph=True)
    return record


def analyse_fwdbwd(record, ceilings):
    """Adds the forward + backward pass's floor, best peer (best_peer over its methods) and the
    varattn op's speedups to record["fwdbwd"]: varattn = {"floor_fraction", "speedup_vs_best"
    (best peer ms / the op's eager ms), "graph_speedup_vs_best" (over the op's graph ms),
    "speedup_vs_fa2" (FA2's eager ms / the op's eager ms)}, each from the op's accurate timings
    only (compare.py reads no backward from varattn_bench: the op is varattn here)."""
    sub = record.get("fwdbwd")
    if not sub:
        return record
    floor_flops_ms = sub["flops"] / (ceilings["matmul_tflops"] * 1e12) * 1e3
    floor_bytes_ms = sub["bytes"] / (ceilings["copy_gbps"] * 1e9) * 1e3
    sub["floor_ms"] = max(floor_flops_ms, floor_bytes_ms)
    sub["floor_bound"] = "compute" if floor_flops_ms >= floor_bytes_ms else "memory"
    best = best_peer(sub)
    sub["best_peer"] = best
    op = sub["anchors"].get("varattn_op", {})
    fa2 = sub["anchors"].get("fa2", {})
    ours = {}
    if op.get("ms", 0) > 0 and op.get("accurate", True):
        ours["floor_fraction"] = sub["floor_ms"] / op["ms"]
        if best:
            ours["speedup_vs_best"] = best["ms"] / op["ms"]
        if "ms" in fa2:
            ours["speedup_vs_fa2"] = fa2["ms"] / op["ms"]
    g = op.get("graph") or {}
    if best and g.get("ms", 0) > 0 and g.get("accurate", op.get("accurate", True)):
        ours["graph_speedup_vs_best"] = best["ms"] / g["ms"]
    sub["varattn"] = ours
    sub["rounds_vs_best"] = rounds_ratio(sub["anchors"])
    sub["graph_rounds_vs_best"] = rounds_ratio(sub["anchors"], graph=True)
    return record


def varattn_policies(r, kind="fwd"):
    """Policies to show for a workload: POLICIES first (each always gets a row), then any
    other policy the bench reported."""
    seen = [v["policy"] for v in r["varattn"] if v.get("kind") == kind]
    return list(POLICIES) + [p for p in dict.fromkeys(seen) if p not in POLICIES]


def varattn_entry(r, policy, kind="fwd"):
    return next((v for v in r["varattn"] if v.get("kind") == kind and v.get("policy") == policy), None)


def graph_cell(a):
    """The graph column of a method's row: replay ms, or 'n/a (why)'."""
    g = a.get("graph")
    if g is None:
        return "-"
    if "ms" in g:
        return f"{g['ms']:.3f}" + ("" if g.get("accurate", True) else " (HIGH)")
    return "n/a (" + str(g.get("na", "?"))[:90].replace("|", "\\|") + ")"


def varattn_graph_cell(v):
    """The graph column of a varattn_bench row: graph_ms, or 'n/a (capture failed)'."""
    if v.get("graph_ms", -1) > 0:
        return f"{v['graph_ms']:.3f}"
    if v.get("host_syncs", 0) < 0:
        return "n/a (capture failed)"
    return "-"


def peer_text(best):
    return f"{ANCHOR_TITLES[best['method']]}, {best['mode']}, {best['ms']:.3f} ms"


def shape_text(r, dtype):
    """A workload's shape and options as the table headings give them."""
    causal = "causal" if r["causal"] else "non-causal"
    opts = options_text(r)
    tokens = f"{r['tokens_q']:,} tokens"
    if r.get("tokens_k", r["tokens_q"]) != r["tokens_q"]:
        tokens = f"{r['tokens_q']:,} query / {r['tokens_k']:,} key tokens"
    return (f"{r['segments']} segments, {tokens}, {r['heads_q']}/{r['heads_kv']} heads, "
            f"d={r['head_dim']}, {causal}{', ' + opts if opts else ''}, {dtype}")



def speedup_parts(v, graph_ms):
    """The summary line's figures after a varattn time: x best peer, the graph time (when
    graph_ms > 0) with its x best peer, x FA2 and the floor fraction, where `v` has them."""
    parts = []
    if "speedup_vs_best" in v:
        parts.append(f"{v['speedup_vs_best']:.2f}x vs best peer")
    if graph_ms > 0:
        text = f"graph {graph_ms:.3f} ms"
        if "graph_speedup_vs_best" in v:
            text += f", {v['graph_speedup_vs_best']:.2f}x vs best peer"
        parts.append(text)
    if "speedup_vs_fa2" in v:
        parts.append(f"{v['speedup_vs_fa2']:.2f}x vs FA2 (eager)")
    if "floor_fraction" in v:
        parts.append(f"{v['floor_fraction']:.1%} of the floor")
    return parts

def workload_markdown(r, dtype):
    lines = []
    lines.append(f"### {r['name']}: {shape_text(r, dtype)}")
    lines.append("")
    lines.append(f"{r['flops'] / 1e9:,.2f} GFLOP, {r['bytes'] / 1e6:,.1f} MB moved; floor "
                 f"{r['floor_ms']:.4f} ms ({r['floor_bound']}-bound); {r['buffer_sets']} input sets")
    lines.append("")
    lines.append("| method | ms | graph ms | TFLOP/s | GB/s | syncs | rel err | floor/ms | expected ms (H100) |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    blank = " | | | | | | |"
    for name in METHODS:
        a = r["anchors"].get(name, {})
        title = ANCHOR_TITLES[name]
        if name in OURS:
            title = f"**{title}**"
        if name not in r["anchors"]:  # a record from before this method existed
            continue
        if a.get("skipped"):
            note = f" ({a['note']})" if a.get("note") else ""
            lines.append(f"| {title} | skipped{note} |{blank}")
            continue
        if a.get("absent"):
            lines.append(f"| {title} | absent ({a['absent']}) |{blank}")
            continue
        if "ms" not in a:
            err = a.get("error", "not run").replace("|", "\\|")
            lines.append(f"| {title} | error: {err} |{blank}")
            continue
        flag = "" if a.get("accurate", True) else " (HIGH)"
        exp = ""
        if "expected_ms" in a:
            exp = f"{a['expected_ms']:.3f} ({a['vs_expected']:+.0%}{'' if a['within_expected'] else ', OUTSIDE 20%'})"
        syncs = fmt(a.get("syncs"), "d")
        if a.get("syncs") is not None and a.get("syncs") != a.get("syncs_expected", a["syncs"]):
            syncs += f" (expected {a['syncs_expected']})"
        err = fmt(a.get("rel_err"), ".1e")
        if r.get("lse"):
            err += ("; lse " + (fmt(a.get("lse_err"), ".0e") if a.get("lse_err") is not None
                                else a.get("lse_note", "not returned")))
        lines.append(f"| {title} | {a['ms']:.3f} | {graph_cell(a)} | {a['tflops']:.1f} | "
                     f"{a['gbps']:.0f} | {syncs} | {err}{flag} | "
                     f"{r['floor_ms'] / a['ms']:.1%} | {exp} |")
    best_policy = r.get("varattn_best")
    for policy in varattn_policies(r):
        v = varattn_entry(r, policy)
        title = f"**varattn {policy}**" + (" (best)" if policy == best_policy else "")
        if v is None:
            lines.append(f"| {title} | not measured |{blank}")
            continue
        if "error" in v or "ms" not in v:
            err = str(v.get("error", "no result")).replace("|", "\\|")
            lines.append(f"| {title} | error: {err} |{blank}")
            continue
        syncs = "capture failed" if v.get("host_syncs", -1) < 0 else fmt(int(v["host_syncs"]), "d")
        lines.append(f"| {title} | {v['ms']:.3f} | {varattn_graph_cell(v)} | "
                     f"{fmt(v.get('tflops'), '.1f')} | {fmt(v.get('gbps'), '.0f')} | "
                     f"{syncs} | (tests) | {fmt(v.get('floor_fraction'), '.1%')} | |")
    lines.append("")
    best = r.get("best_peer")
    if best is None and r.get("best_anchor"):  # a record from before the graph timings
        a = r["anchors"][r["best_anchor"]]
        best = {"method": r["best_anchor"], "mode": "eager", "ms": a["ms"]}
    if best:
        lines.append(f"- best peer (fastest accurate of eager and graph): {peer_text(best)}")
    lines += rounds_lines(r)
    for policy in varattn_policies(r):
        v = varattn_entry(r, policy)
        if v is None or "ms" not in v or "error" in v:
            continue
        parts = [f"varattn {policy}{' (best policy)' if policy == best_policy else ''}: {v['ms']:.3f} ms"]
        lines.append("- " + "; ".join(parts + speedup_parts(v, v.get("graph_ms", -1))))
    for policy in varattn_policies(r, "encoder"):
        v = varattn_entry(r, policy, "encoder")
        if v is None:
            continue
        if "ms" in v and "error" not in v:
            syncs = "capture failed" if v.get("host_syncs", -1) < 0 else f"{int(v['host_syncs'])}"
            lines.append(f"- encoder scenario ({int(v.get('layers', 0))} layers, {policy}): "
                         f"{v['ms']:.3f} ms per encoder forward, {v.get('ms_per_layer', 0):.3f} ms "
                         f"per layer, {syncs} host sync(s) per encoder forward")
        else:
            lines.append(f"- encoder scenario ({policy}): error: {v.get('error', 'no result')}")
    lines.append("")
    return "\n".join(lines)


ROUNDS_NOTE = (" x best (rounds) (forward: x best (rounds, op)): the varattn op and the accurate "
               f"peers within {ROUNDS_PEER_SPAN}x of the fastest peer's eager time timed again "
               "eagerly in interleaved rounds (the order rotated a round), the fastest peer's ms over the "
               "op's in each round: median (min-max). It is the figure the card's drift between "
               "one method's timing and the next does not move.")
GRAPH_ROUNDS_NOTE = (" x best (graph rounds): the same rounds over CUDA-graph replays (the methods "
                     "with an accurate graph timing, captured again).")


def rounds_lines(r):
    """The workload table's bullets of the interleaved rounds, eager and graph (record or
    fwdbwd sub-record)."""
    lines = []
    for key, title, graph in (("rounds_vs_best", "rounds ({}, eager, order rotated a round", False),
                              ("graph_rounds_vs_best", "graph rounds ({}, CUDA-graph replays",
                               True)):
        x = r.get(key)
        if not x:
            continue
        entries = {n: r["anchors"][n]["graph"] if graph else r["anchors"][n]
                   for n in ["varattn_op"] + x["peers"]}
        each = "; ".join(f"{n} " + " ".join(f"{t:.3f}" for t in e["rounds_ms"])
                         for n, e in entries.items())
        lines.append(f"- interleaved {title.format(x['rounds'])}; ms: {each}): best peer / "
                     f"varattn op {rounds_text(x)} (median, min-max)")
    return lines


def rounds_columns(subs, eager_head):
    """The summaries' rounds columns that subs (records or fwdbwd sub-records) have: [(head,
    key)], eager first (its head eager_head), and the note that explains them."""
    columns = [(head, key) for head, key in ((eager_head, "rounds_vs_best"),
                                             ("x best (graph rounds)", "graph_rounds_vs_best"))
               if any(s.get(key) for s in subs)]
    notes = {"rounds_vs_best": ROUNDS_NOTE, "graph_rounds_vs_best": GRAPH_ROUNDS_NOTE}
    return columns, "".join(notes[key] for _, key in columns)


def ms_cells(a):
    """(eager, graph) summary cells of a method's entry."""
    if a is None or not a:
        return "-", "-"
    if a.get("absent"):
        return "absent", "-"
    if a.get("skipped"):
        return "skipped", "-"
    if "ms" not in a:
        return "error", "-"
    eager = f"{a['ms']:.3f}" + ("" if a.get("accurate", True) else " (HIGH)")
    g = a.get("graph")
    if g is None:
        return eager, "-"
    if "ms" in g:
        return eager, f"{g['ms']:.3f}" + ("" if g.get("accurate", True) else " (HIGH)")
    return eager, "n/a"


def summary_markdown(records, dtype):
    """One row per workload. best peer: the fastest accurate method other than varattn, over
    its eager and its CUDA-graph replay times; FA2, FA4 and cuDNN get an eager and a graph
    column each ('n/a': not capturable, the workload table says why). The x-best, floor, sync,
    graph and encoder columns are those of varattn's best policy (fastest eager forward),
    named in the 'best policy' column: x best = best peer ms / its eager ms, x best (graph) =
    best peer ms / its graph replay ms."""
    columns = POLICIES + SUMMARY_VARIANTS
    peer_heads = " | ".join(f"{SHORT_TITLES[n]} ms | {SHORT_TITLES[n]} graph ms" for n in SUMMARY_PEERS)
    pol_heads = " | ".join(f"varattn {p} ms" for p in columns)
    heads = (f"| workload | best peer | mode | peer ms | {peer_heads} | {pol_heads} | varattn op ms "
             "| varattn op graph ms | best policy | graph ms | x best | x best (graph) | x FA2 "
             "| floor ms | % floor | syncs | encoder ms/layer |")
    rounds, rounds_note = rounds_columns(records, "x best (rounds, op)")
    heads += "".join(f" {head} |" for head, _ in rounds)
    ncols = heads.count("|") - 1
    lines = [f"## Summary ({dtype})", "",
             "best peer: the fastest accurate method other than varattn, eager or CUDA-graph "
             "replay (mode); x best and x best (graph): best peer ms over varattn's best policy's "
             "eager and graph ms." + rounds_note, "", heads,
             "|---|---|---|" + "---:|" * (ncols - 3)]
    empty = " |" * (ncols - 2)
    for r in records:
        if "floor_ms" not in r:
            lines.append(f"| {r['name']} | {r.get('error', 'not measured')} |{empty}")
            continue
        best = r.get("best_peer")
        if best is None and r.get("best_anchor"):  # a record from before the graph timings
            best = {"method": r["best_anchor"], "mode": "eager",
                    "ms": r["anchors"][r["best_anchor"]]["ms"]}
        cells = [best["method"] if best else "-", best["mode"] if best else "-",
                 fmt(best["ms"] if best else None, ".3f")]
        for n in SUMMARY_PEERS:
            cells += list(ms_cells(r["anchors"].get(n)))
        for p in columns:
            e = varattn_entry(r, p)
            if e is None:
                cells.append("-")
            elif "error" in e or "ms" not in e:
                cells.append("error")
            else:
                cells.append(format(e["ms"], ".3f"))
        cells += list(ms_cells(r["anchors"].get("varattn_op")))
        policy = r.get("varattn_best")
        v = (varattn_entry(r, policy) if policy else None) or {}
        syncs = v.get("host_syncs")
        enc = varattn_entry(r, policy, "encoder") if policy else None
        enc_ms = enc.get("ms_per_layer") if enc and "error" not in enc else None
        cells += [policy or "-", varattn_graph_cell(v) if v else "-",
                  fmt(v.get("speedup_vs_best"), ".2f"), fmt(v.get("graph_speedup_vs_best"), ".2f"),
                  fmt(v.get("speedup_vs_fa2"), ".2f"), f"{r['floor_ms']:.4f}",
                  fmt(v.get("floor_fraction"), ".1%"),
                  "-" if syncs is None else ("FAIL" if syncs < 0 else str(int(syncs))),
                  fmt(enc_ms, ".3f")]
        cells += [rounds_text(r.get(key)) for _, key in rounds]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def grad_err_text(a):
    """The rel err cell of a forward + backward row: dq / dk / dv."""
    errs = a.get("grad_err")
    if not errs:
        return "-"
    return " / ".join(fmt(errs.get(k), ".1e") for k in ("dq", "dk", "dv"))


def fwdbwd_markdown(r, dtype):
    """One workload's forward + backward table (record["fwdbwd"], analysed)."""
    sub = r["fwdbwd"]
    ref = sub.get("reference", {})
    lines = [f"### {r['name']}, forward + backward: {shape_text(r, dtype)}", ""]
    checked = (f"gradients checked on {ref.get('q_rows_checked', 0):,} query and "
               f"{ref.get('k_rows_checked', 0):,} key rows of {ref.get('segments_checked', 0)} "
               f"segment(s)")
    lines.append(f"{sub['flops'] / 1e9:,.2f} GFLOP (the forward's {r['flops'] / 1e9:,.2f} x "
                 f"{FWDBWD_FLOP_FACTOR:g}), {sub['bytes'] / 1e6:,.1f} MB moved; floor "
                 f"{sub['floor_ms']:.4f} ms ({sub['floor_bound']}-bound); {r['buffer_sets']} input "
                 f"sets; {checked}")
    lines.append("")
    lines.append("| method | fwd+bwd ms | graph ms | TFLOP/s | GB/s | syncs | rel err dq / dk / dv | floor/ms |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    blank = " | | | | | |"
    for name in METHODS:
        if name not in sub["anchors"]:
            continue
        a = sub["anchors"][name]
        title = f"**{ANCHOR_TITLES[name]}**" if name in OURS else ANCHOR_TITLES[name]
        if a.get("skipped"):
            note = f" ({a['note']})" if a.get("note") else ""
            lines.append(f"| {title} | skipped{note} |{blank}")
            continue
        if a.get("absent"):
            absent = str(a["absent"]).replace("|", "\\|")
            lines.append(f"| {title} | absent ({absent}) |{blank}")
            continue
        if "ms" not in a:
            err = a.get("error", "not run").replace("|", "\\|")
            lines.append(f"| {title} | error: {err} |{blank}")
            continue
        flag = "" if a.get("accurate", True) else " (HIGH)"
        syncs = fmt(a.get("syncs"), "d")
        if a.get("syncs") is not None and a.get("syncs") != a.get("syncs_expected", a["syncs"]):
            syncs += f" (expected {a['syncs_expected']})"
        lines.append(f"| {title} | {a['ms']:.3f} | {graph_cell(a)} | {a['tflops']:.1f} | "
                     f"{a['gbps']:.0f} | {syncs} | {grad_err_text(a)}{flag} | "
                     f"{sub['floor_ms'] / a['ms']:.1%} |")
    lines.append("")
    best = sub.get("best_peer")
    if best:
        lines.append(f"- best peer (fastest accurate of eager and graph): {peer_text(best)}")
    lines += rounds_lines(sub)
    op = sub["anchors"].get("varattn_op", {})
    v = sub.get("varattn", {})
    if "ms" in op:
        parts = [f"varattn op: {op['ms']:.3f} ms" + ("" if op.get("accurate", True) else
                                                     " (gradients HIGH: not compared)")]
        graph_ms = (op.get("graph") or {}).get("ms", 0)
        lines.append("- " + "; ".join(parts + speedup_parts(v, graph_ms)))
    lines.append("")
    return "\n".join(lines)


def fwdbwd_summary_markdown(records, dtype):
    """One row per workload of the forward + backward pass: best peer (fastest accurate method
    other than varattn over eager and graph timings), FA2, FA4 and cuDNN eager and graph, the
    varattn op eager and graph, x best = best peer ms / the op's eager ms, x best (graph) = best
    peer ms / the op's graph ms, x FA2 = FA2 eager ms / the op's eager ms, floor and % floor
    (of the op's eager ms)."""
    peer_heads = " | ".join(f"{SHORT_TITLES[n]} ms | {SHORT_TITLES[n]} graph ms" for n in SUMMARY_PEERS)
    heads = (f"| workload | best peer | mode | peer ms | {peer_heads} | varattn op ms "
             "| varattn op graph ms | x best | x best (graph) | x FA2 | floor ms | % floor |")
    rounds, rounds_note = rounds_columns([r.get("fwdbwd") or {} for r in records],
                                         "x best (rounds)")
    heads += "".join(f" {head} |" for head, _ in rounds)
    ncols = heads.count("|") - 1
    lines = [f"## Summary, forward + backward ({dtype})", "",
             "ms of one forward and the backward of sum(out * d_out) (a fixed random d_out; dq, "
             "dk, dv each checked against float32 autograd); FLOPs = the forward's "
             "4 · Σ visible pairs · d · heads_q x 3.5 (backward = 2.5x forward). best peer: the "
             "fastest accurate method other than varattn, eager or CUDA-graph replay (mode); "
             "x best and x best (graph): best peer ms over the varattn op's eager and graph ms; "
             "x FA2: FA2's eager ms over the op's." + rounds_note, "", heads,
             "|---|---|---|" + "---:|" * (ncols - 3)]
    empty = " |" * (ncols - 2)
    for r in records:
        sub = r.get("fwdbwd") or {}
        if "floor_ms" not in sub:
            lines.append(f"| {r['name']} | {r.get('error', 'not measured')} |{empty}")
            continue
        best = sub.get("best_peer")
        v = sub.get("varattn", {})
        cells = [best["method"] if best else "-", best["mode"] if best else "-",
                 fmt(best["ms"] if best else None, ".3f")]
        for n in SUMMARY_PEERS:
            cells += list(ms_cells(sub["anchors"].get(n)))
        cells += list(ms_cells(sub["anchors"].get("varattn_op")))
        cells += [fmt(v.get("speedup_vs_best"), ".2f"), fmt(v.get("graph_speedup_vs_best"), ".2f"),
                  fmt(v.get("speedup_vs_fa2"), ".2f"), f"{sub['floor_ms']:.4f}",
                  fmt(v.get("floor_fraction"), ".1%")]
        cells += [rounds_text(sub.get(key)) for _, key in rounds]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def doc_passes(doc):
    """The passes a compare.json holds (documents from before --pass: the forward only)."""
    return list(doc.get("passes") or ["fwd"])


def full_markdown(doc):
    c = doc.get("ceilings", {})
    head = [f"# varattn vs PyTorch anchors ({doc['device']}, {doc['dtype']})", "",
            f"torch {doc.get('torch', '?')}; started {doc['started']}; "
            f"matmul {fmt(c.get('matmul_tflops'), '.0f')} TFLOP/s ({c.get('matmul_n')}^3), "
            f"copy {fmt(c.get('copy_gbps'), ',.0f')} GB/s (read + write)", ""]
    if doc.get("varattn_error"):
        head += [f"varattn_bench: {doc['varattn_error']}", ""]
    if doc.get("varattn_workloads_note"):
        head += [doc["varattn_workloads_note"], ""]
    passes = doc_passes(doc)
    body, tail = [], []
    if "fwd" in passes:
        body += [workload_markdown(r, doc["dtype"]) for r in doc["workloads"] if "floor_ms" in r]
        tail.append(summary_markdown(doc["workloads"], doc["dtype"]))
    if "fwdbwd" in passes:
        body += [fwdbwd_markdown(r, doc["dtype"]) for r in doc["workloads"]
                 if "floor_ms" in (r.get("fwdbwd") or {})]
        tail.append(fwdbwd_summary_markdown(doc["workloads"], doc["dtype"]))
    return "\n".join(head + body + tail)


# ----------------------------------------------------------------------------------------------
# Chart: each method's time over varattn's, per workload (compare.png).

CHART_COLORS = {"loop_bound": "#9e9e9e", "loop_split": "#1f77b4", "fa2": "#d62728",
                "mem_eff": "#ff7f0e", "flex": "#9467bd", "fa4": "#2ca02c", "cudnn": "#8c564b",
                "varattn_op": "#17becf"}


def fastest_time(e):
    """(ms, mode, note) of a method's entry for the chart: its faster accurate timing, eager or
    CUDA-graph replay (method_times); an inaccurate method's eager time with the note 'rel err
    HIGH'; None where it has no time."""
    times = method_times(e)
    if times:
        ms, mode = min(times)
        return ms, mode, ""
    if e.get("ms", 0) > 0:
        return e["ms"], "eager", "rel err HIGH"
    return None


def chart_rows(doc):
    """Per workload: (name, (varattn's label, its ms) or None, note, bars). Each bar is
    (method, ratio or None, note, mode): ratio = the method's ms / varattn's, each at its faster
    accurate timing of eager and CUDA-graph replay (mode "graph" where the replay was faster),
    where varattn is varattn_bench's fastest eager launch policy (as in the summary) at the
    faster of its eager and graph_ms, or the varattn op where the bench gave nothing; None with
    a note ('skipped', 'absent: no softcap', 'error', ...) when the method has no time for this
    workload. Methods skipped everywhere get no bar. A run without graph timings (--no-graph,
    or from before them: no "graph" in the document) compares eager times only, varattn's
    included."""
    records = doc.get("workloads", [])
    use_graph = bool(doc.get("graph"))
    methods = [a for a in METHODS
               if any(a in r.get("anchors", {}) and not r["anchors"][a].get("skipped") for r in records)]
    rows = []
    for r in records:
        fwd = {v.get("policy"): v for v in r.get("varattn", [])
               if v.get("kind") == "fwd" and v.get("ms", 0) > 0 and "error" not in v
               and not FORCED_KERNEL.search(v.get("policy", ""))}
        best = r.get("varattn_best") if r.get("varattn_best") in fwd else None
        if best is None and fwd:
            best = min(fwd, key=lambda k: fwd[k]["ms"])
        op = r.get("anchors", {}).get("varattn_op", {})
        op_time = fastest_time(op) if op else None
        if best is not None:
            v = fwd[best]
            ref, ref_method, label = v["ms"], None, best
            if use_graph and 0 < v.get("graph_ms", -1) < ref:
                ref, label = v["graph_ms"], f"{best}, graph"
        elif op_time and not op_time[2]:
            ref, ref_method = op_time[0], "varattn_op"
            label = "op" + (", graph" if op_time[1] == "graph" else "")
        else:
            errors = [v["error"] for v in r.get("varattn", []) if v.get("error")]
            note = r.get("error") or (f"varattn: {errors[0]}" if errors else "varattn not measured")
            rows.append((r.get("name", "?"), None, note[:90], []))
            continue
        bars = chart_bars(r.get("anchors", {}), [a for a in methods if a != ref_method], ref)
        rows.append((r.get("name", "?"), (label, ref), "", bars))
    return rows


def chart_bars(anchors, methods, ref):
    """A workload's bars: (method, its ms / ref or None, note, mode) for each of methods."""
    bars = []
    for a in methods:
        e = anchors.get(a)
        if e is None:
            bars.append((a, None, "not run", None))
        elif e.get("skipped"):
            bars.append((a, None, e.get("note", "skipped"), None))
        elif e.get("absent"):
            bars.append((a, None, "absent: " + str(e["absent"])[:60], None))
        else:
            t = fastest_time(e)
            if t is None:
                bars.append((a, None, e.get("note", "error"), None))
            else:
                bars.append((a, t[0] / ref, t[2], t[1]))
    return bars


def chart_rows_fwdbwd(doc):
    """chart_rows for the forward + backward pass (record["fwdbwd"]): each method's fwd+bwd ms
    over the varattn op's (compare.py reads no bwd/ from varattn_bench), each at its faster accurate timing
    of eager and CUDA-graph replay; a workload where the op has no accurate time says why."""
    records = doc.get("workloads", [])
    subs = [(r, r.get("fwdbwd") or {}) for r in records]
    methods = [a for a in METHODS if a != "varattn_op" and any(
        a in sub.get("anchors", {}) and not sub["anchors"][a].get("skipped") for _, sub in subs)]
    rows = []
    for r, sub in subs:
        op = sub.get("anchors", {}).get("varattn_op")
        t = fastest_time(op) if op else None
        if t is None or t[2]:
            if not sub:
                note = r.get("error") or "forward + backward not measured"
            elif op is None or op.get("skipped"):
                note = "varattn op " + ((op or {}).get("note") or "not measured")
            elif t is not None:
                note = "varattn op: gradients HIGH"
            else:
                note = "varattn op: " + str(op.get("error") or op.get("absent") or "no time")
            rows.append((r.get("name", "?"), None, note[:90], []))
            continue
        label = "op" + (", graph" if t[1] == "graph" else "")
        rows.append((r.get("name", "?"), (label, t[0]), "", chart_bars(sub.get("anchors", {}), methods, t[0])))
    return rows


def chart_ticks(lo, hi):
    """1-2-5 ticks between lo and hi (a log axis with few decades shows no labels otherwise)."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            t = m * 10.0 ** exp
            if lo <= t <= hi:
                ticks.append(t)
    return ticks


def write_chart(doc, path, log=print, which=None):
    """compare.png: a grouped horizontal bar chart, one group per workload, one bar per PyTorch
    anchor: its time over varattn's, on a log axis, growing from the line at 1 (right: varattn
    is faster). which: the pass drawn, "fwd" or "fwdbwd" (default: the forward where the
    document has it, else forward + backward). Returns the path, or None (with a note in the
    log) where matplotlib is missing or nothing was measured; never raises, so a chart can
    never fail a measuring run."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    except ImportError as e:
        if not getattr(write_chart, "noted", False):
            log(f"compare.py: no chart ({e})")
            write_chart.noted = True
        return None
    import textwrap
    fig = None
    if which is None:
        which = "fwd" if "fwd" in doc_passes(doc) else "fwdbwd"
    try:
        rows = chart_rows(doc) if which == "fwd" else chart_rows_fwdbwd(doc)
        if not rows:
            return None
        keys = list(dict.fromkeys(b[0] for _, _, _, bars in rows for b in bars))
        ratios = [b[1] for _, _, _, bars in rows for b in bars if b[1]]
        lo = min(ratios + [1.0]) / 1.8
        hi = max(ratios + [1.0]) * 1.9
        nk = max(len(keys), 1)
        bar_h = 0.8 / nk
        fig, ax = plt.subplots(figsize=(10, 1.9 + len(rows) * (0.2 * nk + 0.25)))
        yticks, ylabels = [], []
        for i, (name, ref, note, bars) in enumerate(rows):
            center = -i
            yticks.append(center)
            if ref is None:
                ylabels.append(name)
                ax.text(1.04, center, note, va="center", ha="left", fontsize=7.5, style="italic",
                        color="#666666")
                continue
            ylabels.append(f"{name}\nvarattn {ref[0]}\n{ref[1]:.3f} ms")
            for j, (key, ratio, bnote, mode) in enumerate(bars):
                y = center + 0.4 - bar_h * (keys.index(key) + 0.5)
                if ratio is None:
                    ax.text(1.04, y, f"{ANCHOR_TITLES[key]}: {bnote}", va="center", ha="left",
                            fontsize=6.5, style="italic", color="#888888")
                    continue
                # Bars grow from 1: right, the anchor is slower than varattn; left, faster.
                ax.barh(y, ratio - 1.0, left=1.0, height=bar_h * 0.85,
                        color=CHART_COLORS.get(key, "#7f7f7f"),
                        hatch="//" if bnote else None, edgecolor="white", linewidth=0.3)
                digits = 2 if ratio < 10 else (1 if ratio < 100 else 0)
                text = f"{ratio:.{digits}f}×" + (" graph" if mode == "graph" else "") + \
                    (f" ({bnote})" if bnote else "")
                if ratio >= 1.0:
                    ax.text(ratio * 1.025, y, text, va="center", ha="left", fontsize=7)
                else:
                    ax.text(ratio / 1.025, y, text, va="center", ha="right", fontsize=7)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(FixedLocator(chart_ticks(lo, hi)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}×"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(-len(rows) + 0.5, 0.5)
        ax.set_yticks(yticks)
        ax.set_yticklabels(ylabels, fontsize=8)
        ax.axvline(1.0, color="black", linewidth=1.0)
        ax.set_xlabel("method's time / varattn's time, log scale (right of 1×: varattn is that "
                      "many times faster; left: the anchor is faster)", fontsize=8.5)
        ax.grid(axis="x", linewidth=0.3, alpha=0.6)
        ax.tick_params(axis="x", labelsize=8)
        for i in range(1, len(rows)):
            ax.axhline(-i + 0.5, color="#cccccc", linewidth=0.5)
        sub = [str(doc.get("started", "?"))]
        if doc.get("torch"):
            sub.append(f"torch {doc['torch']}")
        if doc.get("commit"):
            sub.append(f"varattn {doc['commit']}")
        if which == "fwdbwd":
            sub.append("median ms per forward + backward (the gradients of sum(out * d_out)), "
                       + ("each method at its faster of eager and CUDA-graph replay ('graph')"
                          if doc.get("graph") else "eager") + "; varattn: its op")
        elif doc.get("graph"):
            sub.append("median ms per forward, each method at its faster of eager and CUDA-graph "
                       "replay ('graph'); varattn: its fastest launch policy (else its op)")
        else:
            sub.append("median ms per forward (eager); varattn: its fastest launch policy (else "
                       "its op)")
        what = ", forward + backward" if which == "fwdbwd" else ""
        lines = [f"varattn against PyTorch's varlen attention{what}: {doc.get('device', '?')}, "
                 f"{doc.get('dtype', '?')}"] + textwrap.wrap(", ".join(sub), 115)
        if doc.get("source"):
            lines += textwrap.wrap(str(doc["source"]), 115)
        ax.set_title("\n".join(lines), fontsize=9, loc="left")
        ax.legend(handles=[Patch(color=CHART_COLORS.get(k, "#7f7f7f"), label=ANCHOR_TITLES[k])
                           for k in keys], fontsize=7.5, loc="best", framealpha=0.9)
        fig.tight_layout()
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        return path
    except Exception as e:  # a chart must never cost the measurements
        log(f"compare.py: no chart ({type(e).__name__}: {e})")
        return None
    finally:
        if fig is not None:
            plt.close(fig)


def write_outputs(outdir, doc, chart=False, log=print):
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "compare.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (outdir / "compare.md").write_text(full_markdown(doc))
    if chart:
        write_chart(doc, outdir / "compare.png", log)


# ----------------------------------------------------------------------------------------------

def positive_int(text):
    """argparse's type for --rounds: an int of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", nargs="?", help="path of varattn_bench, or '-' to skip it")
    parser.add_argument("outdir", nargs="?", type=pathlib.Path)
    parser.add_argument("--dtype", choices=("bf16", "fp16"), default="bf16")
    parser.add_argument("--workloads", default="main,causal", help="names and/or groups, comma-separated")
    parser.add_argument("--workloads-file", default=str(DEFAULT_WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller reference")
    parser.add_argument("--skip", default="", help=f"methods to skip: {','.join(METHODS)}")
    parser.add_argument("--bench-json", help="use this varattn_bench JSON instead of running it")
    parser.add_argument("--pass", dest="passes", metavar="PASSES",
                        help="what each method is timed doing, comma-separated: fwd (the forward; "
                             "the default) and/or fwdbwd (one forward and the backward of "
                             "sum(out * d_out): varattn's op, FA2's aten backward, FA4, cuDNN, "
                             "mem_eff, flex, the SDPA loops; gradients checked against float32 "
                             "autograd; FLOPs = the forward's x 3.5); with --plot-only, the pass "
                             "to draw")
    parser.add_argument("--settle-s", type=float, default=SETTLE_S,
                        help="seconds of back-to-back calls before each method's timed reps, "
                             "eager and graph, so each is timed at its own sustained clock "
                             f"(default {SETTLE_S}; 0: time straight after the warm-up calls)")
    parser.add_argument("--no-graph", action="store_true",
                        help="time the methods eagerly only (no CUDA-graph capture and replay)")
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="after each pass's timings, time the varattn op and the accurate "
                             "peers again eagerly in this many interleaved rounds (order rotated "
                             "a round) and report the best peer / op ratio's median and range")
    parser.add_argument("--graph-rounds", action="store_true",
                        help="with --rounds, the same rounds over CUDA-graph replays too (each "
                             "method captured again; about doubles the rounds' time)")
    parser.add_argument("--deadline-s", type=float, default=0,
                        help="stop starting workloads (30 s before), methods (20 s) and CUDA-graph "
                             "timings (10 s) this many seconds after the start (0: no limit)")
    parser.add_argument("--plot-only", nargs=2, metavar=("COMPARE_JSON", "OUT_PNG"),
                        help="only draw the chart of a saved compare.json (no torch, no GPU)")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # 'cpu' for a dry run
    args = parser.parse_args(argv)
    passes = [t.strip() for t in (args.passes or "fwd").split(",") if t.strip()]
    if not passes or any(t not in PASSES for t in passes):
        parser.error(f"--pass: {args.passes!r}: give fwd, fwdbwd or fwd,fwdbwd")
    passes = [t for t in PASSES if t in passes]
    if args.plot_only:
        doc = json.loads(pathlib.Path(args.plot_only[0]).read_text())
        which = None
        if args.passes:  # the one pass named, else the first the document holds of those named
            named = [t for t in passes if t in doc_passes(doc)]
            if not named:
                print(f"compare.py: {args.plot_only[0]} holds no {'/'.join(passes)} pass "
                      f"(it has {', '.join(doc_passes(doc))})")
                return 1
            which = named[0]
        out = write_chart(doc, args.plot_only[1], which=which)
        if out is None:
            print(f"compare.py: no chart written from {args.plot_only[0]}")
            return 1
        print(f"wrote {out}")
        return 0
    if args.bench is None or args.outdir is None:
        parser.error("VARATTN_BENCH and OUTDIR are required (unless --plot-only)")
    started = time.time()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(METHODS)
    if unknown:
        parser.error(f"--skip: unknown methods {sorted(unknown)}")
    workloads = select_workloads(load_workloads(args.workloads_file), args.workloads)

    def log(msg):
        print(msg, flush=True)

    def remaining():
        # 0: no limit; a negative value (run_on_gpu.sh's seconds_left - 40 late in a session)
        # is a deadline already past, not "no limit".
        return float("inf") if args.deadline_s == 0 else args.deadline_s - (time.time() - started)

    try:
        import torch
    except ImportError as e:
        log(f"compare.py: PyTorch is not importable ({e}); nothing measured")
        return 1
    if args.device == "cuda" and not torch.cuda.is_available():
        log("compare.py: no CUDA device visible to PyTorch")
        return 1
    try:  # float32 reference: no TF32
        torch.backends.cuda.matmul.allow_tf32 = False
    except Exception:
        pass
    dev = Device(torch, args.device, args.dtype, args.quick, settle_s=args.settle_s,
                 rounds=args.rounds, graph_rounds=args.graph_rounds and not args.no_graph)
    doc = {"device": dev.device_name, "dtype": args.dtype, "torch": torch.__version__,
           "cuda": getattr(torch.version, "cuda", None), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
           "quick": args.quick, "skip": sorted(skip), "graph": not args.no_graph,
           "workload_names": [w["name"] for w in workloads],
           "workloads": []}
    if passes != ["fwd"]:  # a forward-only document stays as before --pass
        doc["passes"] = passes
    # For the chart's caption. VARATTN_COMMIT first: the GPU machine's copy of the tree can
    # carry an older commit's git metadata (seen: the session's first commit); a tree that
    # differs from its HEAD is marked "+changes".
    doc["commit"] = os.environ.get("VARATTN_COMMIT") or None
    if doc["commit"] is None:
        try:
            git = ["git", "-C", str(HERE)]
            head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
            changed = subprocess.run(git + ["status", "--porcelain", "-uno"], capture_output=True,
                                     text=True, timeout=30).stdout.strip()
            doc["commit"] = (head + ("+changes" if changed else "")) or None
        except (OSError, subprocess.SubprocessError):
            doc["commit"] = None

    log(f"device {dev.device_name}, torch {torch.__version__}, {args.dtype}, L2 {dev.l2_bytes >> 20} MiB")
    doc["ceilings"] = measure_ceilings(dev)
    c = doc["ceilings"]
    log(f"ceilings: matmul {c['matmul_tflops']:.0f} TFLOP/s, copy {c['copy_gbps']:.0f} GB/s")
    write_outputs(args.outdir, doc)

    if "fwd" not in passes:  # varattn_bench times forwards only: the op is varattn's side here
        bench = {}
        if args.bench != "-" or args.bench_json:
            log("compare.py: varattn_bench not run (--pass without fwd: it times forwards only)")
    elif args.bench_json:
        bench = parse_bench_json(pathlib.Path(args.bench_json).read_text(), source=args.bench_json)
    elif args.bench != "-":
        budget = remaining() - 60 if remaining() != float("inf") else 1800
        bench = run_varattn_bench(args.bench, workloads, args.dtype, budget, args.quick, log)
    else:
        bench = {"error": "not run ('-' given)"}
    doc["varattn_error"] = bench.get("error")
    doc["varattn_context"] = bench.get("context", {})
    # varattn_bench's workloads are compiled in; the digest says whether they are this file's
    # (if not, the FLOP check in analyse() keeps any workload whose lengths differ out).
    built_from = doc["varattn_context"].get("workloads_sha256")
    ours = hashlib.sha256(pathlib.Path(args.workloads_file).read_bytes()).hexdigest()
    if built_from and built_from != ours:
        doc["varattn_workloads_note"] = (f"varattn_bench was built from another workloads.json "
                                         f"(sha256 {built_from[:12]}, {args.workloads_file}: {ours[:12]})")
        log(f"compare.py: {doc['varattn_workloads_note']}")
    if bench.get("output_tail"):
        doc["varattn_output_tail"] = bench["output_tail"]
    if bench.get("error"):
        log(f"varattn_bench: {bench['error']}")
    results = bench.get("results", {})
    # varattn asked for but nothing of it came back: the run still measures the anchors, but
    # exits 3 so that run_on_gpu.sh marks the compare stage FAILED instead of "ok".
    varattn_missing = args.bench != "-" and not results and "fwd" in passes

    holder = {}
    modules = optional_modules(skip, log)
    backward_why = None
    if "fwdbwd" in passes:
        backward_why = backward_support(modules, torch)
        for name, why in backward_why.items():
            log(f"{name}: no forward + backward ({why})")
    for w in workloads:
        left = remaining()
        if left < 30:
            log(f"{w['name']}: skipped, {left:.0f} s left before the deadline")
            doc["workloads"].append({"name": w["name"], "error": "skipped: deadline"})
            continue
        log(f"== {w['name']} ({len(w['lengths_q'])} segments, {sum(w['lengths_q'])} tokens)")
        try:
            record = measure_workload(dev, w, skip, holder, log, modules, graph=not args.no_graph,
                                      deadline=started + args.deadline_s if args.deadline_s != 0 else None,
                                      passes=passes, backward_why=backward_why)
            if "fwd" in passes:
                analyse(record, c, [v for v in results.get(w["name"], []) if v.get("dtype") == args.dtype],
                        args.dtype, dev.device_name)
                log(workload_markdown(record, args.dtype))
            if "fwdbwd" in passes:
                analyse_fwdbwd(record, c)
                log(fwdbwd_markdown(record, args.dtype))
        except Exception as e:
            log(traceback.format_exc())
            record = {"name": w["name"], "error": f"{type(e).__name__}: {e}"[:300]}
            if dev.cuda:
                empty_cache(torch)
        doc["workloads"].append(record)
        write_outputs(args.outdir, doc, chart=True, log=log)

    doc["seconds"] = round(time.time() - started, 1)
    write_outputs(args.outdir, doc, chart=True, log=log)
    if "fwd" in passes:
        log(summary_markdown(doc["workloads"], args.dtype))
    if "fwdbwd" in passes:
        log(fwdbwd_summary_markdown(doc["workloads"], args.dtype))
    chart = args.outdir / "compare.png"
    log(f"wrote {args.outdir / 'compare.md'}, {args.outdir / 'compare.json'}"
        f"{', ' + str(chart) if chart.exists() else ''} ({doc['seconds']} s)")
    if varattn_missing:
        log(f"compare.py: varattn was not measured ({doc['varattn_error']}); exit 3")
        return 3
    if (passes == ["fwdbwd"] and "varattn_op" not in skip and doc["workloads"]
            and not any("ms" in ((r.get("fwdbwd") or {}).get("anchors", {}).get("varattn_op") or {})
                        for r in doc["workloads"])):
        log("compare.py: the varattn op's forward + backward was not measured on any workload; exit 3")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
