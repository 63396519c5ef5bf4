#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-sixth session: dkdv_defer_dq_reduce.patch (the reducer issues a step's dQ tensor
# reductions in the next step, past its dP^T wait, and waits for their reads right before the
# next staging, behind a barrier of both warpgroups), timed, then tested if it gains.
# Labels built here (SASS only): xdefer = the tree + the patch, bench at 64;80;128; s64N =
# the kernels before (ae575ae + write_output_column.patch, landed as f1c9941; no backward
# kernel changed since), bench at 64;80;128; xdeferT = the GPU tests of the tree + the patch
# at 64;80;128.
#   run(command="bash bench/experiments/s66_defer_call.sh $OUT",
#       carry=["build/pre/xdefer", "build/pre/s64N/bench", "build/pre/xdeferT"])
# 1. bench: the backward rows the patch touches, 3 interleaved rounds (s66_dq_stage_call.sh);
# 2. if long-d128 gains 1% or more: the whole GPU suite, then compute-sanitizer memcheck,
#    racecheck and synccheck on the backward's cases for the sanitizers.
set -u
out=${1:?usage: s66_defer_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out"
ROWS="bwd/long-d128/fused/bf16 bwd/llm-d128/fused/bf16 bwd/llm-d128-causal/fused/bf16 bwd/vl-full-d80/fused/bf16 bwd/vit-l14-d64/fused/bf16 bwd/llm-d64-mqa-causal/fused/bf16" \
  bash bench/experiments/s66_dq_stage_call.sh "$out/b" xdefer s64N >/dev/null 2>&1
cp "$out/b/rounds.txt" "$out/rounds.txt"
cat "$out/b/device.txt" "$out/rounds.txt"
ratio=$(awk '/long-d128\/fused/ { s[$3] += $5; n[$3]++ }
  END { if (n["xdefer"] && n["s64N"]) printf "%.4f", (s["xdefer"] / n["xdefer"]) / (s["s64N"] / n["s64N"]) }' "$out/rounds.txt")
echo "long-d128 xdefer / s64N: ${ratio:-none}"
if [[ -z $ratio ]] || awk -v r="$ratio" 'BEGIN { exit !(r > 0.99) }'; then
  echo "no gain of 1%: no tests"
  exit 0
fi
export LD_LIBRARY_PATH=$PWD/build/pre/xdeferT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
xz -dc build/pre/xdeferT/tests/varattn_gpu_tests.xz >build/run/gpu_tests && chmod +x build/run/gpu_tests
s0=$(date +%s)
timeout 300 build/run/gpu_tests >"$out/tests.log" 2>&1
echo "GPU suite: exit $? in $(($(date +%s) - s0)) s: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
grep -B2 -A12 'ERROR' "$out/tests.log" | head -40
for tool in memcheck racecheck synccheck; do
  timeout 60 compute-sanitizer --tool "$tool" --error-exitcode 9 build/run/gpu_tests \
    -tc='*for?the?sanitizers*' >"$out/$tool.log" 2>&1
  echo "$tool: exit $?: $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
done
xz -9 "$out/tests.log"
