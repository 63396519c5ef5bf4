#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the thirty-third session (compiled, not run; one device call, ~480-540 s): head
# dim 80 on FA4's d80 shape, 192 rows (three consumer warpgroups) x 144 keys a step, P through
# shared memory, V and P in 32-byte-swizzled blocks (hopper_forward_d80_rows192_keys144.md).
#   A = hopper_forward_d80_rows192_keys144.patch; B = HEAD (its reverse)
# Tests of A at 64;80;128: the forward suite (-tce=backward*: the 192-row edge case at 80 among
# them), racecheck and memcheck of the 192-row edge case and every kernel family. The d64 and
# d128 rows are controls (their SASS is byte-identical to HEAD's), so are vl-window-d80 and
# sweep-d80-s64 (segments of 64 rows: the sm80 kernel).
#   VARATTN_CALL_BUDGET_S=540 bash bench/experiments/hopper_forward_d80_rows192_keys144_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git apply $P/hopper_forward_d80_rows192_keys144.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;80;128" VARATTN_TEST_HEAD_DIMS="64;80;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS='head dims 64 to 80 Hopper tiles*,every kernel family*' \
  VARATTN_SANITIZE_S=45 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-540} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_d80_rows192_keys144.reverse.patch \
  '^(fwd/(vl-full-d80|vl-window-d80|sweep-d80-s(64|256|1024|4096|16384)|vit-l14-d64|llm-d128)/fused/bf16|fwd/vl-full-d80/bucketed/bf16|encoder_graph/vl-full-d80/device_plan/bf16)'
