#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The three short-tile forward patches of the forty-fourth session by ncu A/B from binaries
# built on the machine without a GPU (s46: build/pre/s46store, s46mask, s46short; B = s46B, the
# tree at 64;80;128), no build, ~100 s a patch:
#   run(command="bash bench/experiments/s47_short_tiles.sh $OUT", carry=["build/pre/s46store",
#       "build/pre/s46mask", "build/pre/s46short", "build/pre/s46B"], timeout_s=360)
#   sm80_store_by_columns   (sm80_store_by_columns.md: tiny-d64 -2 to -3.5%, vl-window-d80 -3 to -6%)
#   forward_mask_row_bits   (forward_mask_row_bits.md: tiny-d64 -2 to -4%, causal d128 -0.3 to -1.5%)
#   short_tile_floor_s44    (short_tile_floor_s44.md: tiny -0.5 to -1.5%, vl-window -1 to -2%)
# ncu of forward_kernel (the sm80 and sm90 forward kernels share the name). A winner then needs
# its forward suites and sanitizers (the commands in its .md) before it lands.
set -u -o pipefail
out=${1:?usage: bash bench/experiments/s47_short_tiles.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
ab() {  # LABEL PATCH ROW...
  local label=$1 patch=$2
  shift 2
  VARATTN_AB_HEAD_DIMS='64;80;128' VARATTN_PREBUILT="$label s46B" VARATTN_CALL_BUDGET_S=105 \
    bash $E/ncu_kernel_ab.sh "$out/$label" "$E/$patch.patch" forward_kernel "$@" >"$out/$label.log" 2>&1
  echo "$label: exit $?; $(grep -c '^[AB][0-9] ' "$out/$label.log") ncu rows; $(grep -m1 prebuilt "$out/$label.log")"
}
ab s46store sm80_store_by_columns fwd/tiny-d64/fused/bf16 fwd/vl-window-d80/fused/bf16
ab s46mask forward_mask_row_bits fwd/tiny-d64/fused/bf16 fwd/llm-d128-causal/fused/bf16 \
  fwd/long-d128-causal/fused/bf16
ab s46short short_tile_floor_s44 fwd/tiny-d64/fused/bf16 fwd/vl-window-d80/fused/bf16
python3 $E/ncu_means.py "$out" | tee "$out/means.txt"
