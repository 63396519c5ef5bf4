#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (s53): window_phase.patch's GPU tests before it lands (window_phase.md): every GPU
# test at 64;128 with window_phase_tests.patch's GQA windows (prebuilt wphT), memcheck and
# racecheck of every backward kernel variant (the walk's steps stay in the CTA's range: the
# host test), then the backward's
# tests at 256 (prebuilt wphT256: the split kernel's walk). Carry both labels; bench/results
# moved out.
#   run(command="VARATTN_CALL_BUDGET_S=400 bash bench/experiments/window_phase_land_call.sh $OUT",
#       carry=["build/pre/wphT", "build/pre/wphT256"], timeout_s=460)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
E=bench/experiments
patches="$E/window_phase.patch $E/window_phase_tests.patch"
dir=$(bash bench/prebuilt.sh use wphT "$patches" build/wphT) || exit 2
LD_LIBRARY_PATH=$(pwd)/build/pre/wphT/lib gpu_tests wphT 200 "$dir/tests/varattn_gpu_tests"
(export LD_LIBRARY_PATH=$(pwd)/build/pre/wphT/lib
 sanitizers "(window phase)" \
   'backward:?every?kernel?variant*' "$dir/tests/varattn_gpu_tests")
if dir256=$(bash bench/prebuilt.sh use wphT256 "$patches" build/wphT256); then
  LD_LIBRARY_PATH=$(pwd)/build/pre/wphT256/lib gpu_tests wphT256 $(($(left) - 10)) \
    "$dir256/tests/varattn_gpu_tests" '-tc=backward*,graph:?a?training?step*'
fi
say done
