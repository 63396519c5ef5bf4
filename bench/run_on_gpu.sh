#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds, tests and benchmarks varattn on the GPU machine in one call, e.g. through the device
# tool:   bash bench/run_on_gpu.sh "$OUT"
#
# Stages: configure, build (ninja, Release), test (ctest, all tests incl. GPU ones),
# sanitize (compute-sanitizer memcheck on the GPU test binary, narrowed by the doctest
# arguments in VARATTN_SANITIZE_ARGS if set; racecheck on its "every kernel family" case and
# the backward's small "every kernel variant" case; initcheck on those, the invalid-offsets
# case and VARATTN_INITCHECK_CASES),
# bench (varattn_bench, every workload, JSON; all but the backward's bwd/ and the training
# step's encoder_graph_train/ benchmarks unless VARATTN_BENCH_ARGS gives a --benchmark_filter),
# compare (bench/compare.py: PyTorch anchors,
# which runs varattn_bench again itself so both sides are measured in the same call; its JSON
# goes to a temporary file, and compare fails (exit 3) when varattn gave no result at all;
# it also draws compare.png, each anchor's time over varattn's, where matplotlib exists).
# A failing stage does not stop the later ones (those that need its output are skipped);
# the script exits nonzero if any stage failed and prints a short summary last.
#
# OUTDIR stays flat, at most 8 files (all the device tool brings back): summary.txt build.log
# test.log (ctest, then compute-sanitizer) bench.log (varattn_bench, then compare.py's log)
# bench.json compare.md compare.json compare.png.
#
# Optional environment:
#   VARATTN_BUILD_DIR     build folder (default: <repo>/build/gpu, reused when the machine is warm)
#   VARATTN_CUDA_ARCHS    CMAKE_CUDA_ARCHITECTURES (default 90a; "80;90a" builds both paths)
#   VARATTN_CMAKE_ARGS    extra configure arguments, word-split (e.g. -DVARATTN_HEAD_DIMS=64;80;128)
#   VARATTN_STAGES        comma-separated subset of configure,build,test,sanitize,bench,compare
#                         (default: all but sanitize)
#   VARATTN_SANITIZE_ARGS doctest arguments for the memcheck run (e.g. -tc="bfloat16*")
#   VARATTN_BENCH_ARGS    extra varattn_bench arguments (e.g. --varattn_dtype=all --benchmark_filter=^fwd/);
#                         the default filter -^(bwd|encoder_graph_train)/ leaves out the backward's
#                         bwd/ benchmarks (132 a dtype) and the training step's encoder_graph_train/
#                         (7 a dtype, 24-32 layers of forward + backward each); a --benchmark_filter
#                         here replaces it (^bwd/: the backward's alone; ^encoder_graph_train/)
#   VARATTN_COMPARE_ARGS  extra compare.py arguments (e.g. --quick --workloads main,options --skip flex;
#                         the group options: windows, softcap, logsumexp, head dims 72 and 256;
#                         serving: GQA/chunked prefill, few queries, ViT-L/14, MQA; --no-graph:
#                         eager timings only, no CUDA-graph replays of the methods; --pass fwdbwd:
#                         forward + backward, gradients checked, varattn_bench not run)
#   VARATTN_DEADLINE_S    seconds for the whole script (default 570: under the tool's 600 s limit)
set -u -o pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUT=$1
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${VARATTN_BUILD_DIR:-$ROOT/build/gpu}
ARCHS=${VARATTN_CUDA_ARCHS:-90a}
STAGES=",${VARATTN_STAGES:-configure,build,test,bench,compare},"
read -r -a SANITIZE_EXTRA <<<"${VARATTN_SANITIZE_ARGS:-}"
DEADLINE=${VARATTN_DEADLINE_S:-570}
JOBS=$(nproc 2>/dev/null || echo 8)
BENCH_BIN=$BUILD/bench/varattn_bench
read -r -a CMAKE_EXTRA <<<"${VARATTN_CMAKE_ARGS:-}"
read -r -a BENCH_EXTRA <<<"${VARATTN_BENCH_ARGS:-}"
read -r -a COMPARE_EXTRA <<<"${VARATTN_COMPARE_ARGS:-}"
export PYTHONUNBUFFERED=1

SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
declare -a NAMES=() RESULTS=() TIMES=()
FAILED=0

record() {  # name result seconds
  NAMES+=("$1")
  RESULTS+=("$2")
  TIMES+=("$3")
}

wanted() { [[ $STAGES == *",$1,"* ]]; }

seconds_left() { echo $((DEADLINE - SECONDS)); }

# run_stage NAME LOG COMMAND...: runs COMMAND with output tee'd to LOG, bounded by the deadline.
run_stage() {
  local name=$1 log=$2
  shift 2
  local left
  left=$(($(seconds_left) - 20))
  if ((left < 10)); then
    record "$name" "SKIPPED (deadline)" 0
    FAILED=1
    return 1
  fi
  local start=$SECONDS rc
  echo "=== $name ($(date +%H:%M:%S), ${left}s left): $*" | tee -a "$log"
  timeout --kill-after=10 "$left" "$@" 2>&1 | tee -a "$log"
  rc=$?
  if ((rc == 0)); then
    record "$name" "ok" $((SECONDS - start))
  else
    if ((rc == 124 || rc == 137)); then
      record "$name" "FAILED (timed out)" $((SECONDS - start))
    else
      record "$name" "FAILED (rc $rc)" $((SECONDS - start))
    fi
    FAILED=1
  fi
  return "$rc"
}

{
  echo "varattn run_on_gpu.sh  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used,memory.total,temperature.gpu \
    --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  echo "nvcc: $(nvcc --version 2>/dev/null | tail -1)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)   python: $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)' 2>&1 | tail -1)"
  echo "build: $BUILD  archs: $ARCHS  stages: ${STAGES:1:${#STAGES}-2}"
} | tee -a "$SUMMARY"

# --- configure + build -------------------------------------------------------------------------
built=1
if wanted configure; then
  run_stage configure "$OUT/build.log" \
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CUDA_ARCHITECTURES=$ARCHS" -DVARATTN_BUILD_TESTS=ON -DVARATTN_BUILD_BENCHMARKS=ON \
    "${CMAKE_EXTRA[@]}" || built=0
fi
if wanted build; then
  if ((built)); then
    run_stage build "$OUT/build.log" cmake --build "$BUILD" --parallel "$JOBS" || built=0
  else
    record build "SKIPPED (configure failed)" 0
  fi
fi

# --- tests -------------------------------------------------------------------------------------
if wanted test; then
  if ((built)) && [[ -d $BUILD ]]; then
    # --timeout: a kernel that deadlocks fails its test instead of eating the whole call.
    run_stage test "$OUT/test.log" ctest --test-dir "$BUILD" --output-on-failure --no-tests=error --timeout 240
  else
    record test "SKIPPED (no build)" 0
    FAILED=1
  fi
fi

# --- compute-sanitizer ---------------------------------------------------------------------------
if wanted sanitize; then
  GPU_TESTS=$BUILD/tests/varattn_gpu_tests
  if [[ -x $GPU_TESTS ]]; then
    run_stage memcheck "$OUT/test.log" compute-sanitizer --tool memcheck --error-exitcode 9 \
      "$GPU_TESTS" "${SANITIZE_EXTRA[@]}"
    # racecheck runs ~100x slower: the small problems of every kernel family and variant,
    # forward and backward.
    run_stage racecheck "$OUT/test.log" compute-sanitizer --tool racecheck --error-exitcode 9 \
      "$GPU_TESTS" "-tc=every kernel family*,backward: every kernel variant*"
    # initcheck: no kernel reads device memory nothing wrote (same small cases, plus the
    # invalid-offset and reliability cases whose outputs the device fills with NaN).
    run_stage initcheck "$OUT/test.log" compute-sanitizer --tool initcheck --error-exitcode 9 \
      "$GPU_TESTS" "-tc=every kernel family*,backward: every kernel variant*,invalid device offsets*${VARATTN_INITCHECK_CASES:+,$VARATTN_INITCHECK_CASES}"
  else
    record sanitize "SKIPPED (no $GPU_TESTS)" 0
    FAILED=1
  fi
fi

# --- varattn_bench -----------------------------------------------------------------------------
if wanted bench; then
  if [[ -x $BENCH_BIN ]]; then
    run_stage bench "$OUT/bench.log" "$BENCH_BIN" \
      "--benchmark_out=$OUT/bench.json" --benchmark_out_format=json \
      --benchmark_counters_tabular=true '--benchmark_filter=-^(bwd|encoder_graph_train)/' "${BENCH_EXTRA[@]}"
  else
    record bench "SKIPPED (no $BENCH_BIN)" 0
    FAILED=1
  fi
fi

# --- compare.py --------------------------------------------------------------------------------
if wanted compare; then
  bench_arg=$BENCH_BIN
  [[ -x $BENCH_BIN ]] || bench_arg=-
  run_stage compare "$OUT/bench.log" \
    python3 "$ROOT/bench/compare.py" "$bench_arg" "$OUT" \
    --deadline-s $(($(seconds_left) - 40)) "${COMPARE_EXTRA[@]}"
fi

# --- summary (printed last: the device tool returns the end of the output) ---------------------
{
  echo
  echo "## Stages"
  printf '%-10s %-28s %6s\n' stage result seconds
  for i in "${!NAMES[@]}"; do
    printf '%-10s %-28s %6s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"
  done
  if [[ -f $OUT/test.log ]]; then
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/test.log" | tail -4
    grep -E "tests passed|tests failed|\(Failed\)|\(Skipped\)|Not Run|\*\*\*" "$OUT/test.log" | tail -12
  fi
  if [[ -f $OUT/compare.md ]] && grep -q '^## Summary' "$OUT/compare.md"; then
    echo
    sed -n '/^## Summary/,$p' "$OUT/compare.md"
  elif [[ -f $OUT/bench.log ]]; then
    echo
    grep -E '^(fwd|bwd|encoder)/' "$OUT/bench.log" | cut -c1-200 | head -40
  fi
  echo "files: $(find "$OUT" -maxdepth 1 -type f -printf '%f ')"
  echo "overall: $([[ $FAILED -eq 0 ]] && echo ok || echo FAILED)  (${SECONDS}s)"
} | tee -a "$SUMMARY"
exit "$FAILED"
