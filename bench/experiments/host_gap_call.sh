#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One warm call after a table's call A (the op installed, the anchors unpacked): the fwd+bwd
# host gap (host_gap.md) on llm-d128-causal (ours) and llm-d128-gqa28-causal (FA4's), the host's
# side profiled (timeline.py --launches: what the host ran while late, any runtime call waiting
# on the GPU), once with Python's GC as usual and once collected and off. ~80-300 s.
#   run(command="bash bench/install_anchors.sh install >/dev/null 2>&1; bash bench/experiments/host_gap_call.sh $OUT/gap",
#       carry=["build/anchors/small"], timeout_s=340)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?OUTDIR}"
. /tmp/anchors.env || { say "no /tmp/anchors.env: run bench/install_anchors.sh install first"; exit 2; }
for mode in gc_on gc_off; do
  flag=; [[ $mode == gc_off ]] && flag=--gc-off
  say "timeline $mode"
  timeout 150 python3 bench/timeline.py "$out/$mode" --launches $flag \
    --workloads llm-d128-causal,llm-d128-gqa28-causal --methods varattn_op,fa4 --pass fwdbwd \
    --dtype bf16 --iters 30 >"$out/$mode.log" 2>&1
  say "exit $?"
  grep -E 'fwdbwd (varattn_op|fa4):|profiled:|idle .* late|host (waiting|meanwhile)' \
    "$out/$mode.log" | tee -a "$out/summary.txt"
done
say done
