#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One device call for the whole test suite on the GPU machine:
#   bash tests/check_on_gpu.sh "$OUT" [pytest arguments...]
# installs the Python package (`pip install --no-build-isolation ./python`: the op compiled
# ahead of time) in the background while bench/run_on_gpu.sh configures, builds and runs
# ctest (GPU tests included), then runs the package's pytest from /tmp, so that the installed
# package is what is tested. Logs: $OUT/{summary.txt,build.log,test.log (sanitizers too),pip.log,
# pytest.log}.
# Environment: VARATTN_STAGES (default configure,build,test; add sanitize for
# compute-sanitizer; "none" skips CMake), VARATTN_DEADLINE_S for run_on_gpu.sh (default 330),
# PYTEST_TIMEOUT (default 240 s), VARATTN_CUDA_ARCHS for the package (default 80;90a).
set -u -o pipefail
OUT=$1
shift
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export MAX_JOBS=${MAX_JOBS:-8} PYTHONUNBUFFERED=1
python3 -m pip install -q --no-build-isolation --no-deps --no-cache-dir ./python \
  >"$OUT/pip.log" 2>&1 &
pip_job=$!
status=0
if [[ ${VARATTN_STAGES:-} != none ]]; then
  VARATTN_STAGES=${VARATTN_STAGES:-configure,build,test} \
    VARATTN_DEADLINE_S=${VARATTN_DEADLINE_S:-330} bash bench/run_on_gpu.sh "$OUT"
  status=$?
fi
wait "$pip_job"
echo "== pip install of the package: exit $? (log: pip.log)"
tail -3 "$OUT/pip.log"
cd /tmp
python3 -c "import varattn; print('varattn', varattn.__version__, 'from', varattn.__file__, 'op', varattn.library_path())"
timeout "${PYTEST_TIMEOUT:-240}" python3 -m pytest -q -rs -p no:cacheprovider \
  "$ROOT/python/tests" "$@" 2>&1 | tee "$OUT/pytest.log"
pytest_status=$?
echo "== run_on_gpu.sh exit ${status}, pytest exit ${pytest_status}"
exit $((status | pytest_status))
