#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The head-dim-256 dK/dV patches of the forty-fifth session from binaries built beforehand
# (bench/prebuilt.sh: epi256A, late256A, wr256A, head256), no build. Two calls:
#   run(command="VARATTN_CALL_BUDGET_S=440 bash bench/experiments/s46_d256_call.sh $OUT",
#       carry=["build/pre/epi256A", "build/pre/late256A", "build/pre/head256"], timeout_s=460)
#   run(command="S46_PARTS=writer VARATTN_CALL_BUDGET_S=400 bash bench/experiments/s46_d256_call.sh $OUT",
#       carry=["build/pre/epi256A", "build/pre/wr256A"], timeout_s=420)
# S46_PARTS (default "epilogue late"), each while the budget lasts:
#   epilogue: the staged epilogue (hopper_backward_d256_staged_epilogue.md): its cases under
#      `timeout 120` first (a failure stops the part), ncu of dkdv_split_kernel A/B x 3 on
#      bwd/llm-d256-causal, the backward suite at 256, racecheck, memcheck and synccheck;
#   late: the late release (hopper_backward_d256_late_release.md): ncu A/B x 3, the same row;
#   writer: the dQ writer warp on top of the epilogue (hopper_backward_d256_dq_writer.md; the
#      tree gets the epilogue patch first, B = epi256A): as the epilogue's part.
# OUTDIR/<part>; summary.txt: each part's lines, the ncu means last.
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s46_d256_call.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-440}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
E=bench/experiments
row=bwd/llm-d256-causal/fused/bf16

parts=" ${S46_PARTS:-epilogue late} "
cases='backward:?Hopper?query?steps?of?64?rows*,backward:?every?kernel?variant*'

# check NAME "LABEL_A LABEL_B" PATCH CASES BUDGET ROW...: patch_check_ncu.sh at 256 (its cases
# under `timeout 120` first, ncu A/B x 3 of the split kernel on the rows, every backward case,
# three sanitizers; ~250-300 s) into OUTDIR/NAME.
check() {
  local name=$1 pre=$2 patch=$3 new_cases=$4 budget=$5
  shift 5
  VARATTN_AB_HEAD_DIMS=256 VARATTN_PREBUILT=$pre VARATTN_NCU_ROUNDS=3 VARATTN_TESTS='-tc=backward*' \
    VARATTN_CALL_BUDGET_S=$budget bash $E/patch_check_ncu.sh "$out/$name" "$patch" "$new_cases" \
    dkdv_split_kernel "$@" >"$out/$name.log" 2>&1
  say "$name: exit $?"
  cat "$out/$name/summary.txt" >>"$out/summary.txt" 2>/dev/null
}

[[ $parts == *" epilogue "* ]] &&
  check epilogue 'epi256A head256' $E/hopper_backward_d256_staged_epilogue.patch "$cases" \
    $(($(left) - 90)) "$row"

# ~60-80 s.
if [[ $parts != *" late "* ]]; then
  :
elif (($(left) > 60)); then
  VARATTN_AB_HEAD_DIMS=256 VARATTN_PREBUILT='late256A head256' \
    VARATTN_CALL_BUDGET_S=$(($(left) - 10)) \
    bash $E/ncu_kernel_ab.sh "$out/late" $E/hopper_backward_d256_late_release.patch \
    dkdv_split_kernel "$row" >"$out/late.log" 2>&1
  say "late: exit $?"
  grep -E '^\[|^[AB][0-9] ' "$out/late.log" | sed 's/^/  late /' >>"$out/summary.txt"
else
  say "no time for the late release"
fi

# On the tree with the epilogue (B = epi256A).
if [[ $parts == *" writer "* ]]; then
  if git apply $E/hopper_backward_d256_staged_epilogue.patch; then
    # The deterministic row too: its producer also changes (one copy warp; the review's L3).
    check writer 'wr256A epi256A' $E/hopper_backward_d256_dq_writer.patch \
      "$cases,backward:?causal?tiles?over?several*" $(($(left) - 10)) "$row" \
      bwd/llm-d256-causal/fused_deterministic/bf16
    git apply -R $E/hopper_backward_d256_staged_epilogue.patch
  else
    say "the epilogue patch does not apply: no writer part"
  fi
fi

python3 $E/ncu_means.py "$out" | tee -a "$out/summary.txt"
say "done"
