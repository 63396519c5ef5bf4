#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-eighth session: hopper_forward_d80_softmax_order.patch (d80's 192 x 144 tile in FA4's
# order: P_j stored inside the softmax of S_j, after the row maxima and the wait for
# P_{j-1} V_{j-1}) checked as a kernel patch is (patch_check_ncu.sh): its tall-tile cases
# first under a timeout (a ring error hangs), ncu of the forward kernel A/B x 2 on the long d80
# rows and the 128-row tile's s1024 (same SASS: the control), the suite at 80 but the
# backward's, racecheck / synccheck / memcheck of the tall-tile cases. A = sfoT (the tree + the
# patch: bench and tests at 80), B = b80 (the tree's bench at 80), both built here.
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/s58_d80_softmax_order_call.sh $OUT",
#       carry=["build/pre/sfoT", "build/pre/b80"], timeout_s=450)
set -u
out=${1:?usage: s58_d80_softmax_order_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
cases='head?dims?64?to?80?Hopper?tiles*,head?dim?80*'
VARATTN_PREBUILT='sfoT b80' VARATTN_AB_HEAD_DIMS=80 VARATTN_NCU_ROUNDS=2 \
  VARATTN_TESTS='-tce=backward*' VARATTN_SANITIZE_TESTS="$cases" \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash $E/patch_check_ncu.sh "$out" $E/hopper_forward_d80_softmax_order.patch "$cases" \
  forward_kernel fwd/vl-full-d80/fused/bf16 fwd/sweep-d80-s16384/fused/bf16 fwd/sweep-d80-s1024/fused/bf16
