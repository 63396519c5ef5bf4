// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_list.cuh
//! Where a backward CTA finds its (segment, tile, head): per_segment launches pass the
//! segment's bounds (grid: tiles x heads); fused launches read a work list of tile items,
//! each with its segment's bounds, that one single-CTA kernel writes into the workspace from
//! the plan's device cu_seqlens (no host wait, capturable: device-built plans never show the
//! host a length).

#include <varattn/backward_workspace.hpp>
#include <varattn/detail/class_sort.cuh>
#include <varattn/detail/list_order.hpp>
#include <varattn/detail/kernel/params.cuh>

#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace varattn::detail {

//! Work list header in the workspace (backward_layout): counts of q- and k-tile items, the
//! plan's device status copied (non-zero: the offsets were rejected, the lists are empty),
//! and the k-tile list's items per size class (list_order.hpp).
struct backward_list_header {
  int32_t q_count;
  int32_t k_count;
  int32_t status;
  int32_t unused;
  int32_t k_classes[kSegmentClasses];
};
static_assert(sizeof(backward_list_header) == kBackwardListHeaderBytes,
              "backward_layout places the lists after the header");

//! locate_rank (list_order.hpp) by a whole warp: lane i holds slot i's count (one coalesced
//! load); one filled slot (one segment, or segments of one size: vit, long rows) maps by one
//! division (rank_in_slot, the holes past count x units); else the slots' rank spans are a
//! warp scan and the rank's slot a ballot. Every lane gets the result. (Not 32 counts in each
//! thread's registers: that spilled and slowed the shortest CTAs, bench/NOTES.md eighteenth
//! section.)
__device__ __forceinline__ listed_rank locate_rank_in_warp(int32_t rank, const int32_t* counts,
                                                           int32_t units, bool item_major) {
  static_assert(kSegmentClasses == 32, "a lane a slot");
  const int32_t lane = static_cast<int32_t>(threadIdx.x % 32);
  const int32_t n = __ldg(counts + lane);
  const unsigned filled = __ballot_sync(0xffffffffu, n != 0);
  if ((filled & (filled - 1)) == 0) {  // at most one filled slot, its list index 0 on
    const int32_t slot = filled != 0 ? __ffs(static_cast<int>(filled)) - 1 : 0;
    const int32_t count = __shfl_sync(0xffffffffu, n, slot);
    if (rank >= count * units) return {false, 0, 0};
    return rank_in_slot(rank, 0, count, units, item_major);
  }
  int32_t end = n, span_end = n * units;  // inclusive: list index and rank past the slot
#pragma unroll
  for (int32_t d = 1; d < 32; d *= 2) {
    const int32_t up = __shfl_up_sync(0xffffffffu, end, d);
    const int32_t span_up = __shfl_up_sync(0xffffffffu, span_end, d);
    if (lane >= d) {
      end += up;
      span_end += span_up;
    }
  }
  const unsigned past = __ballot_sync(0xffffffffu, rank < span_end);
  if (past == 0) return {false, 0, 0};
  const int32_t slot = __ffs(static_cast<int>(past)) - 1;  // an empty slot is never the first
  const int32_t slot_n = __shfl_sync(0xffffffffu, n, slot);
  const int32_t first = __shfl_sync(0xffffffffu, end - n, slot);
  const int32_t within = rank - __shfl_sync(0xffffffffu, span_end - n * units, slot);
  return rank_in_slot(within, first, slot_n, units, item_major);
}

struct backward_work {
  const backward_item* items;   //!< fused: the list (each item has its bounds); per_segment: null
  //! fused q-tile list: the number of valid items (the k list's classes sum to its count)
  const int32_t* count;
  //! fused k-tile list: its items per size class (list_order.hpp), whose ranks the grid takes
  //! class by class, the ranks past them exiting; null (the q-tile list): head-major over the
  //! list, each head's CTAs past *count exiting
  const int32_t* classes;
  int32_t capacity;             //!< fused: grid = capacity x heads (units for the k list)
  segment_bounds seg;           //!< per_segment: the segment (or key range) of this launch
  bool item_major;              //!< k list: item-major ranks in each class (locate_rank)

  static backward_work one_segment(const segment_bounds& seg) {
    return {nullptr, nullptr, nullptr, 0, seg, false};
  }
  static backward_work listed(const backward_item* items, const int32_t* count, int32_t capacity,
                              const int32_t* classes = nullptr, bool item_major = false) {
    return {items, count, classes, capacity, segment_bounds{}, item_major};
  }

  //! This CTA's segment, tile and head (q head for dQ, kv head for dK/dV); false: no work.
  //! Every thread of the CTA calls it (the k list's mapping takes whole warps).
  __device__ __forceinline__ bool initial(segment_bounds& bounds, int& tile, int& head) const {
    if (items == nullptr) {
      bounds = seg;
      tile = static_cast<int>(blockIdx.x);
      head = static_cast<int>(blockIdx.y);
      return true;
    }
    int32_t index;
    if (classes != nullptr) {
      const auto units = static_cast<int32_t>(gridDim.x / static_cast<unsigned>(capacity));
      const listed_rank at =
          locate_rank_in_warp(static_cast<int32_t>(blockIdx.x), classes, units, item_major);
      if (!at.found) return false;
      head = at.unit;
      index = at.index;
    } else {
      head = static_cast<int>(blockIdx.x / static_cast<unsigned>(capacity));
      index = static_cast<int32_t>(blockIdx.x % static_cast<unsigned>(capacity));
      if (index >= *count) return false;
    }
    const backward_item item = items[index];
    bounds = {item.q_begin, item.q_length, item.k_begin, item.k_length};
    tile = item.tile;
    return true;
  }
};

inline constexpr int kBackwardListThreads = 256;

__device__ __forceinline__ int32_t tiles_of(int32_t length, int32_t tile) {
  return length / tile + (length % tile != 0 ? 1 : 0);  // no overflow near 2^31
}

// A template only so that the header-only definition may appear in many translation units.
// Writes the q-tile items (segments with queries) in segment order, and the k-tile items
// (segments with keys, queries or not: their d_k and d_v rows must be written too) grouped by
// the size class of the segment's q tiles (list_order.hpp), largest first, in segment and
// tile order within a class (class_sort.cuh). No result depends on the order: each k tile's
// CTA writes only its own rows of dK and dV, and the dQ sums are atomic or the dQ kernel's,
// over the q list. A plan whose offsets the device rejected (status != 0) gets empty lists.
template <int Threads = kBackwardListThreads>
__global__ void __launch_bounds__(Threads)
    build_backward_lists_kernel(const int32_t* __restrict__ cu_q,
                                const int32_t* __restrict__ cu_k, const int32_t* plan_status,
                                int32_t segment_count, int32_t q_tile, int32_t k_tile,
                                int32_t q_capacity, int32_t k_capacity,
                                backward_list_header* header, backward_item* q_items,
                                backward_item* k_items) {
  using scan = cub::BlockScan<int32_t, Threads>;
  __shared__ typename scan::TempStorage scan_storage;
  __shared__ typename class_sort<Threads>::storage sort_storage;
  __shared__ int32_t carry_q;
  const int32_t tid = static_cast<int32_t>(threadIdx.x);
  const int32_t status = *plan_status;
  if (status != 0) {
    if (tid == 0) *header = {0, 0, status, 0};  // and no item in any class
    return;
  }
  if (tid == 0) carry_q = 0;
  __syncthreads();
  for (int32_t base = 0; base < segment_count; base += Threads) {
    const int32_t s = base + tid;
    backward_item item{};
    if (s < segment_count) {
      item = {cu_q[s], cu_q[s + 1] - cu_q[s], cu_k[s], cu_k[s + 1] - cu_k[s], 0};
    }
    const int32_t tq = tiles_of(item.q_length, q_tile);
    int32_t first_q = 0, total_q = 0;
    scan(scan_storage).ExclusiveSum(tq, first_q, total_q);
    first_q += carry_q;
    for (item.tile = 0; item.tile < tq && first_q + item.tile < q_capacity; ++item.tile) {
      q_items[first_q + item.tile] = item;
    }
    __syncthreads();  // everyone has read the carry, and scan_storage may be reused
    if (tid == 0) carry_q += total_q;
    __syncthreads();
  }
  class_sort<Threads> sort(sort_storage, segment_count);
  for (int32_t s = sort.begin(); s < sort.end(); ++s) {
    const int32_t tk = tiles_of(cu_k[s + 1] - cu_k[s], k_tile);
    if (tk > 0) sort.count(size_class_slot(tiles_of(cu_q[s + 1] - cu_q[s], q_tile)), tk);
  }
  sort.scan();
  for (int32_t s = sort.begin(); s < sort.end(); ++s) {
    backward_item item{cu_q[s], cu_q[s + 1] - cu_q[s], cu_k[s], cu_k[s + 1] - cu_k[s], 0};
    const int32_t tk = tiles_of(item.k_length, k_tile);
    if (tk == 0) continue;
    const int32_t first = sort.place(size_class_slot(tiles_of(item.q_length, q_tile)), tk);
    for (; item.tile < tk && first + item.tile < k_capacity; ++item.tile) {
      k_items[first + item.tile] = item;
    }
  }
  // The header's class counts: the places of each class that fit the capacity (a bound that
  // the tiles never exceed).
  if (tid < kSegmentClasses) {
    const int32_t first = sort.first(tid), next = sort.first(tid + 1);
    const int32_t end = next < k_capacity ? next : k_capacity;
    header->k_classes[tid] = end > first ? end - first : 0;
  }
  if (tid == 0) {
    const int32_t k_total = sort.total();
    header->q_count = carry_q < q_capacity ? carry_q : q_capacity;
    header->k_count = k_total < k_capacity ? k_total : k_capacity;
    header->status = 0;
    header->unused = 0;
  }
}

}  // namespace varattn::detail
