#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fortieth session (one device call, ~220 s): the capped item-major ranks
# (hopper_backward_item_major_window.patch) against HEAD by the dK/dV kernel's own duration
# (ncu, --clock-control none), because two timed A/B pairs spread ~1-1.5% on these rows and
# the effect is ~1%. A = the tree + the patch, B = HEAD; timed rows first (ab.txt), then ncu
# over 5 launches of each binary, A B A B, on window512/1024 (item-major in A) and window2048
# (unit-major in both: the control).
#   VARATTN_CALL_BUDGET_S=220 bash bench/experiments/hopper_backward_item_major_ncu.sh "$OUT"
set -u
out=$1
P=bench/experiments
mkdir -p "$out"
start=$(date +%s)
left() { echo $((${VARATTN_CALL_BUDGET_S:-220} - $(date +%s) + start)); }
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
git apply --check $P/hopper_backward_item_major_window.patch ||
  { echo "the patch does not apply to this tree" >&2; exit 1; }
git apply $P/hopper_backward_item_major_window.patch || exit 1
VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=128 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
  timeout $(($(left) - 60)) bash bench/ab_on_gpu.sh "$out" $P/hopper_backward_item_major_window.reverse.patch \
  '^bwd/long-d128-window(512|1024|2048)/fused/bf16'
stamp "timed rows: exit $?"
for round in 1 2 3; do
  for v in A:build/gpu B:build/ab; do
    label=${v%%:*} bench=${v#*:}/bench/varattn_bench
    [[ -x $bench ]] || { stamp "no $bench"; continue; }
    for w in window512 window1024 window2048; do
      (($(left) > 15)) || { stamp "out of time before $label$round $w"; break 3; }
      timeout 25 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:dkdv_kernel \
        --launch-skip 4 --launch-count 5 "$bench" --benchmark_filter="^bwd/long-d128-$w/fused/bf16" \
        --varattn_min_time=0.01 --varattn_settle=0 >"$out/ncu_${label}${round}_$w.log" 2>&1
      echo "$label$round $w $(grep -E '^\s+gpu__time_duration.sum' "$out/ncu_${label}${round}_$w.log" |
        awk '{printf "%s%s ", $3, $2}')"
    done
  done
done | tee "$out/ncu_durations.txt"
git apply -R $P/hopper_backward_item_major_window.patch
stamp done
