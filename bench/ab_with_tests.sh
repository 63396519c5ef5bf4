#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call: an A/B of varattn_bench rows (bench/ab_on_gpu.sh) and the GPU tests of A,
# within a time budget. The test binary builds beside the A/B's builds (all at once), the timed
# runs follow with nothing beside them, then the tests and the sanitizers take what time is
# left, each stopped by `timeout` before the budget ends so that the logs come back.
#   bash bench/ab_with_tests.sh OUTDIR VARIANTS FILTER
# VARIANTS and FILTER as bench/ab_on_gpu.sh's B and filter (A = this tree, e.g. with the change
# applied; a variant is the change's reverse patch, written here: on the device `git diff` is
# taken against the session's first checkout, not this tree's HEAD, bench/NOTES.md forty-first
# 4). Environment:
#   VARATTN_AB_HEAD_DIMS    head dims of A's and the variants' varattn_bench (default 64;72;80)
#   VARATTN_TEST_HEAD_DIMS  head dims of the test binary (default: the same)
#   VARATTN_TESTS           doctest arguments of the test run, or "" for none
#                           (default: -tce='backward*', the forward suite)
#   VARATTN_SANITIZE_TESTS  test cases for the sanitizers, or "" (default
#                           'every kernel family*')
#   VARATTN_SANITIZE_S      seconds each sanitizer may take at most (default 35)
#   VARATTN_SANITIZE_TOOLS  compute-sanitizer tools, in order (default "racecheck memcheck";
#                           add synccheck where a change moves barriers)
#   VARATTN_CALL_BUDGET_S   seconds from the start to the last log (default 560)
# OUTDIR gets ab.txt, tests.log, a <tool>.log each sanitizer and logs.tgz (the builds' logs):
# within what a device call brings back.
set -u -o pipefail
out=$1 variants=$2 filter=$3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ab_dims=${VARATTN_AB_HEAD_DIMS:-64;72;80}
test_dims=${VARATTN_TEST_HEAD_DIMS:-$ab_dims}
tests=${VARATTN_TESTS-"-tce=backward*"}
sanitize=${VARATTN_SANITIZE_TESTS-"every kernel family*"}
budget=${VARATTN_CALL_BUDGET_S:-560}
sanitize_each=${VARATTN_SANITIZE_S:-35}
[[ $sanitize_each =~ ^[1-9][0-9]*$ ]] || { echo "VARATTN_SANITIZE_S: a positive integer" >&2; exit 1; }
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
note() { echo "[$(elapsed) s] $*"; }
left() { echo $((budget - $(elapsed))); }
limit() { local l; l=$(left); echo $((l > 1 ? l : 1)); }  # `timeout 0` would never stop
work=${TMPDIR:-/tmp}/varattn_ab_with_tests
rm -rf "$work" && mkdir -p "$work" "$out" || exit 1
tbuild=$root/build/t
(cmake -S "$root" -B "$tbuild" -G Ninja -DCMAKE_BUILD_TYPE=Release \
   "-DCMAKE_CUDA_ARCHITECTURES=${VARATTN_CUDA_ARCHS:-90a}" "-DVARATTN_HEAD_DIMS=$test_dims" \
   -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF >"$work/t_configure.log" 2>&1 &&
  timeout $((budget > 120 ? budget - 60 : 60)) ninja -C "$tbuild" varattn_gpu_tests \
    >"$work/t_build.log" 2>&1
  echo "test build exit $?" >>"$work/t_build.log") &
test_build=$!
export VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=$ab_dims -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF"
VARATTN_AB_STAGES=build timeout "$(limit)" bash "$root/bench/ab_on_gpu.sh" "$work/ab" "$variants" "$filter"
note "A/B builds: exit $?"
wait "$test_build"
note "$(tail -1 "$work/t_build.log")"
VARATTN_AB_STAGES=run timeout "$(limit)" bash "$root/bench/ab_on_gpu.sh" "$work/ab" "$variants" "$filter" >/dev/null
note "A/B runs: exit $?"
cp "$work/ab/ab.txt" "$out/ab.txt" 2>/dev/null
binary=$tbuild/tests/varattn_gpu_tests
# Only this call's binary: an interrupted build leaves an older one behind.
grep -q "^test build exit 0$" "$work/t_build.log" || binary=
tools=(${VARATTN_SANITIZE_TOOLS:-racecheck memcheck})
sanitize_s=$([[ -n $sanitize ]] && echo $((${#tools[@]} * sanitize_each)) || echo 0)
if [[ -n $tests && -n $binary ]] && (($(left) - sanitize_s > 10)); then
  # Word-split on purpose (the arguments are doctest options), without globbing.
  set -f
  # shellcheck disable=SC2086
  timeout $(($(left) - sanitize_s)) "$binary" $tests --duration=true >"$out/tests.log" 2>&1
  status=$?
  set +f
  note "tests: exit $status ($(grep -h 'test cases' "$out/tests.log"))"
fi
for tool in "${tools[@]}"; do
  if [[ -z $sanitize || -z $binary ]] || (($(left) <= 10)); then break; fi
  timeout $(($(left) > sanitize_each + 5 ? sanitize_each : $(left) - 5)) compute-sanitizer --tool $tool --error-exitcode 9 \
    "$binary" -tc="$sanitize" >"$out/$tool.log" 2>&1
  note "$tool: exit $? ($(tail -1 "$out/$tool.log"))"
done
tar -C "$work" -czf "$out/logs.tgz" . 2>/dev/null
note "done"
cat "$out/ab.txt" 2>/dev/null
