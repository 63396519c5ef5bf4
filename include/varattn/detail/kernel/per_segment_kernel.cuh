#pragma once
//! \file per_segment_kernel.cuh
//! The kernel of the per_segment launch policy: one launch per segment, grid (q tiles,
//! heads); the segment's bounds are kernel arguments.

#include <varattn/detail/kernel/forward_tile.cuh>
#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/params.cuh>

#include <cstdint>

namespace varattn::detail {

template <class Element, int HeadDim, int BlockM, bool Causal>
__global__ void __launch_bounds__(kernel_traits<Element, HeadDim, BlockM>::kThreads,
                                        kernel_traits<Element, HeadDim, BlockM>::kMinBlocks)
    per_segment_kernel(const __grid_constant__ forward_params<Element> params,
                       const segment_bounds seg) {
  extern __shared__ uint4 smem[];  // uint4: 16-byte aligned for cp.async and ldmatrix
  forward_tile<Element, HeadDim, BlockM, Causal>(params, seg, static_cast<int>(blockIdx.x),
                                         static_cast<int>(blockIdx.y),
                                         reinterpret_cast<Element*>(smem));
}

}  // namespace varattn::detail
