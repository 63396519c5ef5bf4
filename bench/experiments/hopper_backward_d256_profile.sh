#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the twenty-sixth session (not run): what bounds the head dim 256 backward (NOTES
# twenty-sixth 3: L2 traffic, 12.2 KB a MFLOP against d128's 6.1, or the step's own chain).
# One device call (~200 s predicted): varattn_bench at head dims 128;256 with -lineinfo, the
# two backward rows timed, then ncu (full set, SASS stall samples, --clock-control none) of
# one dK/dV launch of each: the d256 split kernel and the d128 kernel on the same FLOPs.
#   bash bench/experiments/hopper_backward_d256_profile.sh "$OUT"
# Read: "L2 Cache Throughput" and the lts red/atom sectors (memory workload tables),
# "Compute (SM) Throughput", the tensor pipe's share, the stall reasons (sass_stalls.py).
set -u
out=$1
export VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=128;256 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo"
date
VARATTN_STAGES=configure,build bash bench/run_on_gpu.sh /tmp/b >"$out/build.log" 2>&1
date
build/gpu/bench/varattn_bench --benchmark_filter='^bwd/(llm-d256-causal|llm-d128-causal)/fused/bf16' \
  >"$out/bench.txt" 2>&1
date
mkdir -p /tmp/prof
VARATTN_PROFILE_SOURCE=1 timeout 150 bash bench/profile_on_gpu.sh /tmp/prof \
  '^bwd/llm-d256-causal/fused/bf16' dkdv_split_kernel full
date
VARATTN_PROFILE_SOURCE=1 timeout 120 bash bench/profile_on_gpu.sh /tmp/prof \
  '^bwd/llm-d128-causal/fused/bf16' dkdv_kernel full
date
for f in /tmp/prof/*.sass.csv.gz; do python3 bench/sass_stalls.py "$f" >"${f%.sass.csv.gz}.stalls.txt" 2>&1; done
rm -f /tmp/prof/*.ncu-rep
tar czf "$out/prof.tgz" -C /tmp prof
grep -h -E "Duration|L2 Cache Throughput|DRAM Throughput|Compute \(SM\) Throughput" /tmp/prof/*.txt
