#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s46 (not run yet): one device call that profiles the Hopper head-dim-256 backward
# (dkdv_split_kernel) beside FlashAttention-4's on the same tensors (bwd/llm-d256-causal), with
# our d128 dK/dV kernel on bwd/llm-d128-causal (the same FLOPs) as the control: the first d256
# profile since s27 (hopper_backward_d256_profile_s27.md), the first of FA4's d256 backward.
# Since s46 (a second helper) the same call also takes the d128 pairs, ours and FA4's backward
# on bwd/llm-d128-causal and bwd/llm-d128 (S46_PROFILE_D128): the first d128 ours-vs-FA4 ncu
# pages since s32 (backward_vs_fa4_profile_s32.txt, dkdv_schedule_vs_fa4_s35.md).
# What to read in its output, the s27 and s32 figures to hold it against and the hypotheses it
# separates: bench/experiments/s46_d256_backward_profile.md.
#
#   run(command="bash bench/experiments/s46_d256_backward_profile.sh $OUT",
#       carry=["build/anchors/small"], timeout_s=480)
#
# Expected ~320-360 s when FA4 is installable (the anchors' unpack ran on this machine), ~280-320
# s when it is already installed on a warm machine; ~185 s (ours only: build ~100 s, 4 ncu runs
# ~75 s) when FA4 cannot be had, and then FA4 is skipped with a line saying why. It starts no
# new work after S46_PROFILE_BUDGET_S (380 s with both d128 workloads; 335 with one; 290, the
# d256 call as first prepared, with S46_PROFILE_D128=none).
# FA4 from a cold machine takes two calls (the carry limit: ../shared/ANCHORS.md):
#   1. carry ["build/anchors/big"]:  bash bench/experiments/s46_d256_backward_profile.sh $OUT
#      (ours, and the anchors' unpack started in the background);
#   2. within 30 s, carry ["build/anchors/small"]:
#      S46_PROFILE_PARTS=fa4 bash bench/experiments/s46_d256_backward_profile.sh $OUT
#      (FA4's part; its tables take ours' pages from call 1, left in /tmp/s46_d256 on this machine).
#
# Steps: (1) varattn_bench at head dims 128;256, -lineinfo, into build/s46_d256 (in the
# background, while FA4's part uses the GPU); the metric names ncu lists on this device (the
# candidates it lacks are dropped and logged) and one check of the sections and metrics on a
# torch kernel, so that a name ncu rejects costs ~10 s, not FA4's ~40 s run; (2) FA4's backward
# (bench/run_method.py): gpu__time_duration of every kernel of three fwd+bwd calls, then one
# FlashAttentionBackwardSm90 launch under the sections below; then the same launch on
# llm-d128-causal (FA4's 64 x 128 causal tile) and llm-d128 (80 x 128, s32's pair), and with
# S46_PROFILE_D128 holding "durations" their calls' kernel durations; (3) ours: one
# dkdv_split_kernel launch on bwd/llm-d256-causal/fused/bf16, the durations of four whole
# backward calls (lists, D, dK/dV, dq_convert; the dQ accumulator's memset is no kernel to ncu
# and is timed apart), one dkdv_kernel launch on bwd/llm-d128-causal/fused/bf16, one on
# bwd/llm-d128/fused/bf16 ("noncausal"), and with "durations" their calls' kernel durations;
# (4) the rows timed once, the memset, then the tables (s42_d64_backward_tables.py,
# s46_d256_backward_tables.py, bench/sass_stalls.py): the d256 sections, then the d128 ones.
# ncu: --clock-control none; sections SpeedOfLight, ComputeWorkloadAnalysis,
# MemoryWorkloadAnalysis, MemoryWorkloadAnalysis_Tables, WarpStateStats, SchedulerStats,
# InstructionStats, LaunchStats, Occupancy, SourceCounters; metrics: s32's list plus the L2
# sectors by operation (red, atom, read, write), TMA bytes, shared-memory bank reads/writes.
#
# Files under OUTDIR (4): summary.txt (the log, then the tables; the reply's output tail is its
# end), ncu_details.txt (each profiled launch's details page, section bodies included where ncu
# takes --print-details all), durations.txt (every profiled kernel in launch order, then per
# call), pages.tgz (each profile's raw page and SASS source page as .csv.gz, the build, install
# and ncu logs, and ncu's metric names on the device that mention TMA, reductions or atomics).
# Page names: ours_d256, fa4_d256 (llm-d256-causal), ours_d128, fa4_d128 (llm-d128-causal),
# ours_d128nc, fa4_d128nc (llm-d128).
#
# Environment: S46_PROFILE_PARTS (ours,fa4), S46_PROFILE_D128 (causal,noncausal: the d128
# workloads profiled beside the d256 call, comma-separated; add "durations" for each one's
# per-call kernel durations, ~40 s more a workload for FA4; "none" for the d256 call alone),
# S46_PROFILE_BUDGET_S (from S46_PROFILE_D128, above), S46_PROFILE_BUILD_DIR (build/s46_d256),
# S46_PROFILE_SOURCE=0 (no SourceCounters: faster, no SASS pages, most tables empty).
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s46_d256_backward_profile.sh OUTDIR}
# shellcheck source=bench/experiments/backward_profile_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backward_profile_lib.sh"  # left, say, profile, durations, fa4_route, ...
profile_begin || exit 2  # OUTDIR made and absolute, the repository root the working directory, start
parts=",${S46_PROFILE_PARTS:-ours,fa4},"
d128=",${S46_PROFILE_D128-causal,noncausal},"
d128=${d128// /}
# The d128 workloads (page tag:workload) and what they add to the budget: FA4's profile ~40 s
# (its JIT of the d128 kernels in a fresh process), ours ~15 s; with "durations", FA4 ~40 s and
# ours ~5 s more a workload.
d128_rows=() d128_extra=0 ours_d128_reserve=0
[[ $d128 == *,causal,* ]] && d128_rows+=("d128:llm-d128-causal") && d128_extra=$((d128_extra + 45))
[[ $d128 == *,noncausal,* ]] && d128_rows+=("d128nc:llm-d128") && d128_extra=$((d128_extra + 45)) &&
  ours_d128_reserve=20
d128_durations=0
if [[ $d128 == *,durations,* ]] && ((${#d128_rows[@]})); then
  d128_durations=1 d128_extra=$((d128_extra + 45 * ${#d128_rows[@]}))
  ours_d128_reserve=$((ours_d128_reserve + 10))
fi
budget=${S46_PROFILE_BUDGET_S:-$((290 + d128_extra))}
build=${S46_PROFILE_BUILD_DIR:-build/s46_d256}
source_counters=${S46_PROFILE_SOURCE:-1}
work=/tmp/s46_d256
mkdir -p "$work/pages" "$work/logs" || exit 2
# Only the parts run now start afresh: a second call (S46_PROFILE_PARTS=fa4) keeps ours' pages.
[[ $parts == *,ours,* ]] && rm -f "$work"/pages/ours_* "$work"/logs/ours_* "$work"/logs/build.log
[[ $parts == *,fa4,* ]] && rm -f "$work"/pages/fa4_* "$work"/logs/fa4_* "$work"/logs/install.log
rm -f "$work"/*.ncu-rep "$work"/logs/validate*.log "$work"/logs/dropped_metrics.txt
summary=$out/summary.txt
: >"$summary"
: >"$out/ncu_details.txt"
tables42=bench/experiments/s42_d64_backward_tables.py
tables46=bench/experiments/s46_d256_backward_tables.py
export PYTHONUNBUFFERED=1

cap() { local a=$1 b=$2; echo $((a < b ? a : b)); }

# --- the machine and the tree -------------------------------------------------------------------
say "s46 d256 backward profile: parts ${parts:1:${#parts}-2}, d128 ${d128:1:${#d128}-2}, budget ${budget} s"
for token in ${d128//,/ }; do
  case $token in
    causal | noncausal | durations | none) ;;
    *) say "S46_PROFILE_D128: '$token' is none of causal, noncausal, durations, none: ignored" ;;
  esac
done
bash bench/machine_facts.sh | tee -a "$summary"

# --- (1) our build, in the background ------------------------------------------------------------
build_pid=
if [[ $parts == *,ours,* ]]; then
  build_limit=$(($(left) - 60))  # the build's deadline: a minute left for one ncu run
  ((build_limit >= 60)) || build_limit=60
  (cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    "-DVARATTN_HEAD_DIMS=128;256" -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
    -DVARATTN_BUILD_BENCHMARKS=ON -DCMAKE_CUDA_FLAGS=-lineinfo &&
    timeout -k 5 "$build_limit" ninja -C "$build" varattn_bench) >"$work/logs/build.log" 2>&1 &
  build_pid=$!
  say "build started ($build, head dims 128;256, -lineinfo)"
fi

# --- the metric names this device's ncu lists, and the sections and metrics checked once ---------
timeout 60 ncu --query-metrics >"$work/logs/query_metrics.txt" 2>&1
grep -iE 'tma|gmma|_red|atom|bulk|dshared|dsmem' "$work/logs/query_metrics.txt" \
  >"$work/pages/metric_names_tma_red_atom.txt" 2>/dev/null
# known: the names on stdin that the listing has (all of them when the listing failed).
known() {
  local m base listed=1
  grep -qE '(^|[[:space:]])sm__cycles_active([[:space:]]|$)' "$work/logs/query_metrics.txt" || listed=0
  while read -r m; do
    [[ -n $m ]] || continue
    base=${m%%.*}
    if ((listed == 0)) || [[ $m == launch__* || $m == gpu__time_duration* || $m == device__* ]] ||
      grep -qE "(^|[[:space:]])${base}([[:space:]]|$)" "$work/logs/query_metrics.txt"; then
      echo "$m"
    else
      echo "$m" >>"$work/logs/dropped_metrics.txt"
    fi
  done
}
metric_list=$(python3 "$tables46" metric-names | known | paste -sd, -)
[[ -f $work/logs/dropped_metrics.txt ]] &&
  say "metrics ncu does not list here (dropped): $(paste -sd' ' "$work/logs/dropped_metrics.txt")"
memory_sections
ncu_options fallback-with-metrics
# One launch of a torch kernel under exactly these options. A metric ncu rejects by name is
# dropped (up to three); anything else rejected: s32's proven --set full
# (bench/experiments/ncu_full.sh), with the metrics if it takes them.
validate() {  # LOG OPTIONS...: 0 = accepted, 1 = rejected, 2 = could not tell (no torch, timeout)
  local log=$1 rc
  shift
  rm -f "$work/validate.ncu-rep"
  timeout -k 5 60 ncu --clock-control none "$@" --launch-count 1 -f -o "$work/validate" \
    python3 -c 'import torch; x = torch.ones(1 << 20, device="cuda"); print(float((2 * x).sum()))' \
    >"$log" 2>&1
  rc=$?
  [[ -f $work/validate.ncu-rep ]] && { rm -f "$work/validate.ncu-rep"; return 0; }
  grep -q 'Traceback\|No module named' "$log" && return 2  # torch's side, not ncu's options
  grep -q '==ERROR==' "$log" && ((rc != 124 && rc != 137)) && return 1
  return 2
}
rejected() {  # LOG: the first metric of metric_list the log's errors name (full name, then base)
  local m base errors
  errors=$(grep -h '==ERROR==' "$1")
  for m in ${metric_list//,/ }; do
    grep -qF -- "$m" <<<"$errors" && { echo "$m"; return; }
  done
  for m in ${metric_list//,/ }; do
    base=${m%%.*}
    grep -qE "(^|[^a-z0-9_])${base}([^a-z0-9_]|$)" <<<"$errors" && { echo "$m"; return; }
  done
}
checked=1
for try in 1 2 3 4; do
  validate "$work/logs/validate$try.log" "${what[@]}"
  checked=$?
  ((checked == 1)) || break
  say "ncu rejects the options: $(grep -h -m1 '==ERROR==' "$work/logs/validate$try.log" | cut -c1-160)"
  bad=$(rejected "$work/logs/validate$try.log")
  [[ -n $bad && $try -lt 4 ]] || break
  metric_list=$(tr ',' '\n' <<<"$metric_list" | grep -vxF -- "$bad" | paste -sd, -)
  say "  ... dropping $bad"
  ncu_options fallback-with-metrics
done
case $checked in
  0) say "ncu accepts the sections and $(tr ',' '\n' <<<"$metric_list" | grep -c .) metrics (checked on a torch kernel)" ;;
  1)
    what=("${fallback[@]}")
    if validate "$work/logs/validate_full.log" "${what[@]}"; then
      say "  ... profiling with --set full and the metrics"
    else
      what=(--set full --import-source yes)
      say "  ... profiling with --set full alone (its L2 and memory tables still come)"
    fi
    fallback=(--set full --import-source yes) ;;
  *) say "ncu options not checked (no torch kernel profiled: $(tail -1 "$work/logs/validate1.log" | cut -c1-120))" ;;
esac

# profile (backward_profile_lib.sh): one launch under "what"; if ncu rejects something (no report,
# no timeout, an ==ERROR==), once more with the fallback; details pages with --print-details all.
# Its line for a launch: the duration, L2 throughput, tensor-pipe activity, L2 reduction sectors.
fallback_words=3 details_all=1
profile_note() {
  launch_note "$1" gpu__time_duration.sum lts__throughput.avg.pct_of_peak_sustained_elapsed \
    sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active lts__t_sectors_op_red.sum
}

# --- the anchors ----------------------------------------------------------------------------------
fa4_route S46_PROFILE_PARTS

# --- (2) FA4's backward, while ours builds ---------------------------------------------------------
if [[ $fa4 == ready ]]; then
  reserve=0
  # ours' three ncu runs, the timings and the tables; and ours' d128 extras (S46_PROFILE_D128)
  [[ $parts == *,ours,* ]] && reserve=$((100 + ours_d128_reserve))
  limit=$(($(left) - reserve))
  if ((limit > 40)); then
    # Every kernel of three fwd+bwd calls (and the set-up's before the first forward).
    durations fa4_d256_durations "" 0 400 "$(cap "$limit" 100)" \
      python3 bench/run_method.py llm-d256-causal fa4 --calls 3
  else
    say "FA4 durations: skipped (time: ${limit} s before ours' reserve)"
  fi
  limit=$(($(left) - reserve))
  if ((limit > 40)); then
    profile fa4_d256 FlashAttentionBackwardSm90 2 "$(cap "$limit" 150)" \
      python3 bench/run_method.py llm-d256-causal fa4 --calls 4
  else
    say "FA4 profile: skipped (time: ${limit} s before ours' reserve)"
  fi
  # The d128 pairs (S46_PROFILE_D128): the same launch, each workload its own process (FA4's JIT
  # of its d128 kernels is most of the ~40 s); their durations after both profiles.
  for row in "${d128_rows[@]}"; do
    limit=$(($(left) - reserve))
    if ((limit > 40)); then
      profile "fa4_${row%%:*}" FlashAttentionBackwardSm90 2 "$(cap "$limit" 120)" \
        python3 bench/run_method.py "${row#*:}" fa4 --calls 4
    else
      say "FA4 ${row#*:} profile: skipped (time: ${limit} s before ours' reserve)"
    fi
  done
  for row in "${d128_rows[@]}"; do
    ((d128_durations)) || break
    limit=$(($(left) - reserve))
    if ((limit > 40)); then
      durations "fa4_${row%%:*}_durations" "" 0 400 "$(cap "$limit" 90)" \
        python3 bench/run_method.py "${row#*:}" fa4 --calls 3
    else
      say "FA4 ${row#*:} durations: skipped (time: ${limit} s before ours' reserve)"
    fi
  done
else
  say "FA4: SKIPPED: $why"
fi

# --- (3) ours --------------------------------------------------------------------------------------
bench=$build/bench/varattn_bench
bench_args=(--varattn_min_time=0.01 --varattn_settle=0)
if [[ -n $build_pid ]]; then
  wait "$build_pid"
  rc=$?
  say "build exit $rc: $(tail -1 "$work/logs/build.log" | cut -c1-120)"
  if [[ -x $bench ]] && ((rc == 0)); then
    limit=$(($(left) - 60))
    if ((limit > 25)); then
      profile ours_d256 dkdv_split_kernel 3 "$(cap "$limit" 150)" \
        "$bench" --benchmark_filter='^bwd/llm-d256-causal/fused/bf16' "${bench_args[@]}"
    else
      say "ours d256 profile: skipped (time)"
    fi
    limit=$(($(left) - 45))
    if ((limit > 15)); then
      # 16 launches after the first 10: four whole calls of lists, D, dK/dV and dq_convert.
      durations ours_d256_durations 'build_backward_lists|delta_kernel|dkdv|dkv_partial_sum|dq_convert' \
        10 16 "$(cap "$limit" 60)" \
        "$bench" --benchmark_filter='^bwd/llm-d256-causal/fused/bf16' "${bench_args[@]}"
    else
      say "ours d256 durations: skipped (time)"
    fi
    limit=$(($(left) - 25 - ours_d128_reserve))
    if ((limit > 25)); then
      profile ours_d128 dkdv_kernel 3 "$(cap "$limit" 120)" \
        "$bench" --benchmark_filter='^bwd/llm-d128-causal/fused/bf16' "${bench_args[@]}"
    else
      say "ours d128 control: skipped (time)"
    fi
    if [[ $d128 == *,noncausal,* ]]; then
      limit=$(($(left) - 25 - 10 * d128_durations))
      if ((limit > 25)); then
        profile ours_d128nc dkdv_kernel 3 "$(cap "$limit" 120)" \
          "$bench" --benchmark_filter='^bwd/llm-d128/fused/bf16' "${bench_args[@]}"
      else
        say "ours llm-d128 profile: skipped (time)"
      fi
    fi
    for row in "${d128_rows[@]}"; do
      ((d128_durations)) || break
      limit=$(($(left) - 30))
      if ((limit > 15)); then
        durations "ours_${row%%:*}_durations" 'build_backward_lists|delta_kernel|dkdv|dkv_partial_sum|dq_convert' \
          10 16 "$(cap "$limit" 60)" \
          "$bench" --benchmark_filter="^bwd/${row#*:}/fused/bf16" "${bench_args[@]}"
      else
        say "ours ${row#*:} durations: skipped (time)"
      fi
    done
  else
    say "ours: no $bench; build log tail:"
    tail -15 "$work/logs/build.log" | tee -a "$summary"
  fi
fi

# --- (4) the rows timed once, and the dQ accumulator's memset (the GPU idle otherwise) -------------
timed_rows='llm-d256-causal|llm-d128-causal' timed_limit=20
[[ $d128 == *,noncausal,* ]] && timed_rows+='|llm-d128' timed_limit=28
if [[ $parts == *,ours,* && -x $bench ]] && (($(left) > timed_limit + 5)); then
  timed_once "$timed_limit" "$timed_rows" "$work/pages/ours_timed.txt"
fi
if [[ $parts == *,ours,* ]] && (($(left) > 15)); then
  memset_times llm-d256-causal llm-d128-causal
  grep -h 'memset of the dQ' "$summary" >>"$work/pages/ours_timed.txt"
fi

# --- tables ----------------------------------------------------------------------------------------
P=$work/pages
for name in ours_d256 fa4_d256 ours_d128 ours_d128nc fa4_d128 fa4_d128nc; do
  # Pages from an earlier call on this machine (the two-call route) are named with their age.
  if have "$name.raw.csv.gz" && [[ $parts != *,${name%%_*},* ]]; then
    say "tables: $name's pages from an earlier call on this machine ($(($(date +%s) - $(stat -c %Y "$P/$name.raw.csv.gz"))) s old)"
    [[ $name == ours_d256 ]] && have ours_timed.txt && sed 's/^/  (earlier call) /' "$P/ours_timed.txt" | tee -a "$summary"
  fi
done
{
  echo "# every profiled kernel's gpu__time_duration (ncu --clock-control none, caches flushed"
  echo "# before each: ncu's default), in launch order, then one call's kernels (median over calls)"
  for tag in d256 d128 d128nc; do  # d128, d128nc: S46_PROFILE_D128 with "durations"
    have "ours_${tag}_durations.raw.csv.gz" &&
      python3 "$tables42" durations "ours_$tag=$P/ours_${tag}_durations.raw.csv.gz"
    have "fa4_${tag}_durations.raw.csv.gz" && python3 "$tables42" durations --start FlashAttentionForward \
      --not-backward FlashAttentionForward "fa4_$tag=$P/fa4_${tag}_durations.raw.csv.gz"
  done
} >"$out/durations.txt" 2>&1
# page_specs NAME...: the tables' arguments for the NAMEs with a raw page: reps (NAME=raw), specs
# (NAME=sass,raw, or NAME=raw without a SASS page) and waits (those with a SASS page).
page_specs() {
  local name
  reps=() specs=() waits=()
  for name in "$@"; do
    have "$name.raw.csv.gz" || continue
    reps+=("$name=$P/$name.raw.csv.gz")
    if have "$name.sass.csv.gz"; then
      specs+=("$name=$P/$name.sass.csv.gz,$P/$name.raw.csv.gz")
      waits+=("$name=$P/$name.sass.csv.gz,$P/$name.raw.csv.gz")
    else
      specs+=("$name=$P/$name.raw.csv.gz")
    fi
  done
}
# cta_steps NAME DEFAULT: ours' CTA-steps on NAME's pages (the tables' steps --number), else DEFAULT.
cta_steps() {
  local steps
  steps=$(python3 "$tables46" steps --number "$1=$P/$1.sass.csv.gz,$P/$1.raw.csv.gz" 2>/dev/null)
  [[ $steps =~ ^[0-9]+$ ]] || steps=$2
  echo "$steps"
}
page_specs ours_d256 fa4_d256 ours_d128
{
  echo
  echo "## one call's kernels (us; all of them in durations.txt; the memset line is above)"
  awk '/^### /{print; p=0; next} /^  one call \(/{p=1} /^$/{p=0} p' "$out/durations.txt"
  table "CTA-steps (ours: the dS barrier's executions / 8; FA4: HGMMA tensor cycles / a 64 x 48 step's 1,920)" \
    "$tables46" steps "${waits[@]}"
  table "the dK/dV kernels, one launch each (s32's metric list; s27's d256 figures: hopper_backward_d256_profile_s27.md)" \
    "$tables42" metrics "${reps[@]}"
  table "(a) L2: sub-unit throughputs, sectors by operation (TB/s, KB a CTA-step), reductions the SASS issues" \
    "$tables46" l2 "${specs[@]}"
  table "(b) shared memory: wavefronts by instruction class, HGMMA operands a tensor cycle" "$tables46" smem "${waits[@]}"
  table "wait sites (named barriers, wgmma waits, mbarrier waits): cycles a warp-execution" "$tables42" waits "${waits[@]}"
  table "(c)-(e) the code in segments: cycles a step, per-CTA code" "$tables46" segments "${waits[@]}"
  if have ours_d256.sass.csv.gz; then
    steps=$(cta_steps ours_d256 142528)
    echo
    echo "## ours d256: stall reasons, top instructions, opcodes per ours' CTA-step ($steps), ours | FA4"
    echo "## (FA4 runs ~192,480 steps of 64 x 48: its column is per the same work, not per its own step)"
    versus=()
    have fa4_d256.sass.csv.gz && versus=(--versus "$P/fa4_d256.sass.csv.gz")
    python3 bench/sass_stalls.py "$P/ours_d256.sass.csv.gz" --top 20 --per "$steps" "${versus[@]}"
  fi
  stalls 15 fa4_d256 ours_d128
} >>"$summary" 2>&1

# --- the d128 tables (S46_PROFILE_D128): ours | FA4 on llm-d128 (s32's pair) and llm-d128-causal --
# ours_d128 (the d256 call's control) is the causal pair's ours: its long per-kernel blocks are in
# the d256 sections above, its columns in the side-by-side tables below.
s32_text=bench/results/backward_vs_fa4_profile_s32.txt
s32_fa4=bench/results/ncu_s32_bwd_llm_d128_fa4.sass.csv.gz
page_specs ours_d128nc fa4_d128nc ours_d128 fa4_d128
d128_new=()  # the SASS pages but ours_d128's
for spec in "${waits[@]}"; do
  [[ $spec == ours_d128=* ]] || d128_new+=("$spec")
done
if have ours_d128nc.raw.csv.gz || have fa4_d128nc.raw.csv.gz || have fa4_d128.raw.csv.gz; then
  s32_opt=()
  [[ -f $s32_text ]] && s32_opt=(--s32 "$s32_text")
  {
    table "d128: per CTA-step and per 80 x 128 block of work, ours | FA4 (s32's pair: $s32_text; s35's step: dkdv_schedule_vs_fa4_s35.md)" \
      "$tables46" d128 "${specs[@]}" "${s32_opt[@]}" --opcodes 40
    table "d128: the dK/dV kernels, one launch each (s32's metric list in s32's order: $s32_text)" \
      "$tables42" metrics "${reps[@]}"
    table "d128: (a) L2: sub-unit throughputs, sectors by operation, reductions the SASS issues" \
      "$tables46" l2 "${specs[@]}"
    if ((${#d128_new[@]})); then
      table "d128: (b) shared memory (ours_d128: in the d256 sections above)" "$tables46" smem "${d128_new[@]}"
      table "d128: wait sites, cycles a warp-execution (ours_d128: above)" "$tables42" waits "${d128_new[@]}"
      table "d128: the code in segments, cycles a step (ours_d128: above)" "$tables46" segments "${d128_new[@]}"
    fi
    if have ours_d128nc.sass.csv.gz; then
      steps=$(cta_steps ours_d128nc 228096)
      versus=() against="no FA4 page"
      if have fa4_d128nc.sass.csv.gz; then
        versus=(--versus "$P/fa4_d128nc.sass.csv.gz") against="FA4 of this run"
      elif [[ -f $s32_fa4 ]]; then
        versus=(--versus "$s32_fa4") against="FA4 of s32 (the same wheel)"
      fi
      echo
      echo "## ours_d128nc: stall reasons, top instructions, opcodes a CTA-step ($steps), ours | $against"
      echo "## (s32's table, 228,096 CTA-steps: ours 6,178.5 | FA4 4,012.4 a step; $s32_text)"
      python3 bench/sass_stalls.py "$P/ours_d128nc.sass.csv.gz" --top 20 --per "$steps" "${versus[@]}"
    fi
    stalls 15 fa4_d128nc fa4_d128
  } >>"$summary" 2>&1
fi
cp "$work"/logs/*.log "$work"/logs/*.txt "$P/" 2>/dev/null
gzip -f "$P/query_metrics.txt" 2>/dev/null
pack
# The reply's output tail: the start of the tables, then the d128 table without its opcodes (all
# of them are in summary.txt).
awk '/^## one call/ {on = 1} on && n++ < 90' "$summary"  # (no head: no SIGPIPE under pipefail)
awk '/^## d128: per CTA-step/ {on = 1} /^instructions executed an 80 x 128/ {on = 0} on' "$summary"
