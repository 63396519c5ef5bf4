#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-first session: segments kept apart in group tiles (include/varattn/detail/kernel/
# group_isolation.cuh: a group tile recomputes the rows it staged non-finite from their own keys). Labels built here (bench/prebuilt.sh), unpacked by hand (the tree's
# test file changed after the bench labels were built, so `use` would call them stale):
#   isoOld  the GPU tests at 64 on the kernels before (the new test file, old kernels)
#   isoNew  the GPU tests at 64;128 on the new kernels
#   isoN3   varattn_bench at 64;80;128, new kernels;  base3  the same, kernels before
# Three calls (the carry limit; bench/results moved out of the tree):
#   new: 1. isoNew's isolation cases, 2. isoNew's whole suite, 3. compute-sanitizer memcheck,
#        racecheck, synccheck on the one-case test.
#     run(command="bash bench/experiments/s61_isolation_call.sh new $OUT",
#         carry=["build/pre/isoNew"])
#   bench: bench rows of the short tiles, isoN3 (new) and base3 (before) in 3 interleaved
#        rounds; ncu of one launch each (time, instructions, DRAM bytes).
#     run(command="bash bench/experiments/s61_isolation_call.sh bench $OUT",
#         carry=["build/pre/isoN3/bench", "build/pre/base3"])
#   (base3's lib/ serves all: libcudart and libbenchmark.)
#   old: isoOld's isolation cases (expected to fail: how, where).
#     run(command="bash bench/experiments/s61_isolation_call.sh old $OUT",
#         carry=["build/pre/isoOld"])
set -u -o pipefail
mode=${1:?usage: s61_isolation_call.sh new|old OUTDIR}
out=${2:?usage: s61_isolation_call.sh new|old OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$(pwd)
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-560}
left() { echo $((budget - ($(date +%s) - start))); }
summary=$out/summary.txt
: >"$summary"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
bash bench/machine_facts.sh | tee -a "$summary"
mkdir -p build/run
unpack() {  # LABEL TARGET_DIR NAME
  xz -dc "build/pre/$1/$2/$3.xz" >"build/run/$3_$1" && chmod +x "build/run/$3_$1"
}
iso='*never?reaches*,*of?a?group?tile*'
isolation_cases() {  # LABEL
  timeout 150 "build/run/varattn_gpu_tests_$1" -tc="$iso" >"$out/iso_$1.log" 2>&1
  say "$1 isolation cases: exit $?: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/iso_$1.log" | tr '\n' ' ')"
  # Where they failed: the first failures' captured context, compactly.
  grep -A12 -E 'ERROR' "$out/iso_$1.log" | grep -E 'ERROR|CHECK|with expansion|values|:= ' |
    head -40 | cut -c1-160 | tee -a "$summary"
}
if [[ $mode == old ]]; then
  unpack isoOld tests varattn_gpu_tests
  export LD_LIBRARY_PATH=$root/build/pre/isoOld/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  isolation_cases isoOld
  say done
  exit 0
fi
export LD_LIBRARY_PATH=$root/build/pre/isoNew/lib:$root/build/pre/base3/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [[ $mode == bench ]]; then
unpack isoN3 bench varattn_bench
unpack base3 bench varattn_bench

rows='^(fwd/(tiny-d64|sweep-d64-s64|sweep-d80-s64|sweep-d128-s64|vl-window-d80)/(fused|fused_sm80|fused_device)/bf16|fwd/(tiny-d64|vl-window-d80)/fused/fp16|encoder_graph/(tiny-d64|vl-window-d80)/device_plan/bf16)'
for round in 1 2 3; do
  (($(left) > 60)) || { say "out of time before bench round $round"; break; }
  for v in isoN3 base3; do
    "build/run/varattn_bench_$v" --benchmark_filter="$rows" --varattn_dtype=all --varattn_min_time=0.2 \
      --benchmark_format=json 2>/dev/null >"$out/run.json"
    python3 bench/bench_json_rows.py "$out/run.json" "${v:0:1}$round" | tee -a "$summary"
  done
done

# Instructions and time of one launch, new against before (ncu, clocks as they run).
metrics=gpu__time_duration.sum,smsp__inst_executed.sum,dram__bytes_read.sum
for v in "tiny-d64:fused:short_kernel" "tiny-d64:fused_sm80:forward_kernel" \
         "vl-window-d80:fused:forward_kernel"; do
  IFS=: read -r row policy kernel <<<"$v"
  for label in isoN3 base3; do
    (($(left) > 15)) || { say "out of time before ncu $label $row"; break 2; }
    r=$(timeout 40 ncu --clock-control none --metrics "$metrics" -k "regex:$kernel" --launch-skip 4 \
      --launch-count 1 "build/run/varattn_bench_$label" \
      --benchmark_filter="^fwd/$row/$policy/bf16" --varattn_min_time=0.01 --varattn_settle=0 2>&1 |
      grep -E '^\s+(gpu__|smsp__|dram__)' | awk '{printf "%s=%s%s ", $1, $3, $2}')
    say "ncu $label $row $policy: $r"
  done
done

say done
exit 0
fi

unpack isoNew tests varattn_gpu_tests
isolation_cases isoNew
t=$(($(left) - 110))
if ((t >= 40)); then
  timeout "$t" build/run/varattn_gpu_tests_isoNew >"$out/tests.log" 2>&1
  say "suite: exit $? (limit $t s): $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
  grep -B2 -A12 -E 'ERROR|FAILED' "$out/tests.log" | head -30 | cut -c1-160 | tee -a "$summary"
else
  say "no time for the suite"
fi
for tool in memcheck racecheck synccheck; do
  t=$(($(left) - 5))
  ((t >= 20)) || { say "no time for $tool"; continue; }
  ((t > 35)) && t=35
  timeout "$t" compute-sanitizer --tool "$tool" --error-exitcode 9 build/run/varattn_gpu_tests_isoNew \
    -tc='*of?a?group?tile*' >"$out/$tool.log" 2>&1
  say "$tool: exit $? (limit $t s): $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
done
say done
