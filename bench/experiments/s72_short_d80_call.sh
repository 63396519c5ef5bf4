#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventy-second session (prepared, not run: no device lent in s72; NOTES s72 item 6): the
# Hopper short tile at head dim 80 in 32-byte rows (experiments/short_tile_d80_32b.patch: the
# 32-byte swizzle the d80 tall tile uses since s70, five 16-column boxes a row, so the copy
# engine reads the data's 160 bytes a row; s59's 128-byte rows read 1.48x them). Meant for an
# H200, where the sm80 short tile that vl-window-d80 runs is issue- rather than DRAM-bound
# (s44; vl-window-d80 at 70-72% of its memory floor there in s46, 80% asked); on the H100 s59's
# 32-byte form ran 0.99-1.18x the sm80 tile's time. The summary's first lines name the device.
# Labels built here (VARATTN_PREBUILT_ARCHS=90a-real): s71N (the tree's bench at 64;80;128),
# sh80B (the patch's bench at 80), sh80T (its GPU tests at 80).
#   run(command="VARATTN_CALL_BUDGET_S=240 bash bench/experiments/s72_short_d80_call.sh $OUT",
#       carry=["build/pre/s71N", "build/pre/sh80B", "build/pre/sh80T"], timeout_s=270)
# when the machine held is an H200 (a warm machine's `status` names it; the tool gives an H100
# or an H200 for the same kind, and needs_h200 is for memory only).
# 1. sh80T's forward suite at 80 (-tce=backward*: short-segment plans keep the sm80 backward),
#    then memcheck, racecheck and synccheck of the short-tile cases; a failure stops the call.
# 2. 3 interleaved rounds of s71N and sh80B on the short d80 rows.
# 3. ncu (--clock-control none, the fifth launch) of vl-window-d80's forward kernel for each:
#    time, DRAM bytes read and written, warp-instructions.
# shellcheck disable=SC2154,SC2034  # out (call_begin), argv (variant_argv, read by call_lib)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s72_short_d80_call.sh OUTDIR}"
trap pack_results EXIT
bench_labels s71N s71N sh80B
unpack_tests sh80T || exit 2
export LD_LIBRARY_PATH=$PWD/build/pre/sh80T/lib:$LD_LIBRARY_PATH
gpu_tests sh80T 100 build/run/tests_sh80T '-tce=backward*'
passed sh80T || { say "the suite failed: no timing"; exit 1; }
sanitizers "(sh80T)" \
  'every?kernel?family*,*segment?group*,*edge*,*strided*,kernel_family*,an?inf?in?one?segment*' \
  build/run/tests_sh80T "memcheck racecheck synccheck"

variant_argv() { argv=(timeout 60 "build/run/bench_$1"); }
ROUNDS_RESERVE_S=${ROUNDS_RESERVE_S:-40} variant_rounds s71N \
  '^(fwd/vl-window-d80/(fused|fused_device|bucketed)/(bf16|fp16)|fwd/sweep-d80-s64/fused/bf16|encoder_graph/vl-window-d80/device_plan/bf16)/' \
  s71N sh80B

metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,smsp__inst_executed.sum
for v in s71N sh80B; do
  (($(left) > 15)) || { say "out of time before ncu $v"; break; }
  timeout 40 ncu --clock-control none --metrics "$metrics" -k 'regex:(short|forward)_kernel' \
    --launch-skip 4 --launch-count 1 "build/run/bench_$v" \
    --benchmark_filter='^fwd/vl-window-d80/fused/bf16/' --varattn_min_time=0.01 \
    --varattn_settle=0 >"$out/ncu_$v.log" 2>&1
  say "ncu $v vl-window-d80: $(grep -E '^\s+(gpu__|smsp__|dram__)' "$out/ncu_$v.log" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
