#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s35 and its test patch landed (506c124): to run it again, check out 506c124^.
# Thirty-fourth session: the checks the d80 long-segment tile still lacked, on the tree to land
# (its kernels' SASS is byte-identical to the A of hopper_forward_d80_long_segments_ab.sh,
# which was timed): the test binary at head dim 80 only, the forward suite, then racecheck of
# the 192-row case (its 2053-row segment takes the tall tile; the timed call's racecheck ran
# out of its 60 s before the causal half) with the time left.
#   VARATTN_CALL_BUDGET_S=260 bash bench/experiments/hopper_forward_d80_long_segments_checks.sh "$OUT"
set -u
out=$1
budget=${VARATTN_CALL_BUDGET_S:-260}
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
left() { echo $((budget - ($(date +%s) - start) - 5)); }
# The 192-row case's device-built plans with a bound, so that they too take the tall tile
# (without one they run the 128 tile since 18fb287's review fix); prepared s34, not yet run.
git apply bench/experiments/edge_case_d80_device_bound_test.patch || exit 1
b=build/t80
cmake -S . -B $b -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DVARATTN_HEAD_DIMS=80 -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
  >"$out/build.log" 2>&1 && timeout "$(left)" ninja -C $b varattn_gpu_tests >>"$out/build.log" 2>&1
stamp "build exit $?"
if [[ ${VARATTN_CHECK_TESTS:-1} == 1 ]]; then  # 0: racecheck alone (call 4 ran the tests)
  timeout 60 $b/tests/varattn_gpu_tests -tce='backward*' --duration=true >"$out/tests.log" 2>&1
  stamp "tests exit $? ($(grep -h 'test cases' "$out/tests.log"))"
fi
timeout "$(left)" compute-sanitizer --tool racecheck --error-exitcode 9 $b/tests/varattn_gpu_tests \
  -tc='head dims 64 to 80 Hopper tiles*' --duration=true >"$out/racecheck.log" 2>&1
stamp "racecheck exit $? ($(grep -h 'RACECHECK SUMMARY\|test cases' "$out/racecheck.log" | tr '\n' ' '))"
