#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s36 and landed (165daa4): to run it again, check out 165daa4^ and restore the patches from it.
# Prepared in the thirty-fifth session (compiled, not run; one call, ~250-360 s): lead 1 of
# gqa_forward_vs_fa4_study_s35.md. The fused Hopper forward's ranks go kv head major: the head
# groups that share a kv head take each item together, longest first, so the last kv head's
# longest tiles no longer start after every other head's list (hopper_forward_kv_head_bands.patch;
# without GQA the mapping is q head major, as HEAD's).
#   A = the patch; B = HEAD (its reverse). Rows: the GQA / MQA rows it is for (fused,
#   fused_device and fused_no_counter, whose CTA ranks change order too) and the MHA causal
#   rows as controls (the same order in A and B; fewq takes the sm80 decode tile: left out).
#   Tests at 64;128 (the forward suite: GQA, MQA, many tiles a CTA, device-built lists, graphs);
#   racecheck and memcheck of every kernel family and of the many-tiles case. Reviewed:
#   review_s35_kv_head_bands.md (no bug; a bijection on 222,885 host cases).
#   VARATTN_CALL_BUDGET_S=360 bash bench/experiments/hopper_forward_kv_head_bands_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_forward_kv_head_bands.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-every kernel family*,many Hopper tiles a CTA*}" \
  VARATTN_SANITIZE_S=50 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-360} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_kv_head_bands.reverse.patch \
  '^fwd/(prefill-d128-gqa-causal|chunked-d128-gqa-causal|llm-d64-mqa-causal|llm-d128-causal|long-d128-causal)/(fused|fused_device|fused_no_counter)/bf16'
