#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-first session: one device call (~560 s) for three prepared patches at once:
#   - hopper_backward_cross_step.patch (d64 deferred dQ; every other instantiation
#     SASS-identical to HEAD) and causal_backward_gap_v2.patch (d128 causal steps from a tile's
#     first visible query; every other instantiation byte-identical): A = both, B = HEAD. The
#     two touch disjoint head dims, so the d64 rows read the first and the d128 rows the second;
#     llm-d256-causal is the control (identical code: any difference is the harness);
#   - d64_tail_window_edge_test.patch (a review's test gap) in A's tests.
# Then two rounds in the other order (B first) and a synccheck of the d64 multi-step case (the
# first deferred dQ reads a dS buffer no step has written: its P is 0).
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/cross_step_and_causal_v2.sh "$OUT"
set -u
out=$1
start=$(date +%s)
P=bench/experiments
for p in hopper_backward_cross_step causal_backward_gap_v2 d64_tail_window_edge_test; do
  git apply $P/$p.patch || exit 1
done
cat $P/causal_backward_gap_v2.reverse.patch $P/hopper_backward_cross_step.reverse.patch >/tmp/b_head.patch
rows='^bwd/(vit-l14-d64|llm-d64-mqa-causal|sweep-d64-s1024|tiny-d64|llm-d128-causal|prefill-d128-gqa-causal|chunked-d128-gqa-causal|llm-d128|llm-d256-causal)/fused/bf16'
tail_case='backward: Hopper query steps of 128 rows (head dim 64): tail*'
VARATTN_AB_HEAD_DIMS="64;128;256" VARATTN_TEST_HEAD_DIMS="64;128;256" \
  VARATTN_TESTS="-tc=backward*" VARATTN_SANITIZE_TESTS="$tail_case" \
  VARATTN_SANITIZE_S=45 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash bench/ab_with_tests.sh "$out" /tmp/b_head.patch "$rows"
# build/gpu = A (the patches), build/ab = B (HEAD).
for r in 3 4; do
  for b in ab gpu; do
    build/$b/bench/varattn_bench --benchmark_filter="$rows" --varattn_min_time=0.3 2>/dev/null |
      awk -v tag="$b$r" '/^bwd/ {printf "%s %s %s\n", tag, $1, $2}'
  done
done | tee "$out/rounds_b_first.txt"
left=$((570 - ($(date +%s) - start)))
if ((left > 20)) && [[ -x build/t/tests/varattn_gpu_tests ]]; then
  timeout $((left - 5)) compute-sanitizer --tool synccheck --error-exitcode 9 \
    build/t/tests/varattn_gpu_tests -tc="$tail_case" >"$out/synccheck.log" 2>&1
  echo "synccheck: exit $? ($(tail -1 "$out/synccheck.log"))"
fi
echo "total $(($(date +%s) - start)) s"
