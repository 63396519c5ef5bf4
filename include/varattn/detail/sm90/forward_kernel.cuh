// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_kernel.cuh
//! The Hopper forward kernel (sm_90a wgmma) for tall tiles, and how the host learns whether
//! this build carries it for the current device.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/sm90/forward_tile.cuh>
#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>

namespace varattn::detail::sm90 {

//! Head dims with a Hopper kernel: those whose O accumulator fits the consumer's registers
//! next to S and P (128: 64 + 64 fp32 and 32 packed a thread); 256 stays on the sm80 kernel.
constexpr bool has_hopper_kernel(int head_dim) {
  return head_dim == 64 || head_dim == 80 || head_dim == 96 || head_dim == 128;
}

template <class Element, int HeadDim, bool Causal, class Work>
__global__ void __launch_bounds__(hopper_traits<Element, HeadDim>::kThreads, 1)
    forward_kernel(const __grid_constant__ forward_params<Element> params,
                   const __grid_constant__ Work work) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // Static shared memory only in the sm_90a body: compiled_in() reads its size.
  __shared__ pipeline_barriers<hopper_traits<Element, HeadDim>::kStages> barriers;
  segment_bounds seg;
  int q_tile, head;
  if (!work.resolve(params, seg, q_tile, head)) return;
  extern __shared__ uint4 smem[];
  // The swizzle repeats every 1024 bytes and the descriptors assume tiles on that period.
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  unsigned char* aligned = reinterpret_cast<unsigned char*>(smem) + ((1024 - base % 1024) % 1024);
  forward_tile<Element, HeadDim, Causal>(params, seg, q_tile, head, aligned, barriers);
#else
  (void)params, (void)work;
#endif
}

//! The launch shape of the Hopper kernel, as launch.cuh's run_program reads it.
template <class Element, int HeadDim, bool Causal>
struct hopper_program {
  using traits = hopper_traits<Element, HeadDim>;
  static constexpr int kThreads = traits::kThreads;
  static constexpr int kSmemBytes = traits::kSmemBytes;
  template <class Work>
  static constexpr auto kernel = forward_kernel<Element, HeadDim, Causal, Work>;

  //! True when the binary loaded for the current device holds the sm_90a body: a build
  //! without sm_90a code (or a non-Hopper device) has an empty kernel with no static shared
  //! memory. A host-side query: no stream work, legal under graph capture.
  static bool compiled_in() {
    cudaFuncAttributes attributes{};
    VARATTN_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel<listed_work>));
    return attributes.sharedSizeBytes > 0;
  }
};

}  // namespace varattn::detail::sm90
