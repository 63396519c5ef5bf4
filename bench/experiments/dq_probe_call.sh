#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (s52, prepared): dq_by_blocks' capacity probe (dq_probe.md). The d128 dK/dV kernel
# with two copy threads' warps instead of four (pcopy: dq_probe_copy64.patch) and, on top,
# the two freed warps converting the CTA's even share of the accumulator's 64-row blocks into
# d_q through the L2 (pconv: dq_probe_convert.patch; dq_convert still runs after it, so d_q
# stays right). (1) the backward's GPU tests at 128 with the probe (pconvT), memcheck and racecheck of
# every backward kernel variant; (2) whole-backward rows, tree (base) / pcopy / pconv, 3
# interleaved rounds; (3) ncu of the dK/dV kernel under each: time, DRAM bytes, L2 hits.
# Carry ~40 MB with the tree: move bench/results out for the call.
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/dq_probe_call.sh $OUT",
#       carry=["build/pre/base", "build/pre/pcopy", "build/pre/pconv", "build/pre/pconvT"],
#       timeout_s=340)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
E=bench/experiments
declare -A patch=([tree]="" [pcopy]=$E/dq_probe_copy64.patch [pconv]=$E/dq_probe_convert.patch)
declare -A label=([tree]=base [pcopy]=pcopy [pconv]=pconv)
declare -A bench lib
for v in tree pcopy pconv; do
  dir=$(bash bench/prebuilt.sh use "${label[$v]}" "${patch[$v]}" "build/${label[$v]}") || exit 2
  bench[$v]=$dir/bench/varattn_bench
  lib[$v]=$(pwd)/build/pre/${label[$v]}/lib
done
variant_argv() { argv=(env "LD_LIBRARY_PATH=${lib[$1]}" "${bench[$1]}"); }  # VARIANT

if [[ -z ${SKIP_CHECKS:-} ]] &&
  tdir=$(bash bench/prebuilt.sh use pconvT "${patch[pconv]}" build/pconvT); then
  export LD_LIBRARY_PATH=$(pwd)/build/pre/pconvT/lib
  gpu_tests pconvT 100 "$tdir/tests/varattn_gpu_tests" '-tc=backward*,graph:?a?training?step*'
  sanitizers "(probe)" 'backward:?every?kernel?variant*' "$tdir/tests/varattn_gpu_tests"
  unset LD_LIBRARY_PATH
fi

rows=(llm-d128-causal llm-d128-gqa28-causal llm-d128 long-d128 long-d128-window1024 vit-l14-d64)
filter=$(IFS='|'; echo "^bwd/(${rows[*]})/fused/bf16/")
variant_rounds tree "$filter" tree pcopy pconv

ncu_rows dkdv_kernel "llm-d128-causal llm-d128-gqa28-causal vit-l14-d64" tree pcopy pconv
say done
