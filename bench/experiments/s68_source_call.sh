#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-eighth session: s67's ncu reports (bench/results/s67_ncu_h100/ncu.tar.xz, the full set
# of one launch each of long-d128's dK/dV and forward kernels, H100) read back on the GPU
# machine, where ncu is: the SASS with each instruction's warp-state samples (the source
# page), to see where the d128 dK/dV step's ~440 cycles from its last wgmma wait to the next
# step's first wgmma go (s66's timeline). Needs no GPU time beyond ncu's import; ~20 s.
#   run(command="bash bench/experiments/s68_source_call.sh $OUT") (the tarball is tracked)
set -u
out=${1:?usage: s68_source_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out" /tmp/s67ncu
tar -xJf bench/results/s67_ncu_h100/ncu.tar.xz -C /tmp/s67ncu || exit 2
for k in bwd fwd; do
  rep=/tmp/s67ncu/full/${k}_long_d128_fused_bf16.ncu-rep
  timeout 120 ncu --import "$rep" --page source --csv --print-source sass >"$out/source_$k.csv" 2>"$out/source_$k.err"
  echo "$k source page: exit $?, $(wc -l <"$out/source_$k.csv") lines"
  head -c 400 "$out/source_$k.err"
  xz -9 "$out/source_$k.csv"
done
