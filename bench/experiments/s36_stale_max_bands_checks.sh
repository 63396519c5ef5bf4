#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s36 on the tree of ba678aa + 165daa4 (a record of that call); for new checks use forward_checks_at_dims.sh, its general form.
# Thirty-sixth session: the checks on the tree to land (stale max at every Hopper head dim +
# kv-head bands, both timed alone by their A/B scripts, whose 60 s racechecks ran out in
# edge_cases_test.cu before reaching the kernel-family case). Test binary at 64;80;128: every
# test, then racecheck of three cases, each with its own share of the time, then memcheck.
#   VARATTN_CALL_BUDGET_S=520 bash bench/experiments/s36_stale_max_bands_checks.sh "$OUT"
set -u
out=$1
budget=${VARATTN_CALL_BUDGET_S:-520}
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
left() { local l=$((budget - ($(date +%s) - start) - 5)); echo $((l > 1 ? l : 1)); }
b=build/t
cmake -S . -B $b -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  "-DVARATTN_HEAD_DIMS=64;80;128" -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
  >"$out/build.log" 2>&1 && timeout "$(left)" ninja -C $b varattn_gpu_tests >>"$out/build.log" 2>&1
stamp "build exit $?"
t=$b/tests/varattn_gpu_tests
timeout 90 $t -tc='*' --duration=true >"$out/tests.log" 2>&1
stamp "tests exit $? ($(grep -h 'test cases' "$out/tests.log"))"
rc() {  # $1 log name, $2 seconds, $3 doctest filter
  timeout "$2" compute-sanitizer --tool racecheck --error-exitcode 9 $t -tc="$3" >"$out/$1.log" 2>&1
  stamp "racecheck '$3' exit $? ($(grep -h 'RACECHECK SUMMARY\|test cases' "$out/$1.log" | tr '\n' ' '))"
}
rc racecheck_families 60 'every kernel family*'
rc racecheck_many_tiles $(( $(left) - 150 > 60 ? $(left) - 150 : 60 )) 'many Hopper tiles*'
rc racecheck_192_rows $(( $(left) - 40 > 20 ? $(left) - 40 : 20 )) 'head dims 64 to 80 Hopper tiles*'
timeout "$(left)" compute-sanitizer --tool memcheck --error-exitcode 9 $t \
  -tc='every kernel family*,many Hopper tiles*' >"$out/memcheck.log" 2>&1
stamp "memcheck exit $? ($(tail -1 "$out/memcheck.log"))"
