// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_schedule.cuh
//! Which tiles a Hopper forward CTA runs, in order. The producer thread asks for them and
//! publishes each in shared memory (tile_id) before it completes the tile's Q barrier; the
//! consumers read it there after their Q wait. So every role sees the same sequence, whatever
//! decides it at run time.
//!
//! - per_segment launch: the CTA's one tile (blockIdx.x, blockIdx.y of the segment).
//! - fused, no counter (no forward_scratch, or a host-built list of long tiles:
//!   plan::tile_counter): one CTA a rank, rank = blockIdx.x over capacity x head groups (the
//!   grid of the sm80 kernel, work_source::initial), decoded kv head major over the list as
//!   one class (below; no search of the class ends before the first load): the hardware hands
//!   each next CTA to the first free SM.
//! - fused with a counter (forward_scratch): at most one CTA an SM; the producer takes the
//!   next rank from the counter (atomicAdd) while its consumers finish the current tile, so
//!   the next tile's Q and K/V load under that tile's end. Ranks are class-major (the list's
//!   size classes, list_order.hpp: the plan's class ends), within a class kv head major over
//!   the class's items and, within an item, the head groups that share that kv head: every
//!   head's longest tiles go before any head's shorter class, so the last head's longest
//!   tiles no longer start after every other head's whole list (vl-full-d80: a ~5.6% tail,
//!   bench/experiments/vl_full_d80_schedule_s37.md; -2.4 to -3.8% measured), and the tiles
//!   in flight still share few kv heads' k and v (L2) within a class (with GQA, q head major
//!   left a tail: bench/experiments/gqa_forward_vs_fa4_study_s35.md). Under a causal or
//!   windowed mask the list is one class (locate_class_rank's by_class): a segment's tiles
//!   span many classes there, and class-major ranks parted them (llm-d128-causal +2 to +4%).
//!   (A static stride over the same ranks gave the CTAs unequal loads: long-d128-causal +31%,
//!   bench/NOTES.md, ninth session.) The last CTA to finish zeroes the counter, so the next
//!   launch in stream order finds it as the first did.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/list_order.hpp>

#include <cstdint>

namespace varattn::detail::sm90 {

//! A tile as the producer publishes it; head < 0: the CTA has no more tiles.
struct tile_id {
  segment_bounds seg;
  int32_t q_tile;
  int32_t head;  //!< head group (work_source::pack query heads)
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! The producer thread's view of the schedule: first(), then next() after each tile, then
//! finish() once (it returns the counter to zero when its CTA is the last).
class tile_schedule {
 public:
  //! group_size: q heads a kv head (params); the head groups of one kv head are a band.
  //! by_class: the counter's ranks class-major (unbounded masks only: locate_class_rank).
  __device__ __forceinline__ tile_schedule(const work_source& work, int32_t heads_q,
                                           int32_t group_size, bool by_class)
      : work_(work),
        groups_(static_cast<uint32_t>(heads_q / work.pack)),
        band_(static_cast<uint32_t>(
            group_size % work.pack == 0 && group_size >= work.pack ? group_size / work.pack : 1)),
        by_class_(by_class) {}

  //! Query heads a tile (work_source::pack): tile_id::head counts groups of them.
  __device__ __forceinline__ int32_t pack() const { return work_.pack; }
  //! At most one tile: a per-segment launch, or a fused one without a counter.
  __device__ __forceinline__ bool one_tile() const {
    return work_.per_segment() || work_.tiles == nullptr;
  }
  __device__ __forceinline__ bool first(tile_id& id) const {
    if (work_.per_segment()) {
      id = {work_.seg, static_cast<int32_t>(blockIdx.x), static_cast<int32_t>(blockIdx.y)};
      return true;
    }
    // One CTA a rank, over the capacity (an upper bound): one class, so that no search of the
    // class ends stands before the tile's first load (long tiles, where the order of a tail
    // matters least: long-d128 ran +0.6 to +1.5% with the search).
    if (work_.tiles == nullptr) return decode(blockIdx.x, id, false);
    return take(id);
  }
  __device__ __forceinline__ bool next(tile_id& id) const { return !one_tile() && take(id); }
  __device__ __forceinline__ void finish() const {
    if (one_tile()) return;
    // This CTA's last take (the one past the ranks) is performed before it counts as done.
    __threadfence();
    if (atomicAdd(&work_.tiles[1], 1u) == gridDim.x - 1) {  // every other CTA is done taking
      __threadfence();  // their takes (ordered before their counts) come before the reset
      atomicExch(&work_.tiles[0], 0u);
      atomicExch(&work_.tiles[1], 0u);
    }
  }

 private:
  //! The next rank from the counter; false past count x groups (the counter keeps counting
  //! until the last CTA resets it: grid size more than the ranks, far below 2^32).
  __device__ __forceinline__ bool take(tile_id& id) const {
    const uint32_t rank = atomicAdd(&work_.tiles[0], 1u);
    // decode checks the rank against the class ends' last, the count. No wrap: count <=
    // capacity, and the plan checked capacity x groups fits gridDim.x.
    return decode(rank, id, by_class_);
  }
  //! Rank r, class-major (locate_class_rank over the plan's class ends): the list's size
  //! classes in turn, each for every band (kv head) in order, then the class's items, then
  //! the band's head groups of one item. False past count x groups (the one-CTA-a-rank grid
  //! launches capacity x groups: its ranks past the count are the last ones). One to one over
  //! [0, count x groups): groups is heads_kv x band.
  __device__ __forceinline__ bool decode(uint32_t rank, tile_id& id, bool by_class) const {
    const class_rank at =
        locate_class_rank(rank, work_.work.class_ends, groups_, band_, by_class);
    if (!at.found) return false;
    work_.item_bounds(at.index, id.seg, id.q_tile);
    id.head = at.group;
    return true;
  }

  const work_source& work_;
  uint32_t groups_;
  uint32_t band_;  //!< head groups a kv head (1 without GQA: q head major, as before)
  bool by_class_;
};

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
