#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call: what the Hopper dK/dV kernel's 1-key last k tiles cost (segments of N^2 + 1
# tokens), by ncu kernel durations (--clock-control none, gpu__time_duration.sum) of rows with
# the same query steps and one key fewer a segment (bench/experiments/hopper_backward_tail_tile.md
# section 1). Applies backward_tail_tile_rows.patch (bench rows only; reversed at the end),
# builds varattn_bench at head dims 64;128 (tests and examples off), then 5 launches a row
# (after 4 skipped) in ROUNDS rounds (default 2).
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/hopper_backward_tail_tile_sizing.sh $OUT",
#       timeout_s=450)
set -u
out=${1:?usage: bash bench/experiments/hopper_backward_tail_tile_sizing.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
start=$(date +%s)
left() { echo $((${VARATTN_CALL_BUDGET_S:-420} - $(date +%s) + start)); }
stamp() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/sizing.txt"; }
patch=bench/experiments/backward_tail_tile_rows.patch
applied=0
if git apply --check "$patch" 2>/dev/null; then
  git apply "$patch" && applied=1
elif ! grep -q vit-l14-d64-k1024 bench/workloads_data.hpp; then
  echo "$patch does not apply and the rows are not in the tree" >&2; exit 1
fi
build=build/tail_sizing
stamp "build (64;128)"
{ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    "-DVARATTN_HEAD_DIMS=64;128" -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF &&
  timeout $(($(left) - 60)) ninja -C "$build" varattn_bench; } >"$out/build.log" 2>&1
stamp "build: exit $?"
bench=$build/bench/varattn_bench
# Pairs: the tail-tile row, then its control with one key fewer a segment (same query steps),
# then the row with neither the tail tile nor the 1-row tail steps (the brief's control).
rows=(vit-l14-d64 vit-l14-d64-k1024 sweep-d64-s1024
      tail-d64-s257 tail-d64-s257-k256 sweep-d64-s256
      tail-d128-s1025 tail-d128-s1025-k1024 sweep-d128-s1024)
for round in $(seq 1 "${ROUNDS:-2}"); do
  for row in "${rows[@]}"; do
    (($(left) > 15)) || { stamp "out of time before round $round $row"; break 2; }
    echo "R$round $row $(timeout 30 ncu --clock-control none --metrics gpu__time_duration.sum \
      -k regex:dkdv_kernel --launch-skip 4 --launch-count 5 "$bench" \
      --benchmark_filter="^bwd/$row/fused_sm90/bf16" --varattn_min_time=0.01 --varattn_settle=0 2>&1 |
      grep -E '^\s+gpu__time_duration.sum' | awk '{printf "%s%s ", $3, $2}')" | tee -a "$out/sizing.txt"
  done
done
((applied)) && git apply -R "$patch"
stamp done
