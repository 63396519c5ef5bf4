#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Forty-sixth session, both remaining checks in one call (two refusals left ~615 s of device
# time, one cold start):
#   run(command="bash bench/experiments/s46_call5.sh $OUT", carry=["build/pre/wr128A", "build/pre/s46B"], timeout_s=360)
# S46_WRITER_S (240): part 2's budget; S46_TOTAL_S (330): the call's, part 3 takes what is left.
# 1. (background, CPU) the op's pip install at 128, for part 3.
# 2. The d128 dQ writer (hopper_backward_d128_dq_writer.md): its new-cases run, ncu A/B x 2 of
#    dkdv_kernel on llm-d128, llm-d128-causal, long-d128-window1024 and llm-d128's deterministic
#    row, the backward suite at 128, racecheck and synccheck of the small cases (prebuilt
#    wr128A / s46B: no build), while S46_WRITER_S lasts.
# 3. The op's eager time on long-d128-window1024 (s46_call4.sh's body: op_overhead.py, then
#    timeline.py), while the budget lasts.
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s46_call5.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
start=$(date +%s)
E=bench/experiments
echo "[0 s] $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader)" | tee "$out/summary.txt"
(VARATTN_HEAD_DIMS=128 VARATTN_CUDA_ARCHS=90a \
   python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1
 echo "pip exit $?" >>"$out/pip.log") &
pip_pid=$!

VARATTN_AB_HEAD_DIMS=128 VARATTN_PREBUILT='wr128A s46B' VARATTN_NCU_ROUNDS=2 \
  VARATTN_TESTS='-tc=backward*,graph:?a?training?step*' VARATTN_SANITIZE_TOOLS='racecheck synccheck' \
  VARATTN_SANITIZE_TESTS='backward:?every?kernel?variant*,backward:?causal?tiles?over?several*' \
  VARATTN_CALL_BUDGET_S=${S46_WRITER_S:-240} bash $E/patch_check_ncu.sh "$out/writer" $E/hopper_backward_d128_dq_writer.patch \
  'backward:?every?kernel?variant*' dkdv_kernel bwd/llm-d128/fused/bf16 bwd/llm-d128-causal/fused/bf16 \
  bwd/long-d128-window1024/fused/bf16 bwd/llm-d128/fused_deterministic/bf16 >"$out/writer.log" 2>&1
echo "[$(($(date +%s) - start)) s] writer: exit $?" | tee -a "$out/summary.txt"
cat "$out/writer/summary.txt" >>"$out/summary.txt" 2>/dev/null
python3 $E/ncu_means.py "$out" 2>/dev/null | tee -a "$out/summary.txt"

wait $pip_pid
echo "[$(($(date +%s) - start)) s] $(tail -1 "$out/pip.log")" | tee -a "$out/summary.txt"
left=$((${S46_TOTAL_S:-330} - ($(date +%s) - start)))
((left > 60)) && S46_SKIP_PIP=1 VARATTN_CALL_BUDGET_S=$left bash $E/s46_call4.sh "$out/eager" >/dev/null 2>&1
cat "$out/eager/summary.txt" >>"$out/summary.txt" 2>/dev/null
echo "[$(($(date +%s) - start)) s] done" | tee -a "$out/summary.txt"
