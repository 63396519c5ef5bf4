#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s39: rejected (hopper_forward_device_counter.md).
# Prepared by a helper on 1ca647e (compiled on a CPU machine, never run on a GPU; one call,
# ~300 s): device-built fused Hopper plans whose q and k offsets come from one array (the
# PyTorch op's self-attention) and whose counts prove the tiles long (rows / (segments x
# block_n) >= kLongTileSteps = 48, half that causal, none under a left window:
# plan::mean_tile_steps_bound) run one CTA a tile, as host-built ones have since 1ad1e6d; every
# other plan as before (hopper_forward_device_counter.patch, hopper_forward_device_counter.md).
#   A = the patch; B = HEAD (its reverse). Rows at d128, fwd bf16: the three that change
#   (long-d128 and sweep-d128-s16384, 128 steps a tile, bound 128; long-d128-causal, 64.5,
#   bound 64) and three controls (llm-d128, llm-d128-causal, sweep-d128-s1024: bounds 14.5, 7.2
#   and 8, the persistent grid in A and B). fused_device is the op's plan (A: one cu_seqlens
#   array for q and k, as the op passes it; B: two arrays, the persistent grid everywhere);
#   fused_device_counter (A only: forward_scratch::force_persistent) is B's fused_device in A's
#   binary, the control of the run's drift.
#   Tests at 128: the forward suite, with the new device_long_tiles_test.cu (one CTA a tile on
#   device lists from one array, in a graph whose offsets change, invalid ones included; the
#   counter left zero; the same bits as host-built plans and as the persistent grid). No
#   sanitizer by default (the kernels are HEAD's; only the host's choice of grid changes):
#   VARATTN_SANITIZE_TESTS='device-built long tiles*' adds racecheck and memcheck of it.
#   VARATTN_CALL_BUDGET_S=300 bash bench/experiments/hopper_forward_device_counter_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include tests bench/varattn_bench.cu bench/compare.py bench/ab_on_gpu.sh \
  python README.md ||
  { echo "the tree must hold HEAD's include/, tests/, python/, README.md and the bench files the patch touches (the script applies A)" >&2; exit 1; }
[[ ! -e tests/gpu/device_long_tiles_test.cu ]] ||
  { echo "tests/gpu/device_long_tiles_test.cu exists: the patch is applied already" >&2; exit 1; }
git apply $P/hopper_forward_device_counter.patch || exit 1
VARATTN_AB_HEAD_DIMS="128" VARATTN_TEST_HEAD_DIMS="128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-}" \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-300} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_device_counter.reverse.patch \
  '^fwd/(long-d128|long-d128-causal|llm-d128|llm-d128-causal|sweep-d128-s(1024|16384))/(fused_device|fused_device_counter)/bf16'
