#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared s36 (a helper; compiled, not run; one call, ~250-380 s): lead 4 of
# dkdv_schedule_vs_fa4_s35.md, with two probes of backward_leads_lost_s36.md's reading (that
# warpgroup 1's lag behind warpgroup 0 at the step's start is not a cost to cut).
#   A = hopper_backward_ds_before_dv (dS's stmatrix before dV's wgmma where dV follows dS:
#       80 queries, i.e. head dim 128, and the softcap kernels at 128 queries);
#   B = HEAD;
#   C = HEAD + backward_reducer_delay_probe (PROBE, never to land: the reducer warpgroup's
#       first warp ~256 cycles later to its next wgmmas, i.e. a longer lag): the sign of the
#       lag's cost. C < B: the lag helps (leads 1-3 move the wrong way); C > B by ~2-5%: the
#       lag costs as s35 modelled, and s36's losses came from something else;
#   D = hopper_backward_d128_reduce_by_warps + the probe: s36's D with its lag given back.
#       D ~ B: s36's D lost by cutting the lag; D ~ s36's D (+2%): by issuing from four warps.
# Rows: the d128 rows and the d64 rows (A's d64 kernels without softcap are unchanged by
# construction: controls; C and D change d64's reducer too). Tests of A at 48;64;128
# (-tc=backward*); racecheck and memcheck of the multi-step causal case and the every-variant
# case (VARATTN_SANITIZE_TESTS= for none). Landing rule for A: d128 rows <= -1% both rounds,
# d64 rows not worse.
#   VARATTN_CALL_BUDGET_S=380 bash bench/experiments/hopper_backward_ds_before_dv_ab.sh "$OUT"
set -u
out=$1
P=bench/experiments
git diff --quiet -- include || { echo "the tree must hold HEAD's include/ (the script applies A)" >&2; exit 1; }
git apply $P/hopper_backward_ds_before_dv.patch || exit 1
# Each variant a patch from A's tree (git apply takes the concatenation, in order).
cat $P/hopper_backward_ds_before_dv.reverse.patch $P/backward_reducer_delay_probe.patch \
  >/tmp/c_probe.patch
cat $P/hopper_backward_ds_before_dv.reverse.patch $P/hopper_backward_d128_reduce_by_warps.patch \
  $P/backward_reducer_delay_probe.patch >/tmp/d_rbw_probe.patch
VARATTN_AB_HEAD_DIMS="64;128" VARATTN_TEST_HEAD_DIMS="48;64;128" VARATTN_TESTS="-tc=backward*" \
  VARATTN_SANITIZE_TESTS="${VARATTN_SANITIZE_TESTS-backward: causal tiles over several query steps*,backward: every kernel variant*}" \
  VARATTN_SANITIZE_S=40 VARATTN_CALL_BUDGET_S=${VARATTN_CALL_BUDGET_S:-380} \
  bash bench/ab_with_tests.sh "$out" \
  $P/hopper_backward_ds_before_dv.reverse.patch,/tmp/c_probe.patch,/tmp/d_rbw_probe.patch \
  '^bwd/(llm-d128|llm-d128-causal|prefill-d128-gqa-causal|long-d128|vit-l14-d64|llm-d64-mqa-causal)/fused/bf16'
