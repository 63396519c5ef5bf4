#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call: the dK/dV kernels' walk direction (step_order.hpp) changed by PATCH (prebuilt
# LABEL, bench at 64;128) against the tree (prebuilt base): whole-backward bench rows ROWS,
# 3 interleaved rounds; then ncu of the dK/dV kernel on NCU_ROWS (time, L2 hit rate, DRAM
# bytes). Bench only: a timing probe (the walk's logic is step_order's, host-tested in both
# directions). Rows are workload names (bwd/NAME/fused/bf16).
#   mha_descending.md (ran s52 as mha_descending_call.sh, these defaults):
#     run(command="VARATTN_CALL_BUDGET_S=200 bash bench/experiments/step_direction_call.sh $OUT mdesc bench/experiments/mha_descending.patch",
#         carry=["build/pre/base", "build/pre/mdesc"], timeout_s=240)
#   gqa_window_ascending.md: ROWS and NCU_ROWS given there.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
label=${2:?LABEL} patch=${3:?PATCH}
read -r -a rows <<<"${ROWS:-llm-d128-causal long-d128-causal long-d128-window1024 vit-l14-d64 long-d128 llm-d128-gqa28-causal}"
read -r -a ncu_rows <<<"${NCU_ROWS:-llm-d128-causal long-d128-causal}"
declare -A bench
bench[tree]=$(bash bench/prebuilt.sh use base "" build/base)/bench/varattn_bench || exit 2
bench[$label]=$(bash bench/prebuilt.sh use "$label" "$patch" "build/$label")/bench/varattn_bench ||
  exit 2
declare -A lib=([tree]=$(pwd)/build/pre/base/lib [$label]=$(pwd)/build/pre/$label/lib)
run_variant() {  # VARIANT ARGS...
  local v=$1
  shift
  LD_LIBRARY_PATH=${lib[$v]} "${bench[$v]}" "$@"
}
filter=$(IFS='|'; echo "^bwd/(${rows[*]})/fused/bf16/")
variant_rounds tree "$filter" tree "$label"

say "ncu: the dK/dV kernel ($(left) s left)"
for row in "${ncu_rows[@]}"; do
  for v in tree "$label"; do
    (($(left) > 20)) || { say "out of time before ncu $v $row"; break 2; }
    LD_LIBRARY_PATH=${lib[$v]} timeout 40 ncu --clock-control none -k regex:dkdv_kernel \
      --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_srcunit_tex_op_red.sum,lts__t_sectors_srcunit_tex_op_red_lookup_miss.sum \
      --launch-skip 4 --launch-count 1 "${bench[$v]}" \
      --benchmark_filter="^bwd/$row/fused/bf16/" --varattn_min_time=0.01 \
      --varattn_settle=0 >"$out/ncu_${v}_$row.log" 2>&1
    say "$v $row: $(grep -E '^\s+(gpu__time|lts__t_sector|dram__bytes)' "$out/ncu_${v}_$row.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
  done
done
say done
