#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-fourth session (prepared; the device refused its start: too little budget left; ran
# in s65 as call 1, the patch then landed as f1c9941 and was removed from experiments/):
# write_output_column.patch, write_output's column without `%` (nvcc took i % kChunks in 16 bits
# once the lane's bound was known: two PRMTs and a mask a vector at d80). The labels hold the
# tree with the patch (s64T, s64N: `prebuilt.sh use LABEL
# bench/experiments/write_output_column.patch` calls them fresh), so the tree sent need not
# carry it applied. One call:
#   1. the GPU tests of the tree with the patch at 64;80;128 (label s64T, SASS only):
#      isolation, suite, memcheck / racecheck / synccheck on the group-tile case
#      (s62_call.sh tests);
#   2. if all pass, the short-tile bench rows, s64N (with the patch) against splR (without:
#      b1c9fd1's kernels), 3 interleaved rounds, and one-launch ncu (s62_call.sh bench).
# A call returns at most 8 files: the logs leave as one tar beside the two summaries.
#   (bench/results and bench/experiments but s62_call.sh, s64_land_call.sh, call_lib.sh and
#    variant_rows.py moved out of the tree for the carry, as in s63_call.sh's header)
#   run(command="bash bench/experiments/s64_land_call.sh $OUT", timeout_s=340,
#       carry=["build/pre/s64T", "build/pre/s64N/bench", "build/pre/splR"])
set -u -o pipefail
out=${1:?usage: s64_land_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
VARATTN_CALL_BUDGET_S=260 VARATTN_TESTS_LABEL=s64T \
  bash bench/experiments/s62_call.sh tests "$out/t" >/dev/null 2>&1
cp "$out/t/summary.txt" "$out/tests.txt"
cat "$out/tests.txt"
if grep -qE '[1-9][0-9]* failed|exit [1-9]|no time' "$out/tests.txt"; then
  echo "a test failed or did not run: no bench"
else
  ROUNDS_RESERVE_S=20 VARATTN_CALL_BUDGET_S=80 VARATTN_BENCH_LABELS="s64N splR" \
    bash bench/experiments/s62_call.sh bench "$out/b" >/dev/null 2>&1
  cp "$out/b/summary.txt" "$out/bench.txt"
  cat "$out/bench.txt"
fi
tar -C "$out" -cJf "$out/logs.tar.xz" t $([[ -d $out/b ]] && echo b) && rm -rf "$out/t" "$out/b"
