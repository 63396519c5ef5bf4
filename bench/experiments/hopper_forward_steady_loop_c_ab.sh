#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ran s38 and landed (1ca647e, with kStageReleaseArrivals and comments that leave the SASS as
# the patch's): to run it again, check out 1ca647e^ and restore the patches from it.
# Prepared s37, compiled, not run (one call, ~220-300 s): variant C of the d128 leads' A/B
# (hopper_forward_d128_leads_ab.sh; H200 s37: C = A less row_max_pairs was the best, long-d128
# -3.0/-2.3%, llm-d128 -1.8/-0.5% against d29891f, the rest noise), ported onto pack_gqa
# (bf5fdb5): hopper_forward_steady_loop_c.patch = the steady loop (the unmasked steps in a loop
# of their own, Q's k-step descriptors pinned, V's stage by advance_low) + the elected release
# (one lane a warp releases a K or V stage) + the q pin guard, all behind one compile-time
# condition (forward_tile.cuh, kSteadyLoop): off for d80's 192 x 144 tile (P in shared memory)
# and for packed softcap tiles of three warpgroups (d64/d72), whose SASS is HEAD's byte for
# byte (they spilled more with it: ptxas -v 28/48 -> 72/140 and 8/8 -> 352/416 bytes).
#   A = the patch; B = HEAD (the reverse patch).
# Rows: the d128 rows (predicted: 0 to -2%, long-d128 and llm-d128 most; chunked-d128-gqa-causal
# is a packed tile, which now takes the steady loop too) and two d80 rows, both on the 192 x 144
# tile (vl-full-d80's longest segment is 6400), i.e. controls (predicted 0: same kernel). Tests
# of A at 80;128 (the forward suite: causal, windows, many tiles a CTA, pack_gqa at 128, the
# d80 tall tile); racecheck and memcheck of every kernel family (by default only that case;
# VARATTN_SANITIZE_TESTS='every kernel family*,many Hopper tiles a CTA*' would add the multi-tile
# ring case, which has never finished under racecheck in 64 s; each sanitizer gets at
# most VARATTN_SANITIZE_S seconds, 30 here: they took ~10 s together at 64;128).
# The patches are read from bench/experiments/ (or VARATTN_PATCH_DIR): copy them there first.
#   VARATTN_CALL_BUDGET_S=300 bash bench/experiments/hopper_forward_steady_loop_c_ab.sh "$OUT"
set -u
out=$1
P=${VARATTN_PATCH_DIR:-bench/experiments}
git diff --quiet -- include tests || { echo "the tree must hold HEAD's include/ and tests/ (the script applies A)" >&2; exit 1; }
git apply "$P/hopper_forward_steady_loop_c.patch" || exit 1
VARATTN_AB_HEAD_DIMS="80;128" VARATTN_TEST_HEAD_DIMS="80;128" VARATTN_TESTS="-tce=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-every kernel family*}" \
  VARATTN_SANITIZE_S=${VARATTN_SANITIZE_S:-30} VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-300} \
  bash bench/ab_with_tests.sh "$out" "$P/hopper_forward_steady_loop_c.reverse.patch" \
  '^fwd/(llm-d128|long-d128|llm-d128-causal|chunked-d128-gqa-causal|vl-full-d80|sweep-d80-s16384)/fused/bf16'
