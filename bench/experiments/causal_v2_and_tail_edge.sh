#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the thirtieth session (not run): one device call (~420 s) for
#   - experiments/d64_tail_window_edge_test.patch (a review's test gap: a d64 tail step across
#     a window's left edge): applied in every variant; land it if the tests pass;
#   - experiments/causal_backward_gap_v2.patch (a d128 tile's steps from its first visible
#     query; every other dK/dV kernel byte-identical to HEAD): A = it, B = HEAD;
#   then three more rounds of the same binaries with B first (the harness runs A first in every
#   round; NOTES thirtieth 6: differences under ~2% want both orders).
#   VARATTN_CALL_BUDGET_S=300 bash bench/experiments/causal_v2_and_tail_edge.sh "$OUT"
# Run from the repository root of a tree without the patches (the device's copy has no .git:
# git apply works as patch there).
set -u
out=$1
P=bench/experiments
git apply $P/d64_tail_window_edge_test.patch || exit 1
git apply $P/causal_backward_gap_v2.patch || exit 1
rows='^bwd/(llm-d128-causal|prefill-d128-gqa-causal|chunked-d128-gqa-causal|llm-d256-causal|llm-d128|long-d128-causal)/fused/bf16'
VARATTN_AB_HEAD_DIMS="64;128;256" VARATTN_TEST_HEAD_DIMS="64;128;256" \
  VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS='backward: Hopper query steps of 128 rows (head dim 64): tail*' \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-300} \
  bash bench/ab_with_tests.sh "$out" $P/causal_backward_gap_v2.reverse.patch "$rows"
# build/gpu = A (the patch), build/ab = B (HEAD), as bench/ab_on_gpu.sh lays them out.
for r in 3 4 5; do
  for b in ab gpu; do
    build/$b/bench/varattn_bench --benchmark_filter="$rows" --varattn_min_time=0.3 2>/dev/null |
      awk -v tag="$b$r" '/^bwd/ {printf "%s %s %s\n", tag, $1, $2}'
  done
done | tee "$out/rounds_b_first.txt"
