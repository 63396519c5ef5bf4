#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s36, compiled, not run (one call, ~300-420 s): leads 2-4 of
# d128_forward_vs_fa4_sass_s35.md, section 4, after the stale max (hopper_forward_d128_leads_s36.md).
#   A = hopper_forward_row_max_pairs (both rows' maxima first, in 3 chains a row, tied so that
#       each row's shuffles wait for both) + hopper_forward_steady_loop_uniform (the unmasked
#       steps in a loop of their own, Q's k-step descriptors pinned, V's stage by a 32-bit ULEA)
#       + hopper_forward_elected_release_on_steady_loop (one lane a warp releases a K or V
#       stage, the empty barriers count 8 / 12; the same change as
#       hopper_forward_elected_release.patch, stacked on the steady loop: they touch the same
#       lines);
#   + hopper_forward_steady_loop_q_pin_guard (the review's fix, review_s36_d128_forward_leads.md:
#       Q's k-step descriptors pinned only where they stay uniform, kKSteps <= 8 and P not in
#       shared memory; d64 and d128 unchanged by it, d256 and the d80 tall tile spill less);
#   B = HEAD; C = A less row_max_pairs; D = A less the elected release.
# Rows: the d128 rows (predicted: A 0 to -1.5%, the steady loop most, row_max_pairs 0 to +1%,
# i.e. C may beat A) and the d64 rows (all three change the d64 kernel too). Tests of A at
# 64;128 (the forward suite: causal, windows, many tiles a CTA); racecheck and memcheck of
# every kernel family (VARATTN_SANITIZE_TESTS='every kernel family*,many Hopper tiles a CTA*'
# adds the multi-tile ring case).
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/hopper_forward_d128_leads_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_forward_row_max_pairs.patch $P/hopper_forward_steady_loop_uniform.patch \
  $P/hopper_forward_elected_release_on_steady_loop.patch $P/hopper_forward_steady_loop_q_pin_guard.patch || exit 1
cat $P/hopper_forward_steady_loop_q_pin_guard.reverse.patch \
  $P/hopper_forward_elected_release_on_steady_loop.reverse.patch \
  $P/hopper_forward_steady_loop_uniform.reverse.patch $P/hopper_forward_row_max_pairs.reverse.patch \
  >/tmp/b_head.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-every kernel family*}" \
  VARATTN_SANITIZE_S=50 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash bench/ab_with_tests.sh "$out" \
  /tmp/b_head.patch,$P/hopper_forward_row_max_pairs.reverse.patch,$P/hopper_forward_elected_release_on_steady_loop.reverse.patch \
  '^fwd/(llm-d128|long-d128|llm-d128-causal|prefill-d128-gqa-causal|vit-l14-d64|llm-d64-mqa-causal)/fused/bf16'
