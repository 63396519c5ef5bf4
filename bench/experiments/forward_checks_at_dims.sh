#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s36 (not run): the checks a forward patch needs before it lands at the head dims its
# A/B did not build (the d128 leads' A/B tests 64;128; the review asks for 80, whose 192 x 144
# tile has three consumer warpgroups, and 256). Applies the patches given after $OUT in order,
# builds the test binary at VARATTN_CHECK_HEAD_DIMS, runs every test, then racecheck of three
# cases with their own time shares, then memcheck. Prints a stamp a stage.
#   VARATTN_CALL_BUDGET_S=480 VARATTN_CHECK_HEAD_DIMS="80;256" bash \
#     bench/experiments/forward_checks_at_dims.sh "$OUT" P1.patch [P2.patch ...]
set -u
out=$1
shift
budget=${VARATTN_CALL_BUDGET_S:-480}
dims=${VARATTN_CHECK_HEAD_DIMS:-80;256}
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
left() { local l=$((budget - ($(date +%s) - start) - 5)); echo $((l > 1 ? l : 1)); }
mkdir -p "$out"
# With patches, they go onto HEAD's include/ and tests/; without, the tree is checked as it is.
if (($# > 0)); then
  git diff --quiet -- include tests || { echo "the tree must hold HEAD's include/ and tests/" >&2; exit 1; }
  git apply "$@" || exit 1
fi
b=build/t_checks
cmake -S . -B $b -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  "-DVARATTN_HEAD_DIMS=$dims" -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
  >"$out/build.log" 2>&1 && timeout "$(left)" ninja -C $b varattn_gpu_tests >>"$out/build.log" 2>&1
stamp "build exit $? (head dims $dims)"
t=$b/tests/varattn_gpu_tests
timeout $(( $(left) - 200 > 60 ? $(left) - 200 : 60 )) $t -tc='*' --duration=true >"$out/tests.log" 2>&1
stamp "tests exit $? ($(grep -h 'test cases' "$out/tests.log"))"
rc() {  # $1 log name, $2 seconds, $3 doctest filter
  timeout "$2" compute-sanitizer --tool racecheck --error-exitcode 9 $t -tc="$3" >"$out/$1.log" 2>&1
  stamp "racecheck '$3' exit $? ($(grep -h 'RACECHECK SUMMARY\|test cases' "$out/$1.log" | tr '\n' ' '))"
}
rc racecheck_families 50 'every kernel family*'
rc racecheck_persistent 50 'persistent grid*'  # runs only where 128 is among the dims
rc racecheck_192_rows $(( $(left) - 40 > 20 ? $(left) - 40 : 20 )) 'head dims 64 to 80 Hopper tiles*'
timeout "$(left)" compute-sanitizer --tool memcheck --error-exitcode 9 $t \
  -tc='every kernel family*,persistent grid*' >"$out/memcheck.log" 2>&1
stamp "memcheck exit $? ($(tail -1 "$out/memcheck.log"))"
