// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_kernel.cuh
//! The sm80 forward kernel (mma.sync; runs on sm_80 and later), in three tile shapes (decode,
//! short, tall): one CTA a tile, or, for a device-built list, CTAs striding over its ranks.

#include <varattn/detail/arch_guard.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/sm80/forward_tile.cuh>
#include <varattn/detail/sm80/kernel_traits.cuh>

#include <cstdint>
#include <tuple>

namespace varattn::detail::sm80 {

template <class Element, int HeadDim, int BlockM, class Modifier>
__global__ void __launch_bounds__(kernel_traits<Element, HeadDim, BlockM>::kThreads,
                                  kernel_traits<Element, HeadDim, BlockM>::kMinBlocks)
    forward_kernel(const __grid_constant__ forward_params<Element> params,
                   const __grid_constant__ work_source work) {
  using traits = kernel_traits<Element, HeadDim, BlockM>;
  extern __shared__ uint4 smem[];  // uint4: 16-byte aligned for cp.async and ldmatrix
  auto* tile_smem = reinterpret_cast<Element*>(smem);
  segment_bounds seg;
  int q_tile, head;
  segment_group group;
  if (!traits::kGridStride || work.strided_groups == 0) {
    // One CTA a rank, as the block scheduler hands them out: no loop state lives across the
    // tile (one call site for both paths spilled more and cost host-built lists 4-13%).
    if (!work.initial(params, seg, q_tile, head, group)) return;
    forward_tile<Element, HeadDim, BlockM, Modifier>(params, seg, q_tile, head, work.pack, group,
                                                     tile_smem);
    return;
  }
  if constexpr (traits::kGridStride) {
    for (uint32_t rank = blockIdx.x; work.at_rank(params, rank, seg, q_tile, head, group);
         rank += gridDim.x) {
      forward_tile<Element, HeadDim, BlockM, Modifier>(params, seg, q_tile, head, work.pack,
                                                       group, tile_smem);
      // The epilogue staged this tile's o in its Q rows, where the next tile's Q copies land.
      __syncthreads();
    }
  }
}

//! The launch shape of the sm80 kernel, as launch.cuh's run_program reads it.
template <class Element, int HeadDim, int BlockM, class Modifier>
struct program {
  using traits = kernel_traits<Element, HeadDim, BlockM>;
  static constexpr kernel_config kConfig = traits::kConfig;
  static constexpr int kThreads = traits::kThreads;
  static constexpr int kSmemBytes = traits::kSmemBytes;
  static constexpr auto kernel = forward_kernel<Element, HeadDim, BlockM, Modifier>;
  static void require_compiled_in() {}  // every build has sm_80 code or PTX for it
  static constexpr bool kPersistent = false;  //!< no tile counter
  //! A device-built list launches one pass of resident CTAs, each striding over the ranks
  //! (work_source::at_rank), rather than its capacity (kernel_traits: the short tile only).
  static constexpr bool kGridStride = traits::kGridStride;
  //! No kernel parameters after the work source.
  static std::tuple<> arguments(const forward_params<Element>&, int32_t /*pack*/) { return {}; }
};

}  // namespace varattn::detail::sm80
