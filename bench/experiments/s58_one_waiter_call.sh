#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the fifty-seventh session: dkdv_one_waiter.patch (the Hopper dK/dV producer's
# first copy warp alone waits on the `empty` mbarrier; the other copy warps sleep on named
# barrier 6 until it releases them: 4-copy-warp producers only, head dims 32-56 and 72-128)
# checked as a kernel patch is: its 80-row step cases, ncu of the dK/dV kernel A/B x 2 on the
# d128 rows, the backward suite at 80;128 (oneT), racecheck / memcheck / synccheck (a
# barrier moved). A = oneT (the tree + the patch: bench and tests at 80;128), B = b128.
#   run(command="VARATTN_CALL_BUDGET_S=400 bash bench/experiments/s58_one_waiter_call.sh $OUT",
#       carry=["build/pre/oneT", "build/pre/b128"], timeout_s=440)
set -u
out=${1:?usage: s58_one_waiter_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
VARATTN_PREBUILT='oneT b128' VARATTN_AB_HEAD_DIMS=128 VARATTN_NCU_ROUNDS=2 \
  VARATTN_SANITIZE_TESTS='backward:?causal?tiles?over?several?query?steps*,backward:?every?kernel?variant*' \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-400} \
  bash $E/patch_check_ncu.sh "$out" $E/dkdv_one_waiter.patch 'backward:?Hopper?query?steps?of?80*' \
  dkdv_kernel bwd/sweep-d128-s1024/fused/bf16 bwd/llm-d128-causal/fused/bf16 bwd/long-d128/fused/bf16 \
  bwd/long-d128-window1024/fused/bf16
