#pragma once
//! \file launch_per_segment.cuh
//! The per_segment launch policy: every segment's kernel back to back on one stream.

#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/per_segment_kernel.cuh>
#include <varattn/error.hpp>
#include <varattn/plan.hpp>

#include <cuda_runtime_api.h>

namespace varattn::detail {

template <class Element, int HeadDim, bool Causal>
void launch_per_segment(const plan& p, const forward_params<Element>& params,
                        cudaStream_t stream) {
  using T = kernel_traits<Element, HeadDim>;
  const auto kernel = per_segment_kernel<Element, HeadDim, Causal>;
  // Raise the dynamic shared-memory limit once per instantiation and process, so that later
  // runs configure nothing.
  static const bool configured = [&] {
    VARATTN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            T::kSmemBytes));
    return true;
  }();
  (void)configured;
  for (const segment_launch& s : p.launches()) {
    const dim3 grid(static_cast<unsigned>(s.q_tiles), static_cast<unsigned>(p.shape().heads_q));
    kernel<<<grid, T::kThreads, T::kSmemBytes, stream>>>(
        params, segment_bounds{s.q_begin, s.q_length, s.k_begin, s.k_length});
    VARATTN_CHECK_LAUNCH();
  }
}

}  // namespace varattn::detail
