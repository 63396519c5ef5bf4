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
  //! Warpgroups 0 and 1 compute (64 keys each); warpgroup 2 produces: K and V once, then each
  //! step's Q, dO, lse and D into a two-buffer ring (cp.async, mbarriers), and hands most of
  //! its registers to the consumers (setmaxnreg, as the forward's: 24 x 128 + 240 x 256).
  static constexpr int kConsumerThreads = 128 * kWarpgroups;
  static constexpr int kProducerThreads = 128;
  static constexpr int kThreads = kConsumerThreads + kProducerThreads;
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  //! The consumer warpgroup whose first thread issues every tensor reduction of dQ (above head
  //! dim 64; up to it each warpgroup's first thread issues its own: kDqOwnKeys).
  static constexpr int kReducer = 1;
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
  //! A full step's float32 dQ on its way to the tensor reductions (bulk_reduce_add_box):
  //! boxes of 64 query rows x 32 channels, 128 bytes a row, 128-byte swizzled (the four rows
  //! a quarter-warp stores land on distinct banks); channels past the head dim are computed
  //! and staged but clipped by the copy engine.
  static constexpr int kDqBoxes = (HeadDim + 31) / 32;
  static constexpr int kDqBoxBytes = 64 * 128;
  //! Up to head dim 64 (one 64-channel chunk) each warpgroup sums dQ over its own 64 keys and
  //! adds it itself (its own boxes, its first thread): both share the dQ products, and no CTA
  //! barrier joins them in the step. Above, warpgroup c sums channels [64 c, + 64) over all
  //! 128 keys (both dS^T blocks) and the reducer adds every box.
  static constexpr bool kDqOwnKeys = HeadDim <= 64;
  static constexpr int kDqBoxSets = kDqOwnKeys ? kWarpgroups : 1;
  //! dS^T buffers: with no CTA-wide barrier at the step's start, a warpgroup may write the next
  //! step's dS^T while the other's dQ wgmma still reads this step's (not with kDqOwnKeys: each
  //! reads only its own block, after its own wait).
  static constexpr int kDsBuffers = kDqOwnKeys ? 1 : 2;
  //! K, V; two buffers of (Q, dO); dS^T per warpgroup and buffer; the dQ boxes; + 1 KB: the
  //! dynamic base is rounded up to the swizzle's 1024-byte period. (lse and D of a step and
  //! the mbarriers are static shared memory.)
  static constexpr int kSmemBytes = 2 * key_tile::kBytes + 4 * query_tile::kBytes +
                                    kDsBuffers * kWarpgroups * kDsBytes +
                                    kDqBoxSets * kDqBoxes * kDqBoxBytes + 1024;
  static_assert(key_tile::kBytes % 1024 == 0 && query_tile::kBytes % 1024 == 0,
                "every tile starts on the swizzle's period");
};

}  // namespace varattn::detail::sm90
