#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-seventh session (prepared, not run): the head-dim-128 dK/dV kernel at 48 queries a
# step, without and with the next step's S^T issued under the dQ staging (NOTES s67 3), against
# the tree's 80-query kernel. Labels built here (VARATTN_PREBUILT_ARCHS=90a-real):
#   t128 = the tree, bench at 128; q48N = + experiments/dkdv_queries48.patch, bench at 128;
#   q48A = + experiments/dkdv_queries48_scores_ahead.patch on it, bench at 128;
#   q48AT = q48A's GPU tests at 128.
#   run(command="bash bench/experiments/s67_q48_call.sh $OUT",
#       carry=["build/pre/t128", "build/pre/q48N/bench", "build/pre/q48A/bench", "build/pre/q48AT"])
# 1. The GPU suite of q48AT (the 48-query kernels have never run), then memcheck and racecheck
#    of every backward kernel variant (call_lib.sh); a failed suite stops the call.
# 2. The d128 backward rows, 3 interleaved rounds of t128, q48N, q48A (variant_rows.py's
#    table against t128).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s67_q48_call.sh OUTDIR}"
# t128's lib/ (libbenchmark): with q48AT's alone (libcudart), s68's first run printed an
# empty table. SKIP_TESTS=1: the rounds only (s68's second call).
bench_labels t128 t128 q48N q48A
label_tests q48AT
variant_argv() { argv=("build/run/bench_$1"); }
variant_rounds t128 '^bwd/(long-d128|llm-d128|llm-d128-causal|long-d128-causal|long-d128-window1024)/fused/bf16/' \
  t128 q48N q48A
