#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs the two consumer projects against this checkout, outside the library's
# own CMake: FetchContent (add_subdirectory path), find_package after cmake --install, and
# plain compiler calls (the head dims from -D or a config.hpp, as the Python build writes it).
# Without a GPU the binaries print "no CUDA device found" and exit 0.
#
#   tests/consumer/run.sh [WORKDIR]     (default: a fresh temporary directory)
#
# CMAKE_CUDA_ARCHITECTURES (environment) picks the architectures; default 80.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
work="${1:-$(mktemp -d)}"
archs="${CMAKE_CUDA_ARCHITECTURES:-80}"
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

echo "== consumer: FetchContent (${work}/fetchcontent)"
cmake -S "${here}/fetchcontent" -B "${work}/fetchcontent" "${generator[@]}" \
  -DCMAKE_CUDA_ARCHITECTURES="${archs}" -DVARATTN_SOURCE_DIR="${repo}"
cmake --build "${work}/fetchcontent"
"${work}/fetchcontent/consumer"

echo "== consumer: find_package after cmake --install (${work}/prefix)"
cmake -S "${repo}" -B "${work}/library" "${generator[@]}" \
  -DVARATTN_BUILD_TESTS=OFF -DVARATTN_BUILD_EXAMPLES=OFF -DVARATTN_BUILD_BENCHMARKS=OFF \
  -DVARATTN_INSTALL=ON -DVARATTN_HEAD_DIMS="64;128" -DCMAKE_INSTALL_PREFIX="${work}/prefix"
cmake --build "${work}/library"
cmake --install "${work}/library"
cmake -S "${here}/find_package" -B "${work}/find_package" "${generator[@]}" \
  -DCMAKE_CUDA_ARCHITECTURES="${archs}" -DCMAKE_PREFIX_PATH="${work}/prefix"
cmake --build "${work}/find_package"
"${work}/find_package/consumer_host"
"${work}/find_package/consumer"

echo "== consumer: no build system (${work}/plain)"
mkdir -p "${work}/plain/config/varattn"
printf '#pragma once\n#define VARATTN_HEAD_DIMS 64, 128\n' >"${work}/plain/config/varattn/config.hpp"
nvcc -std=c++17 -I "${repo}/include" '-DVARATTN_HEAD_DIMS=64\,128' -c "${here}/plain/head_dims.cu" \
  -o "${work}/plain/nvcc_flag.o"
g++ -std=c++17 -I "${repo}/include" -DVARATTN_HEAD_DIMS=64,128 -x c++ -c "${here}/plain/head_dims.cu" \
  -o "${work}/plain/gxx_flag.o"
nvcc -std=c++17 -I "${work}/plain/config" -I "${repo}/include" -c "${here}/plain/head_dims.cu" \
  -o "${work}/plain/nvcc_config.o"

echo "== consumers: OK"
