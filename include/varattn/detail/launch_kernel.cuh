#pragma once
//! \file launch_kernel.cuh
//! Every varattn kernel launch goes through here: the launch's own status is checked, so an
//! unrelated earlier error left in CUDA's per-thread "last error" is neither reported as ours
//! nor cleared (as `kernel<<<...>>>` followed by cudaGetLastError() would do).

#include <varattn/error.hpp>

#include <cuda_runtime.h>

#include <cstddef>
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

}  // namespace varattn::detail
