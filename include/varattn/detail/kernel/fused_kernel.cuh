#pragma once
//! \file fused_kernel.cuh
//! The kernel of the fused launch policy: one launch for every work item of every segment.
//! CTA x runs head x / capacity on work item x % capacity: the CTAs in flight together work
//! on one or two heads, whose k and v then stay in L2 (head-minor order streamed every
//! head's k and v at once: long-d128 ran 13% slower). Each head runs the list longest
//! first, so the grid ends on short items.

#include <varattn/detail/kernel/forward_tile.cuh>
#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/plan.hpp>

#include <cstdint>

namespace varattn::detail {

template <class Element, int HeadDim, int BlockM, bool Causal>
__global__ void __launch_bounds__(kernel_traits<Element, HeadDim, BlockM>::kThreads,
                                        kernel_traits<Element, HeadDim, BlockM>::kMinBlocks)
    fused_kernel(const __grid_constant__ forward_params<Element> params,
                 const __grid_constant__ device_work work) {
  const int32_t head = static_cast<int32_t>(blockIdx.x / work.capacity);
  const int32_t item_index = static_cast<int32_t>(blockIdx.x % work.capacity);
  if (item_index >= *work.count) return;  // device-built plans launch an upper bound
  const work_item item = work.items[item_index];
  const int32_t q_begin = work.cu_q[item.segment];
  const int32_t k_begin = work.cu_k[item.segment];
  const segment_bounds seg{q_begin, work.cu_q[item.segment + 1] - q_begin, k_begin,
                           work.cu_k[item.segment + 1] - k_begin};
  extern __shared__ uint4 smem[];  // uint4: 16-byte aligned for cp.async and ldmatrix
  forward_tile<Element, HeadDim, BlockM, Causal>(params, seg, item.q_tile, head,
                                         reinterpret_cast<Element*>(smem));
}

}  // namespace varattn::detail
