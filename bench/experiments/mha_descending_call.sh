#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (s52): the dK/dV kernels' steps descending with one q head a CTA too
# (mha_descending.patch; mha_descending.md): whole-backward bench rows, tree (prebuilt base)
# against the patch (prebuilt mdesc), 3 interleaved rounds; then ncu of the dK/dV kernel on
# llm-d128-causal and long-d128-causal: time, L2 hit rate, DRAM bytes. Bench only, no tests:
# a timing probe (the walk's logic is step_order's, host-tested in both directions).
#   run(command="VARATTN_CALL_BUDGET_S=240 bash bench/experiments/mha_descending_call.sh $OUT",
#       carry=["build/pre/base", "build/pre/mdesc"], timeout_s=280)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
declare -A bench
bench[tree]=$(bash bench/prebuilt.sh use base "" build/base)/bench/varattn_bench || exit 2
bench[desc]=$(bash bench/prebuilt.sh use mdesc bench/experiments/mha_descending.patch \
  build/mdesc)/bench/varattn_bench || exit 2
declare -A lib=([tree]=$(pwd)/build/pre/base/lib [desc]=$(pwd)/build/pre/mdesc/lib)
run_variant() {  # VARIANT ARGS...
  local v=$1
  shift
  LD_LIBRARY_PATH=${lib[$v]} "${bench[$v]}" "$@"
}
rows=(bwd/llm-d128-causal/fused/bf16 bwd/long-d128-causal/fused/bf16
  bwd/long-d128-window1024/fused/bf16 bwd/vit-l14-d64/fused/bf16 bwd/long-d128/fused/bf16
  bwd/llm-d128-gqa28-causal/fused/bf16)
filter=$(IFS='|'; echo "^(${rows[*]})/")
variant_rounds tree "$filter" tree desc

say "ncu: the dK/dV kernel ($(left) s left)"
for row in llm-d128-causal long-d128-causal; do
  for v in tree desc; do
    (($(left) > 20)) || { say "out of time before ncu $v $row"; break 2; }
    LD_LIBRARY_PATH=${lib[$v]} timeout 40 ncu --clock-control none -k regex:dkdv_kernel \
      --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum \
      --launch-skip 4 --launch-count 1 "${bench[$v]}" \
      --benchmark_filter="^bwd/$row/fused/bf16/" --varattn_min_time=0.01 \
      --varattn_settle=0 >"$out/ncu_${v}_$row.log" 2>&1
    say "$v $row: $(grep -E '^\s+(gpu__time|lts__t_sector_hit|dram__bytes)' "$out/ncu_${v}_$row.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
  done
done
say done
