#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixtieth session, s59 lead (a): where the Hopper short tile's extra DRAM bytes at head dim 64
# come from (tiny-d64 486.6-489.6 MB read against the sm80 tile's 449.7; sweep-d64-s64 exact).
# Two bench-only labels at 64, both with short_tile_probe_workloads.patch (four probe rows of
# equal segments, 16 heads: s24 and s32 are groups of two whole segments, 48 and 64 rows a
# tile; s40 and s48 one segment a tile, 40 and 48 rows):
#   P = the tile on at 64 (short_tile_d64_probe.patch: Q and K in 16-row boxes, V in one of 64),
#   V = V in 16-row boxes too (short_tile_v_row_boxes_probe.patch),
#   B = P's binary, policy fused_sm80 (the sm80 short tile, the reference bytes),
#   T = the tile on at 64 with each tensor's last Q/K box ending at its last row, overlapping
#       the box before it (short_tile_tail_box_probe.patch; label tb64), when carried;
# and T's GPU tests at 64 (label tbT: the short cases, the suite, memcheck and racecheck of
# every kernel family), when carried.
# Each (variant, row) under ncu with the L2's reads split into hits and misses, its writes, and
# DRAM bytes; then fused against fused_sm80 in 2 rounds.
#   run(command="bash bench/experiments/s60_short_tile_bytes_call.sh $OUT",
#       carry=["build/pre/pw64", "build/pre/pv64", "build/pre/tb64", "build/pre/tbT"],
#       timeout_s=560)
set -u -o pipefail
out=${1:?usage: s60_short_tile_bytes_call.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$(pwd)
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-540}
left() { echo $((budget - ($(date +%s) - start))); }
summary=$out/summary.txt
: >"$summary"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
bash bench/machine_facts.sh | tee -a "$summary"
wl=bench/experiments/short_tile_probe_workloads.patch
bash bench/prebuilt.sh use pw64 "bench/experiments/short_tile_d64_probe.patch $wl" build/check_P \
  >/dev/null 2>"$out/prebuilt.log" || { say "pw64 unusable: $(cat "$out/prebuilt.log")"; exit 1; }
bash bench/prebuilt.sh use pv64 "bench/experiments/short_tile_v_row_boxes_probe.patch $wl" \
  build/check_V >/dev/null 2>>"$out/prebuilt.log" ||
  { say "pv64 unusable: $(cat "$out/prebuilt.log")"; exit 1; }
tail_box=bench/experiments/short_tile_tail_box_probe.patch
variants=("P:build/check_P:fused:short_kernel" "V:build/check_V:fused:short_kernel")
if [[ -d build/pre/tb64 ]]; then
  if bash bench/prebuilt.sh use tb64 "$tail_box $wl" build/check_T >/dev/null 2>>"$out/prebuilt.log"
  then variants+=("T:build/check_T:fused:short_kernel"); else say "tb64 unusable"; fi
fi
variants+=("B:build/check_P:fused_sm80:forward_kernel")
export LD_LIBRARY_PATH=$root/build/pre/pw64/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
tests=
if [[ -d build/pre/tbT ]]; then
  if bash bench/prebuilt.sh use tbT "$tail_box" build/check_tbT >/dev/null 2>>"$out/prebuilt.log"
  then tests=$root/build/check_tbT/tests/varattn_gpu_tests; else say "tbT unusable"; fi
fi
if [[ -n $tests ]]; then  # first: a wrong layout shows here before any timing is read
  short_cases='every?kernel?family*,*segment?group*,*edge*,*strided*,kernel_family*,the?harness*'
  timeout 150 "$tests" -tc="$short_cases" >"$out/tests_short.log" 2>&1
  say "T short cases: exit $?: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests_short.log" | tr '\n' ' ')"
  grep -B2 -A14 -E 'ERROR|FAILED|timed out' "$out/tests_short.log" | head -40 | tee -a "$summary"
fi
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_op_read.sum
metrics+=,lts__t_sectors_op_read_lookup_miss.sum,lts__t_sectors_op_write.sum
metrics+=,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_requests_srcunit_tex_op_read.sum,smsp__inst_executed.sum
for row in tiny-d64 probe-d64-s40 probe-d64-s48 probe-d64-s32 probe-d64-s24 sweep-d64-s64; do
  for v in "${variants[@]}"; do
    IFS=: read -r label dir policy kernel <<<"$v"
    (($(left) > 240)) || { say "out of time before ncu $label $row"; break 2; }
    f=$out/ncu_${label}_$row.txt
    timeout 40 ncu --clock-control none --metrics "$metrics" -k "regex:$kernel" --launch-skip 4 \
      --launch-count 1 "$dir/bench/varattn_bench" --benchmark_filter="^fwd/$row/$policy/bf16" \
      --varattn_min_time=0.01 --varattn_settle=0 >"$f" 2>&1
    say "ncu $label $row $policy: $(grep -E '^\s+(gpu__|smsp__|dram__|lts__)' "$f" | awk '{printf "%s=%s%s ", $1, $3, $2}')"
  done
done
rows='^fwd/(tiny-d64|probe-d64-s(24|32|40|48)|sweep-d64-s64)/(fused|fused_sm80)/bf16'
benches=(P V)
[[ -x build/check_T/bench/varattn_bench ]] && benches+=(T)
for round in 1 2; do
  for v in "${benches[@]}"; do
    (($(left) > 200)) || { say "out of time before bench $v$round"; break 2; }
    build/check_$v/bench/varattn_bench --benchmark_filter="$rows" --varattn_min_time=0.2 \
      --benchmark_format=json 2>/dev/null >"$out/run.json"
    python3 bench/bench_json_rows.py "$out/run.json" "$v$round" | tee -a "$summary"
  done
done
if [[ -n $tests ]]; then
  t=$(($(left) - 100))
  if ((t >= 40)); then
    timeout "$t" "$tests" >"$out/tests.log" 2>&1
    say "T suite: exit $? (limit $t s): $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
    grep -B2 -A12 -E 'ERROR|FAILED' "$out/tests.log" | head -40 | tee -a "$summary"
  else
    say "no time for the suite"
  fi
  for tool in memcheck racecheck; do
    t=$(($(left) - 5))
    ((t >= 20)) || { say "no time for $tool"; continue; }
    ((t > 45)) && t=45
    timeout "$t" compute-sanitizer --tool "$tool" --error-exitcode 9 "$tests" \
      -tc='every?kernel?family*' >"$out/$tool.log" 2>&1
    say "T $tool: exit $? (limit $t s): $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
  done
fi
say done
