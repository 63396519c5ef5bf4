#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared (compiled, not run; one call, ~200-280 s): the dK/dV producer's per-step integer
# work cut (hopper_backward_d128_step_integers.md).
#   A = hopper_backward_d128_step_integers.patch (load_step's lse/D copies unrolled over the
#       thread's one or two values from two row pointers a step; the producer's items by
#       counters, step_order::next, not a division a step); B = HEAD (its reverse).
# Rows: the three d128 rows the prediction names and vit-l14-d64 (its kernel changes too: the
# producer is shared by every sm90 dK/dV kernel). The consumers' code differs only in register
# assignment (SASS), so the rows gauge the producer's issue slots.
# Tests of A at 64;128 (-tc=backward*); racecheck and memcheck of the every-variant case (all
# sixteen sm90 dK/dV kernels the patch changes, tail steps and head splits included).
# Prepared by a helper in the thirty-fifth session.
#   VARATTN_CALL_BUDGET_S=280 bash bench/experiments/hopper_backward_d128_step_integers_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_backward_d128_step_integers.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-280} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_backward_d128_step_integers.reverse.patch \
  '^bwd/(llm-d128|llm-d128-causal|prefill-d128-gqa-causal|vit-l14-d64)/fused/bf16'
