#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Twenty-fifth session's probe (one device call, 122 s): on a tree with
# hopper_forward_d80_p_in_smem.patch applied, A (d80 on 192-row tiles, P in shared memory),
# B (A's reverse: 128 rows, P in registers), C (A with __syncwarp instead of the warpgroup
# barrier before P V): interleaved timings, then ncu (full set, SASS stall samples) of one
# vl-full-d80 launch of each.   bash bench/experiments/hopper_forward_d80_profile.sh "$OUT"
set -u
out=$1
export VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=80 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo"
f='^fwd/(vl-full-d80|sweep-d80-s4096|sweep-d80-s1024)/fused/bf16'
P=bench/experiments
v=$P/hopper_forward_d80_p_in_smem.reverse.patch,$P/hopper_forward_d80_p_syncwarp_probe.patch
date; VARATTN_AB_STAGES=build bash bench/ab_on_gpu.sh /tmp/ab $v "$f" >$out/build.log 2>&1; date
VARATTN_AB_STAGES=run bash bench/ab_on_gpu.sh /tmp/ab $v "$f" >/tmp/run.log 2>&1; date
cp /tmp/ab/ab.txt $out/ab.txt; cat $out/ab.txt
mkdir -p /tmp/prof
for b in gpu ab ab_C; do
  VARATTN_PROFILE_SOURCE=1 VARATTN_BUILD_DIR=build/$b timeout 100 bash bench/profile_on_gpu.sh /tmp/prof/$b '^fwd/vl-full-d80/fused/bf16' forward_kernel full
  date
done
rm -f /tmp/prof/*/*.ncu-rep
tar czf $out/prof.tgz -C /tmp prof /tmp/run.log
