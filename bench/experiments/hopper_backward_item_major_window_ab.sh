#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fortieth session (one device call, ~200 s): item-major backward ranks under a banded mask
# (hopper_backward_item_major_window.md). A = the tree + the patch, B = HEAD (the reverse patch).
# Rows: the four windows (the gate on) and two causal controls (the gate off: same ranks). Tests
# of A at 128: the device list maps (both orders) and every backward case; racecheck and
# memcheck of the windowed backward case. Guarded by `git apply --check` (a warm device's git
# metadata is the cold start's, so `git diff` would misread the tree).
#   VARATTN_CALL_BUDGET_S=220 bash bench/experiments/hopper_backward_item_major_window_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git apply --check $P/hopper_backward_item_major_window.patch ||
  { echo "the patch does not apply to this tree" >&2; exit 1; }
git apply $P/hopper_backward_item_major_window.patch || exit 1
VARATTN_AB_HEAD_DIMS="128" VARATTN_TEST_HEAD_DIMS="128" \
  VARATTN_TESTS="-tc=device-built?work?lists*,grid?ranks*,backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: windows wider than a key tile*}" \
  VARATTN_SANITIZE_S=30 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-220} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_backward_item_major_window.reverse.patch \
  '^bwd/(long-d128-window512|long-d128-window1024|long-d128-window2048|long-d128-window4096|long-d128-causal|llm-d128-causal)/fused/bf16'
git apply -R $P/hopper_backward_item_major_window.patch
