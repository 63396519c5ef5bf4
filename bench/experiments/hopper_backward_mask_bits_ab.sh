#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s39 and landed (9846c7c); its patches are in git history (9846c7c^).
# Prepared s39 (a helper; compiled and host-checked, not run; one call, ~300 s): proposal 3 of
# backward_window_analysis_s38.md, hopper_backward_mask_bits.patch (s29's per-key column bits
# rebased on 0614cdc: a masked step's mask test from two bit masks a thread, the exp2 then a
# select; hopper_backward_mask_bits.md).
#   A = HEAD + hopper_backward_mask_bits.patch (applied here, with its GPU test case);
#   B = HEAD (A's tree less the patch: its reverse, which ab_on_gpu.sh applies to a copy).
# Rows (bf16, fused): long-d128-window1024 (33% of its CTA-steps masked), long-d128-causal
# (1.9%), llm-d128-causal (~13%), vit-l14-d64 (~10%: each segment's one-key tile),
# llm-d64-mqa-causal (the d64 kernel's causal diagonal). Tests of A at head dims 64;128
# (-tc='backward*', the new window case among them); racecheck and memcheck of the two small
# backward cases. Predicted (hopper_backward_mask_bits.md 5): window1024 -0.4 to -1.6%,
# llm-d128-causal -0.15 to -0.65%, the d64 rows 0 to -0.7%, long-d128-causal level. Landing
# rule: window1024 <= -0.5% in both rounds, no row above +0.5% in both, tests and sanitizers
# clean.
#   VARATTN_CALL_BUDGET_S=300 bash bench/experiments/hopper_backward_mask_bits_ab.sh "$OUT"
# VARATTN_MASK_BITS_PROBE=1 adds C = A + causal_backward_gap_probe_all_masked.patch and D = B +
# that probe (every step through the mask test): m, a masked step's extra cost, with and without
# the bits, directly (C/A and D/B on long-d128-causal, whose steps are 98% unmasked otherwise);
# two more builds beside the others and ~40 s more of runs (the default budget is then 380 s).
# The tree is checked by patches, not by `git diff --quiet` (a commit made after the machine
# started makes the device's checkout differ from HEAD): the patch applies, or is already
# applied (its reverse applies), and nothing else is asked of the tree.
set -u
out=$1
P=bench/experiments
patch=$P/hopper_backward_mask_bits.patch
reverse=$P/hopper_backward_mask_bits.reverse.patch
if git apply --check "$reverse" 2>/dev/null; then
  echo "hopper_backward_mask_bits.patch is already applied (a warm machine): A as it stands"
else
  git apply "$patch" || { echo "hopper_backward_mask_bits.patch does not apply" >&2; exit 1; }
  git apply --check "$reverse" || { echo "its reverse does not apply to A: no B" >&2; exit 1; }
fi
variants=$reverse budget=300
if [[ ${VARATTN_MASK_BITS_PROBE:-0} == 1 ]]; then
  probe=$P/causal_backward_gap_probe_all_masked.patch
  cat "$reverse" "$probe" >/tmp/mask_bits_base_probe.patch
  variants=$reverse,$probe,/tmp/mask_bits_base_probe.patch budget=380
fi
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: every kernel variant*,backward: causal tiles over several query steps*}" \
  VARATTN_SANITIZE_S=${VARATTN_SANITIZE_S:-35} VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-$budget} \
  bash bench/ab_with_tests.sh "$out" "$variants" \
  '^bwd/(long-d128-window1024|long-d128-causal|llm-d128-causal|vit-l14-d64|llm-d64-mqa-causal)/fused/bf16'
