#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventieth session (ran as call 1, H100; fa4q landed: the step and Q/K patches were removed
# from experiments/ then, `git show 90f372a:bench/experiments/<patch>` has them): d80's tall tile (192 x 144, P through shared memory)
# in FA4's whole step, experiments/hopper_forward_d80_fa4_step.{patch,md}: the three
# warpgroups in turns and P_j stored inside the softmax of S_j, the wait for P_{j-1} V_{j-1}
# after the row maxima; then FA4's layout on top. Labels built here
# (VARATTN_PREBUILT_ARCHS=90a-real, head dim 80; the patches in this order):
#   b80    the tree's bench
#   fa4s   + hopper_forward_d80_fa4_step.patch
#   fa4n   + that + hopper_forward_d80_fa4_step_no_turns.patch (the order without the turns)
#   fa4q   + fa4_step + hopper_forward_d80_qk32_on_fa4_step.patch (Q and K in 32-byte blocks)
#   fa4q3  + those + hopper_forward_d80_three_stages.patch (three K/V stages in the room freed)
#   fa4sT, fa4q3T: the GPU tests of fa4s and fa4q3
#   run(command="VARATTN_CALL_BUDGET_S=540 bash bench/experiments/s70_d80_fa4_step_call.sh $OUT",
#       carry=["build/pre/b80", "build/pre/fa4s", "build/pre/fa4n", "build/pre/fa4q",
#              "build/pre/fa4q3", "build/pre/fa4sT", "build/pre/fa4q3T"], timeout_s=570)
#   with bench/results moved out of the tree for the carry.
# Each step only while the budget lasts:
# 1. Each test label's tall-tile cases under `timeout 120` (a turn-count error would hang):
#    fa4sT failing drops every variant (they all carry its step), fa4q3T failing drops fa4q
#    and fa4q3.
# 2. 3 interleaved rounds of b80 and the variants left on the d80 rows (variant_rows.py's table
#    against b80; sweep-d80-s1024 runs the 128-row tile, the same SASS in all: the control).
#    Each bench run under `timeout 60`.
# 3. ncu (--clock-control none, the fifth launch) of the forward kernel on vl-full-d80, each
#    label: elapsed and active cycles (the clock-free figures; s50: ours 1,132,926 elapsed
#    against FA4's 1,098,219), duration, tensor pipe.
# 4. The forward suite at 80 (-tce=backward*) of fa4q3T, then fa4sT; synccheck (s58's order
#    broke wgmma's contract) of the tall-tile cases for both, racecheck and memcheck for fa4q3T.
# 5. With >= 130 s left: ncu's source page (full set, per-instruction samples) of fa4s's and
#    then b80's forward kernel on vl-full-d80, for sass_stalls.py (NOTES s70 1's reading).
# Everything but summary.txt goes into results.tar.xz (a call returns 8 files), also on an
# early exit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s70_d80_fa4_step_call.sh OUTDIR}"
trap pack_results EXIT
bench_labels b80 b80 fa4s fa4n fa4q fa4q3
export LD_LIBRARY_PATH=$PWD/build/pre/fa4sT/lib:$LD_LIBRARY_PATH
for t in fa4sT fa4q3T; do
  xz -dc "build/pre/$t/tests/varattn_gpu_tests.xz" >"build/run/tests_$t" &&
    chmod +x "build/run/tests_$t" || { say "no label $t"; exit 2; }
done
tall='head?dims?64?to?80?Hopper?tiles*,forward?over?several?step?classes*'
passed() { grep -q 'Status: SUCCESS' "$out/tests_$1.log"; }

variants="fa4s fa4n fa4q fa4q3"
gpu_tests tall_fa4sT 120 build/run/tests_fa4sT "-tc=$tall"
passed tall_fa4sT || { say "fa4sT's tall-tile cases failed: no variant is timed"; exit 1; }
gpu_tests tall_fa4q3T 120 build/run/tests_fa4q3T "-tc=$tall"
passed tall_fa4q3T || { variants="fa4s fa4n"; say "fa4q3T's tall-tile cases failed: fa4q, fa4q3 dropped"; }

variant_argv() { argv=(timeout 60 "build/run/bench_$1"); }
# shellcheck disable=SC2086  # the variants split
ROUNDS_RESERVE_S=250 variant_rounds b80 \
  '^(fwd/vl-full-d80/fused|fwd/sweep-d80-s(1024|4096|16384)/fused|encoder_graph/vl-full-d80/device_plan)/bf16/' \
  b80 $variants

# shellcheck disable=SC2086
forward_cycles vl-full-d80 200 b80 $variants

for t in fa4q3T fa4sT; do
  [[ $t == fa4q3T && $variants != *fa4q3* ]] && continue
  (($(left) > 150)) && gpu_tests "suite_$t" $(($(left) - 120)) "build/run/tests_$t" '-tce=backward*'
done
[[ $variants == *fa4q3* ]] && sanitize synccheck fa4q3T
sanitize synccheck fa4sT
if [[ $variants == *fa4q3* ]]; then
  sanitize racecheck fa4q3T
  sanitize memcheck fa4q3T
else
  sanitize racecheck fa4sT
  sanitize memcheck fa4sT
fi

for v in fa4s b80; do
  (($(left) > 130)) || { say "out of time before the source page of $v"; break; }
  mkdir -p "build/nc_$v/bench" && cp "build/run/bench_$v" "build/nc_$v/bench/varattn_bench"
  VARATTN_BUILD_DIR=$PWD/build/nc_$v VARATTN_PROFILE_SOURCE=1 timeout 120 \
    bash bench/profile_on_gpu.sh "$out/full_$v" '^fwd/vl-full-d80/fused/bf16/' forward_kernel \
    full >/dev/null 2>&1
  say "$v source page: exit $?; $(grep -hE '^ +(Duration|SM Frequency|Elapsed Cycles)' "$out/full_$v/"*.txt | head -3 | tr -s ' ' | tr '\n' ';')"
done
