#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s39 (a helper; compiled, listed and model-checked on a CPU machine, never run on a
# GPU). Why does fwd/llm-d128/fused/bf16 (the host-built plan) read ~4-5% slower than
# fused_device (the device-built plan) in every s39 A/B, A and B alike
# (bench/results/hopper_forward_class_ranks*_s39.txt)? One binary, no kernel change: the bench
# patch host_device_order_probe.patch adds --varattn_order_probe=V1,V2,..., rows
# fwd/<w>/order<k>_<V>/bf16 that make BOTH plans in every row (same allocations), then run
# one of them with either list written over its items:
#   host          the host-built plan, its own list          (= fused)
#   device        the device-built plan, its own list        (= fused_device)
#   host_dlist    the host-built plan, the device list's order
#   device_hlist  the device-built plan, the host list's order
# (the two lists hold the same items in the same class ends on llm-d128 and llm-d128-causal:
# the rows check it and fail otherwise). Each round times, per workload, fused and fused_device
# (the s39 rows, to reproduce the gap in this binary) and six probe rows; odd rounds run the
# sequence S1, even rounds its mirror S2, so that every variant sits early and late:
#   S1 = host,device,host_dlist,device_hlist,device,host
#   S2 = device,host,device_hlist,host_dlist,host,device
# Then, time allowing, llm-d128's host and device rows again with the buffer sets shifted by
# 2, 66 and 242 MiB (--varattn_pad_mib: placement alone), and ncu's kernel durations
# (gpu__time_duration.sum, clocks and caches left alone) of the variants on llm-d128 (host and
# device first): the kernel alone, without the host plan's stream wait on its upload event
# (plan::order_after_upload) or the timing events.
#   bash bench/experiments/host_device_order_probe.sh "$OUT"
# Build ~75-105 s (head dim 128 alone, as backward_window_probe.sh), a round ~20-25 s (16
# rows), 2 to 4 rounds, placement ~5-8 s a pad, ncu ~12-15 s a variant;
# VARATTN_PROBE_DEADLINE_S (default 245) bounds it all (VARATTN_PROBE_NCU=0, VARATTN_PROBE_PADS='' skip parts;
# VARATTN_PROBE_ROUNDS caps the rounds, default 4).
# Read with
#   python3 bench/experiments/host_device_order_probe_read.py "$OUT/ab.txt" ["$OUT/kernels.txt"]
# (host_device_order_s39.md, section 6: what each outcome means).
set -u -o pipefail
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
deadline=${VARATTN_PROBE_DEADLINE_S:-245}
left() { echo $((deadline - $(date +%s) + start)); }
patch=${VARATTN_ORDER_PROBE_PATCH:-$here/host_device_order_probe.patch}
# The bench patch: applied here unless the tree already holds it (a landed probe), and
# refused when neither (the tree moved under it). git apply works on the files (no index).
if grep -q 'varattn_order_probe' bench/varattn_bench.cu; then
  stamp "bench/varattn_bench.cu already has --varattn_order_probe"
elif [[ -f $patch ]] && git apply --check "$patch" 2>"$out/patch.log"; then
  git apply "$patch" 2>>"$out/patch.log" || { stamp "git apply failed: $out/patch.log"; exit 1; }
  stamp "applied $(basename "$patch")"
else
  stamp "the patch $patch neither applies (git apply --check: $out/patch.log) nor is applied"
  exit 1
fi
build=${VARATTN_BUILD_DIR:-$root/build/gpu}
bench=$build/bench/varattn_bench
# VARATTN_PROBE_HEAD_DIMS="80;128" (~+40 s of build) also times vl-full-d80's fused and
# fused_device first in each round: the rows s39 ran just before llm-d128's (its row sequence).
dims=${VARATTN_PROBE_HEAD_DIMS:-128}
VARATTN_BUILD_DIR=$build VARATTN_STAGES=configure,build \
  VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=$dims -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
  timeout $(($(left) - 30)) bash bench/run_on_gpu.sh "$out/build" >/dev/null 2>&1
status=$?
stamp "build: exit $status ($out/build/build.log)"
[[ -x $bench ]] && ((status == 0)) || { tail -30 "$out/build/build.log" 2>/dev/null; exit 1; }

s1=host,device,host_dlist,device_hlist,device,host
s2=device,host,device_hlist,host_dlist,host,device
filter='^fwd/(llm-d128|llm-d128-causal)/(fused|fused_device|order[0-9]+_[a-z_]+)/bf16/'
[[ ";$dims;" == *";80;"* ]] &&
  filter='^fwd/((llm-d128|llm-d128-causal)/(fused|fused_device|order[0-9]+_[a-z_]+)|vl-full-d80/(fused|fused_device))/bf16/'
# Google Benchmark's JSON (the console rounds to three digits) to "name ms" lines, as
# bench/ab_on_gpu.sh prints them; a run cut short keeps the rows it finished.
rows() {
  python3 - "$1" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
rows = []
if "{" in text:
    try:
        rows = json.loads(text[text.find("{"):])["benchmarks"]
    except json.JSONDecodeError:
        rows = [json.loads(m) for m in re.findall(r'\{\s*"name"[^{}]*\}', text)]
for b in rows:
    name = re.sub("/min_time:[0-9.]*/manual_time", "", b["name"])
    if b.get("error_occurred"):
        print(name, "error:", b.get("error_message"))
    else:
        # graph_ms: the same forward replayed from a CUDA graph (no host launch, the host
        # plan's event wait an external-event node); ms_min: the fastest eager run
        print(name, "%.4f" % b["real_time"], b["time_unit"], "graph %.4f" % b.get("graph_ms", -1),
              "min %.4f" % b.get("ms_min", -1))
PY
}
# Seconds kept for ncu: host and device (the swapped variants only if time is left).
ncu_reserve=0
if [[ ${VARATTN_PROBE_NCU:-1} == 1 ]] && command -v ncu >/dev/null; then ncu_reserve=35; fi
: >"$out/ab.txt"
round=0 round_s=30
while ((round < ${VARATTN_PROBE_ROUNDS:-4})); do
  ((round < 2 || $(left) > ncu_reserve + round_s + 10)) || break
  ((round < 2 && $(left) < round_s + 5)) && { stamp "no time for round $((round + 1))"; break; }
  round=$((round + 1))
  seq=$s1
  ((round % 2 == 0)) && seq=$s2
  t0=$(date +%s)
  echo "== R$round $seq" | tee -a "$out/ab.txt"
  timeout $(($(left) - 5)) "$bench" --varattn_order_probe="$seq" --benchmark_filter="$filter" \
    --varattn_min_time=0.2 --benchmark_format=json >"$out/run.json" 2>"$out/stderr_r$round.log"
  status=$?
  rows "$out/run.json" | tee -a "$out/ab.txt"
  ((status == 0)) || echo "varattn_bench exit $status ($out/stderr_r$round.log)" | tee -a "$out/ab.txt"
  round_s=$(($(date +%s) - t0))
  stamp "round $round: ${round_s} s"
done
# Placement: host then device on llm-d128 with every fixture's buffer sets shifted by N MiB
# (--varattn_pad_mib), one process each: if the same variant moves by as much as the s39 gap
# from one N to the next, placement (allocation history) can make such gaps by itself.
pads=${VARATTN_PROBE_PADS:-2 66 242}
for pad in $pads; do
  (($(left) > ncu_reserve + 12)) || { stamp "no time for pad $pad"; break; }
  echo "== P$pad host,device" | tee -a "$out/ab.txt"
  timeout $(($(left) - 5)) "$bench" --varattn_order_probe=host,device --varattn_pad_mib="$pad" \
    --benchmark_filter='^fwd/llm-d128/order[0-9]+_[a-z_]+/bf16/' --varattn_min_time=0.2 \
    --benchmark_format=json >"$out/run.json" 2>"$out/stderr_p$pad.log"
  status=$?
  rows "$out/run.json" | tee -a "$out/ab.txt"
  ((status == 0)) || echo "varattn_bench exit $status ($out/stderr_p$pad.log)" | tee -a "$out/ab.txt"
done
stamp "placement rounds done"
# The rows' own account of their plan and list (make_probe_plan's note).
grep -h 'order[0-9]*_' "$out"/stderr_r*.log | grep -v 'buffer sets' | sort -u >"$out/plans.txt"
head -12 "$out/plans.txt"

if ((ncu_reserve > 0)); then
  : >"$out/kernels.txt"
  for v in host device host_dlist device_hlist; do
    (($(left) > 16)) || { stamp "out of time before ncu $v"; break; }
    timeout $(($(left) > 28 ? 25 : $(left) - 3)) ncu --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum -k regex:forward_kernel --launch-skip 8 --launch-count 8 \
      "$bench" --varattn_order_probe="$v" --benchmark_filter="^fwd/llm-d128/order1_$v/bf16/" \
      --varattn_min_time=0.01 --varattn_settle=0 >"$out/ncu_$v.log" 2>&1
    # "kernel <variant> <us>" for each launch: ncu's gpu__time_duration.sum rows
    python3 - "$v" "$out/ncu_$v.log" <<'PY' | tee -a "$out/kernels.txt"
import re, sys
scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}
for line in open(sys.argv[2], errors="replace"):
    m = re.match(r"\s+gpu__time_duration\.sum\s+(\S+)\s+([\d.,]+)", line)
    if m and m.group(1) in scale:
        print("kernel", sys.argv[1], "%.2f" % (float(m.group(2).replace(",", "")) * scale[m.group(1)]))
PY
    stamp "ncu $v: $(grep -c "kernel $v " "$out/kernels.txt") launches"
  done
fi
rm -f "$out/run.json"
stamp "done"
python3 "$here/host_device_order_probe_read.py" "$out/ab.txt" "$out/kernels.txt" 2>&1 ||
  cat "$out/ab.txt"
