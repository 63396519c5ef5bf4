#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-eighth session: the d128 dK/dV step's P^T with one exp2 in 4 (fe4) or in 2 (fe2) on the
# FMA pipe (experiments/dkdv_fma_exp2.patch, _every2.patch; fma_exp2) against the tree (t128).
# Labels built here (VARATTN_PREBUILT_ARCHS=90a-real): t128 (the tree, bench at 128), fe4 and
# fe2 (bench at 128), fe4T (fe4's GPU tests at 128).
#   run(command="bash bench/experiments/s68_fma_exp2_call.sh $OUT",
#       carry=["build/pre/t128", "build/pre/fe4/bench", "build/pre/fe2/bench", "build/pre/fe4T",
#              "build/pre/s64N/bench", "build/pre/feA/bench"])
# (the last two optional: feA = one exp2 in 4 at every head dim, dkdv_fma_exp2_all_dims.patch,
# bench at 64;80; s64N the tree's backward kernels at 64;80;128)
# 1. fe4T's backward tests and fma_exp2's (the kernel changed; the forward did not), then memcheck and
#    racecheck of every backward kernel variant; a failed suite stops the call.
# 2. The d128 backward rows, 3 interleaved rounds of t128, fe4, fe2 (variant_rows.py's table);
#    then, if feA and s64N came, the d64 and d80 backward rows of s64N and feA (OUTDIR/low/).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s68_fma_exp2_call.sh OUTDIR}"
bench_labels t128 t128 fe4 fe2
label_tests fe4T '-tc=backward*,fma_exp2*'
variant_argv() { argv=("build/run/bench_$1"); }
variant_rounds t128 '^bwd/(long-d128|llm-d128|llm-d128-causal|long-d128-causal|long-d128-window1024)/fused/bf16/' \
  t128 fe4 fe2
if [[ -f build/pre/feA/bench/varattn_bench.xz && -f build/pre/s64N/bench/varattn_bench.xz ]]; then
  bench_labels t128 s64N feA
  (out=$out/low && mkdir -p "$out" &&
    variant_rounds s64N '^bwd/(vit-l14-d64|llm-d64-mqa-causal|vl-full-d80)/fused/bf16/' s64N feA)
  cat "$out/low/summary.txt" >>"$out/summary.txt"
fi
