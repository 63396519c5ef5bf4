#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s39 (ungated, then gated by hand: hopper_forward_class_ranks.md) and landed; the patch is
# in git history (git show <landing commit>^:bench/experiments/hopper_forward_class_ranks.patch).
# Prepared s38 by a helper (compiled, not run; one call, ~330-360 s): the Hopper forward's tile
# ranks class-major (hopper_forward_class_ranks.patch, .md; on 1ca647e's code): the plan's
# buffer holds the list's 32 step-class ends (host: list_class_ends in plan::make_one; device:
# build_work_list_kernel), and sm90/tile_schedule.cuh decodes rank -> (class, kv head band,
# item, head group) with locate_class_rank, in both grids (the counter's and one CTA a tile).
#   A = the patch; B = HEAD (the reverse patch).
# Rows (bf16): vl-full-d80 fused and fused_device, the targets (modelled -3.4 to -4.2%: the
# persistent grid's tail, head 15's 6400-row tiles last); controls at d128 fused and
# fused_device: llm-d128 and llm-d128-causal (modelled 0 to -0.8%), long-d128 (one class: the
# order is HEAD's, so it shows the decode's own cost; fused runs one CTA a tile there, the
# decode before the first load), long-d128-causal (8 classes; the L2 risk of the .md);
# build/<w>/device, the device builder alone (its launch bounds change: 64 -> 78 registers,
# no spill), on 6, 256 and 16 segments.
# Tests of A at 80;128 (the forward suite: the new class-major cases in edge_cases_test.cu and
# the device-written class ends in device_list_order_test.cu); racecheck and memcheck of every
# kernel family and of the 'class-major ranks*' cases (two small ones), 40 s each.
# The patches are read from bench/experiments/ (or VARATTN_PATCH_DIR): copy them there first.
#   VARATTN_CALL_BUDGET_S=360 bash bench/experiments/hopper_forward_class_ranks_ab.sh "$OUT"
set -u
out=$1
P=${VARATTN_PATCH_DIR:-bench/experiments}
git diff --quiet -- include tests || { echo "the tree must hold HEAD's include/ and tests/ (the script applies A)" >&2; exit 1; }
git apply "$P/hopper_forward_class_ranks.patch" || exit 1
VARATTN_AB_HEAD_DIMS="80;128" VARATTN_TEST_HEAD_DIMS="80;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-every kernel family*,class-major ranks*}" \
  VARATTN_SANITIZE_S=${VARATTN_SANITIZE_S:-40} VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-360} \
  bash bench/ab_with_tests.sh "$out" "$P/hopper_forward_class_ranks.reverse.patch" \
  '^(fwd/(vl-full-d80|llm-d128|llm-d128-causal|long-d128|long-d128-causal)/(fused|fused_device)/bf16|build/(vl-full-d80|vl-window-d80|llm-d128)/device/)'
