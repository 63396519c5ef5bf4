#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran in the thirty-fourth session (call 4) and landed as 18fb287 with the review's host-side fixes;
# its patch files were removed then (`git show 18fb287`): to rerun, check out faf1dff and apply
# that commit's diff first.
# Thirty-fourth session: the d80 192 x 144 tile (hopper_forward_d80_rows192_keys144) rebased on
# the forward loop's uniform-work cut (4a02c00) and taken only by plans whose longest segment
# has kLongSegment (2048) rows or more. Run on a tree with the change applied (A); B =
# hopper_forward_d80_long_segments.reverse.patch (HEAD 4a02c00). One device call:
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/hopper_forward_d80_long_segments_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
VARATTN_AB_HEAD_DIMS="64;80;128" VARATTN_TEST_HEAD_DIMS="64;80;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS='head dims 64 to 80 Hopper tiles*,every kernel family*' \
  VARATTN_SANITIZE_S=60 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_d80_long_segments.reverse.patch \
  '^(fwd/(vl-full-d80|vl-window-d80|sweep-d80-s(64|256|1024|4096|16384)|vit-l14-d64|llm-d128)/fused/bf16|fwd/vl-full-d80/bucketed/bf16|encoder_graph/vl-full-d80/device_plan/bf16)'
