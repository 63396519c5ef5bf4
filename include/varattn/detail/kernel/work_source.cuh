// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_source.cuh
//! Where a CTA finds its (segment, q-tile, head) work item: the scheduler interface. Every
//! kernel family takes one of these as its second argument, so the launch policies are
//! written once (launch.cuh). initial() gives a CTA its first item; a persistent source
//! would add next() for the items after it (both sources here give one item a CTA).

#include <varattn/detail/kernel/nan_output.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/plan.hpp>

#include <cstdint>

namespace varattn::detail {

//! per_segment: one launch per segment, grid (q tiles, heads); the bounds are an argument.
struct segment_work {
  segment_bounds seg;

  template <class Element>
  __device__ __forceinline__ bool initial(const forward_params<Element>&, segment_bounds& bounds,
                                          int& q_tile, int& head) const {
    bounds = seg;
    q_tile = static_cast<int>(blockIdx.x);
    head = static_cast<int>(blockIdx.y);
    return true;
  }
};

//! fused: one launch for every work item of every segment, grid capacity x heads. CTA x runs
//! head x / capacity on item x % capacity: the CTAs in flight together work on one or two
//! heads, whose k and v then stay in L2 (head-minor order streamed every head's k and v at
//! once: long-d128 ran 13% slower). Each head runs the list longest first, so the grid ends
//! on short items. CTAs past the item count (device-built plans launch an upper bound) exit;
//! when the device rejected the plan's offsets (count 0, status set), every CTA first fills
//! its share of o with NaN, so that the failure cannot pass for a result.
struct listed_work {
  device_work work;

  template <class Element>
  __device__ __forceinline__ bool initial(const forward_params<Element>& params,
                                          segment_bounds& bounds, int& q_tile, int& head) const {
    head = static_cast<int>(blockIdx.x / work.capacity);
    const int32_t index = static_cast<int32_t>(blockIdx.x % work.capacity);
    if (index >= *work.count) {
      if (*work.status != 0) fill_nan_rows(params, head, index, work.capacity);
      return false;
    }
    const work_item item = work.items[index];
    const int32_t q_begin = work.cu_q[item.segment];
    const int32_t k_begin = work.cu_k[item.segment];
    bounds = {q_begin, work.cu_q[item.segment + 1] - q_begin, k_begin,
              work.cu_k[item.segment + 1] - k_begin};
    q_tile = item.q_tile;
    return true;
  }
};

}  // namespace varattn::detail
