#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-fourth session, the second call on the d80 long-segment tile after its review: P V
# after a __syncwarp (not the warpgroup's named barrier), P's descriptor per step (a pinned one
# spilled in the loop), no long-segment tile without a bound. A = this tree, B = HEAD 4a02c00
# (hopper_forward_d80_long_segments.reverse.patch); d80 only; tests at 80; then racecheck and
# memcheck of the 192-row case (its 2053-row segment takes the tall tile) with the time left.
#   bash bench/experiments/hopper_forward_d80_long_segments_v2_call.sh "$OUT"   (~360 s)
set -u
out=$1
budget=${VARATTN_CALL_BUDGET_S:-360}
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
P=bench/experiments
VARATTN_AB_HEAD_DIMS=80 VARATTN_TEST_HEAD_DIMS=80 VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS= VARATTN_CALL_BUDGET_S=$((budget - 150)) \
  bash bench/ab_with_tests.sh "$out" $P/hopper_forward_d80_long_segments.reverse.patch \
  '^(fwd/(vl-full-d80|vl-window-d80|sweep-d80-s(256|1024|4096|16384))/fused/bf16|fwd/vl-full-d80/bucketed/bf16|encoder_graph/vl-full-d80/device_plan/bf16)' \
  > "$out/ab_call.log" 2>&1
stamp "A/B and tests: $(grep -h 'tests:' "$out/ab_call.log")"
binary=build/t/tests/varattn_gpu_tests
tc='head dims 64 to 80 Hopper tiles*'
left=$((budget - ($(date +%s) - start) - 35))
timeout $((left > 10 ? left : 10)) compute-sanitizer --tool racecheck --error-exitcode 9 $binary \
  -tc="$tc" --duration=true >"$out/racecheck.log" 2>&1
stamp "racecheck exit $? ($(grep -h 'RACECHECK SUMMARY\|test cases' "$out/racecheck.log" | tr '\n' ' '))"
left=$((budget - ($(date +%s) - start) - 3))
timeout $((left > 5 ? left : 5)) compute-sanitizer --tool memcheck --error-exitcode 9 $binary \
  -tc="$tc" >"$out/memcheck.log" 2>&1
stamp "memcheck exit $? ($(grep -h 'ERROR SUMMARY\|test cases' "$out/memcheck.log" | tr '\n' ' '))"
cat "$out/ab_call.log"
