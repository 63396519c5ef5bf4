#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-ninth session: the Hopper short tile (detail/sm90/short_tile.cuh, in the tree; its
# reverse hopper_short_tile.reverse.patch gives the tree before it) on the GPU machine, one
# call, binaries built here: LABEL_A the tree's bench and GPU tests, LABEL_B the tree less the
# tile (bench):
#   call 1: bash bench/experiments/s59_short_tile_call.sh $OUT stA base6480   (at 64;80; the
#     tile then ran at every head dim up to 128, in 64-row boxes; carry build/pre/stA,
#     build/pre/base6480)
#   call 5: bash bench/experiments/s59_short_tile_call.sh $OUT fin base64128  (at 64;128: the
#     tile at head dims 64 and 128, Q and K in 16-row boxes; carry build/pre/fin,
#     build/pre/base64128)
#   call 6: bash bench/experiments/s59_short_tile_call.sh $OUT fin128 b128  (at 128: the landing
#     form, head dim 128 only; carry build/pre/fin128, build/pre/b128)
#   next (s59 lead (a), labels built here at 64): VARATTN_PATCH_A=bench/experiments/
#     short_tile_v_row_boxes_probe.patch VARATTN_PATCH_B= bash bench/experiments/
#     s59_short_tile_call.sh $OUT stV64 t64   (A = the tree + the patch, B = the tree)
# VARATTN_PATCH_A / VARATTN_PATCH_B: the patches A's and B's labels were built with (default
# none and hopper_short_tile.reverse.patch).
# Steps, each while the budget lasts (VARATTN_CALL_BUDGET_S, default 560):
#   1. the short-segment cases under `timeout 150` (every kernel family's small problem, the
#      segment groups, the edge cases, the strided grid); on a failure nothing is timed;
#   2. the bench: A's fused / fused_sm80 rows (the same binary: the new tile against the
#      sm80 one) and A against B on the policies and the encoder graph, A B A B A B;
#   3. ncu of the forward kernels (short_kernel in A, forward_kernel in B): duration, DRAM
#      bytes, instructions;
#   4. the whole GPU suite;
#   5. memcheck, racecheck, synccheck on the small problem (every kernel family*), 45 s each.
set -u -o pipefail
out=${1:?usage: s59_short_tile_call.sh OUTDIR LABEL_A LABEL_B}
label_a=${2:?LABEL_A} label_b=${3:?LABEL_B}
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
bash bench/prebuilt.sh use "$label_a" "${VARATTN_PATCH_A-}" build/check_A >/dev/null 2>"$out/prebuilt.log" ||
  { say "$label_a unusable: $(cat "$out/prebuilt.log")"; exit 1; }
have_b=1
bash bench/prebuilt.sh use "$label_b" "${VARATTN_PATCH_B-bench/experiments/hopper_short_tile.reverse.patch}" \
  build/check_B >/dev/null 2>>"$out/prebuilt.log" || { have_b=0; say "$label_b unusable"; }
export LD_LIBRARY_PATH=$root/build/pre/$label_a/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
tests=$root/build/check_A/tests/varattn_gpu_tests
bench_a=$root/build/check_A/bench/varattn_bench
bench_b=$root/build/check_B/bench/varattn_bench
short_cases='every?kernel?family*,*segment?group*,*edge*,*strided*,kernel_family*,the?harness*'

# 1. The cases that run short tiles.
timeout 150 "$tests" -tc="$short_cases" >"$out/tests_short.log" 2>&1
rc=$?
say "short cases: exit $rc: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests_short.log" | tr '\n' ' ')"
if ((rc != 0)); then
  grep -B2 -A14 -E 'ERROR|FAILED|timed out' "$out/tests_short.log" | head -80 | tee -a "$summary"
  say "stopped: the short cases did not pass (exit $rc; 124 is the timeout)"
  exit 1
fi

# 2. The bench, interleaved.
rows='^(fwd/(tiny-d64|vl-window-d80|sweep-d64-s64|sweep-d80-s64|sweep-d128-s64)/(fused|fused_sm80|fused_device|bucketed)/bf16|encoder_graph/(tiny-d64|vl-window-d80)/device_plan/bf16)'
run_bench() {  # LABEL BINARY
  "$2" --benchmark_filter="$rows" --varattn_min_time=0.2 --benchmark_format=json 2>/dev/null \
    >"$out/run.json"
  python3 bench/bench_json_rows.py "$out/run.json" "$1"
}
for round in 1 2 3; do
  (($(left) > 300)) || { say "out of time before bench round $round"; break; }
  run_bench "A$round" "$bench_a" | tee -a "$summary"
  ((have_b)) && run_bench "B$round" "$bench_b" | tee -a "$summary"
done

# 3. ncu of the forward kernels, one launch each after 4 skipped (A: short_kernel; B:
# forward_kernel, the sm80 kernel's name).
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,smsp__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active
for row in fwd/tiny-d64/fused/bf16 fwd/sweep-d64-s64/fused/bf16 fwd/sweep-d128-s64/fused/bf16; do
  for v in "A:$bench_a:short_kernel" "B:$bench_b:forward_kernel"; do
    IFS=: read -r label bench kernel <<<"$v"
    [[ -x $bench ]] || continue
    (($(left) > 200)) || { say "out of time before ncu $label $row"; break 2; }
    timeout 40 ncu --clock-control none --metrics "$metrics" -k "regex:$kernel" --launch-skip 4 \
      --launch-count 1 "$bench" --benchmark_filter="^$row" --varattn_min_time=0.01 \
      --varattn_settle=0 >"$out/ncu_${label}_${row//\//_}.txt" 2>&1
    say "ncu $label $row: $(grep -E '^\s+(gpu__|smsp__|dram__|sm__)' "$out/ncu_${label}_${row//\//_}.txt" | awk '{printf "%s=%s%s ", $1, $3, $2}')"
  done
done

# 4. The whole suite at 64;80.
t=$(($(left) - 150))
if ((t >= 40)); then
  timeout "$t" "$tests" >"$out/tests.log" 2>&1
  say "suite: exit $? (limit $t s): $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
  grep -B2 -A12 -E 'ERROR|FAILED' "$out/tests.log" | head -40 | tee -a "$summary"
else
  say "no time for the suite"
fi

# 5. The sanitizers on the small problem.
for tool in memcheck racecheck synccheck; do
  t=$(($(left) - 5))
  ((t >= 20)) || { say "no time for $tool"; continue; }
  ((t > 45)) && t=45
  timeout "$t" compute-sanitizer --tool "$tool" --error-exitcode 9 "$tests" \
    -tc='every?kernel?family*' >"$out/$tool.log" 2>&1
  say "$tool: exit $? (limit $t s): $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
done
say done
