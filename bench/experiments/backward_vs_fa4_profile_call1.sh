#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thirty-second session, call 1 of 2 (carry build/anchors/big): why d64 deferred dQ lost (+3%
# on vit, NOTES thirty-first 2) and what bounds the dK/dV kernels, before any change:
#   - the anchors' unpack in the background (call 2 installs them and profiles FA4's backward);
#   - varattn_bench at head dims 64;128 with -lineinfo, from HEAD (build/p) and from HEAD +
#     hopper_backward_cross_step.patch (/tmp/xs), and the GPU tests at 64;128;256 (build/t);
#   - the tests `-tc=backward*` (the new sanitizer-sized multi-step causal case among them),
#     racecheck and memcheck of that case;
#   - ncu --set full with source counters of dkdv_kernel: vit-l14-d64 (HEAD and cross-step),
#     llm-d128 (HEAD); the details page, the raw page and the SASS source page of each.
#   bash bench/experiments/backward_vs_fa4_profile_call1.sh "$OUT"
set -u
out=$1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
bash bench/install_anchors.sh unpack
rm -rf /tmp/xs && mkdir -p /tmp/xs && tar --exclude=./build -cf - . | tar -xf - -C /tmp/xs
(cd /tmp/xs && git apply bench/experiments/hopper_backward_cross_step.patch) || { echo "patch failed"; exit 1; }
bench_cfg=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a "-DVARATTN_HEAD_DIMS=64;128"
  -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_FLAGS=-lineinfo)
(cmake -S . -B build/p "${bench_cfg[@]}" && ninja -C build/p varattn_bench) >"$out/build_p.log" 2>&1 &
(cmake -S /tmp/xs -B /tmp/xs/build/p "${bench_cfg[@]}" && ninja -C /tmp/xs/build/p varattn_bench) >"$out/build_xs.log" 2>&1 &
(cmake -S . -B build/t -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
   "-DVARATTN_HEAD_DIMS=64;128;256" -DVARATTN_BUILD_BENCHMARKS=OFF -DVARATTN_BUILD_EXAMPLES=OFF &&
   ninja -C build/t varattn_gpu_tests) >"$out/build_t.log" 2>&1
stamp "tests build exit $?"
# (no comma in a doctest filter: it separates filters)
case='backward: causal tiles over several query steps*'
build/t/tests/varattn_gpu_tests -tc='backward*' >"$out/tests.log" 2>&1
stamp "tests exit $? ($(grep -h 'test cases' "$out/tests.log"))"
wait
stamp "bench builds: $(tail -1 "$out/build_p.log" | cut -c1-60) / $(tail -1 "$out/build_xs.log" | cut -c1-60)"
timeout 130 compute-sanitizer --tool racecheck --error-exitcode 9 build/t/tests/varattn_gpu_tests -tc="$case" >"$out/racecheck.log" 2>&1
stamp "racecheck exit $? ($(grep -h 'RACECHECK SUMMARY\|hazard\|test cases' "$out/racecheck.log" | tail -2 | tr '\n' ' '))"
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 build/t/tests/varattn_gpu_tests -tc="$case" >"$out/memcheck.log" 2>&1
stamp "memcheck exit $? ($(grep -h 'ERROR SUMMARY\|test cases' "$out/memcheck.log" | tail -2 | tr '\n' ' '))"
profile() {  # name build filter
  ncu --clock-control none --set full --import-source yes --kernel-name regex:dkdv_kernel --launch-skip 3 \
    --launch-count 1 -f -o "$out/$1" "$2/bench/varattn_bench" --benchmark_filter="$3" --varattn_min_time=0.01 \
    >"$out/$1.log" 2>&1
  ncu --import "$out/$1.ncu-rep" --page details >"$out/$1.txt"
  ncu --import "$out/$1.ncu-rep" --page raw --csv | gzip >"$out/$1.raw.csv.gz"
  ncu --import "$out/$1.ncu-rep" --page source --print-source sass --csv | gzip >"$out/$1.sass.csv.gz"
  rm -f "$out/$1.ncu-rep"
  stamp "ncu $1: $(grep -m1 -h 'Duration' "$out/$1.txt" | tr -s ' ')"
}
profile vit_head build/p '^bwd/vit-l14-d64/fused/bf16'
profile vit_xs /tmp/xs/build/p '^bwd/vit-l14-d64/fused/bf16'
profile llm_d128_head build/p '^bwd/llm-d128/fused/bf16'
for r in 1 2; do for b in build/p /tmp/xs/build/p; do
  $b/bench/varattn_bench --benchmark_filter='^bwd/(vit-l14-d64|llm-d64-mqa-causal)/fused/bf16' 2>/dev/null |
    awk -v tag="$b.$r" '/^bwd/ {printf "%s %s %s\n", tag, $1, $2}'
done; done | tee "$out/rounds.txt"
stamp done
# The device tool returns a few files a call: one archive.
(cd "$out" && tar czf all.tgz --exclude=all.tgz . && find . -type f ! -name all.tgz -delete)
