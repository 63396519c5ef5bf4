#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-eighth session (prepared, not run): two d128 dK/dV P^T changes against the tree (t128):
# one exp2 in 4 (fe4) or in 2 (fe2) on the FMA pipe (experiments/dkdv_fma_exp2.patch, then
# _every2.patch for fe2; fma_exp2); the lse of P^T's first 4 (la4) or 6 (la6) n8 tiles loaded
# before S^T's wait (dkdv_lse_ahead.patch, then _ahead6.patch for la6); both (fela4:
# dkdv_fma_exp2.patch, then dkdv_lse_ahead_on_fma_exp2.patch). Labels built here
# (VARATTN_PREBUILT_ARCHS=90a-real): t128 (the tree), fe4, fe2, la4, la6, fela4 (bench at
# 128), fela4T (fela4's GPU tests at 128), and for the d64 / d80 rows feA (one exp2 in 4 at
# every head dim: dkdv_fma_exp2.patch, then _all_dims.patch; bench at 64;80) against s64N (the
# tree's backward kernels at 64;80;128).
# The benches travel in one folder (a call carries 8 paths at most), made here:
#   for l in fe4 fe2 la4 la6 fela4 feA; do mkdir -p build/s68_benches/$l &&
#     cp -r build/pre/$l/bench build/s68_benches/$l/; done
#   run(command="VARATTN_CALL_BUDGET_S=260 bash bench/experiments/s68_fma_exp2_call.sh $OUT",
#       carry=["build/pre/t128", "build/pre/fela4T", "build/pre/s64N/bench",
#              "build/s68_benches"])
#   with bench/results moved out of the tree for the carry.
# 1. fela4T's backward and fma_exp2 tests (the kernel changed; the forward did not), then
#    memcheck and racecheck of every backward kernel variant; a failed suite stops the call.
# 2. The d128 backward rows, 3 interleaved rounds of t128, fe4, fe2, la4, la6, fela4
#    (variant_rows.py's table); then, if feA and s64N came, the d64 and d80 backward rows of
#    s64N and feA (OUTDIR/low/).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s68_fma_exp2_call.sh OUTDIR}"
unpack_bench_folder build/s68_benches
bench_labels t128 t128 fe4 fe2 la4 la6 fela4
label_tests fela4T '-tc=backward*,fma_exp2*'
variant_argv() { argv=("build/run/bench_$1"); }
variant_rounds t128 '^bwd/(long-d128|llm-d128|llm-d128-causal|long-d128-causal|long-d128-window1024)/fused/bf16/' \
  t128 fe4 fe2 la4 la6 fela4
if [[ -f build/pre/feA/bench/varattn_bench.xz && -f build/pre/s64N/bench/varattn_bench.xz ]]; then
  bench_labels t128 s64N feA
  (out=$out/low && mkdir -p "$out" &&
    variant_rounds s64N '^bwd/(vit-l14-d64|llm-d64-mqa-causal|vl-full-d80)/fused/bf16/' s64N feA)
  cat "$out/low/summary.txt" >>"$out/summary.txt"
fi
