#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One warm call (prepared s50, not run): the Hopper forward's 16-byte output stores
# (forward_store_16b.md), through candidate_call.sh: the candidate's GPU tests but the
# backward's (the patch touches the forward's store alone) from prebuilt stT (tests at
# 72;128), memcheck and racecheck of the small every-family case and GQA packing (its
# row-offset store); then ncu of the forward kernel, A = patch (st), B = tree (stB), bench at
# 64;80;128: rows at d64, d80 (the 4-byte tail tiles) and d128. st and stB ~7 MB each, stT
# ~34 MB (estimated): with the tree (~18 MB) the carry fits only with bench/results moved out.
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/forward_store_16b_call.sh $OUT",
#       carry=["build/pre/st", "build/pre/stB", "build/pre/stT"], timeout_s=360)
E=$(dirname "${BASH_SOURCE[0]}")
exec bash "$E/candidate_call.sh" "${1:?OUTDIR}" bench/experiments/forward_store_16b.patch stT \
  '-tce=backward*' 'every?kernel?family?on?a?small?problem,Hopper?GQA?packing:?groups?of?4*' st stB \
  'forward_kernel' 'fwd/llm-d128/fused/bf16' 'fwd/llm-d128-causal/fused/bf16' \
  'fwd/vit-l14-d64/fused/bf16' 'fwd/vl-full-d80/fused/bf16'
