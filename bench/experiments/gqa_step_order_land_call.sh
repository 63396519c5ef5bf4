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
dir=$(bash bench/prebuilt.sh use land "" build/land) || exit 2
LD_LIBRARY_PATH=$(pwd)/build/pre/land/lib gpu_tests land 200 "$dir/tests/varattn_gpu_tests"
(export LD_LIBRARY_PATH=$(pwd)/build/pre/land/lib
 sanitizers "(landing form)" 'backward:?every?kernel?variant*' "$dir/tests/varattn_gpu_tests")
if dir256=$(bash bench/prebuilt.sh use land256 "" build/land256); then
  LD_LIBRARY_PATH=$(pwd)/build/pre/land256/lib gpu_tests land256 $(($(left) - 10)) \
    "$dir256/tests/varattn_gpu_tests" '-tc=backward*,graph:?a?training?step*'
fi
say done
