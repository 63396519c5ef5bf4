#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call for hopper_forward_q_registers.patch (s48, prepared without a device; the .md
# beside it): its cases first, ncu of the forward kernel A/B x 2 on five rows, every test
# but the backward's at 80 and 128, then the sanitizers on the cases whose code moved.
#   run(command="VARATTN_CALL_BUDGET_S=560 bash bench/experiments/hopper_forward_q_registers_call.sh $OUT",
#       carry=["build/pre/qrA", "build/pre/qrB"], timeout_s=580)
# A = qrA (the tree + the patch: varattn_bench and varattn_gpu_tests at 80;128, 38 MiB), B = qrB
# (the tree: varattn_bench at 80;128, ~5 MiB; s46B, 7.6 MiB, would take the carry with the
# tree's ~18 MiB to the 64 MiB limit); both built here by bench/prebuilt.sh. Where a label no
# longer matches the tree, patch_check_ncu.sh builds both on the device instead (~250 s).
set -u
out=${1:?usage: hopper_forward_q_registers_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
VARATTN_PREBUILT=${VARATTN_PREBUILT:-'qrA qrB'} VARATTN_AB_HEAD_DIMS='80;128' \
  VARATTN_NCU_ROUNDS=2 VARATTN_TESTS='-tce=backward*' \
  VARATTN_SANITIZE_TESTS='persistent?grid:?Q*,every?kernel?family*,Hopper?GQA?packing?under*' \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-560} \
  bash $E/patch_check_ncu.sh "$out" $E/hopper_forward_q_registers.patch \
  'persistent?grid:?Q*,many?Hopper?tiles*,Hopper?GQA?packing:?groups?of?4*' forward_kernel \
  fwd/long-d128/fused/bf16 fwd/llm-d128/fused/bf16 fwd/llm-d128-causal/fused/bf16 \
  fwd/prefill-d128-gqa-causal/fused/bf16 fwd/sweep-d80-s1024/fused/bf16
