#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-first session, the bf16 table's first call (carry build/anchors/big): the anchors'
# unpack in the background, the lean varattn_bench build and the op's pip install at five head
# dims (NOTES "Where to start" (a)), and beside them the GPU tests at 64;128 of HEAD (47f5adc's
# d128 causal steps and the d64 window-edge test: their first run on this code), then
# racecheck of a d128 multi-step case. Call B (compare.py) follows within 30 s.
#   bash bench/experiments/s31_table_call_a.sh "$OUT"
set -u
out=$1
start=$(date +%s)
bash bench/install_anchors.sh unpack
(VARATTN_STAGES=configure,build VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=64;72;80;128;256 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
   bash bench/run_on_gpu.sh "$out/b" >"$out/b.log" 2>&1) &
(VARATTN_HEAD_DIMS=64,72,80,128,256 VARATTN_CUDA_ARCHS=90a \
   python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1; echo "pip exit $?" >>"$out/pip.log") &
(cmake -S . -B build/t -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
   "-DVARATTN_HEAD_DIMS=64;128" -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF &&
   ninja -C build/t varattn_gpu_tests) >"$out/t_build.log" 2>&1
echo "tests build exit $? at $(($(date +%s) - start)) s"
build/t/tests/varattn_gpu_tests -tc='backward*' --duration=true >"$out/tests.log" 2>&1
echo "tests exit $? ($(grep -h 'test cases' "$out/tests.log")) at $(($(date +%s) - start)) s"
wait
echo "builds done at $(($(date +%s) - start)) s; $(tail -1 "$out/pip.log")"
left=$((540 - ($(date +%s) - start)))
((left > 30)) && timeout $((left > 90 ? 90 : left)) compute-sanitizer --tool racecheck --error-exitcode 9 \
  build/t/tests/varattn_gpu_tests -tc='backward: Hopper query steps of 80 rows*' >"$out/racecheck.log" 2>&1
echo "racecheck exit $? ($(grep -h 'RACECHECK SUMMARY\|hazard' "$out/racecheck.log" | tail -1)) at $(($(date +%s) - start)) s"
