#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The forty-fifth session's first device call (bench/NOTES.md, "Where to start", forty-fourth
# item): the s44 d64 dK/dV patches from binaries built beforehand, no build in the call.
#   run(command="VARATTN_CALL_BUDGET_S=585 bash bench/experiments/s45_call1.sh $OUT",
#       carry=["build/pre/fusedA", "build/pre/head64_rows", "build/pre/floatpA",
#              "build/pre/quadsA", "build/pre/floatquadsA"], timeout_s=600)
# (Name the labels: build/pre also holds the d256 labels of s46_d256_call.sh, and all of it
# with the tree passes a call's 64 MiB.)
# Applies backward_tail_tile_rows.patch (the prebuilt binaries have it; reversed at the end),
# then, each while the budget lasts:
#   1. the fused thin tail (patch_check_ncu.sh: its new cases under `timeout 120` first, ncu A/B
#      on vit, tail-d64-s257, vit-k1024, MQA x 2 rounds, the suite at 64, three sanitizers);
#   2. ncu A/B x 3 rounds (ncu_kernel_ab.sh) of float P, lse/D quads and both merged, on vit,
#      MQA and sweep-d64-s1024.
# OUTDIR/fused, OUTDIR/float_p, OUTDIR/row_quads, OUTDIR/float_p_quads; summary.txt here: each
# part's lines, the ncu means a row and variant last (the reply's tail).
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s45_call1.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
start=$(date +%s)
budget=${VARATTN_CALL_BUDGET_S:-585}
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/summary.txt"; }
E=bench/experiments
rows_patch=$E/backward_tail_tile_rows.patch
applied=0
trap '((applied)) && git apply -R "$rows_patch"' EXIT
trap 'exit 143' TERM INT HUP
git apply --check "$rows_patch" 2>/dev/null && git apply "$rows_patch" && applied=1 ||
  { say "$rows_patch does not apply"; exit 1; }

# 1. The fused thin tail: ~250-350 s with its suite and sanitizers, capped to leave ~90 s a
# variant of part 2 (ncu ~4 s a run: 18 runs, and the timed rows).
t=$(($(left) - 240))
VARATTN_PREBUILT='fusedA head64_rows' VARATTN_CALL_BUDGET_S=$t \
  VARATTN_SANITIZE_TESTS='backward:?Hopper?fused?thin?k?tiles*small*,backward:?every?kernel?variant*' \
  bash $E/patch_check_ncu.sh "$out/fused" $E/hopper_backward_fused_thin.patch \
  'backward:?Hopper?fused?thin*' dkdv_kernel bwd/vit-l14-d64/fused/bf16 bwd/tail-d64-s257/fused/bf16 \
  bwd/vit-l14-d64-k1024/fused/bf16 bwd/llm-d64-mqa-causal/fused/bf16 >"$out/fused.log" 2>&1
say "fused: exit $? ($t s)"
cat "$out/fused/summary.txt" >>"$out/summary.txt" 2>/dev/null

# 2. The float P and lse/D quads variants, ncu only (~60 s each without a build).
for v in float_p:floatpA row_quads:quadsA float_p_quads:floatquadsA; do
  name=${v%%:*} label=${v#*:}
  (($(left) > 70)) || { say "no time for $name"; continue; }
  VARATTN_PREBUILT="$label head64_rows" VARATTN_CALL_BUDGET_S=$(($(left) - 10)) \
    bash $E/ncu_kernel_ab.sh "$out/$name" $E/hopper_backward_d64_$name.patch dkdv_kernel \
    bwd/vit-l14-d64/fused/bf16 bwd/llm-d64-mqa-causal/fused/bf16 bwd/sweep-d64-s1024/fused/bf16 \
    >"$out/$name.log" 2>&1
  say "$name: exit $?"
  grep -E '^\[|^[AB][0-9] ' "$out/$name.log" | sed "s/^/  $name /" >>"$out/summary.txt"
done

# The ncu means, a row and variant (ms), from every part's "A1 row 1.62ms ..." lines.
python3 $E/ncu_means.py "$out" | tee -a "$out/summary.txt"
say done
