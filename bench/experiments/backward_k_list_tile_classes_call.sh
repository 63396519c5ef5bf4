#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call for backward_k_list_tile_classes.patch (s48, prepared without a device; the
# .md beside it): its list-order case first, ncu of the dK/dV kernel A/B x 2 on four rows, the
# backward suite (and the graph training step) at 128, the sanitizers.
#   run(command="VARATTN_CALL_BUDGET_S=500 bash bench/experiments/backward_k_list_tile_classes_call.sh $OUT",
#       carry=["build/pre/klA", "build/pre/klB"], timeout_s=520)
# A = klA (the tree + the patch: varattn_bench and varattn_gpu_tests at 128), B = klB (the tree:
# varattn_bench at 128); both built here by bench/prebuilt.sh. Where a label no longer matches
# the tree, patch_check_ncu.sh builds both on the device instead (~200 s).
set -u
out=${1:?usage: backward_k_list_tile_classes_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
VARATTN_PREBUILT=${VARATTN_PREBUILT:-'klA klB'} VARATTN_AB_HEAD_DIMS=128 VARATTN_NCU_ROUNDS=2 \
  VARATTN_SANITIZE_TESTS='device-built?work?lists:?the?backward*,backward:?every?kernel?variant*' \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-500} \
  bash $E/patch_check_ncu.sh "$out" $E/backward_k_list_tile_classes.patch \
  'device-built?work?lists:?the?backward*' dkdv_ \
  bwd/llm-d128-gqa28-causal/fused/bf16 bwd/llm-d128-causal/fused/bf16 \
  bwd/prefill-d128-gqa-causal/fused/bf16 bwd/long-d128-causal/fused/bf16
# The list builder itself (40 -> 63 registers, 72 bytes of stack with the patch; 6-24 us a
# backward before): the same ncu on it, A then B, where the binaries are left.
. $E/ncu_durations.sh
for v in A B; do
  for row in bwd/llm-d128-gqa28-causal/fused/bf16 bwd/fewq-d128-gqa-causal/fused/bf16; do
    [[ -x build/check_$v/bench/varattn_bench ]] || continue
    echo "builder $v $row $(LD_LIBRARY_PATH=$(pwd)/build/pre/klA/lib ncu_durations \
      build/check_$v/bench/varattn_bench build_backward_lists "$row")" | tee -a "$out/summary.txt"
  done
done
