#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-second session, call A of 2 (carry build/anchors/big): the fp16 table's builds (the
# lean varattn_bench at five head dims in build/gpu, the op's pip install) as the thirty-first
# session's call 5, with the anchors' unpack in the background; then ncu --set full of our
# forward kernel on llm-d128 and vl-full-d80 (bf16, fused) from that build, beside which call
# B profiles FA4's forward. Outputs of the profiles in one archive (the tool returns 8 files).
#   bash bench/experiments/fp16_table_and_forward_profile_call_a.sh "$OUT"
set -u
out=$1
start=$(date +%s)
. bench/experiments/ncu_full.sh
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
bash bench/install_anchors.sh unpack
(VARATTN_STAGES=configure,build VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=64;72;80;128;256 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
   bash bench/run_on_gpu.sh "$out/b" >"$out/b.log" 2>&1) &
VARATTN_HEAD_DIMS=64,72,80,128,256 VARATTN_CUDA_ARCHS=90a \
  python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1
stamp "pip exit $?"
wait
stamp "build: $(tail -1 "$out/b.log")"
mkdir -p "$out/ncu"
for w in llm-d128 vl-full-d80; do
  n=ours_fwd_${w//-/_}
  ncu_full "$out/ncu" $n forward_kernel 3 build/gpu/bench/varattn_bench --benchmark_filter="^fwd/$w/fused/bf16/" \
    --varattn_min_time=0.01
  stamp "ncu $w: $(grep -m1 -h 'Duration' "$out/ncu/$n.txt" | tr -s ' ')"
done
tar czf "$out/ncu_ours.tgz" -C "$out" ncu && rm -rf "$out/ncu"
stamp done
