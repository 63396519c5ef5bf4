#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-eighth session: dkdv_exp2_ds_interleave.patch (the d128 dK/dV step's exp2 after the
# dP^T wait, a k16 chunk at a time, float P used at once for dS^T: FA4's order; proposal 1 of
# dkdv_wait_stalls_s58.md) checked as a kernel patch is (patch_check_ncu.sh): its 80-row step
# cases first, ncu of the dK/dV kernel A/B x 2 on the d128 rows, the backward suite at 128,
# racecheck / memcheck / synccheck. A = ilvT (the tree + the patch: bench and tests at 128),
# B = b128 (the tree's bench at 128), both built here.
#   run(command="VARATTN_CALL_BUDGET_S=400 bash bench/experiments/s58_interleave_call.sh $OUT",
#       carry=["build/pre/ilvT", "build/pre/b128"], timeout_s=430)
set -u
out=${1:?usage: s58_interleave_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
VARATTN_PREBUILT='ilvT b128' VARATTN_AB_HEAD_DIMS=128 VARATTN_NCU_ROUNDS=2 \
  VARATTN_SANITIZE_TESTS='backward:?causal?tiles?over?several?query?steps*,backward:?every?kernel?variant*' \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-400} \
  bash $E/patch_check_ncu.sh "$out" $E/dkdv_exp2_ds_interleave.patch 'backward:?Hopper?query?steps?of?80*' \
  dkdv_kernel bwd/sweep-d128-s1024/fused/bf16 bwd/llm-d128-causal/fused/bf16 bwd/long-d128/fused/bf16 \
  bwd/long-d128-window1024/fused/bf16
