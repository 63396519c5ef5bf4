#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventy-second session (prepared, not run): the landing tests of dkdv_place_ahead.patch
# (NOTES s72 item 1), for after s72_dkdv_boundary_call.sh, if paB gains there. Every Hopper
# dK/dV kernel changes (head dims 64-128), so the whole GPU suite runs at each: labels built
# here (VARATTN_PREBUILT_ARCHS=90a-real) paT64 (tests at 64) and paL (tests at 72;80;96;128),
# both with bench/experiments/dkdv_place_ahead.patch.
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/s72_dkdv_land_call.sh $OUT",
#       carry=["build/pre/paT64", "build/pre/paL"], timeout_s=330)
# Then, on the tree with the patch applied (`prebuilt.sh use` checks each label's fingerprint
# against this tree plus the patch, so run it on the tree the patch is about to land on):
# 1. paL's whole suite, then paT64's;
# 2. memcheck and racecheck of every backward kernel variant (paL), synccheck of the same.
# shellcheck disable=SC2154  # out, set by call_lib.sh's call_begin
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s72_dkdv_land_call.sh OUTDIR}"
trap pack_results EXIT
patch=bench/experiments/dkdv_place_ahead.patch
for label in paL paT64; do
  dir=$(bash bench/prebuilt.sh use "$label" "$patch" "build/$label") || { say "no label $label"; exit 2; }
  LD_LIBRARY_PATH=$PWD/build/pre/$label/lib gpu_tests "$label" $(($(left) * 2 / 3)) \
    "$dir/tests/varattn_gpu_tests"
done
dir=build/paL/tests/varattn_gpu_tests
export LD_LIBRARY_PATH=$PWD/build/pre/paL/lib:${LD_LIBRARY_PATH:-}
sanitizers "(paL)" 'backward:?every?kernel?variant*' "$dir"
if (($(left) > 40)); then
  timeout $(($(left) - 10)) compute-sanitizer --tool synccheck "$dir" \
    -tc='backward:?every?kernel?variant*' >"$out/synccheck.log" 2>&1
  say "synccheck (paL) exit $?: $(grep -E 'test cases:|ERROR SUMMARY' "$out/synccheck.log" | tr -s ' ' | tr '\n' ' ')"
fi
