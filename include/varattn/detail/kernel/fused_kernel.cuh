#pragma once
//! \file fused_kernel.cuh
//! The kernel of the fused launch policy: one launch for every work item of every segment.
//! CTA x runs work item x / heads for head x % heads, so consecutive CTAs share a tile's
//! k and v in L2 and the list's longest-first order holds across heads.

#include <varattn/detail/kernel/forward_tile.cuh>
#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/plan.hpp>

#include <cstdint>

namespace varattn::detail {

template <class Element, int HeadDim, bool Causal>
__global__ void __launch_bounds__(kernel_traits<Element, HeadDim>::kThreads)
    fused_kernel(const __grid_constant__ forward_params<Element> params,
                 const __grid_constant__ device_work work, const int32_t heads) {
  const int32_t item_index = static_cast<int32_t>(blockIdx.x / heads);
  const int32_t head = static_cast<int32_t>(blockIdx.x % heads);
  if (item_index >= *work.count) return;  // device-built plans launch an upper bound
  const work_item item = work.items[item_index];
  const int32_t q_begin = work.cu_q[item.segment];
  const int32_t k_begin = work.cu_k[item.segment];
  const segment_bounds seg{q_begin, work.cu_q[item.segment + 1] - q_begin, k_begin,
                           work.cu_k[item.segment + 1] - k_begin};
  extern __shared__ uint4 smem[];  // uint4: 16-byte aligned for cp.async and ldmatrix
  forward_tile<Element, HeadDim, Causal>(params, seg, item.q_tile, head,
                                         reinterpret_cast<Element*>(smem));
}

}  // namespace varattn::detail
