#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs the two consumer projects against this checkout, outside the library's
# own CMake: FetchContent (add_subdirectory path) and find_package after cmake --install.
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

echo "== consumers: OK"
