#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (prepared s50, not run): d_q written by the Hopper dK/dV kernel segment by segment
# (fused_dq_convert.md), through candidate_call.sh: the candidate's backward suite and
# training step (prebuilt fz: bench and GPU tests at 64;128), memcheck and racecheck of every
# backward kernel variant; then A = patch (fz), B = tree (fzB): the whole-backward bench rows
# interleaved, then ncu of the dK/dV kernel (it now converts; the rows time the whole).
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/fused_dq_convert_call.sh $OUT",
#       carry=["build/pre/fz", "build/pre/fzB"], timeout_s=480)
E=$(dirname "${BASH_SOURCE[0]}")
exec bash "$E/candidate_call.sh" "${1:?OUTDIR}" bench/experiments/fused_dq_convert.patch fz \
  '-tc=backward*,graph:?a?training?step*' 'backward:?every?kernel?variant*' fz fzB 'dkdv_kernel' \
  'bwd/llm-d128-causal/fused/bf16' 'bwd/llm-d128/fused/bf16' \
  'bwd/long-d128-window1024/fused/bf16' 'bwd/llm-d128-gqa28-causal/fused/bf16' \
  'bwd/vit-l14-d64/fused/bf16' 'bwd/llm-d64-mqa-causal/fused/bf16'
