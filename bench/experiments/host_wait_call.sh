#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-fifth session: host_wait_probe.py on a fresh machine, lean (the op at head dim 128 only,
# no anchors, no bench build; ~2-3 min). host_gap.md.
#   run(command="bash bench/experiments/host_wait_call.sh $OUT", timeout_s=300)
set -u
out=${1:?OUTDIR}
mkdir -p "$out"
start=$(date +%s)
VARATTN_HEAD_DIMS=128 VARATTN_CUDA_ARCHS=90a \
  python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1
echo "pip exit $? at $(($(date +%s) - start)) s"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 150 python3 bench/experiments/host_wait_probe.py 2>&1 | grep -v -i warn | tee "$out/probe.log" | tail -40
echo "done at $(($(date +%s) - start)) s"
