#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-ninth session: the backward's GPU tests at the head dims the mask-bits A/B did not build
# (72;80;96;256; it tested 64;128), after hopper_backward_mask_bits landed: the test binary alone
# (no host tests, benchmarks or examples), then every backward case, then racecheck of the new
# case at these dims.
#   bash bench/experiments/s39_backward_tests.sh "$OUT"
set -u
out=$1
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
dims=${VARATTN_TEST_HEAD_DIMS:-72;80;96;256}
build=build/tests_bwd
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  "-DVARATTN_HEAD_DIMS=$dims" -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
  >"$out/configure.log" 2>&1 || { stamp "configure failed"; tail -20 "$out/configure.log"; exit 1; }
cmake --build $build --target varattn_gpu_tests -j 16 >"$out/build.log" 2>&1
stamp "build exit $?"
timeout ${VARATTN_TESTS_S:-200} $build/tests/varattn_gpu_tests -tc='backward*' >"$out/tests.log" 2>&1
stamp "tests exit $? ($(grep 'test cases:' "$out/tests.log"))"
timeout 40 compute-sanitizer --tool racecheck $build/tests/varattn_gpu_tests \
  -tc='backward: windows wider than a key tile*' >"$out/racecheck.log" 2>&1
stamp "racecheck exit $? ($(grep 'RACECHECK SUMMARY' "$out/racecheck.log"))"
grep -E 'ERROR|FAILED' "$out/tests.log" | head -20
