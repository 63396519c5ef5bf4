// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_scratch.hpp
//! Device memory in which the forward's tile scheduler counts: with it, a fused launch of the
//! Hopper kernel runs a persistent grid (one CTA an SM, each taking the next tile as it frees:
//! the next tile's loads overlap the current tile's end) where the plan's tile_counter() says
//! so (not for host-built lists of long tiles: plan.hpp, kLongTileSteps); otherwise one CTA a
//! tile.

#include <cstddef>

namespace varattn {

//! Bytes a forward_scratch holds (two 32-bit counters).
inline constexpr std::size_t kForwardScratchBytes = 8;

//! `data`: kForwardScratchBytes of device memory, 4-byte aligned, zero before the first
//! forward that uses it. Every forward leaves it zero again (its last CTA resets it; a launch
//! of one CTA a tile never touches it), so one scratch serves any number of forwards in stream
//! order, graph replays included. Forwards that may run at the same time (on two streams with
//! no event between them) need one each: sharing one, they would take each other's tiles.
struct forward_scratch {
  void* data = nullptr;
  //! Run the persistent grid for every fused Hopper plan, also those whose tile_counter() is
  //! false (long tiles): the two grids' A/B (varattn_bench's fused_counter row). Without
  //! `data`, no effect (one CTA a tile).
  bool force_persistent = false;
};

}  // namespace varattn
