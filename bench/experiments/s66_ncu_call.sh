#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sixty-sixth session: hardware counters of one launch of the d128 dK/dV kernel and of the
# Hopper forward kernel on long-d128 (label t128: the tree's bench at 128, SASS only), to test
# NOTES s66 item 3's reading (the dK/dV step's shared-memory bytes near their floor beside the
# tensor pipe's): ncu --set full (bench/profile_on_gpu.sh), then one pass of named metrics
# (shared-memory bank reads / writes and the gmma pipe against their peaks, L2 reductions).
#   run(command="bash bench/experiments/s66_ncu_call.sh $OUT", carry=["build/pre/t128"])
set -u
out=${1:?usage: s66_ncu_call.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out" build/nc/bench
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
xz -dc build/pre/t128/bench/varattn_bench.xz >build/nc/bench/varattn_bench &&
  chmod +x build/nc/bench/varattn_bench || { echo "no label t128"; exit 2; }
export LD_LIBRARY_PATH=$PWD/build/pre/t128/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VARATTN_BUILD_DIR=$PWD/build/nc
metrics=sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active
metrics+=,l1tex__data_bank_reads.avg.pct_of_peak_sustained_elapsed
metrics+=,l1tex__data_bank_writes.avg.pct_of_peak_sustained_elapsed
metrics+=,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,lts__t_sectors_op_red.sum
metrics+=,sm__cycles_active.avg,gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second
for job in "^bwd/long-d128/fused/bf16 dkdv_kernel" "^fwd/long-d128/fused/bf16 forward_kernel"; do
  read -r filter kernel <<<"$job"
  timeout 120 bash bench/profile_on_gpu.sh "$out/full" "$filter" "$kernel" full
  echo "full $kernel: exit $?"
  timeout 60 ncu --clock-control none --metrics "$metrics" --kernel-name "regex:$kernel" \
    --launch-skip 3 --launch-count 1 build/nc/bench/varattn_bench --benchmark_filter="$filter" \
    --varattn_min_time=0.01 >"$out/metrics_$kernel.txt" 2>&1
  echo "metrics $kernel: exit $?"
  grep -E "gmma|bank_|wavefronts|op_red|cycles_active|duration|per_second|ERROR|rror" \
    "$out/metrics_$kernel.txt" | head -14
  grep -E "^ +(Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|L1/TEX Cache Throughput|L2 Cache Throughput|Executed Ipc Active|Issue Slots Busy|Warp Cycles Per Issued Instruction|Achieved Occupancy|Registers Per Thread)" \
    "$out/full/$(echo "$filter" | tr -c 'A-Za-z0-9\n' '_' | sed 's/^_*//; s/_*$//').txt" | head -14
done
tar -C "$out" -cJf "$out/ncu.tar.xz" full && rm -rf "$out/full"
ls -la "$out"
