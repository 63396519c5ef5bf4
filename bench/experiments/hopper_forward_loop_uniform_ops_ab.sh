#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran in the thirty-fourth session and landed as 4a02c00; its patch was removed then: run it
# from a checkout of ace60e3 (bench/results/ab_forward_uniform_ops_s34.txt holds its output).
# One call (~300-500 s): the Hopper forward's main loop with fewer uniform instructions (A = the
# working tree with hopper_forward_loop_uniform_ops.patch applied: descriptors once a tile,
# ring slots carried from step to step) against HEAD's (B). Static only so far
# (hopper_forward_loop_uniform_ops.md): d128 447 -> 418 instructions a warp-step, d80 434 -> 402,
# d64 411 -> 397; the same float instructions. Rows: one per head dim and mask shape the loop
# serves; the forward tests of A at 64;80;128.
#   VARATTN_CALL_BUDGET_S=560 bash bench/experiments/hopper_forward_loop_uniform_ops_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_forward_loop_uniform_ops.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;80;128" VARATTN_TEST_HEAD_DIMS="64;80;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-every kernel family*}" \
  VARATTN_SANITIZE_S=${VARATTN_SANITIZE_S:-35} VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-560} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_loop_uniform_ops.reverse.patch \
  '^fwd/(vl-full-d80|llm-d128|llm-d128-causal|long-d128|vit-l14-d64|prefill-d128-gqa-causal)/fused/bf16'
