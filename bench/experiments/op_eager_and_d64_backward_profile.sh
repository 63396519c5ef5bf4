#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the twenty-eighth session (not run): two diagnostics in one device call (~300 s
# predicted; one cold start instead of two), no anchors needed.
#  1. The op's eager forward gap (NOTES twenty-eighth 4): compare.py timed the op's eager
#     forward 41-117 us above its graph replay on long-d128-window1024, llm-d128,
#     llm-d128-causal, llm-d256-causal and long-d128-causal, where the bench's kernels are
#     level eager and graph. bench/op_overhead.py (host us against GPU us a call, eager and
#     graph) and bench/timeline.py (the kernels' spans and the idle between them, eager).
#  2. Where the head dim 64 backward's time goes: its op fwd+bwd is 0.85x FA4 on vit-l14-d64
#     and 0.86x on llm-d64-mqa-causal (s28), the backward alone ~1.23x / ~1.16x FA4's time,
#     d128's ~1.09x; last profiled in the sixteenth session. The backward rows timed, one
#     call's launches by ncu duration (memset, delta, dK/dV, dq_convert), then ncu (full set,
#     SASS stall samples, --clock-control none) of the d64 dK/dV kernel on vit-l14-d64 and
#     the d128 one on llm-d128 beside it.
#   bash bench/experiments/op_eager_and_d64_backward_profile.sh "$OUT"
set -u
out=$1
bench=build/gpu/bench/varattn_bench
date
# The op (head dims 64 and 128) compiles beside varattn_bench's -lineinfo build.
(VARATTN_HEAD_DIMS=64,128 VARATTN_CUDA_ARCHS=90a MAX_JOBS=8 python3 -m pip install \
  --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1; echo "pip exit $?" >>"$out/pip.log") &
VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=64;128 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo" \
  VARATTN_STAGES=configure,build bash bench/run_on_gpu.sh /tmp/b >"$out/build.log" 2>&1
wait
date
tail -1 "$out/pip.log"
for w in llm-d128 long-d128-window1024; do
  timeout 60 python3 bench/op_overhead.py "$w" --calls 200 >"$out/overhead_$w.txt" 2>&1
done
timeout 90 python3 bench/timeline.py "$out/timeline" --workloads llm-d128,long-d128-window1024 \
  --methods varattn_op --pass fwd --dtype bf16 >"$out/timeline.txt" 2>&1
date
$bench --benchmark_filter='^(bwd/(vit-l14-d64|llm-d64-mqa-causal|llm-d128)/fused/bf16|fwd/(llm-d128|long-d128-window1024)/fused_device/bf16)' \
  >"$out/bench.txt" 2>&1
timeout 90 ncu --clock-control none --metrics gpu__time_duration.sum --launch-skip 40 --launch-count 12 \
  $bench --benchmark_filter='^bwd/vit-l14-d64/fused/bf16' --varattn_min_time=0.01 >"$out/durations.txt" 2>&1
date
mkdir -p /tmp/prof
VARATTN_PROFILE_SOURCE=1 timeout 120 bash bench/profile_on_gpu.sh /tmp/prof \
  '^bwd/vit-l14-d64/fused/bf16' dkdv_kernel full
VARATTN_PROFILE_SOURCE=1 timeout 120 bash bench/profile_on_gpu.sh /tmp/prof \
  '^bwd/llm-d128/fused/bf16' dkdv_kernel full
date
for f in /tmp/prof/*.sass.csv.gz; do python3 bench/sass_stalls.py "$f" >"${f%.sass.csv.gz}.stalls.txt" 2>&1; done
rm -f /tmp/prof/*.ncu-rep
tar czf "$out/prof.tgz" -C /tmp prof
cat "$out"/overhead_*.txt
grep -v "^#" "$out/timeline.txt" | head -30
grep -h -E "Duration|L2 Cache Throughput|DRAM Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Eligible Warps" /tmp/prof/*.txt
