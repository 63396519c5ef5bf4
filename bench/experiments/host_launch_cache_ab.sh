#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call (H200, ~420 s; budget 570): the host time of an eager op call with and
# without host_launch_cache.patch (A = with, B = without), and what each CUDA call on the
# launch path costs there.
#   bash bench/experiments/host_launch_cache_ab.sh "$OUT"
# Works from a tree with or without the patch applied: A and B are made as copies (tar, no
# .git or build/), the patch applied to A's copy where it applies, the reverse patch to B's
# where it applies. Then, side by side: the op pip-installed into /tmp/op_A and /tmp/op_B
# (head dim 128, sm_90a; nothing installed into site-packages), and
# host_launch_costs.cu built against each copy's include/. Then, one after another:
#  1. costs_A, costs_B: us a call of each CUDA query / launch on the path, and of varattn's
#     multiprocessors(), l2_bytes(), allow_shared_memory(), resident_ctas() as each tree
#     builds them (the cached ones should read ~0.1 us in A, ~1-5 us in B).
#  2. bench/op_overhead.py (host us and GPU us a call; eager fwd, fwd+grad, fwd+bwd, ops
#     fwd+bwd, graph fwd, graph fwd+bwd) on long-d128-window1024 and fewq-d128-gqa-causal
#     (1,000 short segments: the host-bound d128 row), A B A B, 300 calls a row.
#  3. bench/timeline.py on long-d128-window1024 fwdbwd, varattn_op, A then B (kernels busy
#     and idle between them, eager), if time is left.
set -u -o pipefail
out=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/bench/experiments
budget=${HLC_BUDGET_S:-570}
start=$(date +%s)
note() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$out/log.txt"; }
left() { echo $((budget - ($(date +%s) - start))); }
mkdir -p "$out"
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())' 2>&1 |
  tee -a "$out/log.txt"

for v in A B; do
  rm -rf "/tmp/hlc_$v" "/tmp/op_$v" && mkdir -p "/tmp/hlc_$v"
  tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "/tmp/hlc_$v" -xf -
done
(cd /tmp/hlc_A && if git apply --check "$here/host_launch_cache.patch" 2>/dev/null; then
   git apply "$here/host_launch_cache.patch" && echo "A: patch applied"
 else echo "A: patch already in the tree"; fi) | tee -a "$out/log.txt"
(cd /tmp/hlc_B && if git apply --check "$here/host_launch_cache.reverse.patch" 2>/dev/null; then
   git apply "$here/host_launch_cache.reverse.patch" && echo "B: reverse patch applied"
 else echo "B: tree already without the patch"; fi) | tee -a "$out/log.txt"
test -f /tmp/hlc_A/include/varattn/detail/kernel_cache.hpp &&
  ! test -f /tmp/hlc_B/include/varattn/detail/kernel_cache.hpp ||
  { note "A/B trees not as expected"; exit 1; }

note "builds start"
for v in A B; do
  (cd "/tmp/hlc_$v" && VARATTN_HEAD_DIMS=128 VARATTN_CUDA_ARCHS=90a MAX_JOBS=8 \
     python3 -m pip install --no-build-isolation --no-deps --target "/tmp/op_$v" ./python \
     >"$out/pip_$v.log" 2>&1; echo "pip exit $?" >>"$out/pip_$v.log") &
  (nvcc -std=c++17 -O2 -gencode arch=compute_90a,code=sm_90a -I"/tmp/hlc_$v/include" \
     "$here/host_launch_costs.cu" -o "/tmp/costs_$v" >"$out/costs_build_$v.log" 2>&1) &
done
wait
note "builds done: A $(tail -1 "$out/pip_A.log"), B $(tail -1 "$out/pip_B.log")"

for v in A B; do
  [[ -x /tmp/costs_$v ]] && timeout 60 "/tmp/costs_$v" >"$out/costs_$v.txt" 2>&1
  note "costs_$v exit $?"
done
paste "$out/costs_A.txt" "$out/costs_B.txt" 2>/dev/null | head -40

export PYTHONUNBUFFERED=1
for round in 1 2; do
  for w in long-d128-window1024 fewq-d128-gqa-causal; do
    for v in A B; do
      (($(left) > 60)) || break 3
      PYTHONPATH=/tmp/op_$v timeout 90 python3 "$root/bench/op_overhead.py" "$w" --calls 300 \
        >"$out/overhead_${w}_$v$round.txt" 2>&1
      note "overhead $w $v$round exit $? ($(grep -c '' "$out/overhead_${w}_$v$round.txt") lines)"
    done
  done
done
for f in "$out"/overhead_*.txt; do echo "# $(basename "$f")"; tail -7 "$f"; done

for v in A B; do
  (($(left) > 100)) || break
  PYTHONPATH=/tmp/op_$v timeout 90 python3 "$root/bench/timeline.py" "$out/timeline_$v" \
    --workloads long-d128-window1024 --methods varattn_op --pass fwdbwd \
    >"$out/timeline_$v.txt" 2>&1
  note "timeline $v exit $?"
  grep -v "^#" "$out/timeline_$v.txt" | grep -E "event-timed|profiled|  x1" | head -12
done
note "done"
