// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_list.cuh
//! Where a backward CTA finds its (segment, tile, head): per_segment launches pass the
//! segment's bounds (grid: tiles x heads); fused launches read a work list of (segment,
//! tile) items that one single-CTA kernel writes into the workspace from the plan's device
//! cu_seqlens (no host wait, capturable: device-built plans never show the host a length).

#include <varattn/backward_workspace.hpp>
#include <varattn/detail/kernel/params.cuh>

#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace varattn::detail {

//! Work list header in the workspace (backward_layout): counts of q- and k-tile items, the
//! plan's device status copied (non-zero: the offsets were rejected, the lists are empty).
struct backward_list_header {
  int32_t q_count;
  int32_t k_count;
  int32_t status;
  int32_t unused;
};

struct backward_work {
  const int32_t* cu_q;          //!< fused: the plan's device cu_seqlens_q; per_segment: null
  const int32_t* cu_k;
  const backward_item* items;   //!< fused: the list; per_segment: null
  const int32_t* count;         //!< fused: the number of valid items
  int32_t capacity;             //!< fused: grid = capacity x heads; CTAs past *count exit
  segment_bounds seg;           //!< per_segment: the segment (or key range) of this launch

  static backward_work one_segment(const segment_bounds& seg) {
    return {nullptr, nullptr, nullptr, nullptr, 0, seg};
  }
  static backward_work listed(const int32_t* cu_q, const int32_t* cu_k,
                              const backward_item* items, const int32_t* count,
                              int32_t capacity) {
    return {cu_q, cu_k, items, count, capacity, segment_bounds{}};
  }

  //! This CTA's segment, tile and head (q head for dQ, kv head for dK/dV); false: no work.
  __device__ __forceinline__ bool initial(segment_bounds& bounds, int& tile, int& head) const {
    if (items == nullptr) {
      bounds = seg;
      tile = static_cast<int>(blockIdx.x);
      head = static_cast<int>(blockIdx.y);
      return true;
    }
    head = static_cast<int>(blockIdx.x / static_cast<unsigned>(capacity));
    const int32_t index = static_cast<int32_t>(blockIdx.x % static_cast<unsigned>(capacity));
    if (index >= *count) return false;
    const backward_item item = items[index];
    const int32_t q_begin = cu_q[item.segment];
    const int32_t k_begin = cu_k[item.segment];
    bounds = {q_begin, cu_q[item.segment + 1] - q_begin, k_begin,
              cu_k[item.segment + 1] - k_begin};
    tile = item.tile;
    return true;
  }
};

inline constexpr int kBackwardListThreads = 256;

__device__ __forceinline__ int32_t tiles_of(int32_t length, int32_t tile) {
  return length / tile + (length % tile != 0 ? 1 : 0);  // no overflow near 2^31
}

// A template only so that the header-only definition may appear in many translation units.
// Writes the q-tile items (segments with queries) and the k-tile items (segments with keys,
// queries or not: their d_k and d_v rows must be written too) in segment order. A plan whose
// offsets the device rejected (status != 0) gets empty lists.
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
  __shared__ int32_t carry_q, carry_k;
  const int32_t tid = static_cast<int32_t>(threadIdx.x);
  const int32_t status = *plan_status;
  if (status != 0) {
    if (tid == 0) *header = {0, 0, status, 0};
    return;
  }
  if (tid == 0) carry_q = carry_k = 0;
  __syncthreads();
  for (int32_t base = 0; base < segment_count; base += Threads) {
    const int32_t s = base + tid;
    const bool in = s < segment_count;
    const int32_t tq = in ? tiles_of(cu_q[s + 1] - cu_q[s], q_tile) : 0;
    const int32_t tk = in ? tiles_of(cu_k[s + 1] - cu_k[s], k_tile) : 0;
    int32_t first_q = 0, total_q = 0, first_k = 0, total_k = 0;
    scan(scan_storage).ExclusiveSum(tq, first_q, total_q);
    __syncthreads();  // scan_storage is reused
    scan(scan_storage).ExclusiveSum(tk, first_k, total_k);
    first_q += carry_q;
    first_k += carry_k;
    for (int32_t t = 0; t < tq && first_q + t < q_capacity; ++t) q_items[first_q + t] = {s, t};
    for (int32_t t = 0; t < tk && first_k + t < k_capacity; ++t) k_items[first_k + t] = {s, t};
    __syncthreads();  // everyone has read the carries, and scan_storage may be reused
    if (tid == 0) {
      carry_q += total_q;
      carry_k += total_k;
    }
    __syncthreads();
  }
  if (tid == 0) {
    *header = {carry_q < q_capacity ? carry_q : q_capacity,
               carry_k < k_capacity ? carry_k : k_capacity, 0, 0};
  }
}

}  // namespace varattn::detail
