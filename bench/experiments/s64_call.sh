#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-fourth session, lead (a): is vl-window-d80's +7-9% under ncu (s61, s62) the kernels
# before s61 (base3) running faster under ncu than in the bench? s64 measured the cache flush
# at ~1% for this tree and the one before; base3 was not in that call. This call: the bench rows
# of vl-window-d80 for s64R (this tree, bench at 80, SASS only) and base3 in 3 interleaved rounds,
# then s62_call.sh ncu for both (flushed and unflushed, 6 launches each; source counters; --set
# full of the first label). A call returns at most 8 files: the logs leave as one tar.
#   run(command="bash bench/experiments/s64_call.sh $OUT", timeout_s=240,
#       carry=["build/pre/s64R", "build/pre/base3"])
set -u -o pipefail
out=${1:?usage: s64_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out"
labels="s64R base3"
export LD_LIBRARY_PATH=$(pwd)/build/pre/base3/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mkdir -p build/run "$out/b"
for v in $labels; do
  xz -dc "build/pre/$v/bench/varattn_bench.xz" >"build/run/varattn_bench_$v" &&
    chmod +x "build/run/varattn_bench_$v"
done
rows='^(fwd/vl-window-d80/(fused|fused_sm80|fused_device)/bf16|encoder_graph/vl-window-d80/device_plan/bf16)'
for round in 1 2 3; do
  for v in $labels; do
    echo "== order $v round $round"
    timeout 40 "build/run/varattn_bench_$v" --benchmark_filter="$rows" --varattn_min_time=0.1 \
      --benchmark_format=json 2>/dev/null >"$out/b/run.json"
    python3 bench/experiments/variant_rows.py parse "$out/b/run.json"
  done
done >"$out/b/rows.txt" 2>&1
python3 bench/experiments/variant_rows.py table "$out/b/rows.txt" base3 | tee "$out/bench.txt"
VARATTN_CALL_BUDGET_S=140 VARATTN_BENCH_LABELS="$labels" \
  bash bench/experiments/s62_call.sh ncu "$out/n" >/dev/null 2>&1
cp "$out/n/summary.txt" "$out/ncu.txt"
tar -C "$out" -cJf "$out/logs.tar.xz" b n && rm -rf "$out/b" "$out/n"
cat "$out/ncu.txt"
