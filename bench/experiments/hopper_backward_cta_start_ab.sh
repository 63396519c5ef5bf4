#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s40 (a helper; compiled here, not run; one device call, ~320 s): the Hopper
# backward's per-CTA start, hopper_backward_cta_start.md.
#   A = hopper_backward_cta_start.patch: the CTA's first step in two halves (K, Q, lse on one
#       mbarrier, V, dO, D on the other) and programmatic launches (PDL) of the dK/dV kernel
#       and dq_convert;
#   B = HEAD (A's reverse);
#   C = hopper_backward_first_loads.patch alone (A's reverse, then it): C - B is the first
#       loads' part, A - C the PDL's.
# Rows: the windows (2,064 CTAs of 7-8 steps: the per-CTA cost weighs most), the causal d128
# rows and vit-l14-d64 (the d64 kernel). Tests of A at 64;128: backward* (with the new
# back-to-back case) and the graph training step (captures the programmatic launches as
# programmatic edges); racecheck and memcheck of the new case and of the multi-step causal
# one. Then, if 50 s are left: the dK/dV kernel's own duration (ncu, window1024, A B C, 5
# launches each): ncu serializes kernels, so PDL is absent there and A ~ C; C - B is the
# first loads'. Guarded by `git apply --check` (a warm device's git metadata is the cold
# start's, so `git diff` would misread the tree).
# Landing rule (hopper_backward_cta_start.md): A's window rows <= -0.7% in both rounds, the
# others not worse than +0.5%; every test passed, sanitizers clean.
#   VARATTN_CALL_BUDGET_S=320 bash bench/experiments/hopper_backward_cta_start_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
budget=${VARATTN_CALL_BUDGET_S:-320}
start=$(date +%s)
left() { echo $((budget - $(date +%s) + start)); }
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
mkdir -p "$out"
git apply --check $P/hopper_backward_cta_start.patch ||
  { echo "hopper_backward_cta_start.patch does not apply to this tree" >&2; exit 1; }
git apply $P/hopper_backward_cta_start.patch || exit 1
# C as a patch from A's tree (git apply takes the concatenation, in order).
cat $P/hopper_backward_cta_start.reverse.patch $P/hopper_backward_first_loads.patch \
  >/tmp/cta_start_c.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="64;128" \
  VARATTN_TESTS="-tc=backward*,graph:?a?training?step*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: back-to-back calls on one stream*,backward: causal tiles over several query steps*}" \
  VARATTN_SANITIZE_S=35 VARATTN_CALL_BUDGET_S=$((budget - 5)) \
  bash bench/ab_with_tests.sh "$out" \
  $P/hopper_backward_cta_start.reverse.patch,/tmp/cta_start_c.patch \
  '^bwd/(long-d128-window512|long-d128-window1024|long-d128-window2048|long-d128-causal|llm-d128-causal|vit-l14-d64)/fused/bf16'
stamp "A/B and tests: exit $?"
if (($(left) > 50)); then
  for v in A:build/gpu B:build/ab C:build/ab_C; do
    label=${v%%:*} bench=${v#*:}/bench/varattn_bench
    [[ -x $bench ]] || { stamp "no $bench"; continue; }
    (($(left) > 12)) || { stamp "out of time before $label"; break; }
    echo "$label window1024 $(timeout 25 ncu --clock-control none --metrics gpu__time_duration.sum \
      -k regex:dkdv_kernel --launch-skip 4 --launch-count 5 "$bench" \
      --benchmark_filter='^bwd/long-d128-window1024/fused/bf16' --varattn_min_time=0.01 \
      --varattn_settle=0 2>&1 | grep -E '^\s+gpu__time_duration.sum' | awk '{printf "%s%s ", $3, $2}')"
  done | tee "$out/ncu_durations.txt"
fi
git apply -R $P/hopper_backward_cta_start.patch
stamp done
