#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-second session: (1) one sm80::store_output for both short tiles, probing only in group
# tiles (a one-segment tile of a kGroups kernel ran the probe's HFMA2s: +4.3% instructions on
# vl-window-d80, s61); (2) tests/gpu/backward_isolation_test.cu, a poison in one segment against
# the others' gradients. Labels built here (bench/prebuilt.sh):
#   s62T  the GPU tests at 64;128, this tree;  s62B  varattn_bench at 64;80;128, this tree
#   isoN3 varattn_bench at 64;80;128, the kernels as s61 landed them (probe in every tile)
#   base3 varattn_bench at 64;80;128, the kernels before s61 (no probe)
# Two calls (the carry limit; bench/results moved out of the tree):
#   tests: the isolation cases (forward and backward), the rest of the suite, compute-sanitizer
#          memcheck, racecheck, synccheck on the group-tile one-case test.
#     run(command="bash bench/experiments/s62_call.sh tests $OUT/t", carry=["build/pre/s62T"])
#     At head dim 80 (the sm80 short tile's kChunks = 10 store path, untested on a GPU since s61):
#     run(command="VARATTN_TESTS_LABEL=s62T80 bash bench/experiments/s62_call.sh tests $OUT/t80",
#         carry=["build/pre/s62T80"])
#   bench: the short-tile rows, s62B / isoN3 / base3 in 3 interleaved rounds; ncu of one launch
#          each (time, instructions), and of 5 launches for vl-window-d80 (s61's lead (a)).
#     run(command="bash bench/experiments/s62_call.sh bench $OUT/b",
#         carry=["build/pre/s62B", "build/pre/isoN3/bench", "build/pre/base3"])
#   bench with VARATTN_BENCH_LABELS="splB s62B base3" (splB: the tree + store_output_split.patch,
#        bench at 64;80;128): means of 3 interleaved rounds against base3, one-launch ncu.
#     carry=["build/pre/splB", "build/pre/s62B", "build/pre/base3"]
#   ncu: vl-window-d80 fused, one launch and five, with ncu's cache flush (--cache-control all,
#        its default) and without: is the +7-8% of one profiled launch a cold-L2 effect, where
#        the bench (warm L2) sees +0.3%? Same carry as bench; VARATTN_BENCH_LABELS names other
#        labels here too (source counters of the first and the last).
set -u -o pipefail
mode=${1:?usage: s62_call.sh tests|bench|ncu OUTDIR}
out=${2:?usage: s62_call.sh tests|bench|ncu OUTDIR}
export VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-560}
source "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"  # call_begin, left, say
call_begin "$out"
root=$(pwd)
summary=$out/summary.txt
mkdir -p build/run
unpack() {  # LABEL TARGET_DIR NAME
  xz -dc "build/pre/$1/$2/$3.xz" >"build/run/$3_$1" && chmod +x "build/run/$3_$1"
}
counts() { grep -E '^\[doctest\] (test cases|assertions)' "$1" | tr '\n' ' '; }
failures() {  # LOG: the first failures' captured context, compactly
  grep -A14 -E 'ERROR' "$1" | grep -E 'ERROR|CHECK|with expansion|values|:= ' |
    head -40 | cut -c1-170 | tee -a "$summary"
}

if [[ $mode == tests ]]; then
  tests=${VARATTN_TESTS_LABEL:-s62T}  # s62T80: the same tree's GPU tests at head dim 80
  export LD_LIBRARY_PATH=$root/build/pre/$tests/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  unpack "$tests" tests varattn_gpu_tests
  bin=build/run/varattn_gpu_tests_$tests
  iso='*never?reaches*,*of?a?group?tile*'
  for part in '*never?reaches?another?segment?s?gradients*' '*never?reaches?another?segment?s?rows*,*of?a?group?tile*'; do
    s0=$(date +%s)
    timeout 200 "$bin" -tc="$part" >"$out/iso.log" 2>&1
    say "isolation $part: exit $? in $(($(date +%s) - s0)) s: $(counts "$out/iso.log")"
    failures "$out/iso.log"
    cat "$out/iso.log" >>"$out/iso_all.log"
  done
  t=$(($(left) - 110))
  if ((t >= 40)); then
    timeout "$t" "$bin" -tce="$iso" >"$out/tests.log" 2>&1
    say "suite without them: exit $? (limit $t s): $(counts "$out/tests.log")"
    failures "$out/tests.log"
  else
    say "no time for the suite"
  fi
  for tool in memcheck racecheck synccheck; do
    t=$(($(left) - 5))
    ((t >= 20)) || { say "no time for $tool"; continue; }
    ((t > 35)) && t=35
    timeout "$t" compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin" \
      -tc='*of?a?group?tile*' >"$out/$tool.log" 2>&1
    say "$tool: exit $? (limit $t s): $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
  done
  say done
  exit 0
fi

labels=${VARATTN_BENCH_LABELS:-"s62B isoN3 base3"}  # the last one: the base of the tables
export LD_LIBRARY_PATH=$root/build/pre/${labels##* }/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for v in $labels; do unpack "$v" bench varattn_bench; done
if [[ $mode == ncu ]]; then
  metrics=gpu__time_duration.sum,smsp__inst_executed.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum
  for round in 1 2; do
    for cache in all none; do
      for label in $labels; do
        (($(left) > 15)) || { say "out of time before ncu $label"; break 3; }
        r=$(timeout 40 ncu --clock-control none --cache-control "$cache" --metrics "$metrics" \
          -k "regex:forward_kernel" --launch-skip 4 --launch-count 3 "build/run/varattn_bench_$label" \
          --benchmark_filter="^fwd/vl-window-d80/fused/bf16" --varattn_min_time=0.01 --varattn_settle=0 2>&1 |
          grep -E '^\s+(gpu__|smsp__|lts__|dram__)' | awk '{printf "%s=%s%s ", $1, $3, $2}')
        say "ncu round $round cache $cache $label vl-window-d80 fused: $r"
      done
    done
  done
  # Which SASS instructions a vl-window-d80 launch executes (per-instruction counts, CSV), for
  # the first label and the last (s62B over base3: 0.51 M warp-instructions; no group tiles).
  for label in "${labels%% *}" "${labels##* }"; do
    (($(left) > 40)) || { say "out of time before source counters $label"; break; }
    timeout 60 ncu --clock-control none --section SourceCounters -k "regex:forward_kernel" \
      --launch-skip 4 --launch-count 1 -o "$out/src_$label" "build/run/varattn_bench_$label" \
      --benchmark_filter="^fwd/vl-window-d80/fused/bf16" --varattn_min_time=0.01 --varattn_settle=0 \
      >"$out/src_$label.log" 2>&1
    timeout 60 ncu --import "$out/src_$label.ncu-rep" --page source --csv --print-source sass \
      >"$out/src_$label.csv" 2>&1
    say "source counters $label: exit $?, $(wc -l <"$out/src_$label.csv") lines"
    rm -f "$out/src_$label.ncu-rep"
  done
  # Where the memory-bound rows' time goes (the first label): every section of one launch, as text.
  for v in "vl-window-d80:fused:forward_kernel" "tiny-d64:fused:short_kernel"; do
    IFS=: read -r row policy kernel <<<"$v"
    (($(left) > 30)) || { say "out of time before ncu --set full $row"; break; }
    timeout 60 ncu --clock-control none --set full -k "regex:$kernel" --launch-skip 4 --launch-count 1 \
      "build/run/varattn_bench_${labels%% *}" --benchmark_filter="^fwd/$row/$policy/bf16" --varattn_min_time=0.01 \
      --varattn_settle=0 >"$out/full_$row.txt" 2>&1
    say "ncu --set full $row $policy: exit $?, $(wc -l <"$out/full_$row.txt") lines"
  done
  say done
  exit 0
fi
rows='^(fwd/(tiny-d64|sweep-d64-s64|sweep-d80-s64|sweep-d128-s64|vl-window-d80)/(fused|fused_sm80|fused_device)/bf16|fwd/(tiny-d64|vl-window-d80)/fused/fp16|encoder_graph/(tiny-d64|vl-window-d80)/device_plan/bf16)'
if [[ -n ${VARATTN_BENCH_LABELS-} ]]; then
  # Other labels (e.g. "splB s62B base3": store_output_split.patch): call_lib's interleaved
  # rounds (means), the table against the last label.
  run_variant() { local v=$1; shift; "build/run/varattn_bench_$v" --varattn_dtype=all "$@"; }
  # shellcheck disable=SC2086  # the labels, one word each
  variant_rounds "${labels##* }" "$rows" $labels
else
  for round in 1 2 3; do  # call 2's form: medians by hand (call2_medians.md)
    (($(left) > 90)) || { say "out of time before bench round $round"; break; }
    for v in $labels; do
      "build/run/varattn_bench_$v" --benchmark_filter="$rows" --varattn_dtype=all \
        --varattn_min_time=0.2 --benchmark_format=json 2>/dev/null >"$out/run.json"
      python3 bench/bench_json_rows.py "$out/run.json" "${v:0:1}$round" | tee -a "$summary"
    done
  done
fi

# One launch (s61's form) and five launches (--launch-count 5: is the one launch's +7.8% on
# vl-window-d80 its replay?), clocks as they run.
metrics=gpu__time_duration.sum,smsp__inst_executed.sum
for v in "vl-window-d80:fused:forward_kernel:1" "vl-window-d80:fused:forward_kernel:5" \
         "tiny-d64:fused:short_kernel:1" "tiny-d64:fused_sm80:forward_kernel:1"; do
  IFS=: read -r row policy kernel count <<<"$v"
  for label in $labels; do
    (($(left) > 15)) || { say "out of time before ncu $label $row"; break 2; }
    r=$(timeout 40 ncu --clock-control none --metrics "$metrics" -k "regex:$kernel" --launch-skip 4 \
      --launch-count "$count" "build/run/varattn_bench_$label" \
      --benchmark_filter="^fwd/$row/$policy/bf16" --varattn_min_time=0.01 --varattn_settle=0 2>&1 |
      grep -E '^\s+(gpu__|smsp__)' | awk '{printf "%s=%s%s ", $1, $3, $2}')
    say "ncu x$count $label $row $policy: $r"
  done
done
say done
