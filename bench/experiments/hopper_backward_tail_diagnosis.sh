#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call: why a Hopper dK/dV CTA of one key (a segment's last 128-key tile of N^2 + 1
# tokens) costs ~3/4 of a full one, and whether the split-step patch's path ran
# (bench/experiments/hopper_backward_tail_diagnosis.md: hypotheses and what each predicts here).
#   run(command="VARATTN_CALL_BUDGET_S=330 bash bench/experiments/hopper_backward_tail_diagnosis.sh $OUT",
#       timeout_s=360)
# Applies backward_tail_tile_rows.patch (bench rows only; reversed at the end, also on an early
# exit), then builds varattn_bench at head dim 64 (tests and examples off) in four variants at
# once: H = the tree (build/tail_diag_H); S = the split-step patch (hopper_backward_tail_tile.patch
# where it applies, else its port to f4e6864, hopper_backward_tail_tile_f4e6864.patch); two
# timing probes, wrong results on purpose: Pr = no dQ reductions in CTAs of <= 64 keys
# (hopper_backward_tail_probe_no_reduce.patch), Pg = CTAs of <= 64 keys only pass the ring
# (hopper_backward_tail_probe_ring_only.patch). The patched variants build from copies of the
# tree under /tmp (the tree itself is never patched but for the rows).
# Then ncu (--clock-control none, -k regex:dkdv_kernel, the 5th launch: --launch-skip 4
# --launch-count 1) on bwd/<row>/fused_sm90/bf16, most telling first, each only while the
# budget lasts: H and S on tail-d64-s257 and -k256 with the WarpStateStats and SourceCounters
# sections (warp-state samples every 2^(5+5) cycles, fixed, so that rows can be subtracted) and
# the metrics below; H on vit-l14-d64 and -k1024, S on vit-l14-d64; the probes on
# tail-d64-s257 (durations and a few counters); S on -k1024 last.
# Files under OUTDIR: summary.txt (the log, the HGMMA count of each build's kernel, and the
# tables of hopper_backward_tail_diagnosis.py: the reply's output tail is sections 2-5 of them,
# (5) without its address lists) and
# pages.tgz (each run's raw and SASS pages as .csv.gz, the build and ncu logs; the tables
# again here: tar xzf pages.tgz && python3 bench/experiments/hopper_backward_tail_diagnosis.py pages).
# Environment: VARATTN_CALL_BUDGET_S (330), TAIL_DIAG_PROBES=0 (no probe builds or runs).
set -u -o pipefail
out=${1:?usage: bash bench/experiments/hopper_backward_tail_diagnosis.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$(pwd)
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-330}
left() { echo $((budget - ($(date +%s) - start))); }
summary=$out/summary.txt
: >"$summary"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
work=/tmp/tail_diag
rm -rf "$work" && mkdir -p "$work/pages" "$work/logs" || exit 2
E=bench/experiments
rows_patch=$E/backward_tail_tile_rows.patch

applied=0
cleanup() {
  local pids pid
  pids=$(jobs -p)
  # A build still running: its subshell's children too (timeout passes the TERM on to ninja,
  # which ends its nvcc), not only the subshell, which would leave them running.
  for pid in $pids; do
    pkill -TERM -P "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  if ((applied)); then git apply -R "$rows_patch" && applied=0; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP  # so that the EXIT trap runs (the rows reversed) when killed
if git apply --check "$rows_patch" 2>/dev/null; then
  git apply "$rows_patch" && applied=1
elif ! grep -q tail-d64-s257-k256 bench/workloads_data.hpp; then
  echo "$rows_patch does not apply and the rows are not in the tree" >&2
  exit 1
fi

bash bench/machine_facts.sh | tee -a "$summary"

# --- the variants, built at once --------------------------------------------------------------
split_patch=
for p in "$E/hopper_backward_tail_tile.patch" "$E/hopper_backward_tail_tile_f4e6864.patch"; do
  if [[ -f $p ]] && git apply --check "$p" 2>/dev/null; then split_patch=$p; break; fi
done
declare -A patch_of=([H]="")
if [[ -n $split_patch ]]; then
  patch_of[S]=$split_patch
else
  say "S: neither split-step patch applies to this tree; S left out"
fi
if [[ ${TAIL_DIAG_PROBES:-1} == 1 ]]; then
  patch_of[Pr]=$E/hopper_backward_tail_probe_no_reduce.patch
  patch_of[Pg]=$E/hopper_backward_tail_probe_ring_only.patch
fi
declare -A build_pid=() bench_of=()
build_limit=$(($(left) - 90))  # the builds' deadline: ~90 s left for the first ncu runs
((build_limit >= 30)) || build_limit=30
for label in H S Pr Pg; do
  [[ -n ${patch_of[$label]+x} ]] || continue
  src=$root
  if [[ -n ${patch_of[$label]} ]]; then
    src=/tmp/tail_diag_src_$label
    rm -rf "$src" && mkdir -p "$src" || exit 2
    tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf - || exit 2
    if ! (cd "$src" && git apply "$root/${patch_of[$label]}") >"$work/logs/patch_$label.log" 2>&1; then
      say "$label: ${patch_of[$label]} does not apply: left out ($(head -2 "$work/logs/patch_$label.log" | tr '\n' ' '))"
      continue
    fi
  fi
  dir=$root/build/tail_diag_$label
  bench_of[$label]=$dir/bench/varattn_bench
  (cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
     -DVARATTN_HEAD_DIMS=64 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
     -DVARATTN_BUILD_BENCHMARKS=ON &&
     timeout "$build_limit" ninja -C "$dir" varattn_bench) >"$work/logs/build_$label.log" 2>&1 &
  build_pid[$label]=$!
  say "build $label started (${patch_of[$label]:-the tree}) -> $dir"
done

# ncu's metric names on this device, to drop any it lacks (a name it lacks fails the whole run).
timeout 60 ncu --query-metrics >"$work/logs/query_metrics.txt" 2>&1
metrics=(gpu__time_duration.sum sm__cycles_active.avg smsp__cycles_active.avg gpc__cycles_elapsed.max
  sm__cycles_elapsed.avg.per_second smsp__inst_executed.sum smsp__issue_active.sum
  smsp__issue_active.avg.pct_of_peak_sustained_active sm__pipe_tensor_op_hmma_cycles_active.sum
  sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active
  sm__inst_executed_pipe_xu.sum sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active
  lts__throughput.avg.pct_of_peak_sustained_elapsed lts__t_sectors_op_red.sum
  lts__t_requests_op_red.sum lts__t_sectors_op_read.sum lts__t_sectors_op_write.sum
  lts__t_sectors_op_atom.sum dram__bytes_read.sum dram__bytes_write.sum
  l1tex__data_pipe_lsu_wavefronts_mem_shared.sum sm__warps_active.sum sm__ctas_launched.sum
  launch__grid_size)
light=(gpu__time_duration.sum sm__cycles_active.avg smsp__inst_executed.sum smsp__issue_active.sum
  sm__pipe_tensor_op_hmma_cycles_active.sum lts__t_sectors_op_red.sum lts__t_sectors_op_read.sum
  sm__warps_active.sum launch__grid_size)
known() {  # the names of "$@" that ncu lists (all of them when the listing failed)
  if ! grep -q '^ *sm__cycles_active ' "$work/logs/query_metrics.txt"; then printf '%s\n' "$@"; return; fi
  local m
  for m in "$@"; do
    case $m in
      launch__* | gpu__time_duration*) echo "$m" ;;
      *) grep -q "^ *${m%%.*} " "$work/logs/query_metrics.txt" && echo "$m" ||
        echo "dropped (ncu lists no ${m%%.*}): $m" >>"$work/logs/dropped_metrics.txt" ;;
    esac
  done
}
metric_list=$(known "${metrics[@]}" | paste -sd, -)
light_list=$(known "${light[@]}" | paste -sd, -)
[[ -f $work/logs/dropped_metrics.txt ]] && say "$(tr '\n' ';' <"$work/logs/dropped_metrics.txt")"

# profile NAME VARIANT ROW KIND LIMIT_S: one launch; KIND src (sections + SourceCounters), full
# (sections), light (a few counters). Its raw page (base units) and SASS page into pages/. If ncu
# gives no report with an error (a section or option it rejects), once more with the light list.
profile() {
  local name=$1 label=$2 row=$3 kind=$4 limit=$5 rc=0 rep=$work/$1
  local what=(--metrics "$metric_list" --section WarpStateStats)
  case $kind in
    src) what+=(--section SourceCounters --sampling-interval 5) ;;
    light) what=(--metrics "$light_list" --section WarpStateStats) ;;
  esac
  for attempt in 1 2; do
    rm -f "$rep.ncu-rep"
    timeout -k 5 "$limit" ncu --clock-control none "${what[@]}" -k regex:dkdv_kernel \
      --launch-skip 4 --launch-count 1 -f -o "$rep" "${bench_of[$label]}" \
      --benchmark_filter="^bwd/$row/fused_sm90/bf16" --varattn_min_time=0.01 --varattn_settle=0 \
      >"$work/logs/$name.log" 2>&1
    rc=$?
    [[ -f $rep.ncu-rep ]] && break
    if ((attempt == 1 && rc != 124 && rc != 137)) && grep -q '==ERROR==' "$work/logs/$name.log" &&
      (($(left) > limit + 15)); then
      say "$name: no report (exit $rc: $(grep -h -m1 '==ERROR==' "$work/logs/$name.log" | cut -c1-140)); once more, light"
      mv "$work/logs/$name.log" "$work/logs/$name.first.log"
      what=(--metrics "$light_list")
    else
      break
    fi
  done
  if [[ ! -f $rep.ncu-rep ]]; then
    say "$name: FAILED (exit $rc): $(grep -h -m2 'ERROR\|rror' "$work/logs/$name.log" | tr '\n' ' ' | cut -c1-200)"
    return 1
  fi
  ncu --import "$rep.ncu-rep" --page raw --csv --print-units base 2>>"$work/logs/$name.log" |
    gzip >"$work/pages/$name.raw.csv.gz"
  if [[ $kind == src ]]; then
    ncu --import "$rep.ncu-rep" --page source --print-source sass --csv 2>>"$work/logs/$name.log" |
      gzip >"$work/pages/$name.sass.csv.gz"
  fi
  rm -f "$rep.ncu-rep"
  say "$name: $(zcat "$work/pages/$name.raw.csv.gz" | python3 -c '
import csv, sys
rows = [r for r in csv.reader(sys.stdin) if r]
at = next((i for i, r in enumerate(rows) if r[0] == "ID"), None)
if at is None or len(rows) < at + 3: print("no launch row"); sys.exit()
h, u, d = rows[at], rows[at + 1], rows[at + 2]
for k in ("gpu__time_duration.sum", "smsp__inst_executed.sum", "sm__pipe_tensor_op_hmma_cycles_active.sum"):
    if k in h: print(k.split("__")[1].split(".")[0], d[h.index(k)], u[h.index(k)], end="  ")
print()' 2>&1) (exit $rc)"
}

# built LABEL: waits for the variant's build once; true if its binary is there.
declare -A build_done=()
built() {
  local label=$1
  [[ -n ${bench_of[$label]+x} ]] || return 1
  if [[ -z ${build_done[$label]+x} ]]; then
    wait "${build_pid[$label]}"
    build_done[$label]=$?
    say "build $label: exit ${build_done[$label]} ($(tail -1 "$work/logs/build_$label.log" | cut -c1-100))"
    if [[ -x ${bench_of[$label]} ]] && command -v cuobjdump >/dev/null; then
      # The bf16, plain (no softcap), atomic-dQ kernel at head dim 64: the one these rows run.
      local fn=_ZN7varattn6detail4sm9011dkdv_kernelI13__nv_bfloat16Li64ENS0_14score_modifierILb0EEELb1EEEvNS0_15backward_paramsIT_EENS0_13backward_workE
      say "  $label kernel SASS: $(timeout 60 cuobjdump -sass -fun "$fn" "${bench_of[$label]}" 2>/dev/null |
        awk -v f="$fn" '/Function :/{on = ($3 == f)} on && /^ +\/\*[0-9a-f]+\*\/ /{n++}
          on && /HGMMA/{h++} on && /UTMAREDG/{r++}
          END{printf "%d instructions, %d HGMMA, %d UTMAREDG", n, h, r}')" \
        "(sm_90a at nvcc 13.0: H 3,776 and 72 HGMMA, S 5,144 and 100, Pr 3,776 and 72, Pg 3,880 and 72)"
    fi
  fi
  ((build_done[$label] == 0)) && [[ -x ${bench_of[$label]} ]]
}

# run NAME LABEL ROW KIND LIMIT_S [NEED_S]: profile if the variant built and the budget leaves
# NEED_S (default LIMIT_S; a row's first run asks for its control's time too) + 15 for the tables.
run() {
  local name=$1 label=$2 row=$3 kind=$4 limit=$5 need=${6:-$5}
  built "$label" || { say "$name: skipped (no $label build)"; return; }
  (($(left) > need + 15)) || { say "$name: skipped (time: $(left) s left)"; return; }
  profile "$name" "$label" "$row" "$kind" "$limit"
}

run H_s257 H tail-d64-s257 src 40 80
run H_k256 H tail-d64-s257-k256 src 40
run S_s257 S tail-d64-s257 src 40 80
run S_k256 S tail-d64-s257-k256 src 40
run H_vit H vit-l14-d64 full 30 60
run H_k1024 H vit-l14-d64-k1024 full 30
run Pr_s257 Pr tail-d64-s257 light 20
run Pg_s257 Pg tail-d64-s257 light 20
run S_vit S vit-l14-d64 full 30
run S_k1024 S vit-l14-d64-k1024 full 30

# --- tables ---------------------------------------------------------------------------------
python3 "$E/hopper_backward_tail_diagnosis.py" "$work/pages" >"$work/tables.txt" 2>&1
cp "$work"/logs/*.log "$work/logs/"*.txt "$work/pages/" 2>/dev/null
tar czf "$out/pages.tgz" -C "$work" pages
say "done: summary.txt pages.tgz ($(du -sh "$out/pages.tgz" | cut -f1)); the tables follow"
{ echo; cat "$work/tables.txt"; } >>"$summary"
# The reply's output tail (12,000 characters): section (5) without its address lists, then
# sections (2)-(4) whole (section (5)'s lists alone are ~10,000 characters; all of it is in
# summary.txt).
{
  awk '/^## \(5\)/ {on = 1} on' "$work/tables.txt" | grep -v '^    '
  echo
  awk '/^## \(2\)/ {on = 1} /^## \(5\)/ {on = 0} on' "$work/tables.txt"
} | tail -c 11000
