// SPDX-License-Identifier: Apache-2.0
// GPU tests: exit code 77 (ctest: "Skipped") when no CUDA device is usable, so the same
// command runs them on a GPU machine and reports them skipped elsewhere.
#define DOCTEST_CONFIG_IMPLEMENT
#include <cuda_runtime_api.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

namespace {
bool listing_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-l", 2) == 0 || std::strncmp(argv[i], "--list", 6) == 0 ||
        std::strncmp(argv[i], "-h", 2) == 0 || std::strncmp(argv[i], "--help", 6) == 0) {
      return true;
    }
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  if (!listing_only(argc, argv)) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
      std::printf("no CUDA device found (%s): skipping the GPU tests\n",
                  status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
      return 77;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      std::printf("GPU tests on %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    }
  }
  doctest::Context context(argc, argv);
  return context.run();
}
