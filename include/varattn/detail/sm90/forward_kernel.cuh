// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_kernel.cuh
//! The Hopper forward kernel (sm_90a wgmma) for tall tiles, a persistent grid under the fused
//! policy when the forward has a tile counter (forward_scratch), and how the host learns
//! whether the binary loaded for the current device carries it.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/sm90/compiled_in.hpp>
#include <varattn/detail/sm90/forward_tile.cuh>
#include <varattn/detail/sm90/tile_schedule.cuh>
#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <tuple>

namespace varattn::detail::sm90 {

//! Packed: a tile holds kernel_config::pack query heads of one kv head (GQA), a kernel of its
//! own so that the unpacked one keeps its code.
template <class Element, int HeadDim, bool LongSegments, class Modifier, bool Packed>
__global__ void __launch_bounds__(hopper_traits<Element, HeadDim, LongSegments>::kThreads, 1)
    forward_kernel(const __grid_constant__ forward_params<Element> params,
                   const __grid_constant__ work_source work,
                   const __grid_constant__ forward_maps maps) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // Static shared memory only in the sm_90a body: require_compiled_in() reads its size.
  using traits = hopper_traits<Element, HeadDim, LongSegments>;
  __shared__ pipeline_barriers<traits::kStages> barriers;
  extern __shared__ uint4 smem[];
  // The swizzle repeats every 1024 bytes and the descriptors assume tiles on that period.
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  unsigned char* aligned = reinterpret_cast<unsigned char*>(smem) + ((1024 - base % 1024) % 1024);
  if (!work.per_segment() && work.rejected()) {  // the device rejected the offsets
    work.fill_rejected(params);
    return;
  }
  __shared__ tile_id published[2];  // the producer's tiles for the consumers (forward_tiles)
  forward_tiles<traits, Modifier, Packed>(params, maps,
                                          tile_schedule(work, params.heads_q, params.group_size,
                                                        !params.mask.bounded()),
                                          aligned, barriers, published);
#else
  (void)params, (void)work, (void)maps;
#endif
}

//! The launch shape of the Hopper kernel, as launch.cuh's run_program reads it.
template <class Element, int HeadDim, bool LongSegments, class Modifier, bool Packed = false>
struct program {
  using traits = hopper_traits<Element, HeadDim, LongSegments>;
  static_assert(!Packed || sm90_tile_packs(HeadDim, traits::kConfig),
                "the long-segment tile never packs (kernel_config.hpp, sm90_tile_packs)");
  static constexpr kernel_config kConfig = traits::kConfig;
  static constexpr int kThreads = traits::kThreads;
  static constexpr int kSmemBytes = traits::kSmemBytes;
  static constexpr auto kernel = forward_kernel<Element, HeadDim, LongSegments, Modifier, Packed>;
  //! A fused launch with a tile counter: at most one CTA an SM (tile_schedule.cuh).
  static constexpr bool kPersistent = true;
  static constexpr bool kGridStride = false;  //!< its own schedule (tile_schedule.cuh)

  //! The kernel's parameters after the work source: the tensor maps of q, k and v, encoded
  //! for this run (host-side, no sync; a CUDA graph keeps them by value). q's boxes hold
  //! `pack` heads (the plan's kernel_config::pack).
  static std::tuple<forward_maps> arguments(const forward_params<Element>& p, int32_t pack) {
    static_assert(traits::q_tile::kRowBytes == traits::k_tile::kRowBytes, "one map layout");
    return {make_forward_maps<traits::v_tile::kRowBytes, traits::q_tile::kRowBytes>(
        p, traits::kBlockM, traits::kBlockN, traits::kBlockN, pack)};
  }

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
