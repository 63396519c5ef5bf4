#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s39 (a helper; host-checked, not run): proposal 1 of backward_window_analysis_s38.md,
# the per-CTA fixed cost F and the step cost c of the Hopper d128 dK/dV kernel. One binary
# (bench/ab_on_gpu.sh with B = '-': A1, A2), no kernel change. Rows: the backward of
# long-d128-window1024 and of the probe group's long-d128-window{512,2048,4096} (the same
# 16,384-row segment, 16 heads: the same 2,048 CTAs, 8 to 53 query steps each), and
# long-d128-causal (205 steps down to 2). Needs backward_window_probe_workloads.patch
# (bench/gen_workloads.py's probe group; varattn_bench registers it as bwd/ only).
#   bash bench/experiments/backward_window_probe.sh "$OUT"
# ~75-105 s of build at head dim 128 alone, ~35 s of timed runs (5 rows x 2 rounds), then, with
# VARATTN_PROBE_NCU=1 (the default) and ncu present, ~60-100 s of kernel durations by ncu:
# the dK/dV kernel of each row (3 launches) and every launch of one window1024 backward call
# (the helpers: list build, D, dq_convert), so that the fit needs no estimate of the helpers.
# VARATTN_PROBE_NCU=0 for the timed rows alone (~2 min). Read with
#   python3 bench/experiments/backward_window_probe_model.py --fit "$OUT/ab.txt" --helpers-us H
#   python3 bench/experiments/backward_window_probe_model.py --fit "$OUT/kernels.txt"
# (backward_window_probe.md: the model, its predictions, what each outcome means).
set -u
out=$1
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
deadline=${VARATTN_PROBE_DEADLINE_S:-560}
left() { echo $((deadline - $(date +%s) + start)); }
if ! grep -q '"long-d128-window4096"' bench/workloads.json; then
  echo "bench/workloads.json has no probe workloads: apply backward_window_probe_workloads.patch" >&2
  exit 1
fi
rows='long-d128-(window(512|1024|2048|4096)|causal)'
VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=128 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
  timeout $(($(left) - 5)) bash bench/ab_on_gpu.sh "$out" - "^bwd/$rows/fused/bf16"
stamp "timed rows: exit $? ($out/ab.txt)"
bench=${VARATTN_BUILD_DIR:-build/gpu}/bench/varattn_bench
[[ ${VARATTN_PROBE_NCU:-1} == 1 ]] || exit 0
command -v ncu >/dev/null || { stamp "no ncu: kernel durations skipped"; exit 0; }
[[ -x $bench ]] || { stamp "no $bench: kernel durations skipped"; exit 0; }
# ncu's "Metric Name  Unit  Value" rows of gpu__time_duration.sum, in us, after each launch's
# header line (its demangled name and grid): "<label> <kernel> <grid> <us>".
durations() {
  python3 -c '
import re, sys
label, scale = sys.argv[1], {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0,
                              "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}
name = grid = "?"
for line in sys.stdin:
    m = re.match(r"\s+(?:void\s+)?([A-Za-z_][\w:]*)(?:<.*?>)?(?:\(.*?\))?\s+\((\d+, \d+, \d+)\)x\(", line)
    if m:
        name, grid = m.group(1).split("::")[-1], m.group(2).replace(" ", "")
        continue
    m = re.match(r"\s+gpu__time_duration\.sum\s+(\S+)\s+([\d.,]+)", line)
    if m and m.group(1) in scale:
        print(label, name, grid, "%.2f" % (float(m.group(2).replace(",", "")) * scale[m.group(1)]))
' "$1"
}
for w in window512 window1024 window2048 window4096 causal; do
  (($(left) > 40)) || { stamp "out of time before $w"; break; }
  timeout 40 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:dkdv_kernel \
    --launch-skip 4 --launch-count 3 "$bench" --benchmark_filter="^bwd/long-d128-$w/fused/bf16" \
    --varattn_min_time=0.01 --varattn_settle=0 >"$out/ncu_$w.log" 2>&1
  durations "long-d128-$w" <"$out/ncu_$w.log" | tee -a "$out/launches.txt" |
    awk '{print "kernel", $1, $4}' >>"$out/kernels.txt"
  stamp "ncu $w: $(grep -c . <(durations x <"$out/ncu_$w.log")) launches"
done
# Every launch of window1024's backward calls (after the plan and the forwards of the
# buffer sets): the helpers beside the dK/dV kernel (the dQ accumulator's memset is a driver
# memset, not a kernel: not listed; ~32 us, 134 MB at ~4.2 TB/s).
if (($(left) > 40)); then
  timeout 40 ncu --clock-control none --metrics gpu__time_duration.sum --launch-skip 40 \
    --launch-count 12 "$bench" --benchmark_filter='^bwd/long-d128-window1024/fused/bf16' \
    --varattn_min_time=0.01 --varattn_settle=0 >"$out/ncu_call.log" 2>&1
  durations call <"$out/ncu_call.log" | tee -a "$out/launches.txt"
  stamp "ncu: one call's launches"
fi
rm -f "$out/run.json"
cat "$out/ab.txt" "$out/kernels.txt" 2>/dev/null
