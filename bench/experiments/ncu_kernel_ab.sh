#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call: a patch's effect on one kernel's own duration (ncu --clock-control none,
# gpu__time_duration.sum), where timed A/B pairs spread more than the effect (bench/NOTES.md
# fortieth section, 2). A = the tree + PATCH, B = the tree; both varattn_bench builds at
# VARATTN_AB_HEAD_DIMS (default 128) with their timed rows, then ncu over 5 launches a row,
# A B x3. Guarded by `git apply --check`; PATCH needs its .reverse.patch beside it.
#   VARATTN_CALL_BUDGET_S=200 bash bench/experiments/ncu_kernel_ab.sh "$OUT" PATCH KERNEL_REGEX 'bwd/llm-d128/fused/bf16' ...
# VARATTN_PREBUILT="LABEL_A LABEL_B": A's and B's varattn_bench built on the machine without a
# GPU beforehand (bench/prebuilt.sh build; carry build/pre), used where they match the tree with
# PATCH (A) and without it (B): the call then builds nothing.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/ncu_durations.sh"
out=$1 patch=$2 kernel=$3
shift 3
mkdir -p "$out"
start=$(date +%s)
left() { echo $((${VARATTN_CALL_BUDGET_S:-200} - $(date +%s) + start)); }
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
# B is PATCH's .reverse.patch, not `git diff -R`: the device's git metadata is the session's
# first checkout, so after a commit here `git diff` also reverts that commit (s41, call 4).
reverse=${patch%.patch}.reverse.patch
[[ -f $reverse ]] || { echo "no $reverse (B = the tree: A's reverse)" >&2; exit 1; }
git apply --check "$patch" || { echo "$patch does not apply to this tree" >&2; exit 1; }
git apply "$patch" || exit 1
cp "$reverse" /tmp/ncu_kernel_ab_b.patch
filter=$(IFS='|'; echo "^($*)")
a_dir=build/gpu
read -r pre_a pre_b <<<"${VARATTN_PREBUILT:-}"
if [[ -n ${pre_b:-} ]] &&
  bash bench/prebuilt.sh use "$pre_a" "" build/prebuilt_a >/dev/null &&
  bash bench/prebuilt.sh use "$pre_b" /tmp/ncu_kernel_ab_b.patch build/ab >/dev/null; then
  a_dir=build/prebuilt_a
  export LD_LIBRARY_PATH=$(pwd)/build/pre/$pre_a/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  stamp "prebuilt A ($pre_a) and B ($pre_b): no build"
  VARATTN_AB_STAGES=run VARATTN_BUILD_DIR=$(pwd)/$a_dir \
    timeout $(($(left) - 40)) bash bench/ab_on_gpu.sh "$out" /tmp/ncu_kernel_ab_b.patch "$filter"
else
  [[ -z ${pre_b:-} ]] || stamp "prebuilt binaries unusable: building"
  VARATTN_CMAKE_ARGS="-DVARATTN_HEAD_DIMS=${VARATTN_AB_HEAD_DIMS:-128} -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF" \
    timeout $(($(left) - 40)) bash bench/ab_on_gpu.sh "$out" /tmp/ncu_kernel_ab_b.patch "$filter"
fi
stamp "timed rows: exit $?"
for round in 1 2 3; do
  for v in A:$a_dir B:build/ab; do
    label=${v%%:*} bench=${v#*:}/bench/varattn_bench
    [[ -x $bench ]] || { stamp "no $bench"; continue; }
    for row in "$@"; do
      (($(left) > 10)) || { stamp "out of time before $label$round $row"; break 3; }
      echo "$label$round $row $(ncu_durations "$bench" "$kernel" "$row")"
    done
  done
done
git apply -R "$patch"
stamp done
