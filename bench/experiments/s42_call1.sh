#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s41 for the next session's first (cold) call, ~520 s: three backward patches by the
# dK/dV kernel's own ncu duration (A = patch, B = its .reverse.patch; 5 launches x 3 rounds a
# row, plus two timed rounds), each compiled and unrun:
#   1. hopper_backward_dkdv_by_role_spread.patch (d128: dS^T, packing and stmatrix a chunk at a
#      time on the by-role kernels, so the reducer's fence finds one store in flight);
#   2. hopper_backward_d64_by_role.patch (the by-role order on the d64 atomic kernels);
#   3. hopper_backward_window_persistent.patch (a persistent d128 dK/dV kernel for banded
#      masks; reviewed; lands only after `-tc=backward*` and the sanitizers in another call).
# Logs under $OUT/<name>.log; the summary lines are printed.
#   bash bench/experiments/s42_call1.sh "$OUT"
set -u
out=$1 P=bench/experiments
mkdir -p "$out"
VARATTN_CALL_BUDGET_S=170 bash $P/ncu_kernel_ab.sh "$out/spread" $P/hopper_backward_dkdv_by_role_spread.patch \
  dkdv_kernel bwd/llm-d128/fused/bf16 bwd/long-d128-causal/fused/bf16 >"$out/spread.log" 2>&1
VARATTN_CALL_BUDGET_S=170 bash $P/ncu_kernel_ab.sh "$out/window" $P/hopper_backward_window_persistent.patch \
  dkdv_kernel bwd/long-d128-window512/fused/bf16 bwd/long-d128-window1024/fused/bf16 \
  bwd/long-d128-causal/fused/bf16 >"$out/window.log" 2>&1
VARATTN_CALL_BUDGET_S=175 VARATTN_AB_HEAD_DIMS=64 bash $P/ncu_kernel_ab.sh "$out/d64_role" \
  $P/hopper_backward_d64_by_role.patch dkdv_kernel bwd/vit-l14-d64/fused/bf16 \
  bwd/llm-d64-mqa-causal/fused/bf16 >"$out/d64_role.log" 2>&1
for f in spread window d64_role; do
  echo "=== $f"
  grep -E '^== |ms$|^[AB][0-9] |\] |does not apply|no .*reverse' "$out/$f.log" | tail -30
done
