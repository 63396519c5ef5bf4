#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-seventh session, one device call (NOTES s57):
#   1. dkdv_paired_ds.patch (bf16 d128 dK/dV: dS^T = P^T (dP^T - D) by bf16 pairs, one HMUL2 a
#      pair) with the error-report probe of the backward tests (the d128 cases' relative errors,
#      one line each): its Hopper 80-row step cases, ncu of the dK/dV kernel A/B x 2, the
#      backward suite at 128, racecheck / memcheck / synccheck (patch_check_ncu.sh);
#   2. the same errors of the tree (label bT: the tree + the report probe), for the patch's
#      precision beside them;
#   3. the dQ wide-stores probe (dkdv_dq_wide_stores_probe.patch, dQ wrong, timing only): its
#      dK/dV kernel A/B by ncu (ncu_kernel_ab.sh) on two rows.
# Labels built here (bench/prebuilt.sh): pdsA (the tree + dkdv_paired_ds_report.patch: bench
# and tests at 128), b128 (the tree's bench), bT (tests), wide128 (the probe's bench).
#   run(command="VARATTN_CALL_BUDGET_S=480 bash bench/experiments/s57_paired_ds_call.sh $OUT",
#       carry=["build/pre/pdsA", "build/pre/b128", "build/pre/bT", "build/pre/wide128"],
#       timeout_s=520)
set -u
out=${1:?usage: s57_paired_ds_call.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-480}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/call.txt"; }

rows="bwd/sweep-d128-s16384/fused/bf16 bwd/llm-d128-causal/fused/bf16 bwd/long-d128/fused/bf16 bwd/long-d128-window1024/fused/bf16"
# shellcheck disable=SC2086
VARATTN_PREBUILT='pdsA b128' VARATTN_AB_HEAD_DIMS=128 VARATTN_NCU_ROUNDS=2 \
  VARATTN_SANITIZE_TESTS='backward:?causal?tiles?over?several?query?steps*,backward:?every?kernel?variant*' \
  VARATTN_CALL_BUDGET_S=$(($(left) - 130)) \
  bash $E/patch_check_ncu.sh "$out/pds" $E/dkdv_paired_ds_report.patch \
  'backward:?Hopper?query?steps?of?80*' dkdv_kernel $rows
say "paired dS: exit $?"
grep -h '^errors' "$out/pds/tests_new.log" "$out/pds/tests.log" 2>/dev/null >"$out/errors_paired.txt"
say "paired dS: $(wc -l <"$out/errors_paired.txt") error lines"

if dir=$(bash bench/prebuilt.sh use bT $E/backward_error_report_probe.patch 2>"$out/bT.log"); then
  LD_LIBRARY_PATH=$PWD/build/pre/bT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout $(($(left) - 100)) \
    "$dir/tests/varattn_gpu_tests" -tc='backward?bfloat16*,backward?half*,backward:?Hopper?query?steps?of?80*' \
    >"$out/tests_tree.log" 2>&1
  say "tree's errors: exit $?: $(grep -E '^\[doctest\] (test cases|assertions)' "$out/tests_tree.log" | tr '\n' ' ')"
  grep '^errors' "$out/tests_tree.log" >"$out/errors_tree.txt"
else
  say "bT unusable: $(tail -1 "$out/bT.log")"
fi

if (($(left) > 60)); then
  VARATTN_PREBUILT="wide128 b128" VARATTN_CALL_BUDGET_S=$(($(left) - 5)) \
    bash $E/ncu_kernel_ab.sh "$out/wide" $E/dkdv_dq_wide_stores_probe.patch dkdv_kernel \
    bwd/sweep-d128-s16384/fused/bf16 bwd/llm-d128-causal/fused/bf16 2>&1 |
    grep -E '^[AB][0-9] |prebuilt|done' | tee -a "$out/call.txt"
fi
say done
