#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fifty-fifth session (host_gap.md "Next"): where the host threads sit while the table's
# fwd+bwd loop runs, ours against FA4's: py-spy (a wheel carried in build/wheels; the machine
# has no gdb, perf or py-spy) samples host_wait_probe.py --spin with native frames, and
# spy_top.py ranks each thread's innermost named frames. Then, unless SKIP_QUEUED=1, the
# queued test (host_wait_probe.py --queued). Warm after a call that installed the op and
# unpacked the anchors (s35_table_call_a.sh, or host_gap.md's call 1).
#   (here, once: mkdir -p build/wheels && pip download --no-deps --only-binary=:all:
#    --platform manylinux2014_x86_64 --python-version 3.12 -d build/wheels py-spy)
#   run(command="bash bench/experiments/host_wait_spy_call.sh $OUT/spy",
#       carry=["build/anchors/small", "build/wheels"], timeout_s=420)  # bench/results moved out
set -u
out=${1:?OUTDIR}
mkdir -p "$out"
start=$(date +%s)
bash bench/install_anchors.sh install >/dev/null 2>&1
. /tmp/anchors.env || { echo "no /tmp/anchors.env"; exit 2; }
python3 -m pip install --no-deps build/wheels/py_spy-*.whl >"$out/pip_spy.log" 2>&1
spy="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/py-spy"
rows=${ROWS:-llm-d128-causal}
for m in varattn_op fa4; do
  timeout 150 "$spy" record --native --threads --idle --rate 250 --format raw -o "$out/spy_$m.txt" -- \
    python3 bench/experiments/host_wait_probe.py --spin=8 --methods=$m "$rows" >"$out/spy_$m.log" 2>&1
  echo "py-spy $m exit $? at $(($(date +%s) - start)) s"
  grep -E "spin:|not run|not importable" "$out/spy_$m.log"
  python3 bench/experiments/spy_top.py "$out/spy_$m.txt" --under spin --top 15 --depth 3 |
    tee "$out/spy_$m.top" | cut -c1-230
done
if [[ ${SKIP_QUEUED:-0} != 1 ]]; then
  timeout 300 python3 bench/experiments/host_wait_probe.py --queued --methods=varattn_op,fa4 \
    "${QUEUED_ROWS:-llm-d128-causal,llm-d128-gqa28-causal,long-d128,long-d128-window1024}" 2>&1 |
    grep -v -i warn | tee "$out/queued.log" | grep -E "round|not run|not importable|sleep ended"
fi
echo "done at $(($(date +%s) - start)) s"
