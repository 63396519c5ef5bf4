#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the twenty-ninth session (not run): two backward patches in one device call
# (~540 s), then the D kernel's duration by ncu, every launch of one MQA and one llm-d128
# backward call, and backward_delta_micro.cu.
#   A = backward_delta_rows_per_warp.patch + causal_backward_gap.patch, B = HEAD,
#   C = A less the causal steps (the D kernel alone), D = A + the all-masked probe (m, the
#   masked step's extra cost: causal_backward_gap.md section 7).
#   bash bench/experiments/backward_delta_and_causal_steps.sh "$OUT"
# Run from the repository root of a tree without the patches (the device's copy has no .git:
# git apply works as patch there). VARATTN_CALL_BUDGET_S (default 400) bounds the A/B part.
set -u
out=$1
P=bench/experiments
# The when_changed GPU cases a review asked for (tests only, in every variant: they land if
# they pass).
git apply $P/device_list_when_changed_tests.patch || exit 1
git apply $P/backward_delta_rows_per_warp.patch $P/causal_backward_gap.patch || exit 1
cat $P/backward_delta_rows_per_warp.reverse.patch $P/causal_backward_gap.reverse.patch \
  >/tmp/both.reverse.patch
VARATTN_AB_HEAD_DIMS="64;128;256" VARATTN_TEST_HEAD_DIMS="48;64;80;128;256" \
  VARATTN_TESTS="-tc=backward*,*graph*,device-built*" \
  VARATTN_SANITIZE_TESTS='backward: every kernel variant*' VARATTN_SANITIZE_S=45 \
  VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-400} bash bench/ab_with_tests.sh "$out" \
  /tmp/both.reverse.patch,$P/causal_backward_gap.reverse.patch,$P/causal_backward_gap_probe_all_masked.patch \
  '^bwd/(vit-l14-d64|llm-d64-mqa-causal|llm-d128|llm-d128-causal|long-d128|long-d128-causal|long-d128-window1024|prefill-d128-gqa-causal|chunked-d128-gqa-causal|llm-d256-causal)/fused/bf16'
# The D kernel alone by ncu in A (build/gpu) and B (build/ab), three launches a row.
for build in gpu ab; do
  for w in vit-l14-d64 llm-d64-mqa-causal llm-d128; do
    timeout 25 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:delta_kernel \
      --launch-skip 5 --launch-count 3 build/$build/bench/varattn_bench \
      --benchmark_filter="^bwd/$w/fused/bf16" --varattn_min_time=0.01 2>&1 |
      grep -E "delta_kernel|gpu__time_duration" | sed "s|^|$build $w: |"
  done
done | tee "$out/delta_durations.txt"
# Every launch of a backward call in A (the MQA row's float32 dK/dV partials and their sum
# kernel have not been timed alone; llm-d128's helpers beside them).
for w in llm-d64-mqa-causal llm-d128; do
  timeout 30 ncu --clock-control none --metrics gpu__time_duration.sum --launch-skip 40 \
    --launch-count 14 build/gpu/bench/varattn_bench --benchmark_filter="^bwd/$w/fused/bf16" \
    --varattn_min_time=0.01 2>&1 | grep -E "^  [a-z_ ]*void|gpu__time_duration" | sed "s|^|$w: |"
done | tee "$out/backward_launches.txt"
# The D kernel alone, both forms on the library's grids (the tree has the patches applied).
nvcc -std=c++17 -O3 -Iinclude -gencode arch=compute_90a,code=sm_90a \
  bench/experiments/backward_delta_micro.cu -o /tmp/backward_delta_micro &&
  timeout 60 /tmp/backward_delta_micro | tee "$out/backward_delta_micro.txt"
