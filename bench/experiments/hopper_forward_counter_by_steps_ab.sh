#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s38 and landed (1ad1e6d): to run it again, check out 1ad1e6d^ and restore the patches from it
# (`git show 1ad1e6d -- include tests bench` is A).
# Prepared after the thirty-seventh session's item 4 by a helper (compiled, not run; one call,
# ~360 s): host-built fused Hopper plans whose tiles average kLongTileSteps (48) key steps or
# more drop the tile counter, so a forward given a forward_scratch runs them one CTA a tile
# (plan::tile_counter, plan::mean_tile_steps); every other plan, device-built ones included, as
# before (hopper_forward_counter_by_steps.patch, hopper_forward_counter_by_steps.md, on a9c5eda).
#   A = the patch; B = HEAD (its reverse). Rows at d128: the three that change (sweep-d128-s16384
#   and long-d128, 128 steps a tile; long-d128-causal, 64.5) and four controls (sweep-d128-s1024
#   and -s4096, 8 and 32 steps; llm-d128 and llm-d128-causal, 18.8 and 9.9). fused is the rule
#   (A) against the counter everywhere (B); fused_counter (A only: forward_scratch::
#   force_persistent) is B's fused in A's binary, and fused_no_counter (one CTA a tile) is the
#   same code in A and B: both controls of the run's drift.
#   Tests at 128: the forward suite (its edge-case 16k segment, bucketed with a scratch, now
#   runs one CTA a tile and must leave the counter zero; device-built plans keep the persistent
#   grid). No sanitizer by default (the kernels are HEAD's; only the host's choice of grid
#   changes): VARATTN_SANITIZE_TESTS='every kernel family*' adds them.
#   VARATTN_CALL_BUDGET_S=360 bash bench/experiments/hopper_forward_counter_by_steps_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include tests bench/varattn_bench.cu ||
  { echo "the tree must hold HEAD's include/, tests/ and bench/varattn_bench.cu (the script applies A)" >&2; exit 1; }
git apply $P/hopper_forward_counter_by_steps.patch || exit 1
VARATTN_AB_HEAD_DIMS="128" VARATTN_TEST_HEAD_DIMS="128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-}" \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-360} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_counter_by_steps.reverse.patch \
  '^fwd/(long-d128|long-d128-causal|llm-d128|llm-d128-causal|sweep-d128-s(1024|4096|16384))/(fused|fused_counter|fused_no_counter)/bf16'
