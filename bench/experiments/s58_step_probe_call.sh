#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-eighth session: dkdv_step_probe.patch (clock64() at ten points of 16 steps, from the
# 24th, of each consumer warpgroup's first thread in CTAs 0-3 of the d128 dK/dV kernel, printed
# on the process's 6th launch): where each warpgroup waits within a step (NOTES start s58 (a)).
# Label prb128 (the tree + the probe, bench at 128), built here. Rows: the sweep's s16384
# (205 steps a CTA), long-d128, llm-d128-causal.
#   run(command="bash bench/experiments/s58_step_probe_call.sh $OUT", carry=["build/pre/prb128"])
set -u
out=${1:?usage: s58_step_probe_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out"
bash bench/machine_facts.sh
bash bench/prebuilt.sh use prb128 bench/experiments/dkdv_step_probe.patch build/prb >/dev/null ||
  { echo "prb128 does not match this tree"; exit 2; }
export LD_LIBRARY_PATH=$PWD/build/pre/prb128/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for row in bwd/sweep-d128-s16384/fused/bf16 bwd/long-d128/fused/bf16 bwd/llm-d128-causal/fused/bf16; do
  tag=$(tr '/' '_' <<<"$row")
  build/prb/bench/varattn_bench --benchmark_filter="^$row(/|\$)" --varattn_min_time=0.3 \
    >"$out/$tag.txt" 2>&1
  echo "$row: exit $?, $(grep -c '^probe' "$out/$tag.txt") probe lines"
  grep -m3 -v '^probe' "$out/$tag.txt" | tail -2
done
