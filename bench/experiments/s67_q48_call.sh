#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-seventh session (prepared, not run): the head-dim-128 dK/dV kernel at 48 queries a
# step, without and with the next step's S^T issued under the dQ staging (NOTES s67 3), against
# the tree's 80-query kernel. Labels built here (VARATTN_PREBUILT_ARCHS=90a-real):
#   t128 = the tree, bench at 128; q48N = + experiments/dkdv_queries48.patch, bench at 128;
#   q48A = + experiments/dkdv_queries48_scores_ahead.patch on it, bench at 128;
#   q48AT = q48A's GPU tests at 128.
#   run(command="bash bench/experiments/s67_q48_call.sh $OUT",
#       carry=["build/pre/t128", "build/pre/q48N/bench", "build/pre/q48A/bench", "build/pre/q48AT"])
# 1. The GPU suite of q48AT (the 48-query kernels have never run), then compute-sanitizer
#    memcheck, racecheck and synccheck on the sanitizers' cases; a failure stops the call.
# 2. The d128 backward rows, 3 interleaved rounds of t128, q48N, q48A (s66_dq_stage_call.sh).
set -u
out=${1:?usage: s67_q48_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out" build/run
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
export LD_LIBRARY_PATH=$PWD/build/pre/q48AT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
xz -dc build/pre/q48AT/tests/varattn_gpu_tests.xz >build/run/gpu_tests &&
  chmod +x build/run/gpu_tests || { echo "no label q48AT"; exit 2; }
s0=$(date +%s)
timeout 240 build/run/gpu_tests >"$out/tests.log" 2>&1
rc=$?
echo "GPU suite: exit $rc in $(($(date +%s) - s0)) s: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
grep -B2 -A12 'ERROR' "$out/tests.log" | head -40
for tool in memcheck racecheck synccheck; do
  timeout 60 compute-sanitizer --tool "$tool" --error-exitcode 9 build/run/gpu_tests \
    -tc='*for?the?sanitizers*' >"$out/$tool.log" 2>&1
  echo "$tool: exit $?: $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
done
xz -9 "$out/tests.log"
((rc == 0)) || { echo "tests failed: no timing"; exit 1; }
ROWS="bwd/long-d128/fused/bf16 bwd/llm-d128/fused/bf16 bwd/llm-d128-causal/fused/bf16 bwd/long-d128-causal/fused/bf16 bwd/long-d128-window1024/fused/bf16" \
  bash bench/experiments/s66_dq_stage_call.sh "$out/b" t128 q48N q48A >/dev/null 2>&1
cp "$out/b/rounds.txt" "$out/rounds.txt"
cat "$out/rounds.txt"
python3 - "$out/rounds.txt" <<'PY'
import re, sys, collections
t = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\S+) (\S+)\s+([\d.]+) ms", line)
    if m: t[(m.group(2), m.group(1))].append(float(m.group(3)))
rows = sorted({r for r, _ in t})
for r in rows:
    base = sum(t[(r, "t128")]) / max(1, len(t[(r, "t128")]))
    print(r, " ".join(f"{l} {sum(t[(r, l)]) / len(t[(r, l)]):.3f} ({sum(t[(r, l)]) / len(t[(r, l)]) / base - 1:+.1%})"
                       for l in ("t128", "q48N", "q48A") if t[(r, l)]))
PY
