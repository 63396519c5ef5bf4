#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventy-first session (prepared, not run: no device machine started in s71; NOTES s71): the
# three-warpgroup tile of head dims 64 and 72 (192 x 128, P in registers) in FA4's step there
# (flash_fwd_sm90.py at d64: 192 x 128, P in registers, intra-warpgroup overlap, and the
# scheduler barrier: three warpgroups in turns), the whole step and its halves (s70: at d80
# the whole step won where each half had lost). Labels built here (VARATTN_PREBUILT_ARCHS=
# 90a-real, head dims 64;72; the patches in this order):
#   b64    the tree's bench
#   d64F   + hopper_forward_d64_fa4_step.patch (turns, and the softmax of S_j waits for
#          P_{j-1} V_{j-1}, rescales O and packs P_j)
#   d64T   + hopper_forward_d64_turns.patch (the turns alone, the tree's order)
#   d64N   + fa4_step + hopper_forward_d64_fa4_step_no_turns.patch (the order alone)
#   d64S   + fa4_step + hopper_forward_d64_fa4_step_sums_first.patch (FA4's order in full: all
#          64 exp2s above the P V wait, which d64F's SASS does not have)
#   d64ST  the GPU tests of d64S (d64FT, d64F's, does not fit the carry beside it)
#   run(command="VARATTN_CALL_BUDGET_S=320 bash bench/experiments/s71_d64_fa4_step_call.sh $OUT",
#       carry=["build/pre/b64", "build/pre/d64F", "build/pre/d64S", "build/pre/d64T",
#              "build/pre/d64N", "build/pre/d64ST"], timeout_s=345)
#   with bench/results moved out of the tree for the carry (~55 MB then).
# Steps, each while the budget lasts:
# 1. d64ST's Hopper-tile cases under `timeout 120` (a turn-count or arrival-count error would
#    hang); failing drops d64S (the others are timed, each under `timeout 60`).
# 2. 3 interleaved rounds of b64 and the variants on the d64 / d72 rows (vl-window-d72 runs the
#    short sm80 tile, the same SASS in all: the control).
# 3. synccheck of d64ST's Hopper-tile cases (the turns and the wait order: wgmma's contract).
# 4. ncu (--clock-control none, the fifth launch) of the forward kernel on vit-l14-d64.
# 5. d64ST's forward suite (-tce=backward*), racecheck, memcheck of the Hopper tiles.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s71_d64_fa4_step_call.sh OUTDIR}"
trap pack_results EXIT
bench_labels b64 b64 d64F d64S d64T d64N
export LD_LIBRARY_PATH=$PWD/build/pre/d64ST/lib:$LD_LIBRARY_PATH
unpack_tests d64ST || exit 2
tiles='head?dims?64?to?80?Hopper?tiles*,forward?over?several?step?classes*'

variants="d64F d64S d64T d64N"
gpu_tests tiles_d64ST 120 build/run/tests_d64ST "-tc=$tiles"
passed tiles_d64ST || { variants="d64F d64T d64N"; say "d64ST's tile cases failed: d64S dropped"; }

variant_argv() { argv=(timeout 60 "build/run/bench_$1"); }
# shellcheck disable=SC2086  # the variants split
ROUNDS_RESERVE_S=${ROUNDS_RESERVE_S:-110} variant_rounds b64 \
  '^(fwd/(vit-l14-d64|llm-d64-mqa-causal|vl-full-d72|vl-window-d72|sweep-d64-s(1024|4096|16384))/fused|encoder_graph/vl-full-d72/device_plan)/bf16/' \
  b64 $variants

[[ $variants == *d64S* ]] && sanitize synccheck d64ST
# shellcheck disable=SC2086
forward_cycles vit-l14-d64 40 b64 $variants

if [[ $variants == *d64S* ]]; then
  (($(left) > 130)) && gpu_tests suite_d64ST $(($(left) - 100)) build/run/tests_d64ST '-tce=backward*'
  sanitize racecheck d64ST
  sanitize memcheck d64ST
fi
