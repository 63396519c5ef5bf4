#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-fifth session (NOTES s55 item 6): what a short tile costs the Hopper dK/dV kernel. ncu
# of the kernel (one launch each, --clock-control none) on the sweep rows (65,536 tokens, 16
# heads, d128, no mask: segments of 256, 1,024, 4,096, 16,384 tokens: 4, 13, 52, 205 steps a
# k tile) and the window rows, with the SMs' active cycles against the elapsed (the tail).
# Fit per SM: active time = a x CTA-steps + b x CTAs over the sweep rows (no mask: b is the
# per-CTA cost alone); the window rows then tell masking from it. Warm after the table's call
# A (its bench build in build/gpu, head dims 64;72;80;128;256). ~60-90 s.
#   run(command="bash bench/experiments/dkdv_short_tile_call.sh $OUT/short", timeout_s=200)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
binary=${VARATTN_BENCH_BIN:-build/gpu/bench/varattn_bench}
[[ -x $binary ]] || { say "no $binary: run the table's call A first"; exit 2; }
read -r -a rows <<<"${ROWS:-sweep-d128-s256 sweep-d128-s1024 sweep-d128-s4096 sweep-d128-s16384 long-d128-causal long-d128-window1024 long-d128-window2048}"
metrics=gpu__time_duration.sum,sm__cycles_active.avg,sm__cycles_active.max,sm__cycles_elapsed.max,launch__grid_size,launch__waves_per_multiprocessor,smsp__cycles_active.avg
for row in "${rows[@]}"; do
  (($(left) > 15)) || { say "out of time before $row"; break; }
  timeout 40 ncu --clock-control none -k "regex:dkdv_kernel" --metrics "$metrics" \
    --launch-skip 4 --launch-count 1 "$binary" --benchmark_filter="^bwd/$row/fused/bf16/" \
    --varattn_min_time=0.01 --varattn_settle=0 >"$out/ncu_$row.log" 2>&1
  say "$row: $(grep -E '^\s+(gpu__time|sm__cycles|launch__|smsp__cycles)' "$out/ncu_$row.log" |
    awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
python3 - "$out" "${rows[@]}" <<'PY' | tee -a "$out/summary.txt"
# The fit over the unmasked sweep rows: per SM, active us = a x CTA-steps / SMs + b x CTAs / SMs.
import math, pathlib, re, sys
out, rows = pathlib.Path(sys.argv[1]), sys.argv[2:]
def figures(row):
    text = (out / f"ncu_{row}.log").read_text(errors="replace")
    def metric(name):
        m = re.search(rf"^\s+{re.escape(name)}\s+(?:(\S+)\s+)?([\d.,]+)\s*$", text, re.M)
        return None if not m else (m.group(1) or "", float(m.group(2).replace(",", "")))
    return {k: metric(k) for k in ("gpu__time_duration.sum", "sm__cycles_active.avg",
                                   "sm__cycles_elapsed.max", "launch__grid_size")}
points = []
for row in rows:
    m = re.match(r"sweep-d128-s(\d+)$", row)
    f = figures(row)
    if None in f.values():
        print(f"{row}: figures missing"); continue
    active, elapsed = f["sm__cycles_active.avg"][1], f["sm__cycles_elapsed.max"][1]
    print(f"{row}: active/elapsed {active / elapsed:.3f}, grid {f['launch__grid_size'][1]:.0f}, "
          f"time {f['gpu__time_duration.sum']}")
    if m:
        s = int(m.group(1)); segs = 65536 // s
        ctas = segs * (s // 128) * 16
        steps = segs * (s // 128) * math.ceil(s / 80) * 16
        points.append((steps, ctas, active))
if len(points) >= 2:
    # least squares of active = a * steps / 132 + b * ctas / 132 (cycles)
    sxx = sum((p[0] / 132) ** 2 for p in points); syy = sum((p[1] / 132) ** 2 for p in points)
    sxy = sum(p[0] * p[1] / 132 ** 2 for p in points)
    sxz = sum(p[0] / 132 * p[2] for p in points); syz = sum(p[1] / 132 * p[2] for p in points)
    det = sxx * syy - sxy ** 2
    a = (sxz * syy - syz * sxy) / det; b = (syz * sxx - sxz * sxy) / det
    print(f"fit over {len(points)} sweep rows: {a:.0f} cycles a CTA-step, {b:.0f} cycles a CTA "
          f"({b / a:.2f} steps' worth)")
    for steps, ctas, active in points:
        print(f"  steps {steps}, CTAs {ctas}: active {active:.0f}, fit "
              f"{a * steps / 132 + b * ctas / 132:.0f}, per-CTA share "
              f"{100 * b * ctas / 132 / active:.1f}%")
PY
say done
