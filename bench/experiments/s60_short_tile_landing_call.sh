#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixtieth session, the landing call of the Hopper short tile at head dim 64 with no box past
# its rows (the tree: short_tile_d64_landing.patch applied): A = the tree (label landX: bench
# and GPU tests at 64;128), B = the tree before it (label baseB: bench at 64;128, the landing's
# reverse patch), both with short_tile_probe_workloads.patch (rows of equal short segments).
#   1. A's short cases (stops on a failure), 2. fused / fused_sm80 / fused_device rows A B in 3
#   interleaved rounds, 3. ncu (DRAM bytes, time), 4. A's whole suite, 5. compute-sanitizer
#   memcheck, racecheck and synccheck of every kernel family.
#   run(command="bash bench/experiments/s60_short_tile_landing_call.sh $OUT",
#       carry=["build/pre/landX", "build/pre/baseB"], timeout_s=470)
set -u -o pipefail
out=${1:?usage: s60_short_tile_landing_call.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$(pwd)
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-450}
left() { echo $((budget - ($(date +%s) - start))); }
summary=$out/summary.txt
: >"$summary"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
bash bench/machine_facts.sh | tee -a "$summary"
wl=bench/experiments/short_tile_probe_workloads.patch
bash bench/prebuilt.sh use landX "$wl" build/check_A >/dev/null 2>"$out/prebuilt.log" ||
  { say "landX unusable: $(cat "$out/prebuilt.log")"; exit 1; }
bash bench/prebuilt.sh use baseB "bench/experiments/short_tile_d64_landing.reverse.patch $wl" \
  build/check_B >/dev/null 2>>"$out/prebuilt.log" || { say "baseB unusable: $(cat "$out/prebuilt.log")"; exit 1; }
export LD_LIBRARY_PATH=$root/build/pre/landX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
tests=$root/build/check_A/tests/varattn_gpu_tests
short_cases='every?kernel?family*,*segment?group*,*edge*,*strided*,kernel_family*,the?harness*'
timeout 150 "$tests" -tc="$short_cases" >"$out/tests_short.log" 2>&1
rc=$?
say "short cases: exit $rc: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests_short.log" | tr '\n' ' ')"
if ((rc != 0)); then
  grep -B2 -A14 -E 'ERROR|FAILED|timed out' "$out/tests_short.log" | head -60 | tee -a "$summary"
  say "stopped: the short cases did not pass (exit $rc; 124 is the timeout)"
  exit 1
fi

rows='^(fwd/(tiny-d64|sweep-d64-s64|sweep-d128-s64|probe-d64-s(24|32|40|48))/(fused|fused_sm80|fused_device)/bf16|fwd/(tiny-d64|vl-window-d80)/fused/fp16|fwd/vl-window-d80/fused/bf16|encoder_graph/tiny-d64/device_plan/bf16)'
for round in 1 2 3; do
  (($(left) > 300)) || { say "out of time before bench round $round"; break; }
  for v in A B; do
    build/check_$v/bench/varattn_bench --benchmark_filter="$rows" --varattn_min_time=0.2 \
      --benchmark_format=json 2>/dev/null >"$out/run.json"
    python3 bench/bench_json_rows.py "$out/run.json" "$v$round" | tee -a "$summary"
  done
done

metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,smsp__inst_executed.sum
for row in tiny-d64 probe-d64-s40 sweep-d128-s64; do
  for v in "A:fused:short_kernel" "B:fused:(short|forward)_kernel" "A:fused_sm80:forward_kernel"; do
    IFS=: read -r label policy kernel <<<"$v"
    (($(left) > 260)) || { say "out of time before ncu $label $row"; break 2; }
    r=$(timeout 40 ncu --clock-control none --metrics "$metrics" -k "regex:$kernel" --launch-skip 4 \
      --launch-count 1 "build/check_$label/bench/varattn_bench" \
      --benchmark_filter="^fwd/$row/$policy/bf16" --varattn_min_time=0.01 --varattn_settle=0 2>&1 |
      grep -E '^\s+(gpu__|smsp__|dram__)' | awk '{printf "%s=%s%s ", $1, $3, $2}')
    say "ncu $label $row $policy: $r"
  done
done

t=$(($(left) - 100))
if ((t >= 40)); then
  timeout "$t" "$tests" >"$out/tests.log" 2>&1
  say "suite: exit $? (limit $t s): $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
  grep -B2 -A12 -E 'ERROR|FAILED' "$out/tests.log" | head -40 | tee -a "$summary"
else
  say "no time for the suite"
fi
for tool in memcheck racecheck synccheck; do
  t=$(($(left) - 5))
  ((t >= 20)) || { say "no time for $tool"; continue; }
  ((t > 40)) && t=40
  timeout "$t" compute-sanitizer --tool "$tool" --error-exitcode 9 "$tests" \
    -tc='every?kernel?family*' >"$out/$tool.log" 2>&1
  say "$tool: exit $? (limit $t s): $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
done
say done
