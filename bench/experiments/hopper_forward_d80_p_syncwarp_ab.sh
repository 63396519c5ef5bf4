#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the thirty-fourth session (compiled, not run; one call, ~360 s): head dim 80's
# long-segment tile with O += P V after a __syncwarp instead of the warpgroup's named barrier,
# and P's descriptor built each step instead of pinned (hopper_forward_d80_p_syncwarp.md).
#   A = hopper_forward_d80_p_syncwarp.patch; B = HEAD (its reverse). d80 rows only; tests at 80;
#   racecheck and memcheck of the 192-row case (its 2053-row segment takes the tall tile).
#   VARATTN_CALL_BUDGET_S=360 bash bench/experiments/hopper_forward_d80_p_syncwarp_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git apply $P/hopper_forward_d80_p_syncwarp.patch || exit 1
VARATTN_AB_HEAD_DIMS=80 VARATTN_TEST_HEAD_DIMS=80 VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS='head dims 64 to 80 Hopper tiles*' \
  VARATTN_SANITIZE_S=120 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-360} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_d80_p_syncwarp.reverse.patch \
  '^(fwd/(vl-full-d80|sweep-d80-s(4096|16384))/fused/bf16|encoder_graph/vl-full-d80/device_plan/bf16)'
