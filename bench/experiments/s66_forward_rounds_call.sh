#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepared in the sixty-sixth session (the budget left, 374 s, did not fit it; not run): the
# forward's compute-bound rows by rounds, the op and the bench binary beside FA4 and cuDNN
# (s65's single timings put the d128 MHA rows at 0.98-1.04 and vl-full-d80 fp16 at 0.97;
# s55's rounds at 1.05-1.11). Two warm calls, issued in one tool block (the machine stays
# warm 30 s); the tree sent must be slim (move bench/results and bench/experiments but this
# script out: the anchors take 48 and 34 MB of the 64 MiB a call carries):
#   call a (carry build/anchors/big; ~180 s cold): the anchors' unpack, the op at 64,80,128
#     run(command="bash bench/experiments/s66_forward_rounds_call.sh a $OUT", carry=["build/anchors/big"])
#   call b (carry build/anchors/small and a bench label at 64;80;128, e.g. s64N, whose
#     forward kernels are HEAD's at 6ce3db8; ~150 s): the anchors' install, compare.py
#     run(command="LABEL=s64N DTYPE=bf16 bash bench/experiments/s66_forward_rounds_call.sh b $OUT",
#         carry=["build/anchors/small", "build/pre/s64N"])
#   (fp16: a third warm call, call b with DTYPE=fp16.) s71: WORKLOADS (compare.py's --workloads,
#   default main,causal) and DEADLINE_S (its --deadline-s, default 330).
set -u
mode=${1:?usage: s66_forward_rounds_call.sh a|b OUTDIR}
out=${2:?usage: s66_forward_rounds_call.sh a|b OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
if [[ $mode == a ]]; then
  bash bench/install_anchors.sh unpack
  s=$(date +%s)
  VARATTN_HEAD_DIMS=64,80,128 VARATTN_CUDA_ARCHS=90a timeout 300 \
    python3 -m pip install --no-build-isolation --no-deps ./python >"$out/pip.log" 2>&1
  echo "pip exit $? in $(($(date +%s) - s)) s"
  tail -2 "$out/pip.log"
  exit 0
fi
label=${LABEL:-s64N}
mkdir -p build/cmp/bench
xz -dc "build/pre/$label/bench/varattn_bench.xz" >build/cmp/bench/varattn_bench &&
  chmod +x build/cmp/bench/varattn_bench || { echo "no label $label"; exit 2; }
export LD_LIBRARY_PATH=$PWD/build/pre/$label/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
bash bench/install_anchors.sh install >"$out/anchors.log" 2>&1
echo "anchors install exit $?"
. /tmp/anchors.env
VARATTN_BUILD_DIR=$PWD/build/cmp VARATTN_STAGES=compare VARATTN_DEADLINE_S=$((${DEADLINE_S:-330} + 70)) \
  VARATTN_COMPARE_ARGS="--quick --dtype ${DTYPE:-bf16} --pass fwd --workloads ${WORKLOADS:-main,causal} \
--skip flex,loop_bound,loop_split,mem_eff --rounds 3 --deadline-s ${DEADLINE_S:-330}" \
  bash bench/run_on_gpu.sh "$out"
