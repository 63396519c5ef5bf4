#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s48 (not run): why the 28-head GQA row's dK/dV kernel takes 2.967 ms against
# llm-d128-causal's 2.473 with 28/32 of its work (H100, s48; bench/NOTES.md forty-eighth 7 and
# "Where to start" (b)). One launch of the dK/dV kernel on each row, ncu --clock-control none:
# the workload distribution (a tail: sm__cycles_active max far above the average), the L2 hit
# rate and DRAM bytes (the heads-in-flight hypothesis), the L2 reduction requests and sectors
# (4.0 a request since the line regions), the warp states.
#   run(command="bash bench/experiments/s49_gqa28_profile.sh $OUT", carry=["build/pre/klB"],
#       timeout_s=300)
# S49_PREBUILT: the label (default klB: the tree's bench at 128; klA: with the k-list patch, to
# profile after it lands or beside it: S49_PREBUILT=klA S49_PATCH=bench/experiments/
# backward_k_list_tile_classes.patch).
set -u -o pipefail
out=${1:?usage: s49_gqa28_profile.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
pre=${S49_PREBUILT:-klB}
dir=$(bash bench/prebuilt.sh use "$pre" "${S49_PATCH:-}" build/s49_pre 2>"$out/prebuilt.log") ||
  { echo "prebuilt $pre unusable: $(cat "$out/prebuilt.log")"; exit 1; }
export LD_LIBRARY_PATH=$(pwd)/build/pre/$pre/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
bench=$dir/bench/varattn_bench
metrics=gpu__time_duration.sum,sm__cycles_active.max,sm__cycles_active.avg,sm__cycles_active.min
metrics+=,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum
metrics+=,lts__t_requests_srcunit_tex_op_red.sum,lts__t_sectors_srcunit_tex_op_red.sum
metrics+=,lts__t_sectors_op_red.sum,lts__t_sectors_op_read.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed
metrics+=,launch__grid_size,sm__warps_active.avg.pct_of_peak_sustained_active
for row in bwd/llm-d128-gqa28-causal/fused/bf16 bwd/llm-d128-causal/fused/bf16; do
  name=$(echo "$row" | cut -d/ -f2)
  timeout 120 ncu --clock-control none -k regex:dkdv_ -s 4 -c 1 --metrics "$metrics" \
    --section WarpStateStats --section SchedulerStats "$bench" --benchmark_filter="^$row" \
    --varattn_min_time=0.01 --varattn_settle=0 >"$out/$name.txt" 2>&1
  echo "== $row (exit $?)" | tee -a "$out/summary.txt"
  grep -E 'gpu__time_duration|sm__cycles_active|hit_rate|dram__bytes|op_red|op_read|lts__throughput|grid_size|warps_active|Stall|Issued Warp|Eligible' \
    "$out/$name.txt" | tee -a "$out/summary.txt" || true
done
