# SPDX-License-Identifier: Apache-2.0
# Sourced by the ncu A/B scripts (ncu_kernel_ab.sh, patch_check_ncu.sh):
#   ncu_durations BENCH KERNEL_REGEX ROW
# prints one kernel's durations on one varattn_bench row, "1.62ms 1.63ms ..." (ncu
# --clock-control none, gpu__time_duration.sum, 5 launches after 4 skipped; at most 30 s).
ncu_durations() {
  timeout 30 ncu --clock-control none --metrics gpu__time_duration.sum -k "regex:$2" \
    --launch-skip 4 --launch-count 5 "$1" --benchmark_filter="^$3" --varattn_min_time=0.01 \
    --varattn_settle=0 2>&1 | grep -E '^\s+gpu__time_duration.sum' | awk '{printf "%s%s ", $3, $2}'
}
