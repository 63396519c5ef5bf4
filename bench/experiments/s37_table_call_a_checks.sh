#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-seventh session, one call (~500 s, carry build/anchors/big): the bf16 table's first call
# (s35_table_call_a.sh: the anchors' unpack, the varattn_bench build, the op's pip install),
# then the landed pack_gqa's checks at 80;256 (forward_checks_at_dims.sh on the tree as it is:
# tests, racecheck, memcheck) in what is left of the budget. Call B (compare.py, carry
# build/anchors/small) follows warm.
#   VARATTN_CALL_BUDGET_S=500 bash bench/experiments/s37_table_call_a_checks.sh "$OUT"
set -u
out=$1
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-500}
bash bench/experiments/s35_table_call_a.sh "$out"
VARATTN_CALL_BUDGET_S=$((budget - ($(date +%s) - start))) \
  bash bench/experiments/forward_checks_at_dims.sh "$out/checks"
echo "call done at $(($(date +%s) - start)) s"
