#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s36: A, C and D slower than B at d128 (+0.8 to +3.2%; NOTES thirty-sixth 2); nothing landed.
# Prepared in the thirty-fifth session (compiled, not run; one call, ~250-380 s): the two
# dK/dV patches of that session as one A/B with both ablations.
#   A = hopper_backward_d128_reduce_by_warps (dQ's tensor reductions, box w from warp w's first
#       lane: dkdv_schedule_vs_fa4_s35.md) + hopper_backward_d128_step_integers (the producer's
#       lse/D copies unrolled, (step, head) counted: its .md, reviewed);
#   B = HEAD; C = A less reduce_by_warps (the producer cut alone); D = A less the producer cut.
# Rows: the d128 rows (predicted: reduce_by_warps -1 to -4%, producer 0 to -1%) and the d64
# rows (both kernels change there too). Tests of A at 48;64;128 (-tc=backward*: 48 runs the
# own-keys path, whose read wait moves); racecheck and memcheck of the multi-step causal case
# and the every-variant case (VARATTN_SANITIZE_TESTS= for none; racecheck likely does not see
# the copy engine's reads against plain stores: the numeric tests are the check there).
#   VARATTN_CALL_BUDGET_S=380 bash bench/experiments/backward_producer_and_reduce_by_warps_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_backward_d128_reduce_by_warps.patch $P/hopper_backward_d128_step_integers.patch || exit 1
cat $P/hopper_backward_d128_step_integers.reverse.patch $P/hopper_backward_d128_reduce_by_warps.reverse.patch \
  >/tmp/b_head.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="48;64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: causal tiles over several query steps*,backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-380} \
  bash bench/ab_with_tests.sh "$out" \
  /tmp/b_head.patch,$P/hopper_backward_d128_reduce_by_warps.reverse.patch,$P/hopper_backward_d128_step_integers.reverse.patch \
  '^bwd/(llm-d128|llm-d128-causal|prefill-d128-gqa-causal|long-d128|vit-l14-d64|llm-d64-mqa-causal)/fused/bf16'
