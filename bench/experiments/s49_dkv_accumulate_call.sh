#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# s49: a kv head's q heads split over CTAs one head each (MHA's L2 pattern), their dK/dV added
# into one float32 accumulator a kv head by red.global (s49_dkv_accumulate.patch) against the
# tree and against the same split writing float32 partials (the path that starts at 8 heads).
#   run(command="bash bench/experiments/s49_dkv_accumulate_call.sh $OUT", carry=["build/pre/acc"], timeout_s=500)
# acc = the tree + the patch, bench and GPU tests at 64;128. Configurations by environment:
#   tree  VARATTN_EXP_DKV_PARTIALS=1            (the tree's choice of splits)
#   partN VARATTN_EXP_DKV_PARTIALS=1 VARATTN_EXP_SPLIT_HEADS=N   (partials, N heads a CTA)
#   accN  VARATTN_EXP_SPLIT_HEADS=N              (accumulate, N heads a CTA; acc1 the default)
set -u
out=${1:?OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
bash bench/machine_facts.sh | tee "$out/summary.txt"
dir=$(bash bench/prebuilt.sh use acc bench/experiments/s49_dkv_accumulate.patch build/acc) || exit 2
export LD_LIBRARY_PATH=$(pwd)/build/pre/acc/lib
bench=$dir/bench/varattn_bench
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
with() {  # CONFIG COMMAND...: COMMAND under CONFIG's environment
  local c=$1; shift
  case $c in
    tree) VARATTN_EXP_DKV_PARTIALS=1 "$@" ;;
    part*) VARATTN_EXP_DKV_PARTIALS=1 VARATTN_EXP_SPLIT_HEADS=${c#part} "$@" ;;
    acc*) VARATTN_EXP_SPLIT_HEADS=${c#acc} "$@" ;;
  esac
}
time_row() {  # ROW: ms a backward
  "$bench" --benchmark_filter="^$1\$" --varattn_min_time=0.2 --benchmark_format=json 2>/dev/null |
    python3 -c 'import json,sys; t=sys.stdin.read(); b=json.loads(t[t.find("{"):])["benchmarks"] if "{" in t else []
print(" ".join("%.4f" % x["real_time"] for x in b if not x.get("error_occurred")) or "error")'
}
declare -A cfg=(
  [bwd/llm-d128-gqa28-causal/fused/bf16]="tree part1 acc1"
  [bwd/prefill-d128-gqa-causal/fused/bf16]="tree acc1 acc2"
  [bwd/chunked-d128-gqa-causal/fused/bf16]="tree acc1 acc2"
  [bwd/fewq-d128-gqa-causal/fused/bf16]="tree acc1 acc2"
  [bwd/llm-d64-mqa-causal/fused/bf16]="tree acc1 acc2 acc4"
)
rows=(bwd/llm-d128-gqa28-causal/fused/bf16 bwd/prefill-d128-gqa-causal/fused/bf16
      bwd/chunked-d128-gqa-causal/fused/bf16 bwd/fewq-d128-gqa-causal/fused/bf16
      bwd/llm-d64-mqa-causal/fused/bf16)
say "whole backward, ms (bench bwd rows, min_time 0.2)"
for round in 1 2; do
  for row in "${rows[@]}"; do
    for c in ${cfg[$row]}; do
      echo "R$round $row $c $(with "$c" time_row "$row") ms" | tee -a "$out/summary.txt"
    done
  done
done
say "ncu (--clock-control none), gqa28: dK/dV, sum and memset kernels"
for c in tree part1 acc1; do
  with "$c" timeout 90 ncu --clock-control none -k 'regex:dkdv_|dkv_partial_sum' --launch-skip 8 \
    --launch-count 4 --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size \
    "$bench" --benchmark_filter='^bwd/llm-d128-gqa28-causal/fused/bf16$' --varattn_min_time=0.01 \
    --varattn_settle=0 >"$out/ncu_$c.txt" 2>&1
  echo "== $c" | tee -a "$out/summary.txt"
  grep -E '^\s+(gpu__time|lts__t_sector_hit|dram__bytes|launch__grid)|^\s+[a-z_:]*(dkdv_|dkv_partial)' "$out/ncu_$c.txt" |
    sed -E 's/\(.*//; s/  +/ /g' | tee -a "$out/summary.txt"
done
tests=$dir/tests/varattn_gpu_tests
say "GPU tests, default environment (accumulate, one head a CTA)"
timeout 240 "$tests" -tc='backward*,graph:?a?training?step*' >"$out/tests.log" 2>&1
say "exit $?: $(grep -E 'test cases:|assertions:' "$out/tests.log" | tr -s ' ' | tr '\n' ' ')"
say "GPU tests, VARATTN_EXP_SPLIT_HEADS=2"
VARATTN_EXP_SPLIT_HEADS=2 timeout 120 "$tests" -tc='backward*' >"$out/tests_h2.log" 2>&1
say "exit $?: $(grep -E 'test cases:|assertions:' "$out/tests_h2.log" | tr -s ' ' | tr '\n' ' ')"
say "memcheck / racecheck on backward: every kernel variant"
for tool in memcheck racecheck; do
  timeout 60 compute-sanitizer --tool $tool "$tests" -tc='backward:?every?kernel?variant*' >"$out/$tool.log" 2>&1
  say "$tool exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tr -s ' ' | tr '\n' ' ')"
done
