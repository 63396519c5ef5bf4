#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call for a kernel patch not yet run: its new test cases first under a short
# timeout, then ncu of one kernel A/B, then the backward suite and the sanitizers.
#   run(command="VARATTN_CALL_BUDGET_S=540 bash bench/experiments/patch_check_ncu.sh $OUT PATCH 'NEW_CASES' KERNEL_REGEX ROW...", timeout_s=570)
# A = the tree with PATCH, B = the tree (PATCH's .reverse.patch beside it, as ncu_kernel_ab.sh
# wants; B's binary is checked against the tree without PATCH). Builds varattn_bench (A, B) and
# varattn_gpu_tests (A) at VARATTN_AB_HEAD_DIMS (64) with Ninja, all at once, unless
# VARATTN_PREBUILT="LABEL_A LABEL_B" names binaries built beforehand on the machine without a
# GPU that match (bench/prebuilt.sh; carry build/pre): then nothing is built. Steps, each only
# while the budget lasts:
#   1. A's NEW_CASES (a doctest -tc pattern, spaces as `?`) under `timeout 120` (a hang costs two
#      minutes, not the call); on a failure nothing more runs;
#   2. ncu (--clock-control none, -k regex:KERNEL_REGEX, 5 launches after 4 skipped,
#      gpu__time_duration.sum) of A and B on each ROW (varattn_bench names), A B x
#      VARATTN_NCU_ROUNDS (2);
#   3. A's suite, VARATTN_TESTS (default `-tc=backward*,graph:?a?training?step*`);
#   4. VARATTN_SANITIZE_TOOLS (racecheck memcheck synccheck) on VARATTN_SANITIZE_TESTS (default:
#      NEW_CASES and `backward:?every?kernel?variant*`), each at most 45 s.
# Apply bench/experiments/backward_tail_tile_rows.patch first where a row needs it (both
# binaries then have the rows; prebuilt ones must have been built with it too).
# OUTDIR: summary.txt (the log; ncu lines "A1 ROW 1.62ms 1.63ms ..."), tests_new.log,
# tests.log, <tool>.log, logs.tgz (build logs).
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ncu_durations.sh"
out=${1:?usage: patch_check_ncu.sh OUTDIR PATCH NEW_CASES KERNEL_REGEX ROW...}
patch=${2:?PATCH} new_cases=${3:?NEW_CASES} kernel=${4:?KERNEL_REGEX}
shift 4
(($# > 0)) || { echo "patch_check_ncu.sh: no ROW" >&2; exit 2; }
rows=("$@")
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$(pwd)
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-540}
dims=${VARATTN_AB_HEAD_DIMS:-64}
left() { echo $((budget - ($(date +%s) - start))); }
summary=$out/summary.txt
: >"$summary"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
reverse=${patch%.patch}.reverse.patch
[[ -f $patch && -f $reverse ]] || { say "need $patch and $reverse"; exit 2; }
git apply --check "$patch" 2>/dev/null || { say "$patch does not apply to this tree"; exit 2; }
logs=/tmp/patch_check_ncu_logs
rm -rf "$logs" && mkdir -p "$logs" || exit 2
cleanup() {
  local pid
  for pid in $(jobs -p); do
    pkill -TERM -P "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  tar -C "$logs" -czf "$out/logs.tgz" . 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
bash bench/machine_facts.sh | tee -a "$summary"

read -r pre_a pre_b <<<"${VARATTN_PREBUILT:-}"
if [[ -n ${pre_b:-} ]] &&
  bash bench/prebuilt.sh use "$pre_a" "$patch" build/check_A 2>>"$logs/prebuilt.log" >/dev/null &&
  bash bench/prebuilt.sh use "$pre_b" "" build/check_B 2>>"$logs/prebuilt.log" >/dev/null; then
  export LD_LIBRARY_PATH=$root/build/pre/$pre_a/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  say "prebuilt A ($pre_a) and B ($pre_b): no build"
else
  [[ -z ${pre_b:-} ]] || say "prebuilt binaries unusable ($(tr '\n' ' ' <"$logs/prebuilt.log")): building"
  src=/tmp/patch_check_ncu_src_A
  rm -rf "$src" && mkdir -p "$src" || exit 2
  tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf - || exit 2
  (cd "$src" && git apply "$root/$patch") >"$logs/patch.log" 2>&1 || { say "$patch: copy failed"; exit 2; }
  build_limit=$(($(left) - 200))  # ~200 s left for the checks and the first ncu rounds
  ((build_limit >= 60)) || build_limit=60
  build() {  # label source tests(ON/OFF) targets...
    local label=$1 source=$2 tests=$3 dir=$root/build/check_$1
    shift 3
    cmake -S "$source" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
      -DVARATTN_HEAD_DIMS="$dims" -DVARATTN_BUILD_TESTS="$tests" -DVARATTN_BUILD_EXAMPLES=OFF \
      -DVARATTN_BUILD_BENCHMARKS=ON >"$logs/cmake_$label.log" 2>&1 &&
      timeout "$build_limit" ninja -C "$dir" "$@" >"$logs/build_$label.log" 2>&1
  }
  build A "$src" ON varattn_bench varattn_gpu_tests &
  pid_a=$!
  build B "$root" OFF varattn_bench &
  pid_b=$!
  wait $pid_a; rc_a=$?
  wait $pid_b; rc_b=$?
  say "builds: A exit $rc_a, B exit $rc_b"
fi
bench_a=$root/build/check_A/bench/varattn_bench
bench_b=$root/build/check_B/bench/varattn_bench
tests_a=$root/build/check_A/tests/varattn_gpu_tests
[[ -x $tests_a && -x $bench_a ]] || { say "A has no binaries"; tail -30 "$logs/build_A.log" 2>/dev/null; exit 1; }

# 1. The new cases first.
timeout 120 "$tests_a" -tc="$new_cases" >"$out/tests_new.log" 2>&1
rc=$?
say "new cases ($new_cases): exit $rc: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests_new.log" | tr '\n' ' ')"
if ((rc != 0)); then
  grep -B2 -A12 -E 'ERROR|FAILED|timed out' "$out/tests_new.log" | head -60
  say "stopped: the new cases did not pass (exit $rc; 124 is the timeout)"
  exit 1
fi

# 2. ncu of the kernel alone.
say "ncu (--clock-control none, gpu__time_duration.sum, 5 launches after 4 skipped), -k regex:$kernel, A = $patch, B = the tree"
for round in $(seq 1 "${VARATTN_NCU_ROUNDS:-2}"); do
  for v in A:$bench_a B:$bench_b; do
    label=${v%%:*} bench=${v#*:}
    [[ -x $bench ]] || { say "no $bench"; continue; }
    for row in "${rows[@]}"; do
      (($(left) > 150)) || { say "out of time before $label$round $row"; break 3; }
      echo "$label$round $row $(ncu_durations "$bench" "$kernel" "$row")" | tee -a "$summary"
    done
  done
done

# 3. A's suite.
t=$(($(left) - 140))
if ((t >= 30)); then
  timeout "$t" "$tests_a" ${VARATTN_TESTS:-"-tc=backward*,graph:?a?training?step*"} >"$out/tests.log" 2>&1
  say "suite: exit $? (limit $t s): $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" | tr '\n' ' ')"
  grep -B2 -A12 -E 'ERROR|FAILED' "$out/tests.log" | head -40
else
  say "no time for the suite"
fi

# 4. The sanitizers.
for tool in ${VARATTN_SANITIZE_TOOLS:-racecheck memcheck synccheck}; do
  t=$(($(left) - 10))
  ((t >= 20)) || { say "no time for $tool"; continue; }
  ((t > 45)) && t=45
  timeout "$t" compute-sanitizer --tool "$tool" --error-exitcode 9 "$tests_a" \
    -tc="${VARATTN_SANITIZE_TESTS:-$new_cases,backward:?every?kernel?variant*}" >"$out/$tool.log" 2>&1
  say "$tool: exit $? (limit $t s): $(grep -E 'test cases|SUMMARY' "$out/$tool.log" | tr '\n' ' ')"
done
say done
