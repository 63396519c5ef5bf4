#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Seventy-second session (prepared, not run): the landing tests of dkdv_place_ahead.patch
# (NOTES s72 item 1), for after s72_dkdv_boundary_call.sh, if paB gains there. Every Hopper
# dK/dV kernel changes (head dims 64-128), so the whole GPU suite runs at each. Labels built
# here (VARATTN_PREBUILT_ARCHS=90a-real), all with bench/experiments/dkdv_place_ahead.patch:
# paT64 (tests at 64, 8 MB), paLa (72;96, 21 MB), paLb (80;128, 28 MB); four head dims in
# one label were 57 MB, over a call's 64 MiB with the tree, so two warm calls:
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/s72_dkdv_land_call.sh $OUT paT64 paLa",
#       carry=["build/pre/paT64", "build/pre/paLa"], timeout_s=330)
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/s72_dkdv_land_call.sh $OUT paLb",
#       carry=["build/pre/paLb"], timeout_s=330)
# `prebuilt.sh use` checks each label's fingerprint against this tree with the patch applied,
# so run it on the tree the patch is about to land on. For each label: its whole suite; then,
# for the last label, memcheck, racecheck and synccheck of every backward kernel variant.
# shellcheck disable=SC2154  # out, set by call_lib.sh's call_begin
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s72_dkdv_land_call.sh OUTDIR}"
trap pack_results EXIT
patch=bench/experiments/dkdv_place_ahead.patch
shift
(($#)) || { say "usage: s72_dkdv_land_call.sh OUTDIR LABEL..."; exit 2; }
for label in "$@"; do
  dir=$(bash bench/prebuilt.sh use "$label" "$patch" "build/$label") || { say "no label $label"; exit 2; }
  LD_LIBRARY_PATH=$PWD/build/pre/$label/lib gpu_tests "$label" $(($(left) * 2 / 3)) \
    "$dir/tests/varattn_gpu_tests"
done
tests=build/$label/tests/varattn_gpu_tests  # the last label's
export LD_LIBRARY_PATH=$PWD/build/pre/$label/lib:${LD_LIBRARY_PATH:-}
sanitizers "($label)" 'backward:?every?kernel?variant*' "$tests" "memcheck racecheck synccheck"
