#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A/B of compile-time variants in one device call, interleaved A B A B so that the card's
# warming over a run does not favour either side (bench/NOTES.md, "Reading the benchmark").
#   bash bench/ab_on_gpu.sh OUTDIR "B's CUDA flags" [BENCH_FILTER]
# e.g. bash bench/ab_on_gpu.sh "$OUT" "-DVARATTN_LAZY_RESCALE=0" '^fwd/long-d128/fused/bf16'
# A is the default build (bench/run_on_gpu.sh's folder, built if missing); B builds into
# build/ab with the extra flags (the kernels' knobs: VARATTN_TALL_WIDE_BLOCK_N,
# VARATTN_SHORT_MIN_BLOCKS_D64, VARATTN_LAZY_RESCALE, VARATTN_HEAD_DIMS, ...).
set -u -o pipefail
out=$1 flags=$2 filter=${3:-'^fwd/(vl-window|vl-full|llm-d128|tiny|long-d128)[^/]*/fused/bf16'}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
a=${VARATTN_BUILD_DIR:-$root/build/gpu}
b=$root/build/ab
mkdir -p "$out"
VARATTN_STAGES=configure,build bash "$root/bench/run_on_gpu.sh" "$out/a" >/dev/null 2>&1 ||
  { echo "A build failed: $out/a/build.log"; exit 1; }
cmake -S "$root" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF "-DCMAKE_CUDA_FLAGS=$flags" >"$out/b_configure.log" 2>&1 &&
  ninja -C "$b" varattn_bench >"$out/b_build.log" 2>&1 || { echo "B build failed: $out/b_build.log"; exit 1; }
for run in A1 B1 A2 B2; do
  dir=$a
  [[ $run == B* ]] && dir=$b
  echo "== $run"
  "$dir/bench/varattn_bench" --benchmark_filter="$filter" --varattn_min_time=0.2 2>/dev/null |
    awk '/^(fwd|encoder)/ {sub("/min_time:[0-9.]*/manual_time", "", $1); print $1, $2, $3}'
done | tee "$out/ab.txt"
