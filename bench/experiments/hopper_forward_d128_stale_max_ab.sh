#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s36 and landed (ba678aa, with the all-dims patch): to run it again, check out ba678aa^ and restore the patches from it.
# Prepared in the thirty-fifth session by a helper (compiled, not run; one call, ~360 s): the
# Hopper d128 forward keeps a row's running max until the new one exceeds it by more than 2^8
# in exp2's units, so alpha is exactly 1 and the lazy rescale's 64 FMULs leave the turn on
# almost every step (hopper_forward_d128_stale_max.patch; d128_forward_vs_fa4_sass_s35.md).
#   A = hopper_forward_d128_stale_max.patch; B = HEAD (its reverse). d128 rows, bf16 (softcap's
#   kernel changes too; ab_on_gpu.sh times bf16 only); every test at 128 (the
#   forward's logsumexp moves in its last bits, and the backward reads it); racecheck and
#   memcheck of every kernel family.
#   VARATTN_CALL_BUDGET_S=360 bash bench/experiments/hopper_forward_d128_stale_max_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git apply $P/hopper_forward_d128_stale_max.patch || exit 1
VARATTN_AB_HEAD_DIMS=128 VARATTN_TEST_HEAD_DIMS=128 VARATTN_TESTS="-tc=*" \
  VARATTN_SANITIZE_TESTS='every kernel family*' \
  VARATTN_SANITIZE_S=60 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-360} \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_d128_stale_max.reverse.patch \
  '^fwd/(llm-d128|long-d128|llm-d128-causal|prefill-d128-gqa-causal|chunked-d128-gqa-causal|llm-d128-softcap50)/fused/bf16'
