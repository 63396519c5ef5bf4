#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (prepared s51, not run): vl-full-d80's two forward leads beside the tree, from
# prebuilt labels: kv = forward_k_before_v.patch (the producer issues K_{s+1} before V_s; every
# Hopper forward tile), qk32 = forward_d80_qk_32b.patch (Q and K of the 192 x 144 d80 tile in
# 32-byte blocks, FA4's layout), base = the tree (bench at 64;80;128; qk32 at 80). (1) The GPU
# tests but the backward's with both patches (d80T at 80;128: one test label, the carry's
# limit), memcheck and racecheck of the 192-row tiles there (SKIP_CHECKS=1: none); (2) the
# forward rows, base / kv / qk32 interleaved in
# 3 rounds (bench, whole forward); (3) ncu of the forward kernel on vl-full-d80 and llm-d128 for
# each: time, elapsed cycles (the clocks differ between runs: compare cycles), the copy
# engine's bytes into the SMs, L2 read sectors. Log and tables in OUTDIR/summary.txt.
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/forward_d80_leads_call.sh $OUT",
#       carry=["build/pre/base", "build/pre/kv", "build/pre/qk32", "build/pre/d80T"],
#       timeout_s=480), bench/results moved out of the tree (~57 MB in all)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
E=bench/experiments
declare -A patch=([base]="" [kv]=$E/forward_k_before_v.patch [qk32]=$E/forward_d80_qk_32b.patch
  [d80T]="$E/forward_k_before_v.patch $E/forward_d80_qk_32b.patch")
declare -A dir
for label in base kv qk32 d80T; do
  dir[$label]=$(bash bench/prebuilt.sh use "$label" "${patch[$label]}" "build/$label" \
    2>>"$out/summary.txt") || say "label $label unusable (above)"
done
with_lib() {  # LABEL CMD...: run with the label's libraries
  local label=$1
  shift
  LD_LIBRARY_PATH=$(pwd)/build/pre/$label/lib "$@"
}

if [[ -z ${SKIP_CHECKS:-} && -n ${dir[d80T]:-} ]]; then
  export LD_LIBRARY_PATH=$(pwd)/build/pre/d80T/lib
  gpu_tests d80T 100 "${dir[d80T]}/tests/varattn_gpu_tests" '-tce=backward*'
  sanitizers "(both patches)" 'head?dims?64?to?80*' "${dir[d80T]}/tests/varattn_gpu_tests"
  unset LD_LIBRARY_PATH
fi

rows=(fwd/vl-full-d80/fused/bf16 fwd/vl-window-d80/fused/bf16 fwd/llm-d128/fused/bf16
  fwd/long-d128/fused/bf16 fwd/llm-d128-causal/fused/bf16)
filter=$(IFS='|'; echo "^(${rows[*]})/")
run_variant() {  # LABEL ARGS...: that label's bench, if it unpacked
  local label=$1
  shift
  [[ -n ${dir[$label]:-} ]] && with_lib "$label" "${dir[$label]}/bench/varattn_bench" "$@"
}
ROUNDS_RESERVE_S=90 variant_rounds base "$filter" base kv qk32

say "ncu: the forward kernel ($(left) s left)"
for row in vl-full-d80 llm-d128; do
  for label in base kv qk32; do
    [[ -n ${dir[$label]:-} ]] || continue
    (($(left) > 20)) || { say "out of time before ncu $label $row"; break 2; }
    with_lib "$label" timeout 40 ncu --clock-control none -k regex:forward_kernel \
      --metrics gpu__time_duration.sum,sm__cycles_elapsed.max,l1tex__m_xbar2l1tex_read_bytes_mem_global_op_tma_ld.sum,lts__t_sectors_srcunit_tex_op_read.sum \
      --launch-skip 4 --launch-count 1 "${dir[$label]}/bench/varattn_bench" \
      --benchmark_filter="^fwd/$row/fused/bf16/" --varattn_min_time=0.01 --varattn_settle=0 \
      >"$out/ncu_${label}_$row.log" 2>&1
    say "$label $row: $(grep -E '^\s+(gpu__time|sm__cycles|l1tex__m|lts__t)' "$out/ncu_${label}_$row.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
  done
done
say done
