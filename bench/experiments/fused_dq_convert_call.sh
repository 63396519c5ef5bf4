#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (prepared s50, not run): d_q written by the Hopper dK/dV kernel segment by segment
# (fused_dq_convert.md). (1) the candidate's backward suite and training step (prebuilt fz:
# bench and GPU tests at 64;128), memcheck and racecheck of every backward kernel variant;
# (2) bench/experiments/ncu_kernel_ab.sh: A = patch (fz), B = tree (fzB): the whole-backward
# bench rows interleaved, then ncu of the dK/dV kernel (it now converts; the rows time the whole).
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/fused_dq_convert_call.sh $OUT",
#       carry=["build/pre/fz", "build/pre/fzB"], timeout_s=480)
set -u
out=${1:?OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
bash bench/machine_facts.sh | tee "$out/summary.txt"
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-420}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
cand=$(bash bench/prebuilt.sh use fz $E/fused_dq_convert.patch build/fz) || exit 2
tests=$cand/tests/varattn_gpu_tests
export LD_LIBRARY_PATH=$(pwd)/build/pre/fz/lib
say "candidate's GPU tests: backward*, the graph training step (limit 150 s)"
timeout 150 "$tests" -tc='backward*,graph:?a?training?step*' >"$out/tests.log" 2>&1
say "exit $?: $(grep -E 'test cases:|assertions:' "$out/tests.log" | tr -s ' ' | tr '\n' ' ')"
grep -E 'ERROR|FAILED' "$out/tests.log" | head -20 | tee -a "$out/summary.txt"
for tool in memcheck racecheck; do
  timeout 90 compute-sanitizer --tool $tool "$tests" -tc='backward:?every?kernel?variant*' \
    >"$out/$tool.log" 2>&1
  say "$tool exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tr -s ' ' | tr '\n' ' ')"
done
unset LD_LIBRARY_PATH
say "A/B: whole-backward rows, then ncu ($(left) s left)"
VARATTN_PREBUILT="fz fzB" VARATTN_CALL_BUDGET_S=$(($(left) - 5)) bash $E/ncu_kernel_ab.sh "$out/ab" \
  $E/fused_dq_convert.patch 'dkdv_kernel' 'bwd/llm-d128-causal/fused/bf16' \
  'bwd/llm-d128/fused/bf16' 'bwd/long-d128-window1024/fused/bf16' \
  'bwd/llm-d128-gqa28-causal/fused/bf16' 'bwd/vit-l14-d64/fused/bf16' \
  'bwd/llm-d64-mqa-causal/fused/bf16' >"$out/ab.log" 2>&1
say "A/B exit $?"
tail -40 "$out/ab.log" | tee -a "$out/summary.txt"
say done
