// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file split_traits.cuh
//! Compile-time shape of the Hopper (sm_90a) dK/dV kernel at head dim 256
//! (dkdv_split_kernel.cuh), where the two-warpgroup kernel's shape (traits.cuh: 64 keys and
//! their whole dK and dV a warpgroup) does not fit: 2 x 64 x 256 float32 accumulators over
//! 128 threads are 256 registers a thread (240 allowed), and K, V of 128 keys with two
//! buffers of Q and dO exceed 227 KB of shared memory.

#include <varattn/detail/backward/tiles.hpp>
#include <varattn/detail/sm90/swizzled_tile.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

//! A CTA of 64 keys and two consumer warpgroups that split the work instead of the keys:
//! warpgroup g computes S^T and dP^T of the step's queries [32 g, + 32) (wgmma N = 32, all
//! 64 keys as M), stores its P and dS to shared memory, and, once both halves are in, adds the
//! channels [128 g, + 128) of dV += P^T dO, dK += dS^T Q and dQ = dS K over all 64 queries
//! of the step: dK and dV are 64 keys x 128 channels a warpgroup (64 + 64 registers a
//! thread), dQ 64 queries x 128 channels (64 more, while dV and dK run).
template <class Element, int HeadDim>
struct hopper_split_backward_traits {
  static_assert(HeadDim == 256,
                "channel halves on the 64-column blocks of the swizzled tiles: head dim 256");
  static constexpr int kWarpgroups = 2;
  static constexpr int kKeys = 64;            //!< keys a CTA (the work list's k tile)
  static constexpr int kQueries = 64;         //!< queries a step (Q, dO, lse, D)
  static constexpr int kHalfQueries = kQueries / kWarpgroups;  //!< S^T, dP^T a warpgroup
  static constexpr int kHalfChannels = HeadDim / kWarpgroups;  //!< dK, dV, dQ a warpgroup
  static constexpr int kConsumerThreads = 128 * kWarpgroups;
  static constexpr int kProducerThreads = 128;
  static constexpr int kThreads = kConsumerThreads + kProducerThreads;
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  //! traits.cuh's: one warp copies a step's lse and D (two rows a lane); warp 1 is the dQ
  //! writer (dkdv_split_kernel.cuh, dq_handoff).
  static constexpr int kProducerCopyThreads = 32;
  using key_tile = swizzled_tile<kKeys, HeadDim>;      //!< K or V, loaded once
  using query_tile = swizzled_tile<kQueries, HeadDim>;  //!< Q or dO of a step, two buffers
  //! P or dS of a step, [kQueries queries][64 keys] (one 64-column block, 128-byte swizzled),
  //! one of each a buffer of the (Q, dO) ring, indexed as it: a warpgroup writes buffer b for
  //! item j + kRing only after the ring's full[b] of that item, which the producer signals only
  //! after empty[b] of item j: every consumer thread done with it (each after its last wait:
  //! every read of buffer b's P and dS done), directly or, atomic dQ, through the dQ writer's
  //! arrival once all of them arrived on staged[b]. (A step's barrier does not give this:
  //! skipped steps have none.) So the P/dS buffers must be as many as the ring's.
  static constexpr int kRing = 2;  //!< dkdv_kernel.cuh's step_barriers and produce_steps
  static constexpr int kPdsBytes = kQueries * 128;
  static constexpr int kScoreTiles = kHalfQueries / 8;  //!< n8 tiles of S^T a warpgroup
  static constexpr int kOutTiles = kHalfChannels / 8;   //!< n8 tiles of dK, dV, dQ a warpgroup
  static constexpr int kKSteps = HeadDim / 16;          //!< k16 steps of S^T and dP^T
  static constexpr int kStepKSteps = kQueries / 16;     //!< ... of dV and dK (over queries)
  static constexpr int kKeyKSteps = kKeys / 16;         //!< ... of dQ (over keys)
  //! K, V; two buffers of (Q, dO); two of (P, dS); + 1 KB: the dynamic base is rounded up to
  //! the swizzle's 1024-byte period. (lse and D of a step and the mbarriers are static.)
  static constexpr int kSmemBytes =
      2 * key_tile::kBytes + kRing * 2 * query_tile::kBytes + kRing * 2 * kPdsBytes + 1024;
  static_assert(key_tile::kBytes % 1024 == 0 && query_tile::kBytes % 1024 == 0 &&
                    kPdsBytes % 1024 == 0 && (kHalfQueries * 128) % 1024 == 0,
                "every tile and each warpgroup's query rows start on the swizzle's period");
  static constexpr int kStaticSmemBytes = 2 * 2 * kQueries * 4 + 64;
  static_assert(kSmemBytes + kStaticSmemBytes <= 227 * 1024,
                "an H100/H200 SM's 227 KB (and advance's 2^18)");
};

}  // namespace varattn::detail::sm90
