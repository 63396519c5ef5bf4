// SPDX-License-Identifier: Apache-2.0
// Fifty-fifth session (host_gap.md): the host time of each CUDA call the op makes on every
// call, with the GPU idle, busy with another kernel, and busy with the very kernel asked about.
// A call that lasts about as long as the spin's remainder (~200 ms) waits on the GPU.
//   nvcc -std=c++17 -arch=sm_90a -O2 bench/experiments/host_wait_api_probe.cu -lcuda -o probe && ./probe
#include <cuda.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#define CHECK(x)                                                                   \
  do {                                                                             \
    auto s_ = (x);                                                                 \
    if (static_cast<int>(s_) != 0) {                                               \
      std::printf("%s failed: %d (line %d)\n", #x, static_cast<int>(s_), __LINE__); \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)

__global__ void spin(long long cycles) {
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
}

// Asks for more than 48 KB of dynamic shared memory, as the op's Hopper kernels do.
__global__ void big_smem(long long cycles, int* sink) {
  extern __shared__ int s[];
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
  if (sink != nullptr) *sink = s[threadIdx.x];
}

template <class F>
double host_us(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

int main() {
  CHECK(cudaFree(nullptr));
  constexpr int kSmem = 160 * 1024;
  const long long cycles = static_cast<long long>(0.2 * 1.98e9);  // ~200 ms at the top clock
  CUfunction big = nullptr;
  CHECK(cudaGetFuncBySymbol(reinterpret_cast<cudaFunction_t*>(&big),
                            reinterpret_cast<const void*>(big_smem)));
  CHECK(cuFuncSetAttribute(big, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, kSmem));
  float* buffer = nullptr;
  CHECK(cudaMalloc(&buffer, 1 << 24));
  CHECK(cudaDeviceSynchronize());
  const char* cases[] = {"GPU idle", "GPU busy (another kernel)", "GPU busy (this kernel)"};
  for (int round = 0; round < 2; ++round) {
    for (int c = 0; c < 3; ++c) {
      if (c == 1) spin<<<1, 1>>>(cycles);
      if (c == 2) big_smem<<<1, 32, kSmem>>>(cycles, nullptr);
      CHECK(cudaGetLastError());
      cudaFunction_t f = nullptr;
      int blocks = 0;
      cudaFuncAttributes attributes{};
      cudaStreamCaptureStatus status{};
      unsigned long long id = 0;
      CUtensorMap map{};
      const cuuint64_t dims[2] = {128, 4096};
      const cuuint64_t strides[1] = {128 * 2};
      const cuuint32_t box[2] = {64, 64};
      const cuuint32_t element_strides[2] = {1, 1};
      const double t_get = host_us([&] {
        CHECK(cudaGetFuncBySymbol(&f, reinterpret_cast<const void*>(big_smem)));
      });
      const double t_set = host_us([&] {
        CHECK(cuFuncSetAttribute(big, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, kSmem));
      });
      const double t_occ = host_us([&] {
        CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, big, 384, kSmem));
      });
      const double t_attr = host_us([&] {
        CHECK(cudaFuncGetAttributes(&attributes, reinterpret_cast<const void*>(big_smem)));
      });
      const double t_capture = host_us([&] { CHECK(cudaStreamGetCaptureInfo(0, &status, &id)); });
      const double t_map = host_us([&] {
        CHECK(cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, buffer, dims,
                                     strides, box, element_strides,
                                     CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                     CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
      });
      const double t_memset = host_us([&] {
        CHECK(cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(buffer), 0, 1 << 20, nullptr));
      });
      const double t_launch = host_us([&] {
        big_smem<<<1, 32, kSmem>>>(0, nullptr);
        CHECK(cudaGetLastError());
      });
      const double t_sync = host_us([&] { CHECK(cudaDeviceSynchronize()); });
      std::printf(
          "round %d, %-26s us: cudaGetFuncBySymbol %.1f, cuFuncSetAttribute %.1f, "
          "cuOccupancyMaxActiveBlocksPerMultiprocessor %.1f, cudaFuncGetAttributes %.1f, "
          "cudaStreamGetCaptureInfo %.1f, cuTensorMapEncodeTiled %.1f, cuMemsetD32Async %.1f, "
          "launch %.1f; then the sync %.1f\n",
          round, cases[c], t_get, t_set, t_occ, t_attr, t_capture, t_map, t_memset, t_launch,
          t_sync);
    }
  }
  CHECK(cudaFree(buffer));
  return 0;
}
