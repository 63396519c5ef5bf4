#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the thirty-fifth session (a helper; compiled, not run; one call, ~250-420 s): lead 2
# of dkdv_schedule_vs_fa4_s35.md stacked on lead 1, as one A/B with the step between.
#   A = hopper_backward_d128_reduce_by_warps (lead 1) + hopper_backward_d128_own_boxes (lead 2:
#       each warpgroup stages and issues its own boxes, a pair of warps' box from the pair's
#       first lane after a 64-thread barrier of its own; barrier 3 gone; its .md);
#   B = lead 1 alone (A with own_boxes.reverse); C = HEAD (A with own_boxes.reverse then
#       reduce_by_warps.reverse, one concatenated patch).
# Rows: the d128 rows (lead 2 predicted -1 to -4% against B) and the d64 rows (lead 2 changes
# them too: 4 reductions of 64 rows a step instead of 2 of 128; predicted 0 to -2%, the risk
# is there). Tests of A at 48;64;80;128 (-tc=backward*: 48 runs the own-keys path of lead 1,
# 64 the query halves and the tail step of lead 2, 80 warpgroup 1's second pair skipping); racecheck and memcheck of the multi-step
# causal case and the every-variant case (VARATTN_SANITIZE_TESTS= for none; racecheck likely
# does not see the copy engine's reads against plain stores: the numeric tests are the check).
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/backward_own_boxes_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_backward_d128_reduce_by_warps.patch || exit 1
git apply $P/hopper_backward_d128_own_boxes.patch || exit 1
cat $P/hopper_backward_d128_own_boxes.reverse.patch $P/hopper_backward_d128_reduce_by_warps.reverse.patch \
  >/tmp/c_head.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="48;64;80;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: causal tiles over several query steps*,backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash bench/ab_with_tests.sh "$out" \
  $P/hopper_backward_d128_own_boxes.reverse.patch,/tmp/c_head.patch \
  '^bwd/(llm-d128|llm-d128-causal|prefill-d128-gqa-causal|long-d128|vit-l14-d64|llm-d64-mqa-causal)/fused/bf16'
