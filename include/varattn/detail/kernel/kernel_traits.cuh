#pragma once
//! \file kernel_traits.cuh
//! Compile-time shape of the sm80 forward kernel for one (Element, HeadDim).

#include <varattn/tile_shape.hpp>

#include <cstdint>

namespace varattn::detail {

template <class Element, int HeadDim>
struct kernel_traits {
  static_assert(HeadDim % 16 == 0, "head_dim must be a multiple of 16 (the mma k-step)");
  static constexpr tile_shape kTile = tile_shape_for(HeadDim);
  static constexpr int kBlockM = kTile.block_m;
  static constexpr int kBlockN = kTile.block_n;
  static constexpr int kWarps = kTile.warps;
  static constexpr int kThreads = kWarps * 32;
  static_assert(kBlockM == 16 * kWarps, "each warp owns 16 query rows");
  static_assert(kBlockN % 16 == 0, "keys are consumed 16 at a time by the PV product");

  //! Shared-memory rows are padded by 16 bytes: consecutive rows then start in different
  //! 16-byte bank groups, so ldmatrix's 8 row reads and cp.async's writes never conflict.
  static constexpr int kStride = HeadDim + 8;
  static constexpr int kChunks = HeadDim / 8;  //!< 16-byte vectors per row
  static constexpr int kSmemBytes =
      (kBlockM + 2 * kBlockN) * kStride * static_cast<int>(sizeof(Element));

  static constexpr int kKSteps = HeadDim / 16;  //!< k-steps of S = Q K^T
  static constexpr int kScoreTiles = kBlockN / 8;  //!< n8 tiles of S per warp
  static constexpr int kOutTiles = HeadDim / 8;    //!< n8 tiles of O per warp
};

}  // namespace varattn::detail
