#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the twenty-eighth session (not run): where the head dim 64 backward's time goes.
# Its op fwd+bwd is 0.85x FA4 on vit-l14-d64 and 0.86x on llm-d64-mqa-causal (s28 table), the
# backward alone ~1.23x / ~1.17x FA4's time, where d128's is ~1.09x; last profiled in the
# sixteenth session, before the d64 128-query step and the dQ over all keys.
# One device call (~200 s predicted): varattn_bench at head dims 64;128 with -lineinfo, the
# backward rows timed (the per-kernel split: ncu's durations of one call's launches), then
# ncu (full set, SASS stall samples, --clock-control none) of one dK/dV launch of the d64
# kernel on vit-l14-d64 and of the d128 kernel on llm-d128 beside it.
#   bash bench/experiments/hopper_backward_d64_profile.sh "$OUT"
# Read: the dK/dV kernel's share of the call (durations.txt: the memset, delta, dK/dV and
# dq_convert launches), "Compute (SM) Throughput", the tensor pipe's share, issue slots,
# eligible warps, L2 throughput, and the stall reasons (sass_stalls.py) against d128's.
set -u
out=$1
export VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=64;128 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo"
bench=build/gpu/bench/varattn_bench
date
VARATTN_STAGES=configure,build bash bench/run_on_gpu.sh /tmp/b >"$out/build.log" 2>&1
date
$bench --benchmark_filter='^bwd/(vit-l14-d64|llm-d64-mqa-causal|llm-d128)/fused/bf16' >"$out/bench.txt" 2>&1
date
# Every launch of one backward call (after warm-up), each kernel's duration.
timeout 90 ncu --clock-control none --metrics gpu__time_duration.sum --launch-skip 40 --launch-count 12 \
  $bench --benchmark_filter='^bwd/vit-l14-d64/fused/bf16' --varattn_min_time=0.01 >"$out/durations.txt" 2>&1
date
mkdir -p /tmp/prof
VARATTN_PROFILE_SOURCE=1 timeout 120 bash bench/profile_on_gpu.sh /tmp/prof \
  '^bwd/vit-l14-d64/fused/bf16' dkdv_kernel full
date
VARATTN_PROFILE_SOURCE=1 timeout 120 bash bench/profile_on_gpu.sh /tmp/prof \
  '^bwd/llm-d128/fused/bf16' dkdv_kernel full
date
for f in /tmp/prof/*.sass.csv.gz; do python3 bench/sass_stalls.py "$f" >"${f%.sass.csv.gz}.stalls.txt" 2>&1; done
rm -f /tmp/prof/*.ncu-rep
tar czf "$out/prof.tgz" -C /tmp prof
grep -h -E "Duration|L2 Cache Throughput|DRAM Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Eligible Warps" /tmp/prof/*.txt
grep -E "gpu__time_duration|void|Kernel" "$out/durations.txt" | head -40
