// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file launch.cuh
//! The launch policies: every kernel of a plan back to back on one stream, no host wait.
//! Tall tiles of head dims 64 to 128 run the Hopper kernel where the build and the device have it,
//! everything else the sm80 kernel.

#include <varattn/detail/kernel/forward_kernel.cuh>
#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/launch_kernel.cuh>
#include <varattn/detail/sm90/forward_kernel.cuh>
#include <varattn/error.hpp>
#include <varattn/plan.hpp>

#include <cuda_runtime_api.h>

#include <type_traits>

// Tuning knob for experiments (bench/NOTES.md): 0 keeps tall tiles on the sm80
// kernel even on Hopper.
#ifndef VARATTN_HOPPER
#define VARATTN_HOPPER 1
#endif

namespace varattn::detail {

//! Launches a kernel family (sm80_program, sm90::hopper_program) under the plan's policy:
//! per_segment, one launch a segment; fused, one launch over the work list.
template <class Program, class Element>
void run_program(const plan& p, const forward_params<Element>& params, cudaStream_t stream) {
  switch (p.policy()) {
    case launch_policy::per_segment: {
      const auto kernel = Program::template kernel<segment_work>;
      allow_shared_memory(kernel, Program::kSmemBytes);
      for (const segment_launch& s : p.launches()) {
        const dim3 grid(static_cast<unsigned>(s.q_tiles), static_cast<unsigned>(p.shape().heads_q));
        launch_kernel(kernel, grid, dim3(Program::kThreads), Program::kSmemBytes, stream, params,
                      segment_work{{s.q_begin, s.q_length, s.k_begin, s.k_length}});
      }
      return;
    }
    case launch_policy::fused: {
      const auto kernel = Program::template kernel<listed_work>;
      allow_shared_memory(kernel, Program::kSmemBytes);
      const device_work work = p.device();
      // The plan checked that this fits gridDim.x.
      const long long ctas = static_cast<long long>(work.capacity) * p.shape().heads_q;
      if (ctas == 0) return;
      launch_kernel(kernel, dim3(static_cast<unsigned>(ctas)), dim3(Program::kThreads),
                    Program::kSmemBytes, stream, params, listed_work{work});
      return;
    }
    case launch_policy::automatic:  // resolved by plan::make
    case launch_policy::bucketed:   // split into fused buckets by launch()
      break;
  }
  fail("unknown launch policy");
}

//! Runs the kernel for the plan's tile height and mask; a bucketed plan runs its fused
//! buckets one after the other.
template <class Element, int HeadDim>
void launch(const plan& p, const forward_params<Element>& params, cudaStream_t stream) {
  if (p.policy() == launch_policy::bucketed) {
    for (const plan& bucket : p.buckets()) launch<Element, HeadDim>(bucket, params, stream);
    return;
  }
  const auto with_mask = [&](auto causal) {
    constexpr bool kCausal = decltype(causal)::value;
    const auto with_height = [&](auto block_m) {
      constexpr int kBlockM = decltype(block_m)::value;
      if (p.tile().block_m != kernel_traits<Element, HeadDim, kBlockM>::kBlockM) {
        fail("plan tile height ", p.tile().block_m, " has no kernel for head_dim ", HeadDim);
      }
      if constexpr (VARATTN_HOPPER && kBlockM == 128 && sm90::has_hopper_kernel(HeadDim)) {
        using hopper = sm90::hopper_program<Element, HeadDim, kCausal>;
        static_assert(hopper::traits::kBlockM == kBlockM, "the work list's tiles are the kernel's");
        if (hopper::compiled_in()) return run_program<hopper>(p, params, stream);
      }
      run_program<sm80_program<Element, HeadDim, kBlockM, kCausal>>(p, params, stream);
    };
    // Head dims over 128 have one tile shape (kernel_tile): instantiate it once.
    if (HeadDim > 128 || p.tile().block_m == 64) {
      with_height(std::integral_constant<int, 64>{});
    } else {
      with_height(std::integral_constant<int, 128>{});
    }
  };
  if (p.causal()) {
    with_mask(std::true_type{});
  } else {
    with_mask(std::false_type{});
  }
}

}  // namespace varattn::detail
