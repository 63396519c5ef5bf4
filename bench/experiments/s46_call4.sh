#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Forty-sixth session, one call (~200-250 s):
#   run(command="VARATTN_CALL_BUDGET_S=260 bash bench/experiments/s46_call4.sh $OUT", timeout_s=290)
# The op's eager time on long-d128-window1024: compare.py (s46 table) has its fwd+bwd at
# 1.273 ms eager against 1.123 ms replayed from a graph (FA4 1.100 / 1.102), the eager figure
# where s38's was (1.268) though the graph's fell 1.196 -> 1.123: a host-bound call?
# bench/op_overhead.py (host us against GPU us a call; --profile: the host's own table) on it
# and on llm-d128-causal, whose eager and graph agree, then bench/timeline.py (the kernels and
# the idle between them, eager, back to back). The op is pip-installed at 128 first.
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s46_call4.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-330}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
E=bench/experiments
say "s46 call 4: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader)"

if [[ -z ${S46_SKIP_PIP:-} ]]; then  # S46_SKIP_PIP=1: installed already (s46_call5.sh)
  (VARATTN_HEAD_DIMS=128 VARATTN_CUDA_ARCHS=90a \
     python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1
   echo "pip exit $?" >>"$out/pip.log")
  say "$(tail -1 "$out/pip.log")"
fi
# 1. The op's host time against its GPU time, then the kernels under back-to-back load.
for w in ${S46_OVERHEAD_ROWS:-long-d128-window1024 llm-d128-causal}; do
  (($(left) > 60)) || { say "no time for op_overhead $w"; break; }
  extra=; [[ $w == long-d128-window1024 ]] && extra=--profile
  timeout 90 python3 bench/op_overhead.py $w --calls 200 $extra >"$out/overhead_$w.txt" 2>&1
  say "op_overhead $w: exit $?"
  grep -E '^(fwd|ops|graph)' "$out/overhead_$w.txt" | sed "s/^/  $w /" >>"$out/summary.txt"
done
if (($(left) > 50)); then
  timeout $(($(left) - 10)) python3 bench/timeline.py "$out/timeline" --methods varattn_op \
    --pass fwd,fwdbwd --workloads long-d128-window1024 --iters 40 \
    >"$out/timeline.txt" 2>&1
  say "timeline: exit $?"
  grep -E 'event-timed|profiled:|^ +[0-9.]+ us' "$out/timeline.txt" >>"$out/summary.txt"
fi
say done
