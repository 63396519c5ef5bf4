#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-fifth session: s58's step probe made light (dkdv_step_probe_light.patch: clock64() at
# four points of 16 steps, from the 24th, of each consumer warp's first lane in CTAs 0-3 of the
# d128 dK/dV kernel: the step's entry, the dS barrier's approach (before the reducer's
# wait for its previous dQ boxes), its arrival and its exit; the bench prints the array after
# its rows). Its first form printed from the kernel and cost +20-26% (call 8, NOTES s65 item 6):
# a printf call serializes every wgmma of the kernel (ptxas C7510), also s58's +40%. The call
# first checks that the probe leaves the bench's time as it is (label t128, the tree without it,
# the same rows in the same call), then reads the skew at the barrier (NOTES start s58 (a)).
# Labels built here (bench at 128, SASS only):
#   prbL128 = the tree + the patch; t128 = the tree.
#   run(command="bash bench/experiments/s65_step_probe_call.sh $OUT",
#       carry=["build/pre/prbL128", "build/pre/t128/bench"])
# ~60 s. Read: python3 bench/experiments/step_probe_read.py OUT/probe_*.txt
# PROBE_LABEL names another probe's label (s66_timeline_call.sh: prbT128).
set -u
out=${1:?usage: s65_step_probe_call.sh OUTDIR}
probe=${PROBE_LABEL:-prbL128}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out" build/run
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
for label in $probe t128; do
  xz -dc "build/pre/$label/bench/varattn_bench.xz" >"build/run/bench_$label" &&
    chmod +x "build/run/bench_$label" || { echo "no label $label"; exit 2; }
done
export LD_LIBRARY_PATH=$PWD/build/pre/$probe/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
rows="bwd/sweep-d128-s16384/fused/bf16 bwd/long-d128/fused/bf16 bwd/llm-d128/fused/bf16"
for round in 1 2; do
  for row in $rows; do
    tag=$(tr '/' '_' <<<"$row")
    for label in t128 $probe; do
      build/run/bench_$label --benchmark_filter="^$row(/|\$)" --varattn_min_time=0.3 \
        >"$out/r${round}_${label}_$tag.txt" 2>&1
      echo "round $round $label $row: exit $?, $(grep -c '^probe' "$out/r${round}_${label}_$tag.txt") probe lines;" \
        "$(grep -v '^probe' "$out/r${round}_${label}_$tag.txt" | grep -E "^$row" | head -1 | cut -c1-120)"
    done
  done
done
for row in $rows; do
  tag=$(tr '/' '_' <<<"$row")
  grep '^probe' "$out/r1_${probe}_$tag.txt" >"$out/probe_$tag.txt"
  echo "== $row"
  python3 bench/experiments/step_probe_read.py "$out/probe_$tag.txt" | tail -45
done
tar -C "$out" -cJf "$out/runs.tar.xz" $(cd "$out" && ls r[12]_*.txt) && rm -f "$out"/r[12]_*.txt
