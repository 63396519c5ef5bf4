#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# s49, one call: (1) the head-split experiment's configurations (accb: the tree +
# s49_dkv_accumulate.patch, bench at 64;128; environment switches in `with` below)
# on the GQA/MQA backward rows, 2 rounds; ncu of its dK/dV and sum kernels on gqa28; (2) the
# landing candidate (sum: the tree + s49_dkv_sum.patch, bench and GPU tests at 64;128): its
# backward suite and training step, sanitizers, and its bench rows beside (1).
#   run(command="bash bench/experiments/s49_dkv_sum_call.sh $OUT", carry=["build/pre/accb","build/pre/sum"], timeout_s=560)
# SKIP_CHECKS=1: the bench rows and ncu only (no tests, no sanitizers: s50 call 3, after calls 1-2).
set -u
out=${1:?OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
bash bench/machine_facts.sh | tee "$out/summary.txt"
E=bench/experiments
exp=$(bash bench/prebuilt.sh use accb $E/s49_dkv_accumulate.patch build/accb) || exit 2
cand=$(bash bench/prebuilt.sh use sum $E/s49_dkv_sum.patch build/sum) || exit 2
export LD_LIBRARY_PATH=$(pwd)/build/pre/sum/lib
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-330}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
with() {  # CONFIG COMMAND...: tree / partN / accN on accb's switches; sum: no switch
  local c=$1; shift
  case $c in
    tree) VARATTN_EXP_DKV_PARTIALS=1 "$@" ;;
    part*) VARATTN_EXP_DKV_PARTIALS=1 VARATTN_EXP_SPLIT_HEADS=${c#part} "$@" ;;
    *) VARATTN_EXP_SPLIT_HEADS=${c#acc} "$@" ;;
  esac
}
time_row() {  # CONFIG ROW: ms a backward
  local bench=$exp/bench/varattn_bench
  [[ $1 == sum ]] && bench=$cand/bench/varattn_bench
  with "$1" "$bench" --benchmark_filter="^$2/" --varattn_min_time=0.1 --benchmark_format=json 2>/dev/null |
    python3 -c 'import json,sys; t=sys.stdin.read(); b=json.loads(t[t.find("{"):])["benchmarks"] if "{" in t else []
print(" ".join("%.4f" % x["real_time"] for x in b if not x.get("error_occurred")) or "error")'
}
declare -A cfg=(
  [bwd/llm-d128-gqa28-causal/fused/bf16]="tree part1 sum"
  [bwd/prefill-d128-gqa-causal/fused/bf16]="tree acc2 sum"
  [bwd/chunked-d128-gqa-causal/fused/bf16]="tree acc2 sum"
  [bwd/fewq-d128-gqa-causal/fused/bf16]="tree acc2 sum"
  [bwd/llm-d64-mqa-causal/fused/bf16]="tree acc2 sum"
  [bwd/llm-d128-causal/fused/bf16]="tree sum"
)
rows=(bwd/llm-d128-gqa28-causal/fused/bf16 bwd/prefill-d128-gqa-causal/fused/bf16
      bwd/chunked-d128-gqa-causal/fused/bf16 bwd/fewq-d128-gqa-causal/fused/bf16
      bwd/llm-d64-mqa-causal/fused/bf16 bwd/llm-d128-causal/fused/bf16)
round_of() {  # N
  for row in "${rows[@]}"; do
    for c in ${cfg[$row]}; do
      echo "R$1 $row $c $(time_row "$c" "$row") ms" | tee -a "$out/summary.txt"
    done
  done
}
essential() {  # N: the tree and the candidate on the rows that decide
  for row in bwd/llm-d128-gqa28-causal/fused/bf16 bwd/prefill-d128-gqa-causal/fused/bf16 \
             bwd/llm-d64-mqa-causal/fused/bf16 bwd/llm-d128-causal/fused/bf16; do
    for c in tree sum; do
      echo "R$1 $row $c $(time_row "$c" "$row") ms" | tee -a "$out/summary.txt"
    done
  done
}
say "whole backward, ms (bench bwd rows, min_time 0.1), round 1 (tree, candidate)"
essential 1
tests=$cand/tests/varattn_gpu_tests
limit=$(($(left) - 15)); ((limit > 150)) && limit=150; ((limit < 30)) && limit=30
[[ -z ${SKIP_CHECKS:-} ]] && say "candidate's GPU tests: backward*, graph training step (limit $limit s)"
[[ -z ${SKIP_CHECKS:-} ]] && timeout $limit "$tests" -tc='backward*,graph:?a?training?step*' >"$out/tests.log" 2>&1
[[ -z ${SKIP_CHECKS:-} ]] && say "exit $?: $(grep -E 'test cases:|assertions:' "$out/tests.log" | tr -s ' ' | tr '\n' ' ')"
grep -E 'ERROR|FAILED|CHECK\(' "$out/tests.log" | head -20 | tee -a "$out/summary.txt"
(($(left) > 40)) && { say "round 2 (tree, candidate)"; essential 2; }
(($(left) > 90)) && { say "round 3: every configuration"; round_of 3; }
say "ncu (--clock-control none), gqa28: dK/dV and sum kernels"
for c in tree part1 acc1; do
  (($(left) > 40)) || break
  with "$c" timeout 60 ncu --clock-control none -k 'regex:dkdv_|dkv_partial_sum' --launch-skip 8 \
    --launch-count 4 --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size \
    "$exp/bench/varattn_bench" --benchmark_filter='^bwd/llm-d128-gqa28-causal/fused/bf16/' \
    --varattn_min_time=0.01 --varattn_settle=0 >"$out/ncu_$c.txt" 2>&1
  echo "== $c" | tee -a "$out/summary.txt"
  grep -E '^\s+(gpu__time|lts__t_sector_hit|dram__bytes|launch__grid)|^\s+[a-z_:]*(dkdv_|dkv_partial)' "$out/ncu_$c.txt" |
    sed -E 's/\(.*//; s/  +/ /g' | tee -a "$out/summary.txt"
done
say "sanitizers on backward: every kernel variant (candidate)"
for tool in memcheck racecheck; do
  (($(left) > 30)) && [[ -z ${SKIP_CHECKS:-} ]] || break
  timeout 60 compute-sanitizer --tool $tool "$tests" -tc='backward:?every?kernel?variant*' >"$out/$tool.log" 2>&1
  say "$tool exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tr -s ' ' | tr '\n' ' ')"
done
say done
