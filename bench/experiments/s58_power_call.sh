#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the fifty-seventh session for the next (NOTES start s57 (a)): s57's instruction
# cuts of the d128 dK/dV kernel, measured ~0 (or not yet) by ncu's single launches, timed in
# sustained rows with the power and clock beside them (power_rows.sh), against the tree:
# A = b128 (the tree), B = pdsA (dS^T by bf16 pairs; its tests' error-report probe does not
# touch the bench), C = wide128 (dQ's 16-byte stores, a probe: dQ wrong), D = one128 (the
# producer's one waiter, dkdv_one_waiter.patch: run s58_one_waiter_call.sh's tests first or
# beside). Two bwd rows and the forward as a control (no variant touches it), three
# interleaved rounds, ~170 s; no build (the labels were built at 90ab141's sources).
#   run(command="bash bench/experiments/s58_power_call.sh $OUT", carry=["build/pre/b128",
#       "build/pre/pdsA", "build/pre/wide128", "build/pre/one128"], timeout_s=320)
set -u
out=${1:?usage: s58_power_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
E=bench/experiments
bash bench/machine_facts.sh
bash bench/prebuilt.sh use b128 "" build/tA >/dev/null &&
  bash bench/prebuilt.sh use pdsA $E/dkdv_paired_ds_report.patch build/ab >/dev/null &&
  bash bench/prebuilt.sh use wide128 $E/dkdv_dq_wide_stores_probe.patch build/ab_C >/dev/null &&
  bash bench/prebuilt.sh use one128 $E/dkdv_one_waiter.patch build/ab_D >/dev/null ||
  { echo "a label does not match this tree: rebuild it (bench/prebuilt.sh build, NOTES start s57)"; exit 2; }
export LD_LIBRARY_PATH=$PWD/build/pre/b128/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
bash $E/power_rows.sh "$out" 3 "bwd/long-d128/fused/bf16 bwd/llm-d128-causal/fused/bf16 fwd/long-d128/fused/bf16" \
  A=build/tA/bench/varattn_bench B=build/ab/bench/varattn_bench C=build/ab_C/bench/varattn_bench \
  D=build/ab_D/bench/varattn_bench
