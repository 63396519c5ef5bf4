#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# s43: s35_table_call_a.sh at head dim 64 only (carry build/anchors/big); compare.py follows warm.
set -u
out=$1; start=$(date +%s)
bash bench/install_anchors.sh unpack
(VARATTN_STAGES=configure,build VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=64 -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" bash bench/run_on_gpu.sh "$out/b" >"$out/b.log" 2>&1; echo "bench build exit $?" >>"$out/b.log") &
(VARATTN_HEAD_DIMS=64 VARATTN_CUDA_ARCHS=90a python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1; echo "pip exit $?" >>"$out/pip.log") &
wait
echo "builds done at $(($(date +%s) - start)) s; $(tail -1 "$out/b.log"); $(tail -1 "$out/pip.log")"
