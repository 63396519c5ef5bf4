// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file kernel_traits.cuh
//! Compile-time shape of the sm80 forward kernel for one (Element, HeadDim, BlockM), from the
//! same constexpr tile choice the plan made (kernel_config.hpp). BlockM is the kernel's rows:
//! kDecodeRows for the decode tile (one warp; its rows pack query heads at run time), else
//! the short or tall tile's query rows.

#include <varattn/detail/kernel/segment_group.cuh>
#include <varattn/kernel_config.hpp>

#include <cstdint>

namespace varattn::detail::sm80 {

template <class Element, int HeadDim, int BlockM>
struct kernel_traits {
  static_assert(supported_head_dim(HeadDim), "head dims are multiples of 8 from 32 to 256");
  static constexpr bool kDecode = BlockM == kDecodeRows;
  //! decode_config at pack 1: its tile.block_m is the kernel's rows.
  static constexpr kernel_config kConfig =
      kDecode ? decode_config(HeadDim, 1) : sm80_config(HeadDim, BlockM);
  static constexpr tile_shape kTile = kConfig.tile;
  // launch.cuh tells the decode kernel by its one warp, this file by its rows: the same thing.
  static_assert(kDecode == (kTile.warps == 1), "decode tiles are exactly the one-warp tiles");
  static constexpr int kBlockM = kTile.block_m;
  static constexpr int kBlockN = kTile.block_n;
  static constexpr int kWarps = kTile.warps;
  static constexpr int kMTiles = kTile.m_tiles();
  static constexpr int kThreads = kWarps * 32;
  //! The mma k-step is 16 channels: head dims off it (72, 88...) compute on zero-filled
  //! columns up to the next multiple of 16 (72: 11% more work) and store only HeadDim.
  static constexpr int kPaddedDim = (HeadDim + 15) / 16 * 16;
  //! Short tiles are latency-bound (one k/v step): asking for 5 (head dim 64) or 4 (72, 80)
  //! CTAs an SM caps registers at 96 or 128 so that more tiles wait on memory at once. One
  //! CTA more than before took tiny-d64 0.219 -> 0.208 ms and vl-window-d80 0.0587 -> 0.0553
  //! (H200, 2026-12-02) although ptxas -v reports a 28-byte spill at 64 (none with softcap)
  //! and 8 to 12 bytes at 80 on sm_90a. 96 and 128 at 3 spilled more. Tall tiles need their
  //! registers.
  static constexpr int kMinBlocks =
      kBlockM != 64 ? 1 : kPaddedDim <= 64 ? 5 : kPaddedDim <= 80 ? 4 : 1;
  //! A device-built list's CTAs stride over its ranks (forward_kernel.cuh) only in the short
  //! tile of head dims up to 128, whose tiles are alike (one k/v step, 64 rows or fewer): a
  //! static stride over unequal tiles (tall and decode tiles of long keys) ends unevenly.
  static constexpr bool kGridStride = !kDecode && kBlockM == 64 && kPaddedDim <= 128;
  //! Skip the output rescale on steps where no row max moved; not under a register cap (it
  //! costs registers: head dim 64 short tiles spilled 16 to 32 bytes with it).
  static constexpr bool kLazyRescale = kMinBlocks == 1;
  static constexpr int kWarpRows = 16 * kMTiles;
  static_assert(kBlockM == kWarpRows * kWarps, "each warp owns kMTiles x 16 query rows");
  static_assert(kBlockN % 16 == 0, "keys are consumed 16 at a time by the PV product");

  //! Shared-memory rows are padded by 16 bytes: consecutive rows then start in different
  //! 16-byte bank groups, so ldmatrix's 8 row reads and cp.async's writes never conflict.
  static constexpr int kStride = kPaddedDim + 8;
  static constexpr int kChunks = HeadDim / 8;          //!< 16-byte vectors a row in memory
  static constexpr int kPaddedChunks = kPaddedDim / 8;  //!< ... in shared memory
  //! Takes groups of whole short segments (work_item::group): its rows need the group's
  //! offsets, a table after the K and V tiles.
  static constexpr bool kGroups = kConfig.groups_segments();
  static_assert(!kGroups || (kMTiles == 1 && kWarps * 32 > kMaxGroupSegments),
                "a group's rows are one m-tile a warp; a thread an offset fills its table");
  static constexpr int kTileBytes =
      (kBlockM + 2 * kBlockN) * kStride * static_cast<int>(sizeof(Element));
  static constexpr int kSmemBytes =
      kTileBytes + (kGroups ? static_cast<int>(sizeof(group_table)) : 0);

  static constexpr int kKSteps = kPaddedDim / 16;     //!< k-steps of S = Q K^T
  static constexpr int kScoreTiles = kBlockN / 8;     //!< n8 tiles of S per m-tile
  static constexpr int kOutTiles = kPaddedDim / 8;    //!< n8 tiles of O per m-tile
};

}  // namespace varattn::detail::sm80
