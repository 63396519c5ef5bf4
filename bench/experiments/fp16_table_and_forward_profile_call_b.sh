#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-second session, call B of 2 (carry build/anchors/small, within 30 s of call A): the
# anchors installed; ncu --set full of FA4's forward kernel on llm-d128 and vl-full-d80 (bf16,
# bench/run_method.py); then compare.py in fp16 on main, causal and serving (the thirty-first
# session's call 6 with --dtype fp16 and a shorter deadline).
#   bash bench/experiments/fp16_table_and_forward_profile_call_b.sh "$OUT"
# VARATTN_NO_COMPARE=1: the profiles only, no table (call A as it is: its builds serve both).
set -u
out=$1
start=$(date +%s)
. bench/experiments/ncu_full.sh
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
bash bench/install_anchors.sh install >/tmp/install.log 2>&1
stamp "install exit $?"
. /tmp/anchors.env
mkdir -p /tmp/ncu
for w in llm-d128 vl-full-d80; do
  n=fa4_fwd_${w//-/_}
  ncu_full /tmp/ncu $n FlashAttentionForwardSm90 2 python3 bench/run_method.py $w fa4 --pass fwd --calls 4
  stamp "ncu $w: $(grep -m1 -h 'Duration' /tmp/ncu/$n.txt | tr -s ' ')"
done
if [[ ${VARATTN_NO_COMPARE:-0} == 1 ]]; then
  tar czf "$out/ncu_fa4.tgz" -C /tmp ncu
  stamp "done (no compare)"
  exit 0
fi
left=$((560 - ($(date +%s) - start)))
VARATTN_STAGES=compare VARATTN_COMPARE_ARGS="--quick --dtype fp16 --pass fwd,fwdbwd --workloads main,causal,serving --skip flex,loop_bound,loop_split,mem_eff --deadline-s $((left - 50))" \
  VARATTN_BUDGET_S=$((left - 10)) VARATTN_DEADLINE_S=$((left - 5)) bash bench/run_on_gpu.sh "$out"
stamp "compare exit $?"
# run_on_gpu.sh's files (<= 6 here) and the profiles as one archive.
tar czf "$out/ncu_fa4.tgz" -C /tmp ncu
stamp done
