#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-sixth session: the d128 dK/dV step's timeline (dkdv_step_probe_timeline.patch: clock64()
# at eight points of 16 steps, from the 24th, of each consumer warp's first lane in CTAs 0-3:
# the loop's top before the ring's full wait, entry, dP^T waited, dS ready, the dS barrier's
# arrival, dQ waited, dQ staged and handed on, the step's last wgmma wait; the bench prints
# the array after its rows). s65_step_probe_call.sh's four-point form cost 1.3-3.3% (s66 call
# 1) and showed that a clock read right past the dS barrier does not see the wait
# (BAR.SYNC.DEFER_BLOCKING): this form has none there. Same rows, same check against t128.
# Labels built here (bench at 128, SASS only):
#   prbT128 = the tree + the patch; t128 = the tree.
#   run(command="bash bench/experiments/s66_timeline_call.sh $OUT",
#       carry=["build/pre/prbT128", "build/pre/t128/bench"])
# ~25 s. Read: python3 bench/experiments/step_probe_read.py OUT/probe_*.txt
set -u
out=${1:?usage: s66_timeline_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out" build/run
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
for label in prbT128 t128; do
  xz -dc "build/pre/$label/bench/varattn_bench.xz" >"build/run/bench_$label" &&
    chmod +x "build/run/bench_$label" || { echo "no label $label"; exit 2; }
done
export LD_LIBRARY_PATH=$PWD/build/pre/prbT128/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
rows="bwd/sweep-d128-s16384/fused/bf16 bwd/long-d128/fused/bf16 bwd/llm-d128/fused/bf16"
for round in 1 2; do
  for row in $rows; do
    tag=$(tr '/' '_' <<<"$row")
    for label in t128 prbT128; do
      build/run/bench_$label --benchmark_filter="^$row(/|\$)" --varattn_min_time=0.3 \
        >"$out/r${round}_${label}_$tag.txt" 2>&1
      echo "round $round $label $row: exit $?, $(grep -c '^probe' "$out/r${round}_${label}_$tag.txt") probe lines;" \
        "$(grep -v '^probe' "$out/r${round}_${label}_$tag.txt" | grep -E "^$row" | head -1 | cut -c1-120)"
    done
  done
done
for row in $rows; do
  tag=$(tr '/' '_' <<<"$row")
  grep '^probe' "$out/r1_prbT128_$tag.txt" >"$out/probe_$tag.txt"
  echo "== $row"
  python3 bench/experiments/step_probe_read.py "$out/probe_$tag.txt" | tail -45
done
tar -C "$out" -cJf "$out/runs.tar.xz" $(cd "$out" && ls r[12]_*.txt) && rm -f "$out"/r[12]_*.txt
