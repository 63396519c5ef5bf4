#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One warm call (prepared s50, not run): the Hopper forward's 16-byte output stores
# (forward_store_16b.md). (1) the candidate's GPU tests but the backward's (the patch touches
# the forward's store alone), memcheck and racecheck on the small every-family case and GQA
# packing (its row-offset store); (2) ncu of the forward kernel, A = patch (prebuilt st),
# B = tree (prebuilt stB), 3 rounds of 5 launches on rows at d64, d80 (the 4-byte tail tiles)
# and d128. Labels (built here; forward_store_16b.md): st and stB, varattn_bench at 64;80;128
# (~7 MB each), stT, the GPU tests at 72;128 with the patch (~34 MB): with the tree (~18 MB)
# that passes the 64 MiB carry only with bench/results moved out of the tree for the call.
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/forward_store_16b_call.sh $OUT",
#       carry=["build/pre/st", "build/pre/stB", "build/pre/stT"], timeout_s=360)
set -u
out=${1:?OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
bash bench/machine_facts.sh | tee "$out/summary.txt"
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-300}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
cand=$(bash bench/prebuilt.sh use stT $E/forward_store_16b.patch build/stT) || exit 2
tests=$cand/tests/varattn_gpu_tests
export LD_LIBRARY_PATH=$(pwd)/build/pre/stT/lib
say "candidate's GPU tests but backward* (limit 150 s)"
timeout 150 "$tests" -tce='backward*' >"$out/tests.log" 2>&1
say "exit $?: $(grep -E 'test cases:|assertions:' "$out/tests.log" | tr -s ' ' | tr '\n' ' ')"
grep -E 'ERROR|FAILED' "$out/tests.log" | head -20 | tee -a "$out/summary.txt"
for tool in memcheck racecheck; do
  timeout 60 compute-sanitizer --tool $tool "$tests" \
    -tc='every?kernel?family?on?a?small?problem,Hopper?GQA?packing:?groups?of?4*' \
    >"$out/$tool.log" 2>&1
  say "$tool exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tr -s ' ' | tr '\n' ' ')"
done
unset LD_LIBRARY_PATH
say "ncu A/B of the forward kernel ($(left) s left)"
VARATTN_PREBUILT="st stB" VARATTN_CALL_BUDGET_S=$(($(left) - 5)) bash $E/ncu_kernel_ab.sh "$out/ab" \
  $E/forward_store_16b.patch 'forward_kernel' 'fwd/llm-d128/fused/bf16' \
  'fwd/llm-d128-causal/fused/bf16' 'fwd/vit-l14-d64/fused/bf16' 'fwd/vl-full-d80/fused/bf16' \
  >"$out/ab.log" 2>&1
say "ncu A/B exit $?"
tail -30 "$out/ab.log" | tee -a "$out/summary.txt"
say done
