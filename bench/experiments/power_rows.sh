#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sustained time, power and clock of varattn_bench rows for several binaries (NOTES s57 item 5,
# start s57 (a)): ncu times one launch with the card cool, but on the long rows our fwd+bwd
# runs at the H100's 700 W cap (697.9 W against FA4's 604.1 W for the same work), so a change
# that saves energy may show only in a sustained loop. Each (round, variant, row) runs the row
# alone for VARATTN_POWER_MIN_TIME seconds (default 2) with nvidia-smi sampling the SM clock
# and power every 50 ms; prints "LABEL ROUND ROW ms W MHz samples" (medians of the samples
# above timeline.py's LOADED_WATTS: the loop, not the gaps between processes), variants
# interleaved A1 B1 C1 A2 ...
#   bash bench/experiments/power_rows.sh OUTDIR ROUNDS "ROW ..." LABEL=BENCH_BINARY ...
# e.g., after unpacking prebuilt labels (bench/prebuilt.sh use):
#   bash bench/experiments/power_rows.sh $OUT 3 "bwd/long-d128/fused/bf16 bwd/llm-d128-causal/fused/bf16" \
#     A=build/tA/bench/varattn_bench B=build/ab/bench/varattn_bench C=build/ab_C/bench/varattn_bench
set -u -o pipefail
out=${1:?OUTDIR} rounds=${2:?ROUNDS} rows=${3:?ROWS}
shift 3
(($# > 0)) || { echo "power_rows.sh: no LABEL=BINARY" >&2; exit 2; }
mkdir -p "$out" || exit 2
min_time=${VARATTN_POWER_MIN_TIME:-2}
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# timeline.py's choices: the power field (power.draw.instant where the driver has it) and the
# loaded-sample threshold.
field=$(python3 -c "import sys; sys.path.insert(0, '$bench_dir'); import timeline; print(timeline.power_field())")
echo "power field: $field" >"$out/power_field.txt"
summary() {  # JSON SMI_CSV: ms, W, MHz, samples
  python3 - "$1" "$2" "$bench_dir" <<'PY'
import json, statistics, sys
sys.path.insert(0, sys.argv[3])
from timeline import LOADED_WATTS
text = open(sys.argv[1]).read()
try:
    rows = json.loads(text[text.find("{"):])["benchmarks"] if "{" in text else []
except json.JSONDecodeError:
    rows = []
ms = rows[0]["real_time"] if rows and not rows[0].get("error_occurred") else float("nan")
samples = []
for line in open(sys.argv[2]):
    parts = [p.strip() for p in line.split(",")]
    try:
        mhz, watts = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        continue
    if watts > LOADED_WATTS:
        samples.append((mhz, watts))
w = statistics.median(s[1] for s in samples) if samples else float("nan")
mhz = statistics.median(s[0] for s in samples) if samples else float("nan")
print(f"{ms:.4f} ms {w:.1f} W {mhz:.0f} MHz {len(samples)} samples")
PY
}
for round in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    label=${spec%%=*} bench=${spec#*=}
    [[ -x $bench ]] || { echo "$label: no binary $bench"; continue; }
    for row in $rows; do
      tag=$label$round.$(tr '/' '_' <<<"$row")
      nvidia-smi --query-gpu=clocks.sm,$field --format=csv,noheader,nounits -lms 50 \
        >"$out/$tag.smi.csv" 2>/dev/null &
      smi=$!
      "$bench" --benchmark_filter="^$row(/|\$)" --varattn_min_time="$min_time" \
        --benchmark_format=json >"$out/$tag.json" 2>"$out/$tag.err"
      kill "$smi" 2>/dev/null
      wait "$smi" 2>/dev/null
      echo "$label $round $row $(summary "$out/$tag.json" "$out/$tag.smi.csv")"
    done
  done
done | tee "$out/power_rows.txt"
