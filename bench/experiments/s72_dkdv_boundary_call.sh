#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventy-second session (prepared, not run: no device machine lent in s72; NOTES s72): the
# Hopper dK/dV step boundary (experiments/dkdv_d128_step_vs_fa4_s71.md, changes 1 and 3).
#   pa  dkdv_place_ahead.patch: each step's place (order.next, place_step) found inside the
#       step before, after the dQ^T issue, while the warpgroup waits for its products; the
#       ring barrier's address hoisted at every head dim (d64's k.bar) and the full barrier /
#       phase toggled, not re-derived: the boundary from the last wait to the next S^T 56 ->
#       41 instructions at d128 (SASS), no S2UR there; every head dim 64-128 changes.
#   pl  pa + dkdv_leading_dk_late.patch: at d128 the leading warpgroup's dK after its dQ
#       (FA4's order), its dV still before the dS barrier.
#   ld  dkdv_leading_dk_late.patch alone (it applies to the tree too): pl's second half
#       without the first, for the attribution (timed only; plT tests its code with pa's).
# Labels built here (VARATTN_PREBUILT_ARCHS=90a-real): s71N (the tree's bench at 64;80;128),
# paB (pa's bench at 64;128), plB (pl's bench at 128), ldB (ld's bench at 128), plT (pl's GPU
# tests at 128: pa's code at 128 with change 3 on top), paT64 (pa's GPU tests at 64).
#   run(command="VARATTN_CALL_BUDGET_S=320 bash bench/experiments/s72_dkdv_boundary_call.sh $OUT",
#       carry=["build/pre/s71N", "build/pre/paB", "build/pre/plB", "build/pre/ldB",
#              "build/pre/plT", "build/pre/paT64"], timeout_s=350)
#   with bench/results moved out of the tree for the carry.
# In order of worth, each while the budget lasts:
# 1. plT's backward tests (a failure drops the d128 variants), memcheck and racecheck of every
#    backward kernel variant of plT.
# 2. 3 interleaved rounds of s71N, paB, plB, ldB on seven d128 backward rows.
# 3. ncu cycles (kernel_cycles: --clock-control none, the fifth launch) of the dK/dV kernel on
#    sweep-d128-s16384 for s71N, paB, plB (s71's pages: 4,148 cycles a warp-step against
#    FA4's 4,047).
# 4. paT64's backward tests, then 3 rounds of s71N and paB on the d64 rows (pa changes every
#    head dim's kernel; d80 is not timed here: the landing's suite covers it).
# 5. The same ncu on sweep-d128-s1024 (s71: 4,512 against FA4's 4,214).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s72_dkdv_boundary_call.sh OUTDIR}"
trap pack_results EXIT
bench_labels s71N s71N paB plB ldB

d128="s71N paB plB ldB"
if unpack_tests plT; then
  LD_LIBRARY_PATH=$PWD/build/pre/plT/lib:$LD_LIBRARY_PATH \
    gpu_tests plT 120 build/run/tests_plT '-tc=backward*,graph:?a?training?step*'
  passed plT || { d128="s71N"; say "plT failed: no d128 variant timed"; }
  (export LD_LIBRARY_PATH=$PWD/build/pre/plT/lib:$LD_LIBRARY_PATH
   sanitizers "(plT)" 'backward:?every?kernel?variant*' build/run/tests_plT)
fi

variant_argv() { argv=(timeout 60 "build/run/bench_$1"); }
# shellcheck disable=SC2086  # the variant lists split
if [[ $d128 != s71N ]]; then
  ROUNDS_RESERVE_S=${ROUNDS_RESERVE_S:-90} variant_rounds s71N \
    '^bwd/(long-d128|llm-d128|llm-d128-causal|long-d128-causal|long-d128-window1024|sweep-d128-s(1024|16384))/fused/bf16/' \
    $d128
  kernel_cycles dkdv_kernel bwd sweep-d128-s16384 60 s71N paB plB
fi

if (($(left) > 100)) && unpack_tests paT64; then
  LD_LIBRARY_PATH=$PWD/build/pre/paT64/lib:$LD_LIBRARY_PATH \
    gpu_tests paT64 90 build/run/tests_paT64 '-tc=backward*,graph:?a?training?step*'
  if passed paT64; then
    (out=$out/low && mkdir -p "$out" && ROUNDS_RESERVE_S=40 variant_rounds s71N \
      '^bwd/(vit-l14-d64|llm-d64-mqa-causal)/fused/bf16/' s71N paB)
    cat "$out/low/summary.txt" >>"$out/summary.txt" 2>/dev/null
  else
    say "paT64 failed: no d64 variant timed"
  fi
fi
[[ $d128 != s71N ]] && kernel_cycles dkdv_kernel bwd sweep-d128-s1024 15 s71N paB plB
