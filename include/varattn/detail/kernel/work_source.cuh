// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_source.cuh
//! Where a CTA finds its (segment, q-tile, head) work item: the scheduler interface. Every
//! kernel takes it as its second argument, so the launch policies are written once
//! (launch.cuh). initial() gives a CTA of a one-item grid its item (the sm80 kernel, the Hopper
//! short tile), at_rank() each of a striding CTA's items (the short tiles' device-built lists);
//! the Hopper tall tile's CTAs may run several, from sm90/tile_schedule.cuh (with `tiles`).

#include <varattn/detail/kernel/nan_output.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/segment_group.cuh>
#include <varattn/plan.hpp>

#include <cstdint>

namespace varattn::detail {

//! The work source of both launch policies, one type so that each kernel is instantiated
//! once (per_segment and fused as two types doubled the compile time).
//!
//! per_segment (`work.items` null): one launch per segment, grid (q tiles, heads); the
//! segment's bounds are an argument.
//!
//! fused: one launch for every work item of every segment, grid capacity x head groups (heads,
//! unless a decode or Hopper GQA tile packs `pack` of them). CTA x runs group x / capacity on item
//! x % capacity (the Hopper kernel decodes its ranks class-major, then kv head major,
//! instead: sm90/tile_schedule.cuh): the CTAs in flight together work on one or two
//! heads, whose k and v then stay in L2 (head-minor order streamed every head's k and v at
//! once: long-d128 ran 13% slower). Each head runs the list longest first, so the grid ends
//! on short items. CTAs past the item count (device-built plans launch an upper bound) exit;
//! the sm80 kernel's device-built lists launch one pass of resident CTAs instead, striding
//! over the ranks (at_rank), and the Hopper kernel's persistent grid takes ranks from a
//! counter. When the device rejected the plan's offsets (count 0, status set), every CTA
//! first fills its share of o with NaN, so that the failure cannot pass for a result.
struct work_source {
  device_work work;    //!< fused: the plan's device buffers; per_segment: all null
  segment_bounds seg;  //!< per_segment: the segment of this launch
  int32_t pack;        //!< query heads a CTA covers (kernel_config::pack); `head` counts groups
  //! fused, sm80 kernel: the head groups (heads_q / pack) when the grid is smaller than the
  //! ranks and each CTA strides over them (at_rank), 0 for one CTA a rank (initial). Fills
  //! the padding before `tiles`: the Hopper kernel's parameters keep their offsets.
  int32_t strided_groups;
  //! fused, Hopper kernel: the tile counter of a persistent grid (forward_scratch: the next
  //! rank, the CTAs done), null for one CTA a rank.
  unsigned int* tiles;

  static work_source one_segment(const segment_bounds& seg, int32_t pack) {
    return {device_work{}, seg, pack, 0, nullptr};
  }
  static work_source listed(const device_work& work, int32_t pack,
                            unsigned int* tiles = nullptr, int32_t strided_groups = 0) {
    return {work, segment_bounds{}, pack, strided_groups, tiles};
  }

  __device__ __forceinline__ bool per_segment() const { return work.items == nullptr; }
  //! fused: the device rejected the plan's offsets (count 0); the output must become NaN.
  __device__ __forceinline__ bool rejected() const { return *work.status != 0; }
  //! fused, rejected: every row of o (and lse) NaN, entry x = item x % capacity of head group
  //! x / capacity split over the grid's CTAs (the threads that fill: at least head_dim of
  //! them, threadIdx.x from 0).
  template <class Element>
  __device__ __forceinline__ void fill_rejected(const forward_params<Element>& params) const {
    const int64_t entries = int64_t{work.capacity} * (params.heads_q / pack);
    for (int64_t x = blockIdx.x; x < entries; x += gridDim.x) {
      const int group = static_cast<int>(x / work.capacity);
      for (int h = group * pack; h < (group + 1) * pack; ++h) {
        fill_nan_rows(params, h, x % work.capacity, work.capacity);
      }
    }
  }
  //! fused: the bounds and q tile of item `index` (< *work.count). A group's bounds span its
  //! segments, as tile 0 of one segment; `group` gets its offsets (count 0 for other items).
  __device__ __forceinline__ void item_bounds(int32_t index, segment_bounds& bounds, int& q_tile,
                                              segment_group& group) const {
    const work_item item = work.items[index];
    const int32_t last = item.segment + item.segments();
    const int32_t q_begin = work.cu_q[item.segment];
    const int32_t k_begin = work.cu_k[item.segment];
    bounds = {q_begin, work.cu_q[last] - q_begin, k_begin, work.cu_k[last] - k_begin};
    q_tile = item.is_group() ? 0 : item.q_tile;
    group = {work.cu_q + item.segment, work.cu_k + item.segment,
             item.is_group() ? item.segments() : 0};
  }
  //! The same for a kernel that never receives groups (plans group only for kernels whose
  //! kernel_config::groups_segments()).
  __device__ __forceinline__ void item_bounds(int32_t index, segment_bounds& bounds,
                                              int& q_tile) const {
    segment_group unused;
    item_bounds(index, bounds, q_tile, unused);
  }

  //! One CTA a rank (per_segment, or a fused grid of capacity x head groups): this CTA's
  //! tile; false past the item count. per_segment: q tile blockIdx.x of head blockIdx.y.
  //! fused: head group blockIdx.x / capacity, item blockIdx.x % capacity.
  template <class Element>
  __device__ __forceinline__ bool initial(const forward_params<Element>& params,
                                          segment_bounds& bounds, int& q_tile, int& head,
                                          segment_group& group) const {
    if (work.items == nullptr) {
      bounds = seg;
      q_tile = static_cast<int>(blockIdx.x);
      head = static_cast<int>(blockIdx.y);
      group = {nullptr, nullptr, 0};
      return true;
    }
    head = static_cast<int>(blockIdx.x / work.capacity);
    const int32_t index = static_cast<int32_t>(blockIdx.x % work.capacity);
    if (index >= *work.count) {
      // One CTA a rank: fill_rejected's entries of this CTA are its own rank's alone.
      if (rejected()) fill_rejected(params);
      return false;
    }
    item_bounds(index, bounds, q_tile, group);
    return true;
  }

  //! fused, strided: the tile of `rank` (a CTA's ranks: blockIdx.x, + gridDim.x, ...), false
  //! past count x head groups. Rank r: head group r / count, item r % count, so the CTAs in
  //! flight together still work on one or two heads. A rejected plan (count 0) fills this
  //! CTA's share of o with NaN (fill_rejected strides over the grid) and returns false.
  template <class Element>
  __device__ __forceinline__ bool at_rank(const forward_params<Element>& params, uint32_t rank,
                                          segment_bounds& bounds, int& q_tile, int& head,
                                          segment_group& group) const {
    // No wrap: count <= capacity, and the plan checked capacity x groups fits gridDim.x. Read
    // each time rather than held across the tile: a register less under the short tile's cap.
    const auto count = static_cast<uint32_t>(*work.count);
    if (rank >= count * static_cast<uint32_t>(strided_groups)) {
      if (count == 0 && rejected()) fill_rejected(params);
      return false;
    }
    head = static_cast<int>(rank / count);
    item_bounds(static_cast<int32_t>(rank % count), bounds, q_tile, group);
    return true;
  }
};

}  // namespace varattn::detail
