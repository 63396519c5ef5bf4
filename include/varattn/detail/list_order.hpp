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
//!   (locate_rank): the tiles in flight share few heads' Q and dO in L2 as before.
//! - The forward's device-built list (device_plan.cuh): each q tile in the class of its
//!   main-loop steps (tile_steps), each head running the list in that order (as it runs the
//!   host's list, sorted longest first, work_list.hpp).

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
//! (unit-major: unit u's items of the slot, then unit u + 1's), then slot 1, ... found =
//! false past counts' total x units (the grid is sized for a bound, not the count).
struct listed_rank {
  bool found;
  int32_t unit;
  int32_t index;
};

//! 32-bit arithmetic: the grid (ranks past the total included) fits 2^31 - 1, checked before
//! any launch. The reference of the kernels' warp-wide version (work_list.cuh,
//! locate_rank_in_warp), which the host tests and a GPU test hold to it.
VARATTN_HOST_DEVICE listed_rank locate_rank(int32_t rank, const int32_t* counts, int32_t units) {
  int32_t first = 0;  // the slot's first list index
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int32_t slot = 0; slot < kSegmentClasses; ++slot) {
    const int32_t n = counts[slot];
    const int32_t span = n * units;
    if (rank < span) return {true, rank / n, first + rank % n};
    rank -= span;
    first += n;
  }
  return {false, 0, 0};
}

}  // namespace varattn::detail
