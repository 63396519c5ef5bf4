#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s47 (not run yet): the Hopper forward beside FlashAttention-4's forward on the same
# tensors, one launch each under ncu with s46's sections and metrics, on the forward rows still
# under the issue's 1.05x (s46's table: llm-d128 1.00 / 0.98, llm-d128-causal, long-d128,
# vl-full-d80 0.99 / 0.97). The last forward pages beside FA4 are s33's
# (bench/results/ncu_s33_*_fwd_*.sass.csv.gz), before the stale row max, GQA packing, class ranks
# and the steady loop. Read first: ncu_pair_diff.py's quotients (L2 sectors a request, bank
# conflicts a wavefront), then sass_stalls.py --memory (shared and L2 against ncu's ideal by
# instruction): the two readings that found s47's backward leads in s46's pages.
#
#   run(command="bash bench/experiments/s48_forward_profile.sh $OUT", carry=["build/pre/fwdB"],
#       timeout_s=420) on a warm machine where FA4 is installed (after a table call:
#       /tmp/anchors.env), or
#   run(command="bash bench/experiments/s48_forward_profile.sh $OUT",
#       carry=["build/anchors/small", "build/pre/fwdB"], timeout_s=420) after a call that
#       carried build/anchors/big (../shared/ANCHORS.md's two-call route).
# Ours: varattn_bench at 64;80;128 from build/pre/$S48_PREBUILT (default fwdB, built s48 on
# fdfdfb3's tree after the line regions landed; s46B is stale; carry it) when it
# matches the tree, else built here (-lineinfo, ~100 s, in the background while FA4 runs).
# ~40 s a FA4 launch (its JIT), ~15 s one of ours; S48_ROWS (default the four below).
# Files under OUTDIR: summary.txt (log, then the tables), ncu_details.txt, pages.tgz.
# S48_PASS=bwd (s50): the backward instead, FA4's FlashAttentionBackwardSm90 (run_method.py
# --pass fwdbwd) beside our dkdv_kernel (bench bwd/ rows); S48_PREBUILT_PATCHES: the patches
# the prebuilt label was built with (e.g. accb: bench/experiments/s49_dkv_accumulate.patch,
# whose VARATTN_EXP_* switches the bench inherits from this script's environment). E.g. the
# GQA backward, FA4's and ours with one q head a CTA and the float32 sum (s50, start (b)):
#   S48_PASS=bwd S48_ROWS=llm-d128-gqa28-causal S48_PREBUILT=accb
#   S48_PREBUILT_PATCHES=bench/experiments/s49_dkv_accumulate.patch VARATTN_EXP_SPLIT_HEADS=1
#   bash bench/experiments/s48_forward_profile.sh $OUT
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s48_forward_profile.sh OUTDIR}
# shellcheck source=bench/experiments/backward_profile_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backward_profile_lib.sh"
profile_begin || exit 2
parts=",${S48_PROFILE_PARTS:-ours,fa4},"
budget=${S48_PROFILE_BUDGET_S:-390}
rows=(${S48_ROWS:-llm-d128 llm-d128-causal long-d128 vl-full-d80})
pass=${S48_PASS:-fwd}
case $pass in
  fwd) fa4_kernel=FlashAttentionForwardSm90 fa4_pass=fwd ours_kernel=forward_kernel ;;
  bwd) fa4_kernel=FlashAttentionBackwardSm90 fa4_pass=fwdbwd ours_kernel=dkdv_kernel ;;
  *) echo "S48_PASS=$pass: fwd or bwd" >&2; exit 2 ;;
esac
work=/tmp/s48_forward
rm -rf "$work" && mkdir -p "$work/pages" "$work/logs" || exit 2
summary=$out/summary.txt
: >"$summary"
: >"$out/ncu_details.txt"
export PYTHONUNBUFFERED=1
cap() { local a=$1 b=$2; echo $((a < b ? a : b)); }
say "s48 $pass profile: rows ${rows[*]}, parts ${parts:1:${#parts}-2}, budget ${budget} s"
bash bench/machine_facts.sh | tee -a "$summary"

# --- ours: prebuilt, else a build in the background -------------------------------------------------
pre=${S48_PREBUILT:-fwdB}
bench=
build_pid=
if [[ $parts == *,ours,* ]]; then
  if dir=$(bash bench/prebuilt.sh use "$pre" "${S48_PREBUILT_PATCHES:-}" build/s48_pre \
    2>"$work/logs/prebuilt.log"); then
    bench=$dir/bench/varattn_bench
    export LD_LIBRARY_PATH=$(pwd)/build/pre/$pre/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    say "ours: prebuilt $pre (no build)"
  else
    say "ours: prebuilt $pre unusable ($(tr '\n' ' ' <"$work/logs/prebuilt.log" | cut -c1-160)): building"
    (cmake -S . -B build/s48_forward -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_ARCHITECTURES=90a "-DVARATTN_HEAD_DIMS=64;80;128" -DVARATTN_BUILD_TESTS=OFF \
      -DVARATTN_BUILD_EXAMPLES=OFF -DVARATTN_BUILD_BENCHMARKS=ON -DCMAKE_CUDA_FLAGS=-lineinfo &&
      timeout -k 5 $(($(left) - 90)) ninja -C build/s48_forward varattn_bench) \
      >"$work/logs/build.log" 2>&1 &
    build_pid=$!
    bench=build/s48_forward/bench/varattn_bench
  fi
fi

# --- ncu's sections and metrics: s46's set (its checks there passed: 55 metrics) --------------------
metric_list=$(python3 bench/experiments/s46_d256_backward_tables.py metric-names | paste -sd, -)
source_counters=1 details_all=1 fallback_words=3
memory_sections
ncu_options fallback-with-metrics
profile_note() {
  launch_note "$1" gpu__time_duration.sum lts__throughput.avg.pct_of_peak_sustained_elapsed \
    sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active
}

# --- FA4 (while ours builds, if it does) --------------------------------------------------------------
fa4_route S48_PROFILE_PARTS
if [[ $fa4 == ready ]]; then
  for row in "${rows[@]}"; do
    limit=$(($(left) - 20 * ${#rows[@]} - 40))
    ((limit > 40)) || { say "FA4 $row: skipped (time)"; continue; }
    profile "fa4_${row}" "$fa4_kernel" 2 "$(cap "$limit" 90)" \
      python3 bench/run_method.py "$row" fa4 --pass "$fa4_pass" --calls 4
  done
else
  say "FA4: SKIPPED: $why"
fi

# --- ours ---------------------------------------------------------------------------------------------
if [[ -n $build_pid ]]; then
  wait "$build_pid"
  say "build exit $?: $(tail -1 "$work/logs/build.log" | cut -c1-120)"
fi
if [[ -n $bench && -x $bench ]]; then
  for row in "${rows[@]}"; do
    limit=$(($(left) - 30))
    ((limit > 20)) || { say "ours $row: skipped (time)"; continue; }
    profile "ours_${row}" "$ours_kernel" 4 "$(cap "$limit" 60)" \
      "$bench" --benchmark_filter="^${pass}/${row}/fused/bf16" --varattn_min_time=0.01 --varattn_settle=0
  done
else
  say "ours: no bench binary"
fi

# --- the tables ---------------------------------------------------------------------------------------
{
  echo
  echo "## ncu_pair_diff.py --pairs (ours_X / fa4_X)"
  python3 bench/experiments/ncu_pair_diff.py "$out/ncu_details.txt" --pairs 2>&1
} >>"$summary"
for name in $(cd "$work/pages" && ls ./*.sass.csv.gz 2>/dev/null | sed 's|^\./||; s|\.sass\.csv\.gz$||'); do
  table "$name: shared and L2 against ideal; stalls" bench/sass_stalls.py \
    "$work/pages/$name.sass.csv.gz" --top 12 --memory >>"$summary" 2>&1
done
pack
