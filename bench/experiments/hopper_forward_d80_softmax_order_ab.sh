#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared by a helper (compiled, not run; one call, ~480 s): head dim 80's long-segment tile
# (192 x 144, three consumer warpgroups, P through shared memory) in FA4's order: P_j stored
# inside the softmax of S_j, after the row maxima and the wait for P_{j-1} V_{j-1} (which also
# releases V_{j-1} and rescales O there, lazily), so a step's top is the K wait and S_{j+1}'s
# issue (hopper_forward_d80_softmax_order.md).
#   A = hopper_forward_d80_softmax_order.patch; B = HEAD (its reverse). d80 rows only.
# A ring or P-tile protocol error would hang or corrupt the tall tile: so its two test cases
# (the 192-row one, and the patch's large-scores / softcap one, where O is rescaled on later
# steps) run first, under a timeout, and the call stops there if they fail; then the A/B, the
# forward suite at 80, racecheck, synccheck and memcheck of the 192-row case.
#   VARATTN_CALL_BUDGET_S=480 bash bench/experiments/hopper_forward_d80_softmax_order_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
budget=${VARATTN_CALL_BUDGET_S:-480}
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
mkdir -p "$out"
git apply $P/hopper_forward_d80_softmax_order.patch || exit 1
# The test binary where ab_with_tests.sh builds it, with its flags: its own build is then a no-op.
t=build/t
cmake -S . -B $t -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=${VARATTN_CUDA_ARCHS:-90a}" \
  -DVARATTN_HEAD_DIMS=80 -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
  >"$out/smoke_build.log" 2>&1 && timeout 200 ninja -C $t varattn_gpu_tests >>"$out/smoke_build.log" 2>&1
stamp "test build exit $?"
timeout 120 $t/tests/varattn_gpu_tests "-tc=head dims 64 to 80 Hopper tiles*,head dim 80's 192-row*" \
  --duration=true >"$out/smoke.log" 2>&1
status=$?
stamp "tall-tile cases exit $status ($(grep -h 'test cases' "$out/smoke.log"))"
if ((status != 0)); then
  grep -n "ERROR\|FAILED\|CHECK" "$out/smoke.log" | head -20
  exit 1
fi
VARATTN_AB_HEAD_DIMS=80 VARATTN_TEST_HEAD_DIMS=80 VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS='head dims 64 to 80 Hopper tiles*' \
  VARATTN_SANITIZE_TOOLS="racecheck synccheck memcheck" \
  VARATTN_SANITIZE_S=60 VARATTN_CALL_BUDGET_S=$((budget - ($(date +%s) - start))) \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_d80_softmax_order.reverse.patch \
  '^(fwd/(vl-full-d80|sweep-d80-s(1024|4096|16384))/fused/bf16|fwd/vl-full-d80/bucketed/bf16|encoder_graph/vl-full-d80/device_plan/bf16)'
