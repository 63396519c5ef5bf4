#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-sixth session: how much of the d128 dK/dV step is the dQ staging's (timing only: both
# variants give a wrong dQ). s66's timeline (s66_timeline_call.sh) put ~770 cycles of a ~4,400
# cycle step between dQ waited and dQ staged in either warpgroup (40 float32 stores a thread,
# 40 KB a CTA-step, beside the reducer's dV and dK reading dO and Q from shared memory), with
# the tensor pipe idle ~575 cycles at the step's end. Labels built here (bench at 128, SASS only):
#   t128 = the tree; xnostage = dkdv_nostage_timing.patch (no staging stores);
#   xnodq = dkdv_nodq_timing.patch (no staging stores, no tensor reductions).
#   run(command="bash bench/experiments/s66_dq_stage_call.sh $OUT",
#       carry=["build/pre/t128/bench", "build/pre/xnostage", "build/pre/xnodq/bench"])
# Other labels (each needs bench/; the first carried with its lib/ gives the libraries) and
# rows: arguments and ROWS, e.g.
#   xred = dkdv_dq_red.patch (dQ straight from the registers by vector reductions):
#   run(command="ROWS='...' bash bench/experiments/s66_dq_stage_call.sh $OUT xred t128", ...)
set -u
out=${1:?usage: s66_dq_stage_call.sh OUTDIR [LABEL...]}
shift
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out" build/run
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
labels=${*:-t128 xnostage xnodq}
for label in $labels; do
  xz -dc "build/pre/$label/bench/varattn_bench.xz" >"build/run/bench_$label" &&
    chmod +x "build/run/bench_$label" || { echo "no label $label"; exit 2; }
done
for label in $labels; do
  [[ -d build/pre/$label/lib ]] && { lib=$PWD/build/pre/$label/lib; break; }
done
export LD_LIBRARY_PATH=${lib:?no label carried its lib/}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
rows=${ROWS:-bwd/long-d128/fused/bf16 bwd/llm-d128/fused/bf16 bwd/sweep-d128-s16384/fused/bf16}
for round in 1 2 3; do
  for row in $rows; do
    for label in $labels; do
      echo "round $round $label $(build/run/bench_$label --benchmark_filter="^$row(/|\$)" \
        --varattn_min_time=0.3 2>&1 | grep -E "^$row" | head -1 | cut -c1-110)"
    done
  done
done | tee "$out/rounds.txt"
