#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s35 and landed (7f5d126): to run it again, check out 7f5d126^ (the patch is `git show 7f5d126`).
# Prepared (compiled, not run; one call, ~200-280 s): the softcap dK/dV kernels without the
# spills bf0d32c's producer-converted lse brought (hopper_backward_softcap_spills.md).
#   A = hopper_backward_softcap_spills.patch (probability_term's softcap factor before its exp2,
#       the softcap step's P^T tiles from the last down); B = HEAD (its reverse).
# Rows: softcap (the only softcap workload is d128; bench/workloads_data.hpp has no softcap d64
# row) and two controls whose kernels' SASS the patch leaves byte-identical (noise gauge).
# Tests of A at 64;128 (-tc=backward*, softcap cases included); racecheck and memcheck of the
# every-variant case (its softcap rows run all eight softcap kernels the patch changes).
# Prepared by a helper in the thirty-fourth session.
#   VARATTN_CALL_BUDGET_S=280 bash bench/experiments/hopper_backward_softcap_spills_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_backward_softcap_spills.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-280} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_backward_softcap_spills.reverse.patch \
  '^bwd/(llm-d128-softcap50|llm-d128|vit-l14-d64)/fused/bf16'
