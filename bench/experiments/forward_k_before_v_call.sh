#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (prepared s51, not run): the Hopper forward's producer issues K of step s + 1
# before V of step s (forward_k_before_v.md), through candidate_call.sh: the candidate's GPU
# tests but the backward's from prebuilt kvT (tests at 80;128), memcheck and racecheck of the
# small every-family case and the 192-row tiles of head dims 64-80; then A = patch (kv), B =
# tree (base), bench at 64;80;128: the d80 rows (the 192 x 144 tile, P in shared memory, the
# lead) and the d64 / d128 rows the producer change also reaches; ncu of the forward kernel.
# kv and base ~8 MB each, kvT ~29 MB: with the tree (~10 MB without bench/results) it fits;
# move bench/results out for the call.
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/forward_k_before_v_call.sh $OUT",
#       carry=["build/pre/kv", "build/pre/base", "build/pre/kvT"], timeout_s=360)
E=$(dirname "${BASH_SOURCE[0]}")
exec bash "$E/candidate_call.sh" "${1:?OUTDIR}" bench/experiments/forward_k_before_v.patch kvT \
  '-tce=backward*' 'every?kernel?family?on?a?small?problem,head?dims?64?to?80*' kv base \
  'forward_kernel' 'fwd/vl-full-d80/fused/bf16' 'fwd/vl-window-d80/fused/bf16' \
  'fwd/llm-d128/fused/bf16' 'fwd/long-d128/fused/bf16' 'fwd/llm-d128-causal/fused/bf16' \
  'fwd/vit-l14-d64/fused/bf16'
