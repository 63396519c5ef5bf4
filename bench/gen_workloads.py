#!/usr/bin/env python3
"""Writes bench/workloads.json, the one definition of the benchmark workloads.

Both bench/varattn_bench and bench/compare.py read the JSON; the random segment lengths are
generated here once, with fixed seeds, and written out as numbers so that the two programs
(and every later run) see exactly the same segments. Python's `random.Random(seed).randint`
is stable across Python 3 versions. The seeds of llm-d128 and tiny-d64 are chosen by a rule
(see SEED_LLM_START below and BENCHMARKS.md): the first seed whose lengths match the issue's
physical floor within 2%.

    python3 bench/gen_workloads.py            # rewrite bench/workloads.json
    python3 bench/gen_workloads.py --check    # exit 1 if the file differs from what this writes

Schema (version 1): {"schema": 1, "workloads": [W...]} with each W
    name            unique, [A-Za-z0-9_.-]
    group           "main" | "causal" | "sweep"
    heads_q, heads_kv, head_dim, causal
    encoder_layers  0, or the layer count of the whole-encoder scenario run on this workload
    lengths         query segment lengths (int32); key lengths are the same unless
    lengths_k       (optional) gives them separately
"""
import argparse
import json
import pathlib
import random
import sys

HERE = pathlib.Path(__file__).resolve().parent
PATH = HERE / "workloads.json"

# The random workloads are matched to the issue's reference figures, so that anchors measured
# here can be set beside the issue's (FA2 3.52 ms and split loop 2.67 ms on llm-d128, FA2 0.80 ms
# and mem-eff 0.41 ms on tiny-d64, H100, bf16). Rule: the seed is the FIRST seed, counting up
# from the start seed below, whose lengths give a physical floor within 2% of the issue's:
#   floor = max(FLOPs / 769 TFLOP/s, bytes / 2955 GB/s)      (the issue's H100 ceilings)
#   FLOPs = 4 * sum(len^2) * heads * d,  bytes = 4 tensors * tokens * heads * d * 2 B (bf16)
#   llm-d128: 16 lengths uniform in [128, 4096], 32 heads, d=128: compute-bound, floor 1.475 ms
#             (sum(len^2) ~ 6.92e7); the start seed itself gives 1.126e8 (2.40 ms).
#   tiny-d64: 2048 lengths uniform in [8, 64], 16 heads, d=64: memory-bound, floor 0.202 ms
#             (~72,900 tokens); the start seed itself gives 74,644 tokens (0.207 ms, +2.4%).
# build() runs the search every time (a few tries), so the rule, not a hand-copied number,
# decides; the chosen seeds and floors are written to workloads.json ("seeds", "floors").
SEED_LLM_START = 20261124
SEED_TINY_START = 20261125
ISSUE_TFLOPS = 769e12  # FLOP/s
ISSUE_COPY_GBPS = 2955e9  # B/s, bytes read + written
ISSUE_FLOOR_MS = {"llm-d128": 1.475, "tiny-d64": 0.202}
FLOOR_TOLERANCE = 0.02
MAX_SEED_TRIES = 100000
SWEEP_TOKENS = 65536
SWEEP_SEGMENTS = (64, 256, 1024, 4096, 16384)
SWEEP_HEAD_DIMS = (64, 80, 128)


def uniform_lengths(seed, count, lo, hi):
    rng = random.Random(seed)
    return [rng.randint(lo, hi) for _ in range(count)]


def issue_floor_ms(lengths, heads, head_dim):
    """The issue's floor for a non-causal workload with equal q/k lengths and heads."""
    flops = 4.0 * sum(x * x for x in lengths) * heads * head_dim
    nbytes = 4.0 * sum(lengths) * heads * head_dim * 2
    return max(flops / ISSUE_TFLOPS, nbytes / ISSUE_COPY_GBPS) * 1e3


def matched_seed(name, start, count, lo, hi, heads, head_dim):
    """First seed >= start whose uniform lengths put the floor within FLOOR_TOLERANCE of the
    issue's floor for workload `name`. Returns (seed, lengths, floor_ms)."""
    target = ISSUE_FLOOR_MS[name]
    for seed in range(start, start + MAX_SEED_TRIES):
        lengths = uniform_lengths(seed, count, lo, hi)
        floor = issue_floor_ms(lengths, heads, head_dim)
        if abs(floor / target - 1.0) <= FLOOR_TOLERANCE:
            return seed, lengths, floor
    raise RuntimeError(f"{name}: no seed in [{start}, {start + MAX_SEED_TRIES}) matches "
                       f"the floor {target} ms within {FLOOR_TOLERANCE:.0%}")


def workload(name, group, heads, head_dim, lengths, causal=False, encoder_layers=0):
    return {"name": name, "group": group, "heads_q": heads, "heads_kv": heads,
            "head_dim": head_dim, "causal": causal, "encoder_layers": encoder_layers,
            "lengths": lengths}


def build():
    seed_llm, llm, floor_llm = matched_seed("llm-d128", SEED_LLM_START, 16, 128, 4096, 32, 128)
    seed_tiny, tiny, floor_tiny = matched_seed("tiny-d64", SEED_TINY_START, 2048, 8, 64, 16, 64)
    long = [16384]
    out = [
        workload("vl-window-d80", "main", 16, 80, [64] * 256, encoder_layers=32),
        workload("vl-full-d80", "main", 16, 80, [4096, 2304, 1024, 576, 6400, 1600],
                 encoder_layers=32),
        workload("llm-d128", "main", 32, 128, llm, encoder_layers=32),
        workload("tiny-d64", "main", 16, 64, tiny, encoder_layers=32),
        workload("long-d128", "main", 16, 128, long),
        workload("llm-d128-causal", "causal", 32, 128, llm, causal=True),  # llm-d128's lengths
        workload("long-d128-causal", "causal", 16, 128, long, causal=True),
    ]
    for d in SWEEP_HEAD_DIMS:
        for s in SWEEP_SEGMENTS:
            out.append(workload(f"sweep-d{d}-s{s}", "sweep", 16, d,
                                [s] * (SWEEP_TOKENS // s)))
    return {"schema": 1,
            "comment": "Generated by bench/gen_workloads.py; edit that script, not this file.",
            "seeds": {"llm-d128": seed_llm, "tiny-d64": seed_tiny},
            "floors": {"rule": "first seed from the start seed whose floor is within 2% of the "
                               "issue's (769 TFLOP/s, 2955 GB/s)",
                       "llm-d128": {"start_seed": SEED_LLM_START, "issue_ms": ISSUE_FLOOR_MS["llm-d128"],
                                    "ms": round(floor_llm, 4)},
                       "tiny-d64": {"start_seed": SEED_TINY_START, "issue_ms": ISSUE_FLOOR_MS["tiny-d64"],
                                    "ms": round(floor_tiny, 4)}},
            "workloads": out}


def dump(doc):
    """JSON with each workload on a few lines and lengths wrapped at 24 a line."""
    lines = ["{"]
    for key in ("schema", "comment", "seeds", "floors"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(doc[key])},")
    lines.append('  "workloads": [')
    for i, w in enumerate(doc["workloads"]):
        head = {k: v for k, v in w.items() if not k.startswith("lengths")}
        lines.append("    {" + json.dumps(head)[1:-1] + ",")
        keys = [k for k in w if k.startswith("lengths")]
        for j, key in enumerate(keys):
            values = w[key]
            rows = [", ".join(str(x) for x in values[r:r + 24]) for r in range(0, len(values), 24)]
            body = ",\n        ".join(rows)
            tail = "," if j + 1 < len(keys) else ""
            lines.append(f'      {json.dumps(key)}: [\n        {body}]{tail}')
        lines.append("    }" + ("," if i + 1 < len(doc["workloads"]) else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = dump(build())
    assert json.loads(text) == build()
    if args.check:
        same = PATH.exists() and PATH.read_text() == text
        print(f"{PATH}: {'up to date' if same else 'DIFFERS from gen_workloads.py'}")
        return 0 if same else 1
    PATH.write_text(text)
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
