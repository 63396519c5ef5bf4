#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran in the thirty-fourth session and landed as bf0d32c; its patches were removed then: run it
# from a checkout of ace60e3 (bench/results/ab_backward_lse_descriptors_s34.txt holds its output).
# Prepared in the thirty-third session for the next (one call, ~260 s): the two prepared
# Hopper dK/dV instruction cuts as one A/B with an ablation.
#   A = backward_lse_log2_in_producer + hopper_backward_step_integer_overhead (descriptors from
#       one shared base a step); B = HEAD; C = A less the descriptors (the lse patch alone)
# Rows: the d64 and d128 backward rows and softcap (the lse patch makes its kernels spill more).
# Tests of A at 64;128 (-tc=backward*) and the sanitizers (VARATTN_SANITIZE_TESTS= for none).
#   VARATTN_CALL_BUDGET_S=320 bash bench/experiments/backward_lse_and_descriptors_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/backward_lse_log2_in_producer.patch $P/hopper_backward_step_integer_overhead.patch || exit 1
cat $P/hopper_backward_step_integer_overhead.reverse.patch $P/backward_lse_log2_in_producer.reverse.patch \
  >/tmp/b_head.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: causal tiles over several query steps*,backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-320} \
  bash bench/ab_with_tests.sh "$out" /tmp/b_head.patch,$P/hopper_backward_step_integer_overhead.reverse.patch \
  '^bwd/(vit-l14-d64|llm-d64-mqa-causal|sweep-d64-s1024|llm-d128|llm-d128-causal|prefill-d128-gqa-causal|llm-d128-softcap50)/fused/bf16'
