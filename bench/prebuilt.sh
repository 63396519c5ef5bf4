#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Binaries built on this machine (no GPU) for a device call, so that the call spends no device
# time compiling: a call's builds took 100-190 s at one head dim on the device's 16 cores
# (bench/results/*_s4[0-3]*), up to half of a call. A binary built here runs there
# (../shared/TOOLCHAIN.md) with its shared libraries beside it.
#
#   here:   bash bench/prebuilt.sh build LABEL HEAD_DIMS "PATCHES" TARGET...
#     Copies the tree as a device call sends it (no build/, no .git), applies PATCHES (paths
#     from the repository root or absolute, space-separated, in order), configures a Release
#     build for sm_90a (VARATTN_PREBUILT_ARCHS, default 90a; 90a-real leaves out the PTX) at
#     HEAD_DIMS (tests on only when a TARGET is a test binary), builds TARGETs
#     (varattn_bench, varattn_gpu_tests) with every core here; then build/pre/LABEL holds each
#     TARGET xz-compressed, lib/ (libcudart, libbenchmark: what the binaries link) and
#     `manifest`: the sources' fingerprint, the dims, the patches. A test binary at one head
#     dim is ~81 MB, ~10 MB compressed: carry build/pre in the call (64 MiB in all).
#   device: dir=$(bash bench/prebuilt.sh use LABEL "PATCHES" [DEST])
#     If build/pre/LABEL's fingerprint is this tree's with PATCHES applied (the same rule as
#     above), unpacks its binaries into DEST (default build/pre/LABEL/bin) where a build
#     folder has them (bench/varattn_bench, tests/varattn_gpu_tests: bench/ab_on_gpu.sh's
#     VARATTN_AB_STAGES=run takes such folders), checks that each starts (its listing, no GPU
#     needed) and prints DEST; run them with LD_LIBRARY_PATH=build/pre/LABEL/lib. Else prints
#     why on stderr and exits 1: build there as before.
# The fingerprint covers what the binaries compile: the C++/CUDA sources and CMake files of
# CMakeLists.txt, cmake/, include/, tests/ and bench/ (not bench/results or bench/experiments),
# by content, so that neither notes written since nor the device copy's git metadata (the
# session's first checkout, bench/NOTES.md forty-first) play a part.
set -u -o pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

fingerprint() {  # DIR: one sha256 over each compiled source's path and content
  (cd "$1" && find CMakeLists.txt cmake include tests bench -type f \
     -not -path 'bench/results/*' -not -path 'bench/experiments/*' \
     \( -name '*.cu' -o -name '*.cuh' -o -name '*.hpp' -o -name '*.h' -o -name '*.cpp' \
        -o -name '*.cmake' -o -name '*.in' -o -name CMakeLists.txt \) \
     -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
}

copy_with_patches() {  # DEST PATCHES: the tree as a call sends it, with PATCHES applied
  local dest=$1 p
  rm -rf "$dest" && mkdir -p "$dest" || return 1
  tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$dest" -xf - || return 1
  for p in $2; do
    [[ $p == /* ]] || p=$root/$p
    (cd "$dest" && git apply "$p") || { echo "prebuilt: $p does not apply" >&2; return 1; }
  done
}

unxz_to() {  # SRC.xz DEST
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2"
  else
    python3 -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}

mode=${1:-}
case $mode in
  build)
    label=${2:?LABEL} dims=${3:?HEAD_DIMS} patches=${4-}
    shift 4 ||
      { echo "usage: prebuilt.sh build LABEL HEAD_DIMS \"PATCHES\" TARGET..." >&2; exit 2; }
    (($# > 0)) || { echo "prebuilt: no TARGET" >&2; exit 2; }
    src=/tmp/varattn_prebuilt_src_$label
    dir=/tmp/varattn_prebuilt_build_$label
    pre=$root/build/pre/$label
    copy_with_patches "$src" "$patches" || exit 1
    tests=OFF
    for target in "$@"; do [[ $target == *test* ]] && tests=ON; done
    # VARATTN_PREBUILT_ARCHS=90a-real: SASS only (no PTX: tests at three head dims in the
    # room two took, 49 MB compressed).
    cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_ARCHITECTURES="${VARATTN_PREBUILT_ARCHS:-90a}" \
      -DVARATTN_HEAD_DIMS="$dims" -DVARATTN_BUILD_TESTS=$tests -DVARATTN_BUILD_EXAMPLES=OFF \
      -DVARATTN_BUILD_BENCHMARKS=ON >"/tmp/varattn_prebuilt_$label.log" 2>&1 &&
      cmake --build "$dir" -j "$(nproc)" --target "$@" >>"/tmp/varattn_prebuilt_$label.log" 2>&1 ||
      { tail -30 "/tmp/varattn_prebuilt_$label.log" >&2; exit 1; }
    rm -rf "$pre" && mkdir -p "$pre/lib" || exit 1
    for target in "$@"; do
      bin=$(find "$dir" -type f -name "$target" -perm -u+x | head -1)
      [[ -n $bin ]] || { echo "prebuilt: no $target under $dir" >&2; exit 1; }
      rel=${bin#"$dir"/}  # its place in a build folder (bench/, tests/)
      mkdir -p "$pre/$(dirname "$rel")" && xz -T0 -6 -c "$bin" >"$pre/$rel.xz" || exit 1
      # The shared libraries it links beyond the C and C++ runtimes (the device has newer ones).
      ldd "$bin" | awk '/libcudart|libbenchmark/ {print $3}' | while read -r lib; do
        cp -L "$lib" "$pre/lib/$(basename "$lib")"
      done
    done
    {
      echo "fingerprint $(fingerprint "$src")"
      echo "dims $dims"
      echo "patches $patches"
      echo "targets $*"
      echo "archs ${VARATTN_PREBUILT_ARCHS:-90a}"
      nvcc_release=$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
      echo "built $(date -u +%Y-%m-%dT%H:%MZ) $(git -C "$root" rev-parse --short HEAD)" \
        "nvcc $nvcc_release g++ $(g++ -dumpfullversion)"
    } >"$pre/manifest"
    du -sh "$pre" | sed "s|$root/||"
    cat "$pre/manifest"
    ;;
  use)
    label=${2:?LABEL} patches=${3-}
    pre=$root/build/pre/$label
    dest=${4:-$pre/bin}
    [[ -f $pre/manifest ]] || { echo "prebuilt: no $pre/manifest" >&2; exit 1; }
    src=/tmp/varattn_prebuilt_check_$label
    copy_with_patches "$src" "$patches" || exit 1
    want=$(awk '$1 == "fingerprint" {print $2}' "$pre/manifest")
    have=$(fingerprint "$src")
    rm -rf "$src"
    [[ $want == "$have" ]] ||
      { echo "prebuilt: $label was built from other sources ($want; this tree $have)" >&2; exit 1; }
    while IFS= read -r -d '' xzfile; do
      rel=${xzfile#"$pre"/}
      out=$dest/${rel%.xz}
      mkdir -p "$(dirname "$out")" && unxz_to "$xzfile" "$out" && chmod +x "$out" ||
        { echo "prebuilt: cannot unpack $xzfile into $dest" >&2; exit 1; }
      # It must start here (its libraries found, its glibc new enough).
      case $(basename "$out") in
        varattn_bench) args=(--varattn_list) ;;
        varattn_gpu_tests) args=(-ltc) ;;
        *) args=(--help) ;;
      esac
      LD_LIBRARY_PATH=$pre/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$out" "${args[@]}" \
        >/dev/null 2>&1 || { echo "prebuilt: $out does not start here" >&2; exit 1; }
    done < <(find "$pre" -path "$pre/bin" -prune -o -name '*.xz' -print0)
    echo "$dest"
    ;;
  *)
    sed -n '3,25p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
