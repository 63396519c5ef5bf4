// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_schedule.cuh
//! Which tiles a Hopper forward CTA runs, in order. The producer thread asks for them and
//! publishes each in shared memory (tile_id) before it completes the tile's Q barrier; the
//! consumers read it there after their Q wait. So every role sees the same sequence, whatever
//! decides it at run time.
//!
//! - per_segment launch: the CTA's one tile (blockIdx.x, blockIdx.y of the segment).
//! - fused, no counter: one CTA a rank, rank = blockIdx.x over capacity x head groups (the
//!   grid of the sm80 kernel, work_source::initial, whose ranks this kernel decodes in the
//!   order below): the hardware hands each next CTA to the first free SM.
//! - fused with a counter (forward_scratch): at most one CTA an SM; the producer takes the
//!   next rank from the counter (atomicAdd) while its consumers finish the current tile, so
//!   the next tile's Q and K/V load under that tile's end. Ranks are kv head major over the
//!   item count, each kv head's items longest first (the host-built list's order) and, within
//!   an item, the head groups that share that kv head: the tiles in flight share one kv
//!   head's k and v (L2), greedy takes go longest first, as the hardware's order did, and the
//!   last kv head's longest tiles no longer start after every other head's whole list (with
//!   GQA, q head major left a tail: bench/experiments/gqa_forward_vs_fa4_study_s35.md). (A
//!   static stride over the same ranks gave the CTAs unequal loads: long-d128-causal +31%,
//!   bench/NOTES.md, ninth session.) The last CTA to finish zeroes the counter, so the next
//!   launch in stream order finds it as the first did.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/work_source.cuh>

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
  __device__ __forceinline__ tile_schedule(const work_source& work, int32_t heads_q,
                                           int32_t group_size)
      : work_(work),
        groups_(static_cast<uint32_t>(heads_q / work.pack)),
        band_(static_cast<uint32_t>(
            group_size % work.pack == 0 && group_size >= work.pack ? group_size / work.pack : 1)) {}

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
    if (work_.tiles == nullptr) {  // one CTA a rank, over the capacity (an upper bound)
      return decode(blockIdx.x, static_cast<uint32_t>(work_.work.capacity), id);
    }
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
    const auto count = static_cast<uint32_t>(*work_.work.count);
    // No wrap: count <= capacity, and the plan checked capacity x groups fits gridDim.x.
    if (rank >= count * groups_) return false;
    return decode(rank, count, id);
  }
  //! Rank r: band r / (stride x band), then item, then the head group in the band (false past
  //! the item count). One to one over [0, stride x groups): groups is heads_kv x band.
  __device__ __forceinline__ bool decode(uint32_t rank, uint32_t stride, tile_id& id) const {
    const uint32_t span = stride * band_;
    const uint32_t in_band = rank % span;
    const uint32_t index = in_band / band_;
    if (index >= static_cast<uint32_t>(*work_.work.count)) return false;
    work_.item_bounds(static_cast<int32_t>(index), id.seg, id.q_tile);
    id.head = static_cast<int32_t>(rank / span * band_ + in_band % band_);
    return true;
  }

  const work_source& work_;
  uint32_t groups_;
  uint32_t band_;  //!< head groups a kv head (1 without GQA: q head major, as before)
};

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
