#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-sixth session (NOTES s56 item 3): where the Hopper d128 dK/dV kernel's per-CTA cost
# sits. s56's cycle fit: ~4,100 cycles a CTA-step and ~8,400-12,500 a CTA, 12-17% of
# long-d128-window1024's kernel, masking <= 4%. Here ncu --set full (source pages, warp-stall
# samples) of one launch on three unmasked sweep rows (13, 52, 205 steps a k tile) and two
# checks (window1024, causal); per_cta_stalls.py fits every SASS instruction's samples as
# alpha x CTA-steps + beta x CTAs and names where the beta part lands (the K/V wait, the first
# Q/dO wait, the epilogue's stores, the last dQ reductions...). Warm after the table's call A
# (its bench build in build/gpu): ~150-200 s; cold, it takes build/pre/b128 if carried and
# fresh (bench/prebuilt.sh), else builds the bench at head dim 128 first (~2 min more; give
# VARATTN_CALL_BUDGET_S=520 and timeout_s=560).
# Then FA4's backward on the same rows (fa4_short_tile.sh; FA4=0 skips it): the same fit for
# the peer, if the anchors are there (carry build/anchors/small after a call A).
#   run(command="bash bench/experiments/dkdv_per_cta_profile_call.sh $OUT/pcta",
#       carry=["build/anchors/small"], timeout_s=420)  # budget 400 s by default
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/ncu_full.sh"
: "${VARATTN_CALL_BUDGET_S:=400}"  # call_begin's budget (its own default is 420)
call_begin "${1:?OUTDIR}"
binary=${VARATTN_BENCH_BIN:-build/gpu/bench/varattn_bench}
if [[ ! -x $binary ]] && dir=$(bash bench/prebuilt.sh use b128 "" 2>"$out/prebuilt.log"); then
  # cold, with build/pre/b128 carried (bench/prebuilt.sh build b128 128 "" varattn_bench here)
  binary=$dir/bench/varattn_bench
  export LD_LIBRARY_PATH=$PWD/build/pre/b128/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  say "prebuilt b128: $binary"
fi
if [[ ! -x $binary ]]; then  # cold: the bench alone at head dim 128 (~2 min)
  say "no $binary ($(tail -1 "$out/prebuilt.log" 2>/dev/null)): building the bench at head dim 128"
  VARATTN_STAGES=configure,build VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=128 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
    bash bench/run_on_gpu.sh "$out/b" >"$out/b.log" 2>&1
  [[ -x $binary ]] || { say "build failed: $(tail -3 "$out/b.log" | tr '\n' ' ')"; exit 2; }
  say "built"
fi
# ROW:CTA_STEPS:CTAS. Sweep rows: 65,536 tokens in segments of s, 16 heads, 128-key tiles,
# 80-query steps: 8,192 CTAs (the grid's one spare CTA a segment and head exits at once), steps
# = 8,192 x ceil(s / 80). Checks: s52/s53's exact counts (NOTES s55 item 6), 2,048 k tiles.
fits=(sweep-d128-s1024:106496:8192 sweep-d128-s4096:425984:8192 sweep-d128-s16384:1679360:8192)
checks=(long-d128-window1024:29776:2048 long-d128-causal:212176:2048)
mkdir -p "$out/pages"
for spec in "${fits[@]}" "${checks[@]}"; do
  row=${spec%%:*}
  limit=$(($(left) - 10))
  ((limit > 30)) || { say "out of time before $row"; break; }
  ((limit > 90)) && limit=90
  timeout $limit bash -c "$(declare -f ncu_full); ncu_full '$out/pages' '$row' dkdv_kernel 4 \
    '$binary' --benchmark_filter='^bwd/$row/fused/bf16/' --varattn_min_time=0.01 --varattn_settle=0"
  rc=$?  # ncu_full ends with rm: a page with rows says whether ncu profiled the launch
  rows_in=$( (zcat "$out/pages/$row.sass.csv.gz" 2>/dev/null || true) | wc -l)
  say "$row: exit $rc, $rows_in page lines, $(grep -E '^\s+Duration' "$out/pages/$row.txt" 2>/dev/null | head -1 | tr -s ' ')$(grep -h -m1 '==ERROR==' "$out/pages/$row.log" 2>/dev/null)"
done
page() { local f=$out/pages/${1%%:*}.sass.csv.gz; ( (zcat "$f" 2>/dev/null || true) | grep -q '^"\?Address"\?,') && echo "$f:${1#*:}"; }
args=()
for spec in "${fits[@]}"; do p=$(page "$spec") && args+=("$p"); done
fitted=${#args[@]}
for spec in "${checks[@]}"; do p=$(page "$spec") && args+=(--check "$p"); done
if ((fitted >= 2)); then
  python3 bench/experiments/per_cta_stalls.py "${args[@]}" --top 30 2>&1 | tee "$out/per_cta.txt"
else
  say "only $fitted sweep pages: no fit (the pages come back in pages.tgz)"
fi
tar czf "$out/pages.tgz" -C "$out" pages && rm -rf "$out/pages"
# FA4's backward on the same rows, the cheap metrics (fa4_short_tile.sh): needs the anchors
# (carry build/anchors/small, after a call A that carried build/anchors/big); skipped if not.
if [[ ${FA4:-1} == 1 ]] && (($(left) > 120)); then
  ANCHORS_WAIT_S=$(($(left) - 110)) timeout $(($(left) - 100)) bash bench/install_anchors.sh install \
    >"$out/anchors.log" 2>&1
  if . /tmp/anchors.env 2>/dev/null && (($(left) > 60)); then
    DEADLINE=$(($(date +%s) + $(left) - 10)) bash bench/experiments/fa4_short_tile.sh "$out/fa4" 2>&1 |
      tee -a "$out/summary.txt"
  else
    say "fa4: no anchors on this machine or no time ($(tail -1 "$out/anchors.log"))"
  fi
fi
say done
