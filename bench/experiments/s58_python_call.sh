#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-eighth session: the python suite on python_tests_head_dims_followup.patch (applied in
# the tree): the op built at HEAD_DIMS (default 64,112,128: 112 is no default head dim, so the
# suite must now parametrize it from varattn.head_dims()), then pytest without
# VARATTN_HEAD_DIMS. With build/anchors/big carried it first starts the anchors' unpack, so a
# warm second call can install them (bench/install_anchors.sh).
#   run(command="bash bench/experiments/s58_python_call.sh $OUT", carry=["build/anchors/big"])
set -u
out=${1:?usage: s58_python_call.sh OUTDIR [HEAD_DIMS]}
dims=${2:-64,112,128}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
mkdir -p "$out"
[[ -d build/anchors/big ]] && bash bench/install_anchors.sh unpack
bash bench/machine_facts.sh
start=$(date +%s)
(cd python && VARATTN_HEAD_DIMS=$dims VARATTN_CUDA_ARCHS=90a \
  python3 -m pip install --no-build-isolation --no-deps . >"$out/pip_${dims//,/_}.log" 2>&1) ||
  { tail -30 "$out/pip_${dims//,/_}.log"; exit 1; }
echo "op built at $dims in $(($(date +%s) - start)) s"
python3 -c 'import varattn; print("varattn.head_dims():", varattn.head_dims())'
repo=$PWD
(cd /tmp && env -u VARATTN_HEAD_DIMS python3 -m pytest -q -rs -m "not slow" "$repo/python/tests" \
  >"$out/pytest_${dims//,/_}.log" 2>&1)
echo "pytest rc $?"
grep -E "^SKIPPED|passed|failed|error" "$out/pytest_${dims//,/_}.log" | tail -60
python3 -m pytest -q --co "$repo/python/tests" 2>/dev/null | grep -c "112" | sed 's/^/collected ids with 112: /'
