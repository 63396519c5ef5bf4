#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The forty-seventh session's backward patches (prepared without a device) from binaries built
# beforehand (bench/prebuilt.sh), no build. Three calls, each carrying only its labels (64 MiB
# with the tree's ~18 MB):
#   run(command="S47_PARTS='line both' VARATTN_CALL_BUDGET_S=560 bash bench/experiments/s47_backward_calls.sh $OUT",
#       carry=["build/pre/lineA", "build/pre/lineB", "build/pre/lsA", "build/pre/lineAb"], timeout_s=580)
#   run(command="S47_PARTS=stage VARATTN_CALL_BUDGET_S=400 bash bench/experiments/s47_backward_calls.sh $OUT",
#       carry=["build/pre/stageA", "build/pre/lineB"], timeout_s=420)
#   run(command="S47_PARTS=pad VARATTN_CALL_BUDGET_S=400 bash bench/experiments/s47_backward_calls.sh $OUT",
#       carry=["build/pre/padA", "build/pre/padB"], timeout_s=420)
# Parts (S47_PARTS), each while the budget lasts; every part starts from the clean tree and
# first applies bench_gqa28_probe.patch (the llm-d128-gqa28-causal probe row; in every label):
#   line:  workspace_line_regions (lineA: bench + tests at 128;256, B = lineB): its cases under
#          `timeout 120`, ncu A/B x 2 of the dK/dV kernels on llm-d256-causal, the gqa28 row and
#          llm-d128-causal (aligned either way: the control), the backward suite, sanitizers;
#   both:  hopper_backward_d256_dq_stage_banks on top of workspace_line_regions (lsA, B =
#          lineAb, bench at 256): ncu A/B x 3 on llm-d256-causal;
#   stage: hopper_backward_d256_dq_stage_banks alone (stageA: bench + tests at 256, B = lineB):
#          cases, ncu x 3 on llm-d256-causal fused and fused_deterministic, suite, sanitizers;
#   pad:   dq_row_padding on top of workspace_line_regions (padA: bench + tests at 72;80, B =
#          padB): cases, ncu x 2 on vl-full-d80 and vl-full-d72, suite, sanitizers.
# OUTDIR/<part>/ and OUTDIR/<part>.log; summary.txt: each part's lines, the ncu means last.
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s47_backward_calls.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-560}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
E=bench/experiments
probe=$E/bench_gqa28_probe.patch
line=$E/workspace_line_regions.patch
stage=$E/hopper_backward_d256_dq_stage_banks.patch
pad=$E/dq_row_padding.patch
d256=bwd/llm-d256-causal/fused/bf16
parts=" ${S47_PARTS:-line both} "

# on PATCH...: applies them in order (each checked first); off PATCH...: reverts them.
on() { local p; for p in "$@"; do git apply --check "$p" && git apply "$p" || { say "$p does not apply"; return 1; }; done; }
off() { local i; for ((i = $#; i >= 1; i--)); do git apply -R "${!i}" || say "${!i}: revert failed"; done; }

# check NAME "LABEL_A LABEL_B" PATCH CASES ROUNDS BUDGET ROW...: patch_check_ncu.sh.
check() {
  local name=$1 pre=$2 patch=$3 new_cases=$4 rounds=$5 limit=$6
  shift 6
  VARATTN_PREBUILT=$pre VARATTN_NCU_ROUNDS=$rounds VARATTN_TESTS='-tc=backward*' \
    VARATTN_CALL_BUDGET_S=$limit bash $E/patch_check_ncu.sh "$out/$name" "$patch" "$new_cases" \
    dkdv_ "$@" >"$out/$name.log" 2>&1
  say "$name: exit $?"
  cat "$out/$name/summary.txt" >>"$out/summary.txt" 2>/dev/null
}

steps='backward:?Hopper?query?steps?of?64?rows*,backward:?Hopper?query?steps?of?80?rows*'
if [[ $parts == *" line "* ]] && on $probe; then
  reserve=0
  [[ $parts == *" both "* ]] && reserve=110
  check line 'lineA lineB' $line "$steps" 2 $(($(left) - reserve)) $d256 \
    bwd/llm-d128-gqa28-causal/fused/bf16 bwd/llm-d128-causal/fused/bf16
  off $probe
fi

# ncu only (no timed rows, no tests: lsA's pieces are checked in line and stage).
if [[ $parts != *" both "* ]]; then
  :
elif (($(left) > 60)) && on $probe $line; then
  . $E/ncu_durations.sh
  if a=$(bash bench/prebuilt.sh use lsA "$stage" build/s47_both_A 2>>"$out/both.log") &&
    b=$(bash bench/prebuilt.sh use lineAb "" build/s47_both_B 2>>"$out/both.log"); then
    say "both: A = lsA (line + stage), B = lineAb (line): ncu of dkdv_split_kernel on $d256"
    for round in 1 2 3; do
      for v in A:$a:lsA B:$b:lineAb; do
        IFS=: read -r label dir pre <<<"$v"
        (($(left) > 25)) || { say "both: out of time before $label$round"; break 2; }
        echo "$label$round $d256 $(LD_LIBRARY_PATH=$(pwd)/build/pre/$pre/lib \
          ncu_durations "$dir/bench/varattn_bench" dkdv_split_kernel $d256)" |
          tee -a "$out/both.log" "$out/summary.txt"
      done
    done
  else
    say "both: prebuilt lsA / lineAb unusable ($(tr '\n' ' ' <"$out/both.log"))"
  fi
  off $probe $line
else
  say "no time (or no tree) for both"
fi

if [[ $parts == *" stage "* ]] && on $probe; then
  check stage 'stageA lineB' $stage "${steps%%,*},backward:?every?kernel?variant*" 3 \
    $(($(left) - 10)) $d256 bwd/llm-d256-causal/fused_deterministic/bf16
  off $probe
fi

if [[ $parts == *" pad "* ]] && on $probe $line; then
  check pad 'padA padB' $pad 'backward:?every?kernel?variant*' 2 $(($(left) - 10)) \
    bwd/vl-full-d80/fused/bf16 bwd/vl-full-d72/fused/bf16
  off $probe $line
fi

python3 $E/ncu_means.py "$out" | tee -a "$out/summary.txt"
say "done"
