#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-fifth session, the bf16 table's first call (carry build/anchors/big): the anchors'
# unpack, then the lean varattn_bench build and the op's pip install at five head dims side by
# side (s31_table_call_a.sh less its tests: this tree's kernels were tested in the A/B calls).
# Call B (compare.py, carry build/anchors/small) follows warm.
#   bash bench/experiments/s35_table_call_a.sh "$OUT"
set -u
out=$1
start=$(date +%s)
bash bench/install_anchors.sh unpack
(VARATTN_STAGES=configure,build VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=64;72;80;128;256 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
   bash bench/run_on_gpu.sh "$out/b" >"$out/b.log" 2>&1; echo "bench build exit $?" >>"$out/b.log") &
(VARATTN_HEAD_DIMS=64,72,80,128,256 VARATTN_CUDA_ARCHS=90a \
   python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1; echo "pip exit $?" >>"$out/pip.log") &
wait
echo "builds done at $(($(date +%s) - start)) s; $(tail -1 "$out/b.log"); $(tail -1 "$out/pip.log")"
