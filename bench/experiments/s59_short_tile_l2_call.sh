#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-ninth session, calls 2 and 3: two bench-only builds of the Hopper short tile (64;80,
# built here), N = the tree (label LABEL_N) and S = the tree + PATCH_S (label LABEL_S); each
# binary's fused rows (the Hopper short tile) against its fused_sm80 rows (the sm80 short
# tile), 3 interleaved rounds, then ncu with DRAM bytes (N, S and the sm80 tile):
#   bash bench/experiments/s59_short_tile_l2_call.sh OUTDIR LABEL_N LABEL_S PATCH_S
# call 2: stN st64 short_tile_l2_64b.patch (128-byte boxes, maps without L2 promotion / with
#   64-byte promotion; the patch set kL2Promotion to CU_TENSOR_MAP_L2_PROMOTION_L2_64B and was
#   removed after the call: both read 1.48x the sm80 tile's bytes);
# call 3: st32 st32p bench/experiments/short_tile_l2_128b.patch (32-byte boxes at head dim 80,
#   without promotion / with 128-byte promotion; call 3b the same again, asked on kind nvidia-h200,
#   which kept the H100 held);
# call 4: st32 stR bench/experiments/short_tile_row_boxes_probe.patch (Q and K in 16-row boxes,
#   only those that hold rows: the tiny-d64 tile read 1.10x the sm80 tile's DRAM bytes; no
#   machine started; that form was landed instead).
# next (s59 lead (a)): VARATTN_PATCH_N=bench/experiments/short_tile_d64_probe.patch bash
#   bench/experiments/s59_short_tile_l2_call.sh $OUT stD64 stV64
#   bench/experiments/short_tile_v_row_boxes_probe.patch (labels at 64 built here).
# VARATTN_PATCH_N: the patch LABEL_N was built with (default none).
#   run(command="bash bench/experiments/s59_short_tile_l2_call.sh $OUT st32 st32p
#       bench/experiments/short_tile_l2_128b.patch", carry=["build/pre/st32", "build/pre/st32p"],
#       timeout_s=400)
set -u -o pipefail
out=${1:?usage: s59_short_tile_l2_call.sh OUTDIR LABEL_N LABEL_S PATCH_S}
label_n=${2:?LABEL_N} label_s=${3:?LABEL_S} patch_s=${4:?PATCH_S}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$(pwd)
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-380}
left() { echo $((budget - ($(date +%s) - start))); }
summary=$out/summary.txt
: >"$summary"
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$summary"; }
bash bench/machine_facts.sh | tee -a "$summary"
bash bench/prebuilt.sh use "$label_n" "${VARATTN_PATCH_N-}" build/check_N >/dev/null 2>"$out/prebuilt.log" ||
  { say "$label_n unusable: $(cat "$out/prebuilt.log")"; exit 1; }
bash bench/prebuilt.sh use "$label_s" "$patch_s" build/check_S \
  >/dev/null 2>>"$out/prebuilt.log" || { say "$label_s unusable: $(cat "$out/prebuilt.log")"; exit 1; }
export LD_LIBRARY_PATH=$root/build/pre/$label_n/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
rows='^(fwd/(tiny-d64|vl-window-d80|sweep-d64-s64|sweep-d80-s64)/(fused|fused_sm80|fused_device)/bf16|fwd/(tiny-d64|vl-window-d80)/(fused|fused_sm80)/fp16|encoder_graph/(tiny-d64|vl-window-d80)/device_plan/bf16)'
run_bench() {  # LABEL BINARY
  "$2" --benchmark_filter="$rows" --varattn_min_time=0.2 --benchmark_format=json 2>/dev/null \
    >"$out/run.json"
  python3 bench/bench_json_rows.py "$out/run.json" "$1"
}
for round in 1 2 3; do
  (($(left) > 150)) || { say "out of time before bench round $round"; break; }
  run_bench "N$round" build/check_N/bench/varattn_bench | tee -a "$summary"
  run_bench "S$round" build/check_S/bench/varattn_bench | tee -a "$summary"
done
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_srcunit_tex_op_read.sum,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active
for row in vl-window-d80 tiny-d64 sweep-d64-s64; do
  for v in "N:build/check_N:fused:short_kernel" "S:build/check_S:fused:short_kernel" \
           "B:build/check_N:fused_sm80:forward_kernel"; do
    IFS=: read -r label dir policy kernel <<<"$v"
    (($(left) > 20)) || { say "out of time before ncu $label $row"; break 2; }
    f=$out/ncu_${label}_$row.txt
    timeout 40 ncu --clock-control none --metrics "$metrics" -k "regex:$kernel" --launch-skip 4 \
      --launch-count 1 "$dir/bench/varattn_bench" --benchmark_filter="^fwd/$row/$policy/bf16" \
      --varattn_min_time=0.01 --varattn_settle=0 >"$f" 2>&1
    say "ncu $label $row $policy: $(grep -E '^\s+(gpu__|smsp__|dram__|lts__)' "$f" | awk '{printf "%s=%s%s ", $1, $3, $2}')"
  done
done
say done
