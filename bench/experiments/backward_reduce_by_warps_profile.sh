#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the thirty-fifth session (not run; one call, ~200-250 s): the test of
# dkdv_schedule_vs_fa4_s35.md's reading. ncu --set full with source counters of the d128 dK/dV
# kernel on bwd llm-d128, HEAD (build/p) and HEAD + hopper_backward_d128_reduce_by_warps
# (/tmp/rb), both built with -lineinfo at head dim 128. The reading predicts the samples at the
# fence and barrier before dQ falling from ~715 cycles a step toward <= 400 and the kernel's
# duration falling with them. Read the two source pages with
#   python3 bench/sass_stalls.py rb.sass.csv.gz --versus head.sass.csv.gz --per <CTA-steps>
# (and --loop N for the step's segments between wgmma issues, waits and barriers).
#   bash bench/experiments/backward_reduce_by_warps_profile.sh "$OUT"
set -u
out=$1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
rm -rf /tmp/rb && mkdir -p /tmp/rb && tar --exclude=./build -cf - . | tar -xf - -C /tmp/rb
(cd /tmp/rb && git apply bench/experiments/hopper_backward_d128_reduce_by_warps.patch) || { echo "patch failed"; exit 1; }
cfg=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a "-DVARATTN_HEAD_DIMS=128"
  -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo)
(cmake -S . -B build/p "${cfg[@]}" && ninja -C build/p varattn_bench) >"$out/build_p.log" 2>&1 &
(cmake -S /tmp/rb -B /tmp/rb/build/p "${cfg[@]}" && ninja -C /tmp/rb/build/p varattn_bench) >"$out/build_rb.log" 2>&1
wait
stamp "builds: $(tail -1 "$out/build_p.log" | cut -c1-60) / $(tail -1 "$out/build_rb.log" | cut -c1-60)"
source bench/experiments/ncu_full.sh
for v in head:build/p rb:/tmp/rb/build/p; do
  ncu_full "$out" "${v%%:*}" dkdv_kernel 3 "${v#*:}/bench/varattn_bench" \
    --benchmark_filter='^bwd/llm-d128/fused/bf16' --varattn_min_time=0.01
  stamp "ncu ${v%%:*}: $(grep -m1 -h 'Duration' "$out/${v%%:*}.txt" | tr -s ' ')"
done
# The device tool returns a few files a call: one archive.
(cd "$out" && tar czf all.tgz --exclude=all.tgz . && find . -type f ! -name all.tgz -delete)
