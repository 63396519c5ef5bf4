#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (prepared s51, not run): the Hopper dK/dV kernels' item order (gqa_step_order.md),
# every order in one prebuilt binary (label ord: bench and GPU tests at 64;128 with
# gqa_step_order.patch), chosen per process by VARATTN_EXP_ORDER (0 = the tree's order).
# (1) the backward suite and the training step under orders 4 and 1 (the new code paths),
# memcheck and racecheck of every backward kernel variant under order 4 (SKIP_CHECKS=1: none);
# (2) the whole-backward bench rows, ORDER_MODES (default tree 0 2 4 1 land) interleaved in 3
# rounds, where `tree` is the tree's own binary (prebuilt base, 64;80;128: order 0 inside ord
# is the tree's order but not its code: step_order's mode is a run-time branch there) and
# `land` the landing form (gqa_step_order_landed.patch, order 4 fixed; prebuilt landB, bench at
# 64;128);
# (3) ncu of the 28:4 row's dK/dV kernel under the tree and orders 0, 2 and 4: time, L2 hit
# rate, DRAM bytes (gqa_step_order_model.py's prediction). Log and tables in
# OUTDIR/summary.txt. ord ~33 MB, base and landB ~8 MB: move bench/results out for the call.
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/gqa_step_order_call.sh $OUT",
#       carry=["build/pre/ord", "build/pre/base", "build/pre/landB"], timeout_s=480)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
patch=bench/experiments/gqa_step_order.patch
dir=$(bash bench/prebuilt.sh use ord "$patch" build/ord) || exit 2
export LD_LIBRARY_PATH=$(pwd)/build/pre/ord/lib
tests=$dir/tests/varattn_gpu_tests
bench=$dir/bench/varattn_bench
tree_bench= land_bench=
if tree_dir=$(bash bench/prebuilt.sh use base "" build/base 2>>"$out/summary.txt"); then
  tree_bench=$tree_dir/bench/varattn_bench  # links build/pre/base/lib's copies: the same files
fi
if land_dir=$(bash bench/prebuilt.sh use landB bench/experiments/gqa_step_order_landed.patch \
  build/landB 2>>"$out/summary.txt"); then
  land_bench=$land_dir/bench/varattn_bench
fi
# A variant's bench command (call_lib.sh's variant_argv): `tree` (base's binary), `land`
# (landB's) or an order of ord's; a label that did not unpack runs `false`.
variant_argv() {  # VARIANT
  case $1 in
    tree) argv=(env "LD_LIBRARY_PATH=$(pwd)/build/pre/base/lib" "${tree_bench:-false}") ;;
    land) argv=(env "LD_LIBRARY_PATH=$(pwd)/build/pre/landB/lib" "${land_bench:-false}") ;;
    *) argv=(env "VARATTN_EXP_ORDER=$1" "$bench") ;;
  esac
}

if [[ -z ${SKIP_CHECKS:-} ]]; then
  for mode in 4 1; do
    gpu_tests "order$mode" 120 env VARATTN_EXP_ORDER=$mode "$tests" \
      '-tc=backward*,graph:?a?training?step*'
  done
  (export VARATTN_EXP_ORDER=4; sanitizers "(order 4)" 'backward:?every?kernel?variant*' "$tests")
fi

rows=(bwd/llm-d128-gqa28-causal/fused/bf16 bwd/prefill-d128-gqa-causal/fused/bf16
  bwd/chunked-d128-gqa-causal/fused/bf16 bwd/llm-d64-mqa-causal/fused/bf16
  bwd/llm-d128-causal/fused/bf16 bwd/long-d128-window1024/fused/bf16
  bwd/fewq-d128-gqa-causal/fused/bf16)
filter=$(IFS='|'; echo "^(${rows[*]})/")
# shellcheck disable=SC2086  # the variants, one word each
variant_rounds tree "$filter" ${ORDER_MODES:-tree 0 2 4 1 land}

ncu_rows dkdv_kernel llm-d128-gqa28-causal tree 0 2 4 land
say done
