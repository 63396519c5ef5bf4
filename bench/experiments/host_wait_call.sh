#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-fifth session: host_wait_api_probe.cu (the host time of each CUDA call the op makes
# every call, GPU idle or busy), then host_wait_probe.py on a fresh machine, lean (the op at head dim 128 only,
# no anchors, no bench build; ~2-3 min); then, unless SKIP_FIX=1, host_wait_fix.patch applied,
# the op rebuilt and the probe and the op's timeline again (~2-3 min more). host_gap.md.
#   run(command="bash bench/experiments/host_wait_call.sh $OUT", timeout_s=300)
set -u
out=${1:?OUTDIR}
mkdir -p "$out"
start=$(date +%s)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
nvcc -std=c++17 -arch=sm_90a -O2 bench/experiments/host_wait_api_probe.cu -lcuda -o "$out/api_probe" &&
  "$out/api_probe" | tee "$out/api_probe.log"
rm -f "$out/api_probe"
VARATTN_HEAD_DIMS=128 VARATTN_CUDA_ARCHS=90a \
  python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1
echo "pip exit $? at $(($(date +%s) - start)) s"
timeout 150 python3 bench/experiments/host_wait_probe.py 2>&1 | grep -v -i warn | tee "$out/probe.log" | tail -40
[[ ${SKIP_FIX:-0} == 1 ]] && { echo "done at $(($(date +%s) - start)) s"; exit 0; }
# The fix (host_wait_fix.patch: the per-call driver settings remembered per function), the
# same probe and the op's own timeline after it.
git apply bench/experiments/host_wait_fix.patch && echo "fix applied"
VARATTN_HEAD_DIMS=128 VARATTN_CUDA_ARCHS=90a \
  python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip_fix.log" 2>&1
echo "pip (fix) exit $? at $(($(date +%s) - start)) s"
timeout 150 python3 bench/experiments/host_wait_probe.py 2>&1 | grep -v -i warn | tee "$out/probe_fix.log" | tail -40
timeout 100 python3 bench/timeline.py "$out/timeline_fix" --launches --workloads llm-d128-causal,llm-d128-gqa28-causal \
  --methods varattn_op --pass fwdbwd --dtype bf16 --iters 30 2>&1 | grep -E 'fwdbwd varattn_op:|profiled:|idle .* late|host (waiting|meanwhile)' | cut -c1-220
git apply -R bench/experiments/host_wait_fix.patch
echo "done at $(($(date +%s) - start)) s"
