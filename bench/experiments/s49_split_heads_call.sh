#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# s49: does splitting a kv head's q heads over more CTAs (float32 partials + the sum kernel,
# the head-split path that today starts at 8 heads a kv head) pay on the GQA/MQA rows? The
# gqa28 profile (s49_gqa28_profile.sh) read L2 hits 63.6% against MHA's 84.1% and 2.1x the
# DRAM reads: a CTA's 7 q heads in series put up to 7 heads' Q, dO and dQ in flight.
#   run(command="bash bench/experiments/s49_split_heads_call.sh $OUT", carry=["build/pre/spl"], timeout_s=400)
# spl = the tree + s49_split_heads_env.patch (VARATTN_EXP_SPLIT_HEADS=h: h heads a CTA), bench
# at 64;128. Whole backward (bench's bwd rows, wall per iteration, min_time 0.2 s) for each h,
# two rounds interleaved; then ncu of the dK/dV and sum kernels on gqa28 at h=7 and h=1.
set -u
out=${1:?OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
bash bench/machine_facts.sh | tee "$out/summary.txt"
dir=$(bash bench/prebuilt.sh use spl bench/experiments/s49_split_heads_env.patch build/spl) || exit 2
export LD_LIBRARY_PATH=$(pwd)/build/pre/spl/lib
bench=$dir/bench/varattn_bench
time_row() {  # ROW: ms a backward
  "$bench" --benchmark_filter="^$1\$" --varattn_min_time=0.2 --benchmark_format=json 2>/dev/null |
    python3 -c 'import json,sys; t=sys.stdin.read(); b=json.loads(t[t.find("{"):])["benchmarks"]
print(" ".join("%.4f" % x["real_time"] for x in b if not x.get("error_occurred")) or "error")'
}
declare -A cfg=(
  [bwd/llm-d128-gqa28-causal/fused/bf16]="- 1"
  [bwd/prefill-d128-gqa-causal/fused/bf16]="- 2 1"
  [bwd/chunked-d128-gqa-causal/fused/bf16]="- 2 1"
  [bwd/fewq-d128-gqa-causal/fused/bf16]="- 2 1"
  [bwd/llm-d64-mqa-causal/fused/bf16]="- 8 2 1"
)
for round in 1 2; do
  for row in bwd/llm-d128-gqa28-causal/fused/bf16 bwd/prefill-d128-gqa-causal/fused/bf16 \
             bwd/chunked-d128-gqa-causal/fused/bf16 bwd/fewq-d128-gqa-causal/fused/bf16 \
             bwd/llm-d64-mqa-causal/fused/bf16; do
    for h in ${cfg[$row]}; do
      t=$( [[ $h == - ]] || export VARATTN_EXP_SPLIT_HEADS=$h; time_row "$row")
      echo "R$round $row h=$h $t ms" | tee -a "$out/summary.txt"
    done
  done
done
for h in - 1; do
  for row in bwd/llm-d128-gqa28-causal/fused/bf16; do
    ( [[ $h == - ]] || export VARATTN_EXP_SPLIT_HEADS=$h
      timeout 120 ncu --clock-control none -k 'regex:dkdv_|dkv_partial_sum' --launch-skip 8 --launch-count 4 \
        --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size \
        "$bench" --benchmark_filter="^$row\$" --varattn_min_time=0.01 --varattn_settle=0 ) \
      >"$out/ncu_h$h.txt" 2>&1
    echo "== ncu h=$h $row" | tee -a "$out/summary.txt"
    grep -E '^\s+(gpu__time|lts__t_sector_hit|dram__bytes|launch__grid)|dkdv_|dkv_partial' "$out/ncu_h$h.txt" |
      sed 's/(.*//' | tee -a "$out/summary.txt"
  done
done
