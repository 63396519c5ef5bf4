#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s36 and landed (ba678aa): to run it again, check out ba678aa^ and restore the patches from it.
# Prepared in the thirty-fifth session by a helper (compiled, not run): the Hopper forward keeps
# a row's running max (StaleMax, 2^8 in exp2's units) at every head dim, not only at 128
# (hopper_forward_stale_max_all_dims.patch, stacked on hopper_forward_d128_stale_max.patch;
# hopper_forward_stale_max_all_dims.md). Run it only if the d128 A/B won.
#   A = both patches; B = the d128 patch alone (the all-dims patch's reverse). Rows: d64 on the
#   192-row tile (vit-l14-d64, llm-d64-mqa-causal), d80 on both tiles (vl-full-d80 and
#   sweep-d80-s16384: the 192 x 144 long-segment tile with P through shared memory;
#   sweep-d80-s1024: 128 x 128), and llm-d128 as the control (the same kernel in A and B);
#   bf16 (ab_on_gpu.sh times bf16 only). Every test at 64 and 80 (the options suite's large-score
#   case takes a kept max with a finite old one; the logsumexp moves in its last bits, and the
#   backward reads it); racecheck and memcheck of every kernel family and of the d64-d80 Hopper
#   tiles.
#   VARATTN_CALL_BUDGET_S=540 bash bench/experiments/hopper_forward_stale_max_all_dims_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git apply $P/hopper_forward_d128_stale_max.patch || exit 1
git apply $P/hopper_forward_stale_max_all_dims.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;80;128" VARATTN_TEST_HEAD_DIMS="64;80" VARATTN_TESTS="-tc=*" \
  VARATTN_SANITIZE_TESTS='every kernel family*,head dims 64 to 80 Hopper tiles*' \
  VARATTN_SANITIZE_S=60 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-540} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_stale_max_all_dims.reverse.patch \
  '^fwd/(vit-l14-d64|llm-d64-mqa-causal|vl-full-d80|sweep-d80-s16384|sweep-d80-s1024|llm-d128)/fused/bf16'
