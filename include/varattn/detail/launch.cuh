#pragma once
//! \file launch.cuh
//! The launch policies: every kernel of a plan back to back on one stream, no host wait.

#include <varattn/detail/kernel/fused_kernel.cuh>
#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/per_segment_kernel.cuh>
#include <varattn/error.hpp>
#include <varattn/plan.hpp>

#include <cuda_runtime_api.h>

#include <type_traits>

namespace varattn::detail {

//! Raises a kernel's dynamic shared-memory limit past the default 48 KB. Set on every run
//! (a host-side call: no query, no sync, legal under graph capture) rather than once behind
//! a static: a header-only kernel is registered by every translation unit that launches it,
//! and a process-wide "done" flag configured only one of those registrations (seen: the
//! launch from another unit then failed with "invalid argument").
template <class Kernel>
void allow_shared_memory(Kernel kernel, int bytes) {
  if (bytes > 48 * 1024) {
    VARATTN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  }
}

template <class Element, int HeadDim, int BlockM, bool Causal>
struct launcher {
  using traits = kernel_traits<Element, HeadDim, BlockM>;

  static void per_segment(const plan& p, const forward_params<Element>& params,
                          cudaStream_t stream) {
    const auto kernel = per_segment_kernel<Element, HeadDim, BlockM, Causal>;
    allow_shared_memory(kernel, traits::kSmemBytes);
    for (const segment_launch& s : p.launches()) {
      const dim3 grid(static_cast<unsigned>(s.q_tiles), static_cast<unsigned>(p.shape().heads_q));
      kernel<<<grid, traits::kThreads, traits::kSmemBytes, stream>>>(
          params, segment_bounds{s.q_begin, s.q_length, s.k_begin, s.k_length});
      VARATTN_CHECK_LAUNCH();
    }
  }

  static void fused(const plan& p, const forward_params<Element>& params, cudaStream_t stream) {
    const auto kernel = fused_kernel<Element, HeadDim, BlockM, Causal>;
    allow_shared_memory(kernel, traits::kSmemBytes);
    const device_work work = p.device();
    const long long ctas = static_cast<long long>(work.capacity) * p.shape().heads_q;
    if (ctas == 0) return;
    if (ctas > 0x7fffffffLL) fail("fused launch: ", ctas, " CTAs exceed the grid limit");
    kernel<<<static_cast<unsigned>(ctas), traits::kThreads, traits::kSmemBytes, stream>>>(
        params, work);
    VARATTN_CHECK_LAUNCH();
  }

  static void run(const plan& p, const forward_params<Element>& params, cudaStream_t stream) {
    switch (p.policy()) {
      case launch_policy::per_segment: return per_segment(p, params, stream);
      case launch_policy::fused: return fused(p, params, stream);
      case launch_policy::automatic:  // resolved by plan::make
      case launch_policy::bucketed:   // split into fused buckets by launch()
        break;
    }
    fail("unknown launch policy");
  }
};

//! Runs the instantiation for the plan's tile height and mask; a bucketed plan runs its
//! fused buckets one after the other.
template <class Element, int HeadDim>
void launch(const plan& p, const forward_params<Element>& params, cudaStream_t stream) {
  if (p.policy() == launch_policy::bucketed) {
    for (const plan& bucket : p.buckets()) launch<Element, HeadDim>(bucket, params, stream);
    return;
  }
  const auto with_height = [&](auto block_m) {
    constexpr int kBlockM = decltype(block_m)::value;
    if (p.tile().block_m != kernel_traits<Element, HeadDim, kBlockM>::kBlockM) {
      fail("plan tile height ", p.tile().block_m, " has no kernel for head_dim ", HeadDim);
    }
    if (p.causal()) {
      launcher<Element, HeadDim, kBlockM, true>::run(p, params, stream);
    } else {
      launcher<Element, HeadDim, kBlockM, false>::run(p, params, stream);
    }
  };
  // Head dims over 128 have one tile shape (kernel_tile): instantiate it once.
  if (HeadDim > 128 || p.tile().block_m == 64) {
    with_height(std::integral_constant<int, 64>{});
  } else {
    with_height(std::integral_constant<int, 128>{});
  }
}

}  // namespace varattn::detail
