#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s37 and landed (bf5fdb5): run from bf5fdb5^ (the patch is `git show bf5fdb5^:bench/experiments/hopper_forward_pack_gqa.patch`).
# Prepared in the thirty-sixth session (compiled, not run; one call, ~300-420 s): lead 2 of
# gqa_forward_vs_fa4_study_s35.md. Under a causal or sliding window, the Hopper forward's tile
# packs the g query heads of one kv head into its rows (row = query x g + head, g a power of two
# dividing the tile's 128 or 192 rows): a tile spans 128 / g queries, so fewer and less-masked
# diagonal steps, and the group shares one pass over K/V (hopper_forward_pack_gqa.patch,
# hopper_forward_pack_gqa.md; the unpacked kernels' SASS is HEAD's byte for byte).
#   A = the patch; B = HEAD (its reverse). Rows: the GQA / MQA causal rows it is for (fused and
#   fused_device: the host- and the device-built list, both over tiles of 128 / g queries) and
#   the MHA causal rows as controls (g = 1: the same kernel and list in A and B).
#   Tests at 64;128 (the forward suite with the new "Hopper GQA packing*" cases: groups of 4, 8,
#   32, causal and not, q < k and q > k, off-tile lengths, empty and 1-row segments, the
#   logsumexp, every variant); racecheck and memcheck of every kernel family (its causal GQA
#   2:1 problem packs) and of the smallest new packed case.
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/hopper_forward_pack_gqa_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include tests python README.md CHANGELOG.md ||
  { echo "the tree must hold HEAD's include/, tests/, python/, README.md and CHANGELOG.md (the script applies A)" >&2; exit 1; }
git apply $P/hopper_forward_pack_gqa.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-every kernel family*,Hopper GQA packing of short segments*}" \
  VARATTN_SANITIZE_S=50 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-420} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_pack_gqa.reverse.patch \
  '^fwd/(prefill-d128-gqa-causal|chunked-d128-gqa-causal|llm-d64-mqa-causal|llm-d128-causal|long-d128-causal)/(fused|fused_device)/bf16'
