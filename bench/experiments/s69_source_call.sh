#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-ninth session: why s68's lse loads ahead of S^T's wait (la4) and with one exp2 in 4 on
# the FMA pipe (fela4) measured nothing (s69's rounds: within +-1% of the tree on the d128
# backward rows). One ncu launch (full set, --clock-control none) of the dK/dV kernel of
# long-d128, bf16, for the tree (t128) and each variant, with the per-instruction warp-state
# samples of the SASS (sass.csv.gz): did P^T's wait for the lse values go, and where did the
# cycles move? Plus shared-memory wavefronts and the tensor pipe, one pass of named metrics.
#   run(command="VARATTN_CALL_BUDGET_S=300 bash bench/experiments/s69_source_call.sh $OUT",
#       carry=["build/pre/t128", "build/s68_benches"], timeout_s=340)
# A label starts only with > 130 s of the budget left (its profile and metrics take at most
# 120 + 40 s), so the call ends within timeout_s.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/call_lib.sh"
call_begin "${1:?usage: s69_source_call.sh OUTDIR}"
trap pack_results EXIT  # all but the summary in results.tar.xz
unpack_bench_folder build/s68_benches
labels=${LABELS:-t128 la4 fela4}
# shellcheck disable=SC2086  # the labels split
bench_labels t128 $labels
filter='^bwd/long-d128/fused/bf16/'
metrics=sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active
metrics+=,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,sm__cycles_active.avg
metrics+=,gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second,smsp__inst_executed.sum
for v in $labels; do
  (($(left) > 130)) || { say "out of time before $v"; break; }
  mkdir -p "build/nc_$v/bench" && cp "build/run/bench_$v" "build/nc_$v/bench/varattn_bench"
  VARATTN_BUILD_DIR=$PWD/build/nc_$v VARATTN_PROFILE_SOURCE=1 timeout 120 \
    bash bench/profile_on_gpu.sh "$out/full_$v" "$filter" dkdv_kernel full >/dev/null 2>&1
  say "$v full: exit $?; $(grep -E '^ +(Duration|SM Frequency|Elapsed Cycles)' "$out/full_$v/"*.txt | head -3 | tr -s ' ' | tr '\n' ';')"
  timeout 40 ncu --clock-control none --metrics "$metrics" --kernel-name regex:dkdv_kernel \
    --launch-skip 3 --launch-count 1 "build/run/bench_$v" --benchmark_filter="$filter" \
    --varattn_min_time=0.01 >"$out/metrics_$v.txt" 2>&1
  say "$v metrics: exit $?; $(grep -E '^ +(sm__|l1tex|gpu__|smsp__)' "$out/metrics_$v.txt" | awk '{printf "%s %s %s; ", $1, $3, $2}')"
  mv "$out/full_$v/"*.sass.csv.gz "$out/sass_$v.csv.gz" 2>/dev/null
  mv "$out/full_$v/"*.txt "$out/details_$v.txt" 2>/dev/null
done
