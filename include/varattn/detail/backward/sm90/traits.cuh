// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file traits.cuh
//! Compile-time shape of the Hopper (sm_90a) dK/dV kernel for one (Element, HeadDim); the head
//! dims it takes: hopper_backward_head_dim (backward/tiles.hpp).

#include <varattn/detail/backward/tiles.hpp>
#include <varattn/detail/sm90/swizzled_tile.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

template <class Element, int HeadDim>
struct hopper_backward_traits {
  static_assert(hopper_backward_head_dim(HeadDim), "the Hopper backward takes head dims 32-128");
  //! Warpgroups of a CTA, 64 keys each (wgmma's M = keys): they share the Q and dO tiles of
  //! a query step, so the tiles are read once for 128 keys.
  static constexpr int kWarpgroups = 2;
  static constexpr int kKeys = 64 * kWarpgroups;  //!< keys a CTA (the work list's k tile)
  static constexpr int kQueries = 64;             //!< queries a step (wgmma's N of S^T)
  static constexpr int kThreads = 128 * kWarpgroups;
  //! The warpgroup that issues every cp.async (K, V, and each step's Q, dO, lse, D) and the
  //! one that issues every bulk reduction of dQ.
  static constexpr int kLoader = 0;
  static constexpr int kReducer = 1;
  static constexpr int kLoaderThreads = 128;
  static_assert(kLoader == 0 && kLoaderThreads == 128,
                "the loader's thread index is threadIdx.x (load_step, the K/V loads)");
  using key_tile = swizzled_tile<kKeys, HeadDim>;      //!< K or V, loaded once
  using query_tile = swizzled_tile<kQueries, HeadDim>;  //!< Q or dO of a step, two buffers
  //! A warpgroup's dS^T of a step, [64 keys][64 queries]: one swizzled 64-column block.
  static constexpr int kDsBytes = 64 * 128;
  static constexpr int kScoreTiles = kQueries / 8;  //!< n8 tiles of S^T a warpgroup
  static constexpr int kOutTiles = HeadDim / 8;     //!< n8 tiles of dK, dV (wgmma N = HeadDim)
  static constexpr int kKSteps = (HeadDim + 15) / 16;  //!< k16 steps (zero-padded columns)
  //! 64-channel blocks of dQ += dS K, one a warpgroup (up to head dim 64 the second has
  //! none), each summed over the CTA's 128 keys before it leaves the SM. The last block of a
  //! head dim off 64 is computed whole and only its head dim's channels are added.
  static constexpr int kDqChunks = (HeadDim + 63) / 64;
  static_assert(kDqChunks <= kWarpgroups, "a dQ chunk a warpgroup");
  //! A chunk's float32 dQ block on its way to the bulk reduction: 64 query rows of 256 bytes,
  //! 288 apart (16-byte aligned rows for the copy engine; the 32-byte pad puts the four rows a
  //! half-warp stores on distinct banks).
  static constexpr int kDqStageStride = 64 * 4 + 32;
  static constexpr int kDqStageBytes = 64 * kDqStageStride;
  //! K, V; two buffers of (Q, dO); dS^T per warpgroup; the dQ stages; + 1 KB: the dynamic
  //! base is rounded up to the swizzle's 1024-byte period. (lse and D of a step are static
  //! shared memory.)
  static constexpr int kSmemBytes = 2 * key_tile::kBytes + 4 * query_tile::kBytes +
                                    kWarpgroups * kDsBytes + kDqChunks * kDqStageBytes + 1024;
  static_assert(key_tile::kBytes % 1024 == 0 && query_tile::kBytes % 1024 == 0,
                "every tile starts on the swizzle's period");
};

}  // namespace varattn::detail::sm90
