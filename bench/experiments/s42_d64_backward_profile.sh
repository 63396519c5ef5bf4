#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s42 (not run yet): one device call that profiles the Hopper d64 backward beside
# FlashAttention-4's on the same tensors, the first d64 ncu pages since s33 (bench/NOTES.md).
# What to read in its output and which s32 figures to hold it against:
# bench/experiments/s42_d64_backward_profile.md.
#
#   run(command="bash bench/experiments/s42_d64_backward_profile.sh $OUT",
#       carry=["build/anchors/small"], timeout_s=450)
#
# Expected ~250-300 s when FA4 is already installed on a warm machine (after the bf16 table's
# call B, or this script's two-call route below) or installable (the anchors' unpack ran on this
# machine); ~150 s (ours only: build ~60 s, 4 ncu runs ~70 s) when FA4 cannot be had, and then
# FA4 is skipped with a line saying why. It keeps itself under S42_BUDGET_S (320 s).
# FA4 from a cold machine takes two calls (the carry limit: ../shared/ANCHORS.md):
#   1. carry ["build/anchors/big"]:  bash bench/experiments/s42_d64_backward_profile.sh $OUT
#      (ours, and the anchors' unpack started in the background);
#   2. within 30 s, carry ["build/anchors/small"]:
#      S42_PARTS=fa4 bash bench/experiments/s42_d64_backward_profile.sh $OUT
#
# Steps: (1) varattn_bench at head dim 64 only, -lineinfo, into build/s42_d64 (in the background,
# while FA4's part uses the GPU); (2) ncu of our dK/dV kernel on bwd/vit-l14-d64/fused/bf16 and
# bwd/llm-d64-mqa-causal/fused/bf16, one launch each (--clock-control none; sections
# SpeedOfLight, ComputeWorkloadAnalysis, WarpStateStats, SchedulerStats, InstructionStats,
# LaunchStats, Occupancy, SourceCounters, plus s32's metric list), and gpu__time_duration of
# every kernel of our backward calls (lists, D, dK/dV, the partials' sum, dq_convert); the dQ
# accumulator's memset is no kernel to ncu, so a cudaMemsetAsync of its size is timed apart;
# (3) the same for FA4's backward (bench/run_method.py, FlashAttentionBackwardSm90; durations
# of every kernel of its fwd+bwd calls) if it imports, else skipped; (4) the timed bwd rows once,
# then tables (bench/experiments/s42_d64_backward_tables.py, bench/sass_stalls.py).
#
# Files under OUTDIR (4): summary.txt (the log, the per-call kernel tables, s32's metrics side by
# side, the wait sites, the opcode table a CTA-step; the reply's output tail is its end),
# ncu_details.txt (the details page of each profiled launch), durations.txt (every profiled
# kernel in launch order, then per call), pages.tgz (each profile's raw page and SASS source page
# as .csv.gz, for bench/sass_stalls.py, and the build, install and ncu logs).
#
# Environment: S42_PARTS (ours,fa4), S42_BUDGET_S (320), S42_BUILD_DIR (build/s42_d64),
# S42_SOURCE=0 (no SourceCounters: faster, no SASS pages).
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s42_d64_backward_profile.sh OUTDIR}
# shellcheck source=bench/experiments/backward_profile_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backward_profile_lib.sh"  # left, say, profile, durations, fa4_route, ...
profile_begin || exit 2  # OUTDIR made and absolute, the repository root the working directory, start
budget=${S42_BUDGET_S:-320}
parts=",${S42_PARTS:-ours,fa4},"
build=${S42_BUILD_DIR:-build/s42_d64}
work=/tmp/s42_d64
rm -rf "$work" && mkdir -p "$work/pages" "$work/logs" || exit 2
summary=$out/summary.txt
: >"$summary"
: >"$out/ncu_details.txt"
workloads=(vit-l14-d64 llm-d64-mqa-causal)
tables=bench/experiments/s42_d64_backward_tables.py
export PYTHONUNBUFFERED=1

short() { case $1 in vit-l14-d64) echo vit ;; llm-d64-mqa-causal) echo mqa ;; *) echo "${1//-/_}" ;; esac; }

source_counters=${S42_SOURCE:-1}
sections=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats
  --section SchedulerStats --section InstructionStats --section LaunchStats --section Occupancy)
[[ $source_counters == 1 ]] && sections+=(--section SourceCounters --import-source yes)
metric_list=$(python3 "$tables" metric-list) || metric_list=
# profile (backward_profile_lib.sh): one launch under the sections above and s32's metrics; if ncu
# rejects a section or metric name (no report, no timeout), once more with s32's proven form
# instead (--set full --import-source yes, bench/experiments/ncu_full.sh).
ncu_options fallback-alone
fallback_words=2 details_all=0
# The details page just appended is the file's last: its Duration line is this launch's.
profile_note() { grep -E '^\s+Duration' "$out/ncu_details.txt" | tail -1 | tr -s ' '; }

# --- the machine and the tree -------------------------------------------------------------------
say "s42 d64 backward profile: parts ${parts:1:${#parts}-2}, budget ${budget} s"
bash bench/machine_facts.sh | tee -a "$summary"

# --- (1) our build, in the background ------------------------------------------------------------
build_pid=
if [[ $parts == *,ours,* ]]; then
  (cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DVARATTN_HEAD_DIMS=64 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
    -DVARATTN_BUILD_BENCHMARKS=ON -DCMAKE_CUDA_FLAGS=-lineinfo &&
    ninja -C "$build" varattn_bench) >"$work/logs/build.log" 2>&1 &
  build_pid=$!
  say "build started ($build, head dim 64, -lineinfo)"
fi

# --- the anchors ----------------------------------------------------------------------------------
fa4_route S42_PARTS

# --- (3) FA4's backward, while ours builds ---------------------------------------------------------
if [[ $fa4 == ready ]]; then
  reserve=0
  [[ $parts == *,ours,* ]] && reserve=110  # ours' four ncu runs and the tables after the build
  for w in "${workloads[@]}"; do
    s=$(short "$w")
    limit=$(($(left) - reserve))
    ((limit > 40)) || { say "FA4 $w: skipped (time: ${limit} s before ours' reserve)"; continue; }
    # Every kernel of three fwd+bwd calls (and the set-up's before the first forward).
    durations "fa4_${s}_durations" "" 0 400 $((limit < 90 ? limit : 90)) \
      python3 bench/run_method.py "$w" fa4 --calls 3
    limit=$(($(left) - reserve))
    ((limit > 30)) || { say "FA4 $w profile: skipped (time)"; continue; }
    profile "fa4_$s" FlashAttentionBackwardSm90 2 $((limit < 120 ? limit : 120)) \
      python3 bench/run_method.py "$w" fa4 --calls 4
  done
else
  say "FA4: SKIPPED: $why"
fi

# --- (2) ours --------------------------------------------------------------------------------------
bench=$build/bench/varattn_bench
if [[ -n $build_pid ]]; then
  wait "$build_pid"
  rc=$?
  say "build exit $rc: $(tail -1 "$work/logs/build.log" | cut -c1-120)"
  if [[ -x $bench ]] && ((rc == 0)); then
    for w in "${workloads[@]}"; do
      s=$(short "$w")
      rows="^bwd/$w/fused/bf16"
      limit=$(($(left) - 40))
      ((limit > 20)) || { say "ours $w: skipped (time)"; continue; }
      profile "ours_$s" dkdv_kernel 3 $((limit < 90 ? limit : 90)) \
        "$bench" --benchmark_filter="$rows" --varattn_min_time=0.01 --varattn_settle=0
      limit=$(($(left) - 30))
      ((limit > 15)) || { say "ours $w durations: skipped (time)"; continue; }
      # 16 launches after the first 10: three or four whole calls of 3-5 kernels.
      durations "ours_${s}_durations" 'build_backward_lists|delta_kernel|dkdv_kernel|dkv_partial_sum|dq_convert' \
        10 16 $((limit < 60 ? limit : 60)) \
        "$bench" --benchmark_filter="$rows" --varattn_min_time=0.01 --varattn_settle=0
    done
  else
    say "ours: no $bench; build log tail:"
    tail -15 "$work/logs/build.log" | tee -a "$summary"
  fi
fi

# --- (4) the rows timed once, and the dQ accumulator's memset (the GPU idle otherwise) -------------
if [[ $parts == *,ours,* && -x $bench ]] && (($(left) > 30)); then
  timed_once 25 'vit-l14-d64|llm-d64-mqa-causal'
fi
if [[ $parts == *,ours,* ]] && (($(left) > 20)); then
  memset_times vit-l14-d64 llm-d64-mqa-causal
fi

# --- tables ----------------------------------------------------------------------------------------
P=$work/pages
{
  echo "# every profiled kernel's gpu__time_duration (ncu --clock-control none, caches flushed"
  echo "# before each: ncu's default), in launch order, then one call's kernels (median over calls)"
  ours_d=() fa4_d=()
  for w in "${workloads[@]}"; do
    s=$(short "$w")
    have "ours_${s}_durations.raw.csv.gz" && ours_d+=("ours_$s=$P/ours_${s}_durations.raw.csv.gz")
    have "fa4_${s}_durations.raw.csv.gz" && fa4_d+=("fa4_$s=$P/fa4_${s}_durations.raw.csv.gz")
  done
  ((${#ours_d[@]})) && python3 "$tables" durations "${ours_d[@]}"
  ((${#fa4_d[@]})) && python3 "$tables" durations --start FlashAttentionForward \
    --not-backward FlashAttentionForward "${fa4_d[@]}"
} >"$out/durations.txt" 2>&1
{
  echo
  echo "## one call's kernels (us; all of them in durations.txt)"
  awk '/^### /{print; p=0; next} /^  one call \(/{p=1} /^$/{p=0} p' "$out/durations.txt"
  reps=() waits=()
  for name in ours_vit fa4_vit ours_mqa fa4_mqa; do
    have "$name.raw.csv.gz" && reps+=("$name=$P/$name.raw.csv.gz")
    have "$name.sass.csv.gz" && waits+=("$name=$P/$name.sass.csv.gz,$P/$name.raw.csv.gz")
  done
  table "the dK/dV kernels, one launch each (s32's metrics; s32's figures: bench/results/backward_vs_fa4_profile_s32.txt)" \
    "$tables" metrics "${reps[@]}"
  table "wait sites (named barriers, wgmma waits, mbarrier waits): cycles a warp-execution" "$tables" waits "${waits[@]}"
  # s32's opcode table a CTA-step: vit runs 9,216 CTAs x 9 steps = 82,944 CTA-steps in both.
  if have ours_vit.sass.csv.gz; then
    echo
    echo "## vit: stall reasons, top instructions, opcodes a CTA-step (82,944), ours | FA4"
    versus=()
    have fa4_vit.sass.csv.gz && versus=(--versus "$P/fa4_vit.sass.csv.gz")
    python3 bench/sass_stalls.py "$P/ours_vit.sass.csv.gz" --top 15 --per 82944 "${versus[@]}"
  fi
  stalls 12 fa4_vit ours_mqa fa4_mqa
} >>"$summary" 2>&1
cp "$work"/logs/*.log "$P/" 2>/dev/null
pack
# The reply's output tail: the summary's tables.
awk '/^## one call/ {f = 1} f && n++ < 150' "$summary"  # (not sed | head: head's early exit would fail the pipe under pipefail)
