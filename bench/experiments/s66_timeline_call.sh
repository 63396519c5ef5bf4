#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-sixth session: the d128 dK/dV step's timeline (dkdv_step_probe_timeline.patch: clock64()
# at eight points of 16 steps, from the 24th, of each consumer warp's first lane in CTAs 0-3:
# the loop's top before the ring's full wait, entry, dP^T waited, dS ready, the dS barrier's
# arrival, dQ waited, dQ staged and handed on, the step's last wgmma wait; the bench prints
# the array after its rows). s65_step_probe_call.sh's four-point form cost 1.3-3.3% (s66 call
# 1) and showed that a clock read right past the dS barrier does not see the wait
# (BAR.SYNC.DEFER_BLOCKING): this form has none there. Same rows, same check against t128.
# Labels built here (bench at 128, SASS only):
#   prbT128 = the tree + the patch; t128 = the tree.
#   run(command="bash bench/experiments/s66_timeline_call.sh $OUT",
#       carry=["build/pre/prbT128", "build/pre/t128/bench"])
# ~25 s. Read: python3 bench/experiments/step_probe_read.py OUT/probe_*.txt
PROBE_LABEL=prbT128 exec bash "$(dirname "${BASH_SOURCE[0]}")/s65_step_probe_call.sh" "$@"
