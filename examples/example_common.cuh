// SPDX-License-Identifier: Apache-2.0
#pragma once
// What both examples need beside varattn: random bf16 data made on the device, and the
// check for a usable GPU.
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/tabulate.h>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace example {

using element = __nv_bfloat16;

//! Uniform in [-1, 1) from a hash of the index: random data made on the device.
struct random_element {
  uint32_t seed;
  __host__ __device__ element operator()(int64_t i) const {
    uint32_t x = static_cast<uint32_t>(i) * 0x9E3779B9u ^ seed;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return __float2bfloat16(static_cast<float>(x) * 0x1p-31f - 1.0f);
  }
};

inline thrust::device_vector<element> random_tensor(std::size_t size, uint32_t seed,
                                                     cudaStream_t stream) {
  thrust::device_vector<element> out(size);
  thrust::tabulate(thrust::cuda::par.on(stream), out.begin(), out.end(), random_element{seed});
  return out;
}

// Any error (no driver, driver too old, no GPU) means there is nothing to run on.
inline bool has_cuda_device() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

}  // namespace example
