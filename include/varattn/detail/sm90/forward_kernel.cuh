// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_kernel.cuh
//! The Hopper forward kernel (sm_90a wgmma) for tall tiles, and how the host learns whether
//! the binary loaded for the current device carries it.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/sm90/compiled_in.hpp>
#include <varattn/detail/sm90/forward_tile.cuh>
#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>

namespace varattn::detail::sm90 {

template <class Element, int HeadDim, class Modifier>
__global__ void __launch_bounds__(hopper_traits<Element, HeadDim>::kThreads, 1)
    forward_kernel(const __grid_constant__ forward_params<Element> params,
                   const __grid_constant__ work_source work) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // Static shared memory only in the sm_90a body: require_compiled_in() reads its size.
  __shared__ pipeline_barriers<hopper_traits<Element, HeadDim>::kStages> barriers;
  segment_bounds seg;
  int q_tile, head;
  if (!work.initial(params, seg, q_tile, head)) return;
  extern __shared__ uint4 smem[];
  // The swizzle repeats every 1024 bytes and the descriptors assume tiles on that period.
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  unsigned char* aligned = reinterpret_cast<unsigned char*>(smem) + ((1024 - base % 1024) % 1024);
  forward_tile<Element, HeadDim, Modifier>(params, seg, q_tile, head, aligned, barriers);
#else
  (void)params, (void)work;
#endif
}

//! The launch shape of the Hopper kernel, as launch.cuh's run_program reads it.
template <class Element, int HeadDim, class Modifier>
struct program {
  using traits = hopper_traits<Element, HeadDim>;
  static constexpr kernel_config kConfig = traits::kConfig;
  static constexpr int kThreads = traits::kThreads;
  static constexpr int kSmemBytes = traits::kSmemBytes;
  static constexpr auto kernel = forward_kernel<Element, HeadDim, Modifier>;

  //! Throws unless the binary loaded for the current device holds the sm_90a body
  //! (compiled_in.hpp).
  static void require_compiled_in() {
    require_sm90_body<kernel>(
        "the plan selected the sm90 kernel, but the binary loaded for the current device has no "
        "sm_90a code for it (compile for sm_90a, e.g. CMAKE_CUDA_ARCHITECTURES \"80;90a\", run "
        "on the Hopper device the plan was made for, or make the plan with "
        "attention_options::kernel = kernel_family::sm80)");
  }
};

}  // namespace varattn::detail::sm90
