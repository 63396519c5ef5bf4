#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (s53): window_phase.patch's GPU tests before it lands (window_phase.md): every GPU
# test at 64;128 with window_phase_tests.patch's GQA windows (prebuilt wphT), memcheck and
# racecheck of every backward kernel variant (the walk's steps stay in the CTA's range: the
# host test), then the backward's
# tests at 256 (prebuilt wphT256: the split kernel's walk). Carry both labels; bench/results
# moved out.
# Ran s54 (window_phase.md "Result"); the patches landed and left this folder: to run it again,
# restore them from 538f63a (git show 538f63a:bench/experiments/window_phase.patch).
#   run(command="VARATTN_CALL_BUDGET_S=400 bash bench/experiments/window_phase_land_call.sh $OUT",
#       carry=["build/pre/wphT", "build/pre/wphT256"], timeout_s=460)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
E=bench/experiments
landing_tests "window phase" wphT wphT256 "$E/window_phase.patch $E/window_phase_tests.patch"
say done
