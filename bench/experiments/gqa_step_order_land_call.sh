#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One call (s52): the landing form of the dK/dV kernels' step-major item order
# (gqa_step_order_landed.patch, applied to the tree), its GPU tests before it is committed:
# every GPU test at 64;128 (prebuilt land), memcheck and racecheck of every backward kernel
# variant, and the backward's tests at 256 (prebuilt land256: the split kernel's consumers).
# land ~33 MB, land256 ~?: move bench/results out for the call.
#   run(command="VARATTN_CALL_BUDGET_S=400 bash bench/experiments/gqa_step_order_land_call.sh $OUT",
#       carry=["build/pre/land", "build/pre/land256"], timeout_s=460)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
landing_tests "landing form" land land256 ""
say done
