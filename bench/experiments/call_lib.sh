# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2154  # the caller's globals (below)
# What the prepared candidates' device calls do alike, written once: sourced by
# candidate_call.sh, gqa_step_order_call.sh and forward_d80_leads_call.sh, which call
# call_begin OUTDIR first. Globals: out (OUTDIR), start, budget (VARATTN_CALL_BUDGET_S, 420).

# call_begin OUTDIR: the repository root the working directory, the machine's facts at the top
# of OUTDIR/summary.txt, the clock started.
call_begin() {
  out=$1
  mkdir -p "$out"
  cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
  bash bench/machine_facts.sh | tee "$out/summary.txt"
  start=$(date +%s)
  budget=${VARATTN_CALL_BUDGET_S:-420}
}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }

# gpu_tests NAME LIMIT_S COMMAND...: the tests COMMAND runs (env assignments first, if any),
# logged to OUTDIR/tests_NAME.log; the summary gets the exit, the counts and the failures.
gpu_tests() {
  local name=$1 log=$out/tests_$1.log limit=$2
  shift 2
  say "GPU tests $name (limit $limit s)"
  timeout "$limit" "$@" >"$log" 2>&1
  say "exit $?: $(grep -E 'test cases:|assertions:' "$log" | tr -s ' ' | tr '\n' ' ')"
  grep -E 'ERROR|FAILED' "$log" | head -20 | tee -a "$out/summary.txt"
}

# passed NAME: whether gpu_tests NAME's run printed doctest's success.
passed() { grep -q 'Status: SUCCESS' "$out/tests_$1.log"; }

# unpack_tests LABEL: build/pre/LABEL's GPU tests to build/run/tests_LABEL; returns 1 (and says
# so) when the label is missing.
unpack_tests() {
  mkdir -p build/run
  xz -dc "build/pre/$1/tests/varattn_gpu_tests.xz" >"build/run/tests_$1" &&
    chmod +x "build/run/tests_$1" || { say "no label $1"; return 1; }
}

# sanitizers NOTE FILTER TESTS [TOOLS]: compute-sanitizer TOOLS (memcheck and racecheck unless
# named) on the test cases FILTER (-tc) of the binary TESTS (the caller exports what it needs),
# each at most 90 s and while 40 s of the budget are left, logged to OUTDIR/TOOL.log.
sanitizers() {
  local note=$1 filter=$2 tests=$3 tool
  for tool in ${4:-memcheck racecheck}; do
    (($(left) > 40)) || { say "out of time before $tool $note"; return; }
    timeout $(($(left) - 10 < 90 ? $(left) - 10 : 90)) compute-sanitizer --tool "$tool" \
      "$tests" -tc="$filter" >"$out/$tool.log" 2>&1
    say "$tool $note exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tr -s ' ' | tr '\n' ' ')"
  done
}

# pack_results: everything in OUTDIR but summary.txt into OUTDIR/results.tar.xz (a call returns
# 8 files at most), after listing it in the summary; `trap pack_results EXIT` packs on an
# early exit too.
pack_results() {
  local rest
  cd "$out" || return
  ls -la | tee -a summary.txt
  mapfile -t rest < <(find . -mindepth 1 -maxdepth 1 ! -name summary.txt ! -name results.tar.xz)
  ((${#rest[@]})) && tar -cJf results.tar.xz "${rest[@]}" && rm -rf "${rest[@]}"
}

# unpack_bench_folder DIR: DIR/LABEL/bench (benches carried in one folder, since a call
# carries 8 paths at most) copied to build/pre/LABEL/bench, where bench_labels looks.
unpack_bench_folder() {
  local d
  for d in "$1"/*/; do
    mkdir -p "build/pre/$(basename "$d")" && cp -r "$d/bench" "build/pre/$(basename "$d")/"
  done
}

# bench_labels LIB LABEL...: each label's bench (build/pre/LABEL/bench) unpacked to
# build/run/bench_LABEL, LD_LIBRARY_PATH on build/pre/LIB/lib (libcudart and libbenchmark: a
# tests label's lib/ lacks the latter, s68), the first label's bench checked to start; exits 2
# if a label is missing or it does not start. variant_argv's `build/run/bench_$1` runs them.
bench_labels() {
  local lib=$1 label
  shift
  mkdir -p build/run
  for label in "$@"; do
    xz -dc "build/pre/$label/bench/varattn_bench.xz" >"build/run/bench_$label" &&
      chmod +x "build/run/bench_$label" || { say "no label $label"; exit 2; }
  done
  export LD_LIBRARY_PATH=$PWD/build/pre/$lib/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  "build/run/bench_$1" --help >/dev/null 2>"$out/bench_load.log" ||
    { say "bench_$1 does not start: $(head -c 300 "$out/bench_load.log")"; exit 2; }
}

# label_tests LABEL [FILTER]: build/pre/LABEL's GPU tests (doctest FILTER, e.g. '-tc=backward*';
# none: all), then memcheck and racecheck of every backward kernel variant; exits 1 when the
# suite failed (no timing after it). SKIP_TESTS=1 skips it (a rerun of the rounds alone).
label_tests() {
  [[ -n ${SKIP_TESTS:-} ]] && return 0
  local label=$1 filter=${2:-}
  mkdir -p build/run
  xz -dc "build/pre/$label/tests/varattn_gpu_tests.xz" >build/run/gpu_tests &&
    chmod +x build/run/gpu_tests || { say "no label $label"; exit 2; }
  gpu_tests "$label" 200 build/run/gpu_tests ${filter:+"$filter"}
  grep -q 'Status: SUCCESS' "$out/tests_$label.log" || { say "the suite failed: no timing"; exit 1; }
  sanitizers "($label)" 'backward:?every?kernel?variant*' build/run/gpu_tests
}

# landing_tests NOTE LABEL LABEL256 "PATCHES": a change's GPU tests before it lands, from
# prebuilt labels of the tree with PATCHES: every GPU test at 64;128 (LABEL), memcheck and
# racecheck of every backward kernel variant, then the backward's tests at 256 (LABEL256,
# skipped if absent: the split kernel's consumers).
landing_tests() {
  local note=$1 label=$2 label256=$3 patches=$4 dir dir256
  dir=$(bash bench/prebuilt.sh use "$label" "$patches" "build/$label") || exit 2
  LD_LIBRARY_PATH=$(pwd)/build/pre/$label/lib gpu_tests "$label" 200 "$dir/tests/varattn_gpu_tests"
  (export LD_LIBRARY_PATH=$(pwd)/build/pre/$label/lib
   sanitizers "($note)" 'backward:?every?kernel?variant*' "$dir/tests/varattn_gpu_tests")
  if dir256=$(bash bench/prebuilt.sh use "$label256" "$patches" "build/$label256"); then
    LD_LIBRARY_PATH=$(pwd)/build/pre/$label256/lib gpu_tests "$label256" $(($(left) - 10)) \
      "$dir256/tests/varattn_gpu_tests" '-tc=backward*,graph:?a?training?step*'
  fi
}

# variant_rounds BASE FILTER VARIANT...: 3 interleaved rounds of the bench rows FILTER, each
# variant run by run_variant VARIANT ARGS..., into OUTDIR/rows.txt, while more
# than ROUNDS_RESERVE_S (60) of the budget is left; then variant_rows.py's table against BASE
# into the summary.
variant_rounds() {
  local base=$1 filter=$2 round v
  shift 2
  say "rows, variants $*, 3 rounds ($(left) s left)"
  for round in 1 2 3; do
    for v in "$@"; do
      (($(left) > ${ROUNDS_RESERVE_S:-60})) || { echo "out of time before $v round $round"; break 2; }
      echo "== order $v round $round"
      run_variant "$v" --benchmark_filter="$filter" --varattn_min_time=0.1 \
        --benchmark_format=json 2>/dev/null >"$out/run.json"
      python3 bench/experiments/variant_rows.py parse "$out/run.json"
    done
  done >"$out/rows.txt" 2>&1
  python3 bench/experiments/variant_rows.py table "$out/rows.txt" "$base" | tee -a "$out/summary.txt"
}

# run_variant VARIANT ARGS...: the command the caller's `variant_argv VARIANT` puts in the
# array `argv`, with ARGS (callers without variant_argv define run_variant themselves).
run_variant() {
  variant_argv "$1"
  shift
  "${argv[@]}" "$@"
}

# ncu_rows KERNEL "ROWS" VARIANT...: for each row, each variant: ncu (--clock-control none, the
# fifth launch) of the kernels matching KERNEL in bench row bwd/ROW/fused/bf16, run by the
# command the caller's `variant_argv VARIANT` puts in the array `argv`: time, L2 hit rate and
# reduction sectors, DRAM bytes, into OUTDIR/ncu_VARIANT_ROW.log and the summary.
ncu_rows() {
  local kernel=$1 rows=$2 row v
  shift 2
  say "ncu: $kernel ($(left) s left)"
  for row in $rows; do
    for v in "$@"; do
      (($(left) > 20)) || { say "out of time before ncu $v $row"; return; }
      variant_argv "$v"
      timeout 40 ncu --clock-control none -k "regex:$kernel" \
        --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_srcunit_tex_op_red.sum,lts__t_sectors_srcunit_tex_op_red_lookup_miss.sum \
        --launch-skip 4 --launch-count 1 "${argv[@]}" \
        --benchmark_filter="^bwd/$row/fused/bf16/" --varattn_min_time=0.01 \
        --varattn_settle=0 >"$out/ncu_${v}_$row.log" 2>&1
      say "$v $row: $(grep -E '^\s+(gpu__time|lts__t_sector|dram__bytes)' "$out/ncu_${v}_$row.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
    done
  done
}

# kernel_cycles KERNEL PASS ROW RESERVE_S LABEL...: ncu (--clock-control none, the fifth
# launch) of the kernels matching KERNEL in bench row PASS/ROW/fused/bf16 for each label's bench
# (build/run/bench_LABEL): elapsed and active cycles (the clock-free figures), duration, tensor
# pipe; into OUTDIR/ncu_LABEL_ROW.log and the summary, while more than RESERVE_S of the budget
# is left.
kernel_cycles() {
  local kernel=$1 pass=$2 row=$3 reserve=$4 v
  shift 4
  say "ncu: $kernel on $pass/$row ($(left) s left)"
  for v in "$@"; do
    (($(left) > reserve)) || { say "out of time before ncu $v"; break; }
    timeout 40 ncu --clock-control none -k "regex:$kernel" \
      --metrics gpc__cycles_elapsed.max,sm__cycles_active.avg,gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active \
      --launch-skip 4 --launch-count 1 "build/run/bench_$v" \
      --benchmark_filter="^$pass/$row/fused/bf16/" --varattn_min_time=0.01 \
      --varattn_settle=0 >"$out/ncu_${v}_$row.log" 2>&1
    say "$v: $(grep -E '^\s+(gpc__|sm__|gpu__)' "$out/ncu_${v}_$row.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
  done
}
# forward_cycles ROW RESERVE_S LABEL...: kernel_cycles of the forward kernel.
forward_cycles() { kernel_cycles forward_kernel fwd "$@"; }

# sanitize TOOL LABEL: compute-sanitizer TOOL on the Hopper 192-row tile cases of
# build/run/tests_LABEL (at most 90 s, within the budget), into OUTDIR/TOOL_LABEL.log and the
# summary.
sanitize() {
  (($(left) > 30)) || { say "out of time before $1 $2"; return; }
  timeout $(($(left) - 10 < 90 ? $(left) - 10 : 90)) compute-sanitizer --tool "$1" \
    "build/run/tests_$2" -tc='head?dims?64?to?80?Hopper?tiles*' >"$out/$1_$2.log" 2>&1
  say "$1 $2 exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$1_$2.log" | tr -s ' ' | tr '\n' ' ')"
}
