#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-second session: our forward kernel beside FA4's in ncu (call 1 of 2, carry
# build/anchors/big): the anchors' unpack in the background; varattn_bench at head dims 80;128
# with -lineinfo; ncu --set full with source counters of forward_kernel on llm-d128 and
# vl-full-d80 (bf16, fused). Call 2 (bench/experiments/fp16_table_and_forward_profile_call_b.sh
# with VARATTN_NO_COMPARE=1) profiles FA4's forward on the same workloads.
#   bash bench/experiments/forward_vs_fa4_profile_call1.sh "$OUT"
set -u
out=$1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
bash bench/install_anchors.sh unpack
(cmake -S . -B build/f -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a "-DVARATTN_HEAD_DIMS=80;128" \
   -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo && ninja -C build/f varattn_bench) >"$out/build.log" 2>&1
stamp "build exit $?"
mkdir -p /tmp/ncu
for w in llm-d128 vl-full-d80; do
  n=ours_fwd_${w//-/_}
  ncu --clock-control none --set full --import-source yes --kernel-name regex:forward_kernel --launch-skip 3 --launch-count 1 \
    -f -o /tmp/ncu/$n build/f/bench/varattn_bench --benchmark_filter="^fwd/$w/fused/bf16/" \
    --varattn_min_time=0.01 >/tmp/ncu/$n.log 2>&1
  ncu --import /tmp/ncu/$n.ncu-rep --page details >/tmp/ncu/$n.txt
  ncu --import /tmp/ncu/$n.ncu-rep --page raw --csv | gzip >/tmp/ncu/$n.raw.csv.gz
  ncu --import /tmp/ncu/$n.ncu-rep --page source --print-source sass --csv | gzip >/tmp/ncu/$n.sass.csv.gz
  rm -f /tmp/ncu/$n.ncu-rep
  stamp "ncu $w: $(grep -m1 -h 'Duration' /tmp/ncu/$n.txt | tr -s ' ')"
done
tar czf "$out/ncu_ours.tgz" -C /tmp ncu
stamp done
