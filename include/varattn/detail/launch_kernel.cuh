// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file launch_kernel.cuh
//! Every varattn kernel launch goes through here: the launch's own status is checked, so an
//! unrelated earlier error left in CUDA's per-thread "last error" is neither reported as ours
//! nor cleared (as `kernel<<<...>>>` followed by cudaGetLastError() would do). The same holds
//! for raising a kernel's shared-memory limit.

#include <varattn/detail/driver_function.hpp>
#include <varattn/error.hpp>

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace varattn::detail {

template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem_bytes,
                   cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem_bytes;
  config.stream = stream;
  const cudaError_t status = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // our failure is reported here, not left for the next check
    check_cuda(status, "kernel launch", __FILE__, __LINE__);
  }
}

//! An attribute of the current device: a host-side read, no stream work, legal under graph
//! capture.
inline int current_device_attribute(cudaDeviceAttr attribute) {
  int device = 0;
  int value = 0;
  VARATTN_CUDA_CHECK(cudaGetDevice(&device));
  VARATTN_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}

//! The current device's SM count (a persistent grid's size).
inline int multiprocessors() { return current_device_attribute(cudaDevAttrMultiProcessorCount); }

//! The current device's L2 size in bytes (the backward's item-major rule, list_order.hpp).
inline int64_t l2_bytes() { return current_device_attribute(cudaDevAttrL2CacheSize); }

//! CTAs of `kernel` an SM holds at once with `threads` threads and `smem_bytes` of dynamic
//! shared memory (at least 1), after allow_shared_memory. Through the driver, as
//! allow_shared_memory below, so that no runtime call can touch a caller's pending last error;
//! asked on every call (host-side, no sync, legal under graph capture) rather than cached:
//! the answer is the current device's, and each translation unit registers its own copy of a
//! header-only kernel (allow_shared_memory).
template <class... Params>
int resident_ctas(void (*kernel)(Params...), int threads, int smem_bytes) {
  using occupancy_fn = CUresult (*)(int*, CUfunction, int, size_t);
  static const auto occupancy =
      driver_function<occupancy_fn>("cuOccupancyMaxActiveBlocksPerMultiprocessor");
  cudaFunction_t function = nullptr;
  VARATTN_CUDA_CHECK(cudaGetFuncBySymbol(&function, reinterpret_cast<const void*>(kernel)));
  int blocks = 0;
  const CUresult status = occupancy(&blocks, function, threads, static_cast<size_t>(smem_bytes));
  check_driver(status, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
  return blocks > 0 ? blocks : 1;
}

//! Raises a kernel's dynamic shared-memory limit past the default 48 KB. Through the
//! driver's cuFuncSetAttribute, because the runtime's cudaFuncSetAttribute resets the
//! last-error slot when it succeeds (CUDA 13.0, H200, 2026-11-30), which would clear a
//! caller's pending error. Set on every run (host-side, no sync, legal under graph capture)
//! rather than once behind a flag: a header-only kernel is registered by every translation
//! unit that launches it, and a process-wide "done" flag configured only one of those
//! registrations (seen: the launch from another unit then failed with "invalid argument").
template <class... Params>
void allow_shared_memory(void (*kernel)(Params...), int bytes) {
  if (bytes <= 48 * 1024) return;
  using set_attribute_fn = CUresult (*)(CUfunction, CUfunction_attribute, int);
  static const auto set_attribute = driver_function<set_attribute_fn>("cuFuncSetAttribute");
  cudaFunction_t function = nullptr;
  VARATTN_CUDA_CHECK(cudaGetFuncBySymbol(&function, reinterpret_cast<const void*>(kernel)));
  check_driver(set_attribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
               "cuFuncSetAttribute", " (max dynamic shared memory = ", bytes, " bytes)");
}

//! Zeros `count` floats at `data` on `stream` (a memset node under graph capture). Through
//! the driver's cuMemsetD32Async, as allow_shared_memory's attribute, so that no runtime call
//! can touch a caller's pending last error; checked.
inline void zero_floats_async(float* data, std::size_t count, cudaStream_t stream) {
  if (count == 0) return;
  using memset_fn = CUresult (*)(CUdeviceptr, unsigned int, size_t, CUstream);
  static const auto memset_d32 = driver_function<memset_fn>("cuMemsetD32Async");
  check_driver(
      memset_d32(reinterpret_cast<CUdeviceptr>(data), 0u, count, static_cast<CUstream>(stream)),
      "cuMemsetD32Async", " (", count, " floats)");
}

}  // namespace varattn::detail
