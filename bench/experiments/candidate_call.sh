#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call for a prepared kernel patch with prebuilt labels (bench/prebuilt.sh):
# (1) the candidate's GPU tests TESTS (one doctest option: -tc=... or -tce=...) from label
# TEST_LABEL, then
# memcheck and racecheck of SANITIZE (a -tc filter); (2) bench/experiments/ncu_kernel_ab.sh
# with A = LABEL_A (the patch), B = LABEL_B (the tree): the bench ROWS interleaved A/B, then
# ncu of KERNEL (a regex). Log and tables in OUTDIR/summary.txt.
#   VARATTN_CALL_BUDGET_S=420 bash bench/experiments/candidate_call.sh OUTDIR PATCH TEST_LABEL \
#     TESTS SANITIZE LABEL_A LABEL_B KERNEL ROW...
# Its callers (a patch each, with their labels and rows): forward_store_16b_call.sh,
# fused_dq_convert_call.sh. Beside patch_check_ncu.sh (one label for tests and bench, ncu
# only): the tests may come from a label of their own (carry sizes), and the bench rows are
# timed whole (ab_on_gpu.sh through ncu_kernel_ab.sh), for patches that remove a kernel.
set -u
out=${1:?OUTDIR} patch=${2:?PATCH} test_label=${3:?TEST_LABEL} tests_filter=${4:?TESTS}
sanitize_filter=${5:?SANITIZE} label_a=${6:?LABEL_A} label_b=${7:?LABEL_B} kernel=${8:?KERNEL}
shift 8
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "$out"
cand=$(bash bench/prebuilt.sh use "$test_label" "$patch" "build/$test_label") || exit 2
tests=$cand/tests/varattn_gpu_tests
export LD_LIBRARY_PATH=$(pwd)/build/pre/$test_label/lib
gpu_tests candidate 150 "$tests" "$tests_filter"
sanitizers "" "$sanitize_filter" "$tests"
unset LD_LIBRARY_PATH
say "A/B: the rows, then ncu of $kernel ($(left) s left)"
VARATTN_PREBUILT="$label_a $label_b" VARATTN_CALL_BUDGET_S=$(($(left) - 5)) \
  bash bench/experiments/ncu_kernel_ab.sh "$out/ab" "$patch" "$kernel" "$@" >"$out/ab.log" 2>&1
say "A/B exit $?"
tail -40 "$out/ab.log" | tee -a "$out/summary.txt"
say done
