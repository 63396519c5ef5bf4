#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the thirty-second session for the next (one device call, ~420 s): the three
# prepared backward patches and the review's tests, as one A/B with two ablations.
#   A = hopper_backward_d64_one_region + hopper_backward_dkdv_staged_partials +
#       hopper_backward_dq_channel_pairs, with backward_padded_rows_and_splits_test
#   B = HEAD's kernels; C = A less the d64 one region; D = A less the partials and channel pairs
# Tests of A at 64;128 (-tc=backward*: the padded-rows case among them), racecheck and memcheck
# of the sanitizer cases. All four apply together and compile clean (sm_90a, 64;128: no C75xx,
# spills as HEAD's or fewer). Land what the rows and tests support, each patch on its own.
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/backward_three_patches_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git apply $P/backward_padded_rows_and_splits_test.patch $P/hopper_backward_d64_one_region.patch \
  $P/hopper_backward_dkdv_staged_partials.patch $P/hopper_backward_dq_channel_pairs.patch || exit 1
cat $P/hopper_backward_d64_one_region.reverse.patch $P/hopper_backward_dkdv_staged_partials.reverse.patch \
  $P/hopper_backward_dq_channel_pairs.reverse.patch >/tmp/b_head.patch
cp $P/hopper_backward_d64_one_region.reverse.patch /tmp/c_less_one_region.patch
cat $P/hopper_backward_dkdv_staged_partials.reverse.patch $P/hopper_backward_dq_channel_pairs.reverse.patch \
  >/tmp/d_less_partials_pairs.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS='backward: causal tiles over several query steps*,backward: every kernel variant*' \
  VARATTN_SANITIZE_S=45 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash bench/ab_with_tests.sh "$out" /tmp/b_head.patch,/tmp/c_less_one_region.patch,/tmp/d_less_partials_pairs.patch \
  '^bwd/(vit-l14-d64|llm-d64-mqa-causal|sweep-d64-s1024|tiny-d64|llm-d128|llm-d128-causal|prefill-d128-gqa-causal)/fused/bf16'
