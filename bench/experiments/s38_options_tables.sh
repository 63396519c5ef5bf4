#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-eighth session: the options tables (windows, softcap, logsumexp, d72, d256; compare.py
# --workloads options) in bf16, then fp16, one warm call after s35_table_call_a.sh's builds and
# the fp16 table's call (carry build/anchors/small). Each compare gets half the call.
#   VARATTN_CALL_BUDGET_S=300 bash bench/experiments/s38_options_tables.sh "$OUT"
set -u
out=$1
half=$(( ${VARATTN_CALL_BUDGET_S:-300} / 2 ))
[[ -f /tmp/anchors.env ]] || bash bench/install_anchors.sh install  # warm after the fp16 call: installed
. /tmp/anchors.env
for dt in bf16 fp16; do
  VARATTN_STAGES=compare \
  VARATTN_COMPARE_ARGS="--quick --dtype $dt --pass fwd,fwdbwd --workloads options --skip flex,loop_bound,loop_split,mem_eff --deadline-s $((half - 15))" \
  VARATTN_DEADLINE_S=$half bash bench/run_on_gpu.sh "$out/$dt"
done
