// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file list_order.hpp
//! Size classes that order the fused launches' work lists built on the device, longest work
//! first, so that long items do not trail the launch: the CTAs take ranks in order (the
//! hardware's order, or the Hopper forward's tile counter), and in segment order a late long
//! segment's tiles start last (a list-scheduling model, bench/experiments/
//! work_list_order_model.py: prefill-d128-gqa-causal's backward +12% over a balanced end,
//! 1% longest first). A class is a power-of-two band of an item's size counted in tiles or
//! steps, not rows (items under one tile cost the same, and short segments keep the segment
//! order that streams through memory), so the device sorts with a stable counting sort
//! (class_sort.cuh) and items of one segment stay together.
//! - The backward's k-tile list (backward/work_list.cuh): a segment's tiles in the class of
//!   its q tiles, and the grid takes the classes in turn, each unit-major
//!   (locate_rank): the tiles in flight share few heads' Q and dO in L2 as before. Under a
//!   banded mask (window::banded) each class is item-major instead: a window's short tiles
//!   at a segment's end start last rather than mid-launch, and the tiles in flight see only a
//!   window's rows of each head.
//! - The forward's device-built list (device_plan.cuh): each q tile in the class of its
//!   main-loop steps (tile_steps); the host's list, sorted longest first (work_list.hpp), is
//!   grouped the same way (list_class_ends). The Hopper forward takes the classes in turn
//!   across all heads (locate_class_rank over the plan's class ends), so that the last
//!   head's longest tiles do not start after every other head's whole list.

#include <varattn/detail/host_device.hpp>

#include <cstdint>

namespace varattn::detail {

//! Size classes, slot 0 the largest: a size n is in slot 31 - bit_length(n) (bit_length(0) =
//! 0: slot 31; e.g. a backward segment with keys and no queries, whose tiles write zeros).
inline constexpr int32_t kSegmentClasses = 32;

VARATTN_HOST_DEVICE int32_t size_class_slot(int32_t size) {
  const uint32_t v = size > 0 ? static_cast<uint32_t>(size) : 0u;
#if defined(__CUDA_ARCH__)
  return kSegmentClasses - 1 - (32 - __clz(static_cast<int>(v)));  // __clz(0) = 32
#else
  int32_t bits = 0;
  for (uint32_t u = v; u != 0; u >>= 1) ++bits;
  return kSegmentClasses - 1 - bits;
#endif
}

//! Grid rank -> (unit, list index) over a list grouped into kSegmentClasses slots of
//! `counts[slot]` items each (slot 0 first in the list): the ranks take slot 0 for every unit
//! (unit-major: unit u's items of the slot, then unit u + 1's; item_major: every unit's item
//! i of the slot, then item i + 1's), then slot 1, ... found = false past counts' total x
//! units (the grid is sized for a bound, not the count).
struct listed_rank {
  bool found;
  int32_t unit;
  int32_t index;
};

//! Rank `within` of a slot of n items from list index `first`, over `units` units: one
//! division either way.
VARATTN_HOST_DEVICE listed_rank rank_in_slot(int32_t within, int32_t first, int32_t n,
                                             int32_t units, bool item_major) {
  const int32_t minor = item_major ? units : n;  // what consecutive ranks step through
  const int32_t major = within / minor, rest = within - major * minor;
  return item_major ? listed_rank{true, rest, first + major}
                    : listed_rank{true, major, first + rest};
}

//! 32-bit arithmetic: the grid (ranks past the total included) fits 2^31 - 1, checked before
//! any launch. The reference of the kernels' warp-wide version (work_list.cuh,
//! locate_rank_in_warp), which the host tests and a GPU test hold to it.
VARATTN_HOST_DEVICE listed_rank locate_rank(int32_t rank, const int32_t* counts, int32_t units,
                                            bool item_major = false) {
  int32_t first = 0;  // the slot's first list index
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int32_t slot = 0; slot < kSegmentClasses; ++slot) {
    const int32_t n = counts[slot];
    const int32_t span = n * units;
    if (rank < span) return rank_in_slot(rank, first, n, units, item_major);
    rank -= span;
    first += n;
  }
  return {false, 0, 0};
}

//! Whether item-major ranks keep the backward's working set in L2 (backward/launch.cuh).
//! With `ctas` CTAs in flight over `units` units, each unit's query rows in use span the band
//! (`band_rows` = left + right + 1 of a banded mask) plus one k tile's `tile_keys` for each of
//! its tiles in flight; a row costs `row_bytes` a unit (its q heads' Q, dO, dQ accumulator, lse
//! and D). Unit-major ranks keep about one unit's rows live, item-major every unit's: at
//! long-d128-window4096 that is ~87 MB and measured +3% (window1024 ~36 MB: the dK/dV kernel
//! -0.7%; bench/NOTES.md fortieth section). Item-major only within 3/4 of the L2.
inline bool item_major_in_l2(int64_t band_rows, int64_t tile_keys, int64_t units, int64_t ctas,
                             int64_t row_bytes, int64_t l2_bytes) {
  if (units <= 0) return false;
  const int64_t rows = band_rows + (ctas + units - 1) / units * tile_keys;
  return units * rows * row_bytes <= l2_bytes / 4 * 3;
}

//! The Hopper forward's tile ranks over a list grouped into kSegmentClasses slots, given as
//! `ends[slot]`: the list index past the slot's items (cumulative, non-decreasing; ends[31] is
//! the item count, empty slots repeat the previous end). Class-major: slot 0's items for every
//! head group, then slot 1's, ...; within a slot kv head (band) major, then the slot's items,
//! then the band's `band` head groups of one item together (a kv head's q heads take an item
//! at once: sm90/tile_schedule.cuh). `groups` head groups in all, a multiple of `band`. Slot
//! s's ranks are [first x groups, end x groups), so rank r is in the slot that holds list
//! index r / groups (a binary search over the 32 ends; empty slots are never found). One to
//! one from [0, ends[31] x groups) onto (item, head group); found = false past it. 32-bit
//! arithmetic: the plan checked that ends[31] x groups fits (the grid's bound).
//! by_class = false reads the list as one class (kv head band major over every item, the
//! order before class ranks): the Hopper forward's choice under a causal or windowed mask,
//! whose segments spread their tiles over many classes, so class-major ranks would part a
//! segment's tiles, which share its k and v in L2 (llm-d128-causal ran 1.8-4.3% slower,
//! bench/experiments/hopper_forward_class_ranks.md).
struct class_rank {
  bool found;
  int32_t index;  //!< list index
  int32_t group;  //!< head group
};

VARATTN_HOST_DEVICE class_rank locate_class_rank(uint32_t rank, const int32_t* ends,
                                                 uint32_t groups, uint32_t band,
                                                 bool by_class = true) {
  const auto count = static_cast<uint32_t>(ends[kSegmentClasses - 1]);
  if (rank >= count * groups) return {false, 0, 0};
  uint32_t first = 0, end = count;  // the rank's class: list indices [first, end)
  if (by_class) {
    const uint32_t at = rank / groups;  // a list index of the rank's slot
    int32_t slot = 0;                   // the first slot whose end is past `at`
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int32_t half = kSegmentClasses / 2; half > 0; half /= 2) {
      if (static_cast<uint32_t>(ends[slot + half - 1]) <= at) slot += half;
    }
    first = static_cast<uint32_t>(slot > 0 ? ends[slot - 1] : 0);
    end = static_cast<uint32_t>(ends[slot]);
  }
  const uint32_t span = (end - first) * band;  // a band's ranks in the class
  const uint32_t within = rank - first * groups;
  const uint32_t in_band = within % span;
  return {true, static_cast<int32_t>(first + in_band / band),
          static_cast<int32_t>(within / span * band + in_band % band)};
}

}  // namespace varattn::detail
