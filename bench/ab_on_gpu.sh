#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A/B of two variants in one device call, interleaved A B A B so that the card's warming over
# a run does not favour either side (bench/NOTES.md, "Reading the benchmark").
#   bash bench/ab_on_gpu.sh OUTDIR B [BENCH_FILTER]
# A is the default build (bench/run_on_gpu.sh's folder, built if missing). B is one of:
#   PATCH.patch / PATCH.diff  a patch applied to a copy of the tree (a temporary folder outside
#                the repository, where git apply works as patch -p1), built into build/ab. The kernels' knobs are constexprs now (the tile shapes, stages and
#                the kernel choice in include/varattn/kernel_config.hpp; the -D macros
#                VARATTN_TALL_WIDE_BLOCK_N, VARATTN_SHORT_MIN_BLOCKS_D64, VARATTN_LAZY_RESCALE
#                and VARATTN_HOPPER* are gone): edit one, `git diff > /tmp/b.patch`, undo the
#                edit, and pass /tmp/b.patch (carried to the GPU machine with the tree).
#   "CUDA FLAGS" B built into build/ab with extra CMAKE_CUDA_FLAGS (e.g. "-lineinfo -G"),
#                for what is still a compiler flag or macro.
#   P1.patch,P2.patch,...  up to four patches, each its own variant (B, C, D, E: build/ab,
#                build/ab_C, ...), runs A1 B1 C1 A2 B2 C2; two patches stacked are one variant:
#                cat P1.patch P2.patch > /tmp/both.patch (git apply takes the concatenation).
#   -            no B build: the kernel families are a run-time choice
#                (attention_options::kernel), and varattn_bench registers
#                fwd/<workload>/fused_sm80/<dtype>, the fused plan forced onto the sm80
#                kernel: A's binary runs twice (A1, A2) with a filter that names both, e.g.
#                bash bench/ab_on_gpu.sh "$OUT" - '^fwd/(long-d128|llm-d128)/(fused|fused_sm80)/bf16'
#                (likewise fwd/<workload>/fused_no_counter/<dtype>: the fused plan without
#                the tile counter, one CTA a tile, and fwd/<workload>/fused_counter/<dtype>:
#                the persistent grid forced, against `fused`, which runs the persistent grid
#                where plan::tile_counter() says so).
# e.g. bash bench/ab_on_gpu.sh "$OUT" /tmp/stages3.patch '^fwd/long-d128/fused/bf16'
# VARATTN_AB_STAGES=build or =run splits the call in two (default both): build every variant
# and stop, or run the builds already there; other GPU work (the tests) can then run while the
# variants build, and never beside the timed runs. VARATTN_AB_DURING_BUILD='command' does that
# in one call: the command (e.g. "build/gpu/tests/varattn_gpu_tests -tc='backward*'", run by
# bash in the repository root) starts once A is built, runs while the other variants build,
# and is waited for before the first timed run; its output goes to OUTDIR/during_build.log.
# A backward change: the same with bwd/ names (varattn::backward alone, timed per call), e.g.
#      bash bench/ab_on_gpu.sh "$OUT" /tmp/bwd.patch '^bwd/(vl-window|llm-d128|long-d128)[^/]*/fused/bf16'
set -u -o pipefail
out=$1 b_spec=$2 filter=${3:-'^fwd/(vl-window|vl-full|llm-d128|tiny|long-d128)[^/]*/fused/bf16'}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
a=${VARATTN_BUILD_DIR:-$root/build/gpu}
b=$root/build/ab
archs=${VARATTN_CUDA_ARCHS:-90a}
# VARATTN_CMAKE_ARGS (bench/run_on_gpu.sh's, e.g. "-DVARATTN_HEAD_DIMS=64;128
# -DVARATTN_BUILD_TESTS=OFF" for a lean A) also configures every variant.
# VARATTN_AB_VARIANT_CMAKE_ARGS configures the variants only (after VARATTN_CMAKE_ARGS): a full
# A, whose GPU tests run during the variants' builds, beside lean variants, e.g.
# "-DVARATTN_HEAD_DIMS=64;80;128;256" (varattn_bench's workloads need only those).
read -r -a cmake_extra <<<"${VARATTN_CMAKE_ARGS:-} ${VARATTN_AB_VARIANT_CMAKE_ARGS:-}"
stages=",${VARATTN_AB_STAGES:-build,run},"
mkdir -p "$out"
labels=(B C D E)  # up to four variants besides A
# B may be several patches, comma-separated (B, C, ...: each built into its own folder; runs
# A1 B1 C1 A2 B2 C2); a compiler flag string is one variant. They are checked before any build
# starts, and an early exit stops the builds in the background: an orphaned ninja could relink
# a binary while a later call times it.
specs=()
if [[ $b_spec != - ]]; then
  IFS=, read -r -a specs <<<"$b_spec"
  [[ $b_spec == *.patch* || $b_spec == *.diff* ]] || specs=("$b_spec")
  ((${#specs[@]} <= ${#labels[@]})) || { echo "at most ${#labels[@]} variants"; exit 2; }
  for spec in "${specs[@]}"; do
    [[ ($spec != *.patch && $spec != *.diff) || -f $spec ]] || { echo "no patch file $spec"; exit 2; }
  done
fi
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
# Every build runs at once: varattn_bench is one translation unit, one single-threaded nvcc
# (~2 min at three head dims), so the variants built one after another left the cores idle.
a_build=
if [[ $stages == *,build,* ]]; then
  VARATTN_STAGES=configure,build bash "$root/bench/run_on_gpu.sh" "$out/a" >/dev/null 2>&1 &
  a_build=$!
fi
variants=()       # "label|build dir"
builds=()         # "label|pid" of the builds running in the background
if [[ $b_spec == - ]]; then
  runs=(A1 A2)
else
  for i in "${!specs[@]}"; do
    spec=${specs[$i]} label=${labels[$i]}
    dir=$b
    ((i > 0)) && dir=$root/build/ab_$label
    src=$root flags=
    if [[ $stages != *,build,* ]]; then
      [[ -x $dir/bench/varattn_bench ]] || { echo "$label: no build in $dir"; exit 1; }
    elif [[ $spec == *.patch || $spec == *.diff ]]; then
      patch_file=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")
      # One fixed copy a label: a second build stage on the same machine re-configures the
      # same source folder (CMake refuses a build folder's source moving to a new one).
      src=${TMPDIR:-/tmp}/varattn_ab_src_$label
      rm -rf "$src" && mkdir -p "$src" || exit 1
      tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf - ||
        { echo "$label: copying the tree to $src failed"; exit 1; }
      (cd "$src" && git apply "$patch_file") >"$out/${label,,}_patch.log" 2>&1 ||
        { echo "$label patch failed: $out/${label,,}_patch.log"; exit 1; }
    else
      flags=$spec
    fi
    if [[ $stages == *,build,* ]]; then
      cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=$archs" \
        "${cmake_extra[@]}" -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF \
        -DVARATTN_BUILD_BENCHMARKS=ON "-DCMAKE_CUDA_FLAGS=$flags" >"$out/${label,,}_configure.log" 2>&1 &&
        ninja -C "$dir" varattn_bench >"$out/${label,,}_build.log" 2>&1 &
      builds+=("$label|$!")
    fi
    variants+=("$label|$dir")
  done
fi
if [[ -n $a_build ]]; then
  wait "$a_build" || { echo "A build failed: $out/a/build.log"; exit 1; }
fi
during_build=
if [[ $stages == *,build,* && -n ${VARATTN_AB_DURING_BUILD:-} ]]; then
  (cd "$root" && bash -c "$VARATTN_AB_DURING_BUILD"; echo "== exit $?") >"$out/during_build.log" 2>&1 &
  during_build=$!
fi
for b_pid in "${builds[@]}"; do
  wait "${b_pid#*|}" || { echo "${b_pid%%|*} build failed: $out/$(tr B-E b-e <<<"${b_pid%%|*}")_build.log"; exit 1; }
done
if [[ $b_spec != - ]]; then
  if [[ $stages != *,run,* ]]; then
    [[ -z $during_build ]] || wait "$during_build"
    exit 0
  fi
  runs=()
  for round in 1 2; do
    runs+=("A$round")
    for v in "${variants[@]}"; do runs+=("${v%%|*}$round"); done
  done
fi
[[ -z $during_build ]] || wait "$during_build"  # never beside a timed run
for run in "${runs[@]}"; do
  dir=$a
  for v in "${variants[@]}"; do [[ $run == "${v%%|*}"? ]] && dir=${v#*|}; done
  echo "== $run"
  # JSON (bench_json_rows.py: three-digit console rounding, a run that dies keeps its rows).
  "$dir/bench/varattn_bench" --benchmark_filter="$filter" --varattn_min_time=0.2 \
    --benchmark_format=json 2>/dev/null >"$out/run.json"
  status=$?
  python3 "$root/bench/bench_json_rows.py" "$out/run.json"
  ((status == 0)) || echo "varattn_bench exit $status (its stderr went to /dev/null: run it by hand)"
done | tee "$out/ab.txt"
