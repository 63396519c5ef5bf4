#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# s41: the d128 dV/dK issue by role (hopper_backward_dkdv_by_role.md) in one call: timed A/B
# with its tests and sanitizers (ab_with_tests), then the dK/dV kernel's own duration by ncu
# on both binaries (A = the patch, B = its reverse; 5 launches x 3 rounds a row).
#   bash bench/experiments/s41_by_role_call.sh "$OUT"
set -u
out=$1 P=bench/experiments/hopper_backward_dkdv_by_role
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
git apply --check $P.patch && git apply $P.patch || exit 1
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" \
  VARATTN_TESTS="-tc=backward*,graph:?a?training?step*" \
  VARATTN_SANITIZE_TESTS="backward: causal tiles over several query steps*" VARATTN_SANITIZE_S=40 \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-260} \
  bash bench/ab_with_tests.sh "$out" $P.reverse.patch \
  '^bwd/(llm-d128|long-d128|long-d128-causal|llm-d128-causal|vit-l14-d64)/fused/bf16'
stamp "A/B and tests: exit $?"
for round in 1 2 3; do
  for v in A:build/gpu B:build/ab; do
    for row in bwd/llm-d128/fused/bf16 bwd/long-d128-causal/fused/bf16; do
      echo "${v%%:*}$round $row $(timeout 25 ncu --clock-control none --metrics gpu__time_duration.sum \
        -k regex:dkdv_kernel --launch-skip 4 --launch-count 5 "${v#*:}/bench/varattn_bench" \
        --benchmark_filter="^$row" --varattn_min_time=0.01 --varattn_settle=0 2>&1 |
        grep -E '^\s+gpu__time_duration.sum' | awk '{printf "%s%s ", $3, $2}')"
    done
  done
done | tee "$out/ncu_durations.txt"
git apply -R $P.patch
stamp done
