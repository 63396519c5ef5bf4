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
read -r -a ncu_list <<<"${NCU_ROWS:-llm-d128-causal long-d128-causal}"
declare -A bench
bench[tree]=$(bash bench/prebuilt.sh use base "" build/base)/bench/varattn_bench || exit 2
bench[$label]=$(bash bench/prebuilt.sh use "$label" "$patch" "build/$label")/bench/varattn_bench ||
  exit 2
declare -A lib=([tree]=$(pwd)/build/pre/base/lib [$label]=$(pwd)/build/pre/$label/lib)
variant_argv() { argv=(env "LD_LIBRARY_PATH=${lib[$1]}" "${bench[$1]}"); }  # VARIANT
filter=$(IFS='|'; echo "^bwd/(${rows[*]})/fused/bf16/")
variant_rounds tree "$filter" tree "$label"

ncu_rows dkdv_kernel "${ncu_list[*]}" tree "$label"
say done
