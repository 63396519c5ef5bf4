#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-second session, call 2 of 2 (carry build/anchors/small, within 30 s of call 1): FA4's
# backward on the same tensors (bench/run_method.py), ncu --set full with source counters of
# its main backward kernel on vit-l14-d64 and llm-d128, and every kernel's duration of two
# fwd+bwd calls of each, beside call 1's profiles of ours.
#   bash bench/experiments/backward_vs_fa4_profile_call2.sh "$OUT"
set -u
out=$1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
bash bench/install_anchors.sh install >"$out/install.log" 2>&1
stamp "install exit $?"
. /tmp/anchors.env
for w in vit-l14-d64 llm-d128; do
  n=fa4_${w//-/_}
  ncu --clock-control none --metrics gpu__time_duration.sum --kernel-name regex:'Flash|flash' --launch-skip 8 --launch-count 8 \
    python3 bench/run_method.py $w fa4 --calls 6 >"$out/${n}_durations.txt" 2>&1
  stamp "durations $w: exit $?"
  ncu --clock-control none --set full --import-source yes --kernel-name regex:FlashAttentionBackwardSm90 \
    --launch-skip 2 --launch-count 1 -f -o "$out/$n" python3 bench/run_method.py $w fa4 --calls 4 >"$out/$n.log" 2>&1
  stamp "ncu $w: exit $?"
  ncu --import "$out/$n.ncu-rep" --page details >"$out/$n.txt"
  ncu --import "$out/$n.ncu-rep" --page raw --csv | gzip >"$out/$n.raw.csv.gz"
  ncu --import "$out/$n.ncu-rep" --page source --print-source sass --csv | gzip >"$out/$n.sass.csv.gz"
  rm -f "$out/$n.ncu-rep"
done
stamp done
# The device tool returns a few files a call: one archive.
(cd "$out" && tar czf all.tgz --exclude=all.tgz . && find . -type f ! -name all.tgz -delete)
