#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventy-first session: the three-warpgroup tile of head dims 64 and 72 (192 x 128, P in
# registers) in FA4's step there (flash_fwd_sm90.py at d64: 192 x 128, P in registers, intra-
# warpgroup overlap, and the scheduler barrier: three warpgroups in turns), the whole step and
# its halves (s70: at d80 the whole step won where each half had lost). Labels built here
# (VARATTN_PREBUILT_ARCHS=90a-real, head dims 64;72; the patches in this order):
#   b64    the tree's bench
#   d64F   + hopper_forward_d64_fa4_step.patch (turns, and the softmax of S_j waits for
#          P_{j-1} V_{j-1}, rescales O and packs P_j)
#   d64T   + hopper_forward_d64_turns.patch (the turns alone, the tree's order)
#   d64N   + fa4_step + hopper_forward_d64_fa4_step_no_turns.patch (the order alone)
#   d64FT  the GPU tests of d64F
#   run(command="VARATTN_CALL_BUDGET_S=320 bash bench/experiments/s71_d64_fa4_step_call.sh $OUT",
#       carry=["build/pre/b64", "build/pre/d64F", "build/pre/d64T", "build/pre/d64N",
#              "build/pre/d64FT"], timeout_s=345)
# Steps, each while the budget lasts:
# 1. d64FT's Hopper-tile cases under `timeout 120` (a turn-count error would hang); failing
#    drops d64F and d64N (d64T shares no code with it but the turns' barriers).
# 2. 3 interleaved rounds of b64 and the variants on the d64 / d72 rows (vl-window-d72 runs the
#    short sm80 tile, the same SASS in all: the control).
# 3. synccheck of d64FT's Hopper-tile cases (the turns and the wait order: wgmma's contract).
# 4. ncu (--clock-control none, the fifth launch) of the forward kernel on vit-l14-d64.
# 5. d64FT's forward suite (-tce=backward*), racecheck, memcheck of the Hopper tiles.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s71_d64_fa4_step_call.sh OUTDIR}"
trap pack_results EXIT
bench_labels b64 b64 d64F d64T d64N
export LD_LIBRARY_PATH=$PWD/build/pre/d64FT/lib:$LD_LIBRARY_PATH
xz -dc build/pre/d64FT/tests/varattn_gpu_tests.xz >build/run/tests_d64FT &&
  chmod +x build/run/tests_d64FT || { say "no label d64FT"; exit 2; }
tiles='head?dims?64?to?80?Hopper?tiles*,forward?over?several?step?classes*'
passed() { grep -q 'Status: SUCCESS' "$out/tests_$1.log"; }

variants="d64F d64T d64N"
gpu_tests tiles_d64FT 120 build/run/tests_d64FT "-tc=$tiles"
passed tiles_d64FT || { variants="d64T"; say "d64FT's tile cases failed: d64F, d64N dropped"; }

variant_argv() { argv=(timeout 60 "build/run/bench_$1"); }
# shellcheck disable=SC2086  # the variants split
ROUNDS_RESERVE_S=${ROUNDS_RESERVE_S:-110} variant_rounds b64 \
  '^(fwd/(vit-l14-d64|llm-d64-mqa-causal|vl-full-d72|vl-window-d72|sweep-d64-s(1024|4096|16384))/fused|encoder_graph/vl-full-d72/device_plan)/bf16/' \
  b64 $variants

[[ $variants == *d64F* ]] && sanitize synccheck d64FT
# shellcheck disable=SC2086
forward_cycles vit-l14-d64 40 b64 $variants

if [[ $variants == *d64F* ]]; then
  (($(left) > 130)) && gpu_tests suite_d64FT $(($(left) - 100)) build/run/tests_d64FT '-tce=backward*'
  sanitize racecheck d64FT
  sanitize memcheck d64FT
fi
