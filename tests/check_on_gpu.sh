#!/usr/bin/env bash
# One device call for the whole test suite on the GPU machine:
#   bash tests/check_on_gpu.sh "$OUT" [pytest arguments...]
# builds the PyTorch op (JIT) in the background while bench/run_on_gpu.sh configures, builds
# and runs ctest (GPU tests included), then runs the op's pytest. Logs: $OUT/{summary.txt,
# build.log,test.log,sanitize.log,jit.log,pytest.log}.
# Environment: VARATTN_STAGES (default configure,build,test; add sanitize for
# compute-sanitizer), VARATTN_DEADLINE_S for run_on_gpu.sh (default 330), PYTEST_TIMEOUT
# (default 240 s).
set -u -o pipefail
OUT=$1
shift
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export TORCH_EXTENSIONS_DIR=$PWD/build/torchext MAX_JOBS=${MAX_JOBS:-6} PYTHONUNBUFFERED=1
python3 -c "import sys; sys.path.insert(0, 'examples/pytorch'); import varattn_torch" \
  >"$OUT/jit.log" 2>&1 &
jit=$!
VARATTN_STAGES=${VARATTN_STAGES:-configure,build,test} VARATTN_DEADLINE_S=${VARATTN_DEADLINE_S:-330} \
  bash bench/run_on_gpu.sh "$OUT"
status=$?
wait "$jit"
echo "== JIT build of the op: exit $? (log: jit.log)"
tail -3 "$OUT/jit.log"
timeout "${PYTEST_TIMEOUT:-240}" python3 -m pytest -q -rs examples/pytorch "$@" 2>&1 |
  tee "$OUT/pytest.log"
pytest_status=$?
echo "== run_on_gpu.sh exit ${status}, pytest exit ${pytest_status}"
exit $((status | pytest_status))
