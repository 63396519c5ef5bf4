#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-third session, one call (~200 s): the Hopper dK/dV kernels with lse taken into the
# exp2's base by the producer (A = the working tree with backward_lse_log2_in_producer.patch
# applied) against HEAD's (B). Rows: the d64 and d128 backward rows and softcap (whose kernel
# spills 72/76 bytes where HEAD's spills 32/36 at head dim 128). Tests of A at 64;128 and the
# sanitizers. Two refused calls had left ~450 s of device time: hence one variant, no long row.
#   VARATTN_CALL_BUDGET_S=260 bash bench/experiments/backward_lse_log2_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/backward_lse_log2_in_producer.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: causal tiles over several query steps*,backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-260} \
  bash bench/ab_with_tests.sh "$out" $P/backward_lse_log2_in_producer.reverse.patch \
  '^bwd/(vit-l14-d64|llm-d64-mqa-causal|sweep-d64-s1024|llm-d128|llm-d128-causal|prefill-d128-gqa-causal|llm-d128-softcap50)/fused/bf16'
