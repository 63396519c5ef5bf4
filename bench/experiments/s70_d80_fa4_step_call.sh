#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventieth session (prepared, not run): d80's tall tile (192 x 144, P through shared memory)
# in FA4's whole step, experiments/hopper_forward_d80_fa4_step.{patch,md}: the three
# warpgroups in turns and P_j stored inside the softmax of S_j, the wait for P_{j-1} V_{j-1}
# after the row maxima. Labels built here (VARATTN_PREBUILT_ARCHS=90a-real, head dim 80):
# b80 (the tree's bench), fa4s (+ the patch), fa4n (+ the patch and _no_turns.patch: the order
# without the turns), fa4sT (fa4s's GPU tests).
#   run(command="VARATTN_CALL_BUDGET_S=420 bash bench/experiments/s70_d80_fa4_step_call.sh $OUT",
#       carry=["build/pre/b80", "build/pre/fa4s", "build/pre/fa4n", "build/pre/fa4sT"],
#       timeout_s=450)   with bench/results moved out of the tree for the carry.
# Each step only while the budget lasts:
# 1. fa4sT's tall-tile cases under `timeout 120` (a turn-count error would hang); a failure
#    stops the call.
# 2. 3 interleaved rounds of b80, fa4s, fa4n on the d80 rows (variant_rows.py's table against
#    b80; sweep-d80-s1024 runs the 128-row tile, the same SASS in all three: the control).
# 3. ncu (--clock-control none, the fifth launch) of the forward kernel on vl-full-d80, each
#    label: elapsed and active cycles (the clock-free figures; s50: ours 1,132,926 elapsed
#    against FA4's 1,098,219), duration, tensor pipe.
# 4. fa4sT's forward suite at 80 (-tce=backward*), then synccheck (s58's form broke wgmma's
#    contract there), racecheck and memcheck of the tall-tile cases.
# 5. With >= 130 s left: ncu's source page (full set, per-instruction samples) of fa4s's and
#    then b80's forward kernel on vl-full-d80, for sass_stalls.py (NOTES s70 1's reading).
# Everything but summary.txt goes into results.tar.xz (a call returns 8 files), also on an
# early exit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s70_d80_fa4_step_call.sh OUTDIR}"
pack() {
  local rest
  cd "$out" || return
  ls -la | tee -a summary.txt
  mapfile -t rest < <(find . -mindepth 1 -maxdepth 1 ! -name summary.txt ! -name results.tar.xz)
  ((${#rest[@]})) && tar -cJf results.tar.xz "${rest[@]}" && rm -rf "${rest[@]}"
}
trap pack EXIT
bench_labels b80 b80 fa4s fa4n
xz -dc build/pre/fa4sT/tests/varattn_gpu_tests.xz >build/run/gpu_tests &&
  chmod +x build/run/gpu_tests || { say "no label fa4sT"; exit 2; }
export LD_LIBRARY_PATH=$PWD/build/pre/fa4sT/lib:$LD_LIBRARY_PATH
tall='head?dims?64?to?80?Hopper?tiles*,forward?over?several?step?classes*'

gpu_tests tall 120 build/run/gpu_tests "-tc=$tall"
grep -q 'Status: SUCCESS' "$out/tests_tall.log" || { say "the tall-tile cases failed: no timing"; exit 1; }

variant_argv() { argv=("build/run/bench_$1"); }
ROUNDS_RESERVE_S=150 variant_rounds b80 \
  '^(fwd/vl-full-d80/(fused|bucketed)|fwd/sweep-d80-s(1024|4096|16384)/fused|encoder_graph/vl-full-d80/device_plan)/bf16/' \
  b80 fa4s fa4n

say "ncu: forward_kernel on vl-full-d80 ($(left) s left)"
for v in b80 fa4s fa4n; do
  (($(left) > 120)) || { say "out of time before ncu $v"; break; }
  timeout 40 ncu --clock-control none -k regex:forward_kernel \
    --metrics gpc__cycles_elapsed.max,sm__cycles_active.avg,gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active \
    --launch-skip 4 --launch-count 1 "build/run/bench_$v" \
    --benchmark_filter='^fwd/vl-full-d80/fused/bf16/' --varattn_min_time=0.01 \
    --varattn_settle=0 >"$out/ncu_$v.log" 2>&1
  say "$v: $(grep -E '^\s+(gpc__|sm__|gpu__)' "$out/ncu_$v.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
done

(($(left) > 100)) && gpu_tests suite $(($(left) - 60)) build/run/gpu_tests '-tce=backward*'
for tool in synccheck racecheck memcheck; do
  (($(left) > 30)) || { say "out of time before $tool"; break; }
  timeout $(($(left) - 10 < 90 ? $(left) - 10 : 90)) compute-sanitizer --tool $tool \
    build/run/gpu_tests -tc='head?dims?64?to?80?Hopper?tiles*' >"$out/$tool.log" 2>&1
  say "$tool exit $?: $(grep -E 'test cases:|ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tr -s ' ' | tr '\n' ' ')"
done

for v in fa4s b80; do
  (($(left) > 130)) || { say "out of time before the source page of $v"; break; }
  mkdir -p "build/nc_$v/bench" && cp "build/run/bench_$v" "build/nc_$v/bench/varattn_bench"
  VARATTN_BUILD_DIR=$PWD/build/nc_$v VARATTN_PROFILE_SOURCE=1 timeout 120 \
    bash bench/profile_on_gpu.sh "$out/full_$v" '^fwd/vl-full-d80/fused/bf16/' forward_kernel \
    full >/dev/null 2>&1
  say "$v source page: exit $?; $(grep -hE '^ +(Duration|SM Frequency|Elapsed Cycles)' "$out/full_$v/"*.txt | head -3 | tr -s ' ' | tr '\n' ';')"
done
