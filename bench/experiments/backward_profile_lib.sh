# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2154  # the caller's globals (below)
# What the backward profile calls do alike, written once: sourced (functions only) by
# s42_d64_backward_profile.sh and s46_d256_backward_profile.sh, which call profile_begin first.
#
# The functions read the caller's globals: start (date +%s at the start), budget (s), summary
# (OUTDIR's summary.txt), out (OUTDIR), work (its pages/ and logs/ are the pages and ncu logs),
# parts (",ours,fa4," or a part of it). profile also reads what and fallback (ncu options, arrays:
# ncu_options sets them), fallback_words (how many of fallback's words its retry line names),
# details_all (1: the details page with --print-details all where ncu takes it), source_counters
# (1: the SASS source page too) and calls profile_note NAME (the words its last line says of the
# launch, from the pages just written).

# profile_begin: OUTDIR ($out) made and made absolute, the repository root the working directory,
# start the time now; 2 where OUTDIR or the root cannot be had.
profile_begin() {
  mkdir -p "$out" && out=$(cd "$out" && pwd) || return 2
  cd "$(dirname "${BASH_SOURCE[0]}")/../.." || return 2
  start=$(date +%s)
}

left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
have() { [[ -f $work/pages/$1 ]]; }

# memory_sections: sections = s46's set (speed of light, compute and memory workload with its
# tables, warp state, scheduler, instructions, launch, occupancy), with the SASS source page
# where source_counters is 1.
memory_sections() {
  sections=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis
    --section MemoryWorkloadAnalysis_Tables --section WarpStateStats --section SchedulerStats
    --section InstructionStats --section LaunchStats --section Occupancy)
  [[ $source_counters == 1 ]] && sections+=(--section SourceCounters --import-source yes)
  return 0
}

# ncu_options fallback-alone|fallback-with-metrics: what = the sections (array sections) and the
# metrics (metric_list, comma-separated; none when empty); fallback = s32's proven form (--set full
# --import-source yes, bench/experiments/ncu_full.sh), alone or with the metrics.
ncu_options() {
  what=("${sections[@]}")
  [[ -n $metric_list ]] && what+=(--metrics "$metric_list")
  fallback=(--set full --import-source yes)
  [[ $1 == fallback-with-metrics && -n $metric_list ]] && fallback+=(--metrics "$metric_list")
  return 0
}

# profile NAME KERNEL_REGEX LAUNCH_SKIP LIMIT_S COMMAND...: one launch under "what"; its details
# page goes into ncu_details.txt, its raw and SASS pages into $work/pages. If ncu rejects
# something (no report, no timeout, an ==ERROR==), once more with "fallback".
profile() {
  local name=$1 kernel=$2 skip=$3 limit=$4 rc=0 rep=$work/$1
  shift 4
  local opts=("${what[@]}")
  for attempt in 1 2; do
    rm -f "$rep.ncu-rep"
    timeout -k 5 "$limit" ncu --clock-control none "${opts[@]}" \
      --kernel-name "regex:$kernel" --launch-skip "$skip" --launch-count 1 -f -o "$rep" "$@" \
      >"$work/logs/$name.log" 2>&1
    rc=$?
    [[ -f $rep.ncu-rep ]] && break
    if ((attempt == 1 && rc != 124 && rc != 137)) && grep -q '==ERROR==' "$work/logs/$name.log" &&
      (($(left) > limit + 30)); then
      say "$name: no report (exit $rc: $(grep -h -m1 '==ERROR==' "$work/logs/$name.log" | cut -c1-120)); once more with ${fallback[*]:0:fallback_words}"
      mv "$work/logs/$name.log" "$work/logs/$name.first.log"
      opts=("${fallback[@]}")
    else
      break
    fi
  done
  if [[ ! -f $rep.ncu-rep ]]; then
    say "$name: FAILED (exit $rc): $(grep -h -m3 'ERROR\|WARNING\|rror' "$work/logs/$name.log" | tr '\n' ' ' | cut -c1-240)"
    return 1
  fi
  {
    echo "################ $name: $*"
    if ((details_all)); then
      ncu --import "$rep.ncu-rep" --page details --print-details all 2>/dev/null ||
        ncu --import "$rep.ncu-rep" --page details
    else
      ncu --import "$rep.ncu-rep" --page details
    fi
    echo
  } >>"$out/ncu_details.txt"
  ncu --import "$rep.ncu-rep" --page raw --csv | gzip >"$work/pages/$name.raw.csv.gz"
  if [[ $source_counters == 1 ]]; then
    ncu --import "$rep.ncu-rep" --page source --print-source sass --csv | gzip >"$work/pages/$name.sass.csv.gz"
  fi
  rm -f "$rep.ncu-rep"
  say "$name: $(profile_note "$name") (exit $rc)"
}

# launch_note NAME METRIC...: one line of the METRICs' values (and units) of the launch in
# NAME's raw page, for a caller's profile_note.
launch_note() {
  local name=$1
  shift
  zcat "$work/pages/$name.raw.csv.gz" | python3 -c '
import csv, sys
rows = [r for r in csv.reader(sys.stdin) if r]
at = next((i for i, r in enumerate(rows) if r[0] == "ID"), None)
if at is None or len(rows) < at + 3:
    print("no launch row"); sys.exit()
h, u, d = rows[at], rows[at + 1], rows[at + 2]
for k in sys.argv[1:]:
    if k in h:
        print(k.split("__")[1].split(".")[0], d[h.index(k)], u[h.index(k)], end="; ")
print()' "$@" 2>&1
}

# durations NAME KERNEL_REGEX|"" SKIP COUNT LIMIT_S COMMAND...: gpu__time_duration of the kernels
# matched (every kernel when the regex is empty), into $work/pages/NAME.raw.csv.gz.
durations() {
  local name=$1 kernel=$2 skip=$3 count=$4 limit=$5 rc=0 rep=$work/$1
  shift 5
  local filter=()
  [[ -n $kernel ]] && filter=(--kernel-name "regex:$kernel")
  rm -f "$rep.ncu-rep"
  timeout -k 5 "$limit" ncu --clock-control none --metrics gpu__time_duration.sum "${filter[@]}" \
    --launch-skip "$skip" --launch-count "$count" -f -o "$rep" "$@" >"$work/logs/$name.log" 2>&1
  rc=$?
  if [[ ! -f $rep.ncu-rep ]]; then
    say "$name: FAILED (exit $rc): $(grep -h -m3 'ERROR\|WARNING\|rror' "$work/logs/$name.log" | tr '\n' ' ' | cut -c1-240)"
    return 1
  fi
  ncu --import "$rep.ncu-rep" --page raw --csv | gzip >"$work/pages/$name.raw.csv.gz"
  rm -f "$rep.ncu-rep"
  say "$name: $(($(zcat "$work/pages/$name.raw.csv.gz" | grep -c '^"[0-9]'))) kernels (exit $rc)"
}

# fa4_route PARTS_VAR: the anchors (FA4) for this call. With build/anchors/big carried (the
# two-call route's first call), starts its unpack for the next call. Sets fa4 (ready or skip) and
# why (the skip's reason; PARTS_VAR is the caller's variable that names the parts); installs FA4
# where build/anchors/small is carried and the unpack ran on this machine; when ready, sources
# /tmp/anchors.env and says FA4's version.
fa4_ok() {
  # shellcheck disable=SC1091
  [[ -f /tmp/anchors.env ]] &&
    (. /tmp/anchors.env && timeout 120 python3 -c 'from flash_attn.cute import flash_attn_varlen_func') \
      >>"$work/logs/anchors.log" 2>&1
}
# shellcheck disable=SC2034  # fa4 and why are the caller's
fa4_route() {
  local parts_var=$1 rc
  if compgen -G "build/anchors/big/*.tar.xz" >/dev/null && [[ ! -e /tmp/fa4site.done ]]; then
    bash bench/install_anchors.sh unpack >>"$work/logs/anchors.log" 2>&1
    say "anchors: unpack of build/anchors/big started in the background (for a call with small/ within 30 s)"
  fi
  fa4=skip why=
  if [[ $parts != *,fa4,* ]]; then
    why="$parts_var leaves it out"
  elif fa4_ok; then
    fa4=ready
  elif compgen -G "build/anchors/small/*.whl" >/dev/null && [[ -e /tmp/fa4site.done || -e /tmp/fa4site.started ]]; then
    fa4=install
  elif compgen -G "build/anchors/small/*.whl" >/dev/null; then
    why="no CUTLASS DSL tree unpacked on this machine (/tmp/fa4site: a cold machine). FA4 needs a call with carry [build/anchors/big] first (this script starts the unpack then), and this one within 30 s with carry [build/anchors/small] and $parts_var=fa4"
  else
    why="no /tmp/anchors.env with a working flash_attn.cute, and build/anchors/small not carried"
  fi
  if [[ $fa4 == install ]]; then
    ANCHORS_WAIT_S=150 timeout -k 5 200 bash bench/install_anchors.sh install >"$work/logs/install.log" 2>&1
    rc=$?
    if fa4_ok; then
      fa4=ready
      say "anchors installed (exit $rc)"
    else
      fa4=skip why="install_anchors.sh install exit $rc: $(grep -h -m2 'error' "$work/logs/install.log" | tr '\n' ' ' | cut -c1-200)"
    fi
  fi
  if [[ $fa4 == ready ]]; then
    # shellcheck disable=SC1091
    . /tmp/anchors.env
    say "FA4: $(python3 -c 'import importlib.metadata as m; print("flash-attn-4", m.version("flash-attn-4"))' 2>&1 | tail -1)"
  fi
}

# timed_once LIMIT_S ROWS [FILE...]: the bwd ROWS (a regex of workloads) of $bench timed once,
# into the summary (and the FILEs).
timed_once() {
  timeout -k 5 "$1" "$bench" --benchmark_filter="^bwd/($2)/fused/bf16" \
    --varattn_min_time=0.2 2>/dev/null | awk '/^bwd\// {printf "  timed once: %s %s %s\n", $1, $2, $3}' |
    tee -a "$summary" "${@:3}"
}

# memset_times WORKLOAD...: the dQ accumulator's cudaMemsetAsync timed (cupy) on each workload,
# into the summary. ncu sees no memset; FA4's preprocess zeroes its dQ accumulator inside a kernel
# it times.
memset_times() {
  timeout -k 5 30 python3 - "$@" <<'EOF' 2>&1 | tee -a "$summary"
import json
import sys
try:
    import cupy as cp
except Exception as e:  # noqa: BLE001
    print(f"  memset: cupy unavailable ({type(e).__name__}); not timed")
    raise SystemExit(0)
spec = json.load(open("bench/workloads.json"))
spec = spec if isinstance(spec, list) else spec.get("workloads", [])
for w in spec:
    if w["name"] not in sys.argv[1:]:
        continue
    n = sum(w.get("lengths_q", w["lengths"])) * w["heads_q"] * w["head_dim"] * 4
    buf = cp.empty(n, dtype=cp.uint8)
    stream = cp.cuda.Stream(non_blocking=True)
    a, b, ms = cp.cuda.Event(), cp.cuda.Event(), []
    for i in range(25):
        a.record(stream)
        cp.cuda.runtime.memsetAsync(buf.data.ptr, 0, n, stream.ptr)
        b.record(stream)
        b.synchronize()
        if i >= 5:
            ms.append(cp.cuda.get_elapsed_time(a, b))
    ms.sort()
    print(f"  memset of the dQ accumulator, {w['name']}: {n / 1e6:.1f} MB in {1e3 * ms[len(ms) // 2]:.1f} us "
          f"(median of 20; {n / ms[len(ms) // 2] / 1e9:.2f} TB/s)")
    del buf
EOF
}

# table TITLE SCRIPT SUBCOMMAND [ARG...]: a blank line and the heading "## TITLE", then python3
# SCRIPT SUBCOMMAND ARG... where there is an ARG (no ARG: no pages for the table, the heading alone).
table() {
  echo
  echo "## $1"
  (($# > 3)) && python3 "${@:2}"
}

# stalls TOP NAME...: each NAME's stall reasons and TOP instructions (bench/sass_stalls.py), where
# its SASS page is.
stalls() {
  local top=$1 name
  shift
  for name in "$@"; do
    have "$name.sass.csv.gz" || continue
    table "$name: stall reasons, top instructions" bench/sass_stalls.py "$work/pages/$name.sass.csv.gz" --top "$top"
  done
}

# pack: the logs and pages into OUTDIR's pages.tgz (copy the logs to $work/pages first), and the
# closing line.
pack() {
  tar czf "$out/pages.tgz" -C "$work" pages
  say "done: $(find "$out" -maxdepth 1 -type f -printf '%f ')($(du -sh "$out/pages.tgz" | cut -f1) pages.tgz)"
}
