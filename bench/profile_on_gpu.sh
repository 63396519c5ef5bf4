#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Reads the hardware counters of one varattn kernel launch with Nsight Compute, on the GPU
# machine, after bench/run_on_gpu.sh has built varattn_bench (same build folder):
#   bash bench/profile_on_gpu.sh OUTDIR BENCH_FILTER [KERNEL_REGEX] [NCU_SET]
# e.g. bash bench/profile_on_gpu.sh "$OUT" '^fwd/long-d128/fused/bf16' fused_kernel full
# Writes OUTDIR/<name>.txt (details page) and OUTDIR/<name>.ncu-rep. Clocks are left alone
# (--clock-control none) so figures match the benchmark's. With VARATTN_PROFILE_SOURCE=1 it
# also writes OUTDIR/<name>.sass.csv.gz, the per-instruction warp-stall samples of the SASS
# (needs a build with -lineinfo: VARATTN_CMAKE_ARGS=-DCMAKE_CUDA_FLAGS=-lineinfo for
# bench/run_on_gpu.sh); bench/sass_stalls.py summarises it.
set -eu -o pipefail
out=$1 filter=$2 kernel=${3:-kernel} set=${4:-full}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${VARATTN_BUILD_DIR:-$root/build/gpu}/bench/varattn_bench
name=$(echo "$filter" | tr -c 'A-Za-z0-9\n' '_' | sed 's/^_*//; s/_*$//')
mkdir -p "$out"
# Skip the warm-up launches; profile one steady-state launch.
source_args=()
[[ ${VARATTN_PROFILE_SOURCE:-0} == 1 ]] && source_args=(--import-source yes)
ncu --clock-control none --set "$set" "${source_args[@]}" --kernel-name "regex:$kernel" --launch-skip 3 \
    --launch-count 1 -f -o "$out/$name" \
    "$bench" --benchmark_filter="$filter" --varattn_min_time=0.01 >"$out/$name.log" 2>&1
ncu --import "$out/$name.ncu-rep" --page details >"$out/$name.txt"
if [[ ${VARATTN_PROFILE_SOURCE:-0} == 1 ]]; then
  ncu --import "$out/$name.ncu-rep" --page source --print-source sass --csv |
    gzip >"$out/$name.sass.csv.gz"
fi
echo "wrote $out/$name.txt"
