// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file class_sort.cuh
//! One CTA's stable counting sort of the runs of a work list by size class (list_order.hpp),
//! for the lists built on the device (device_plan.cuh, backward/work_list.cuh). Stable:
//! within a class the runs keep segment order, so neighbouring ranks read neighbouring rows
//! as the segment-ordered list did, and the list is one order that a test can hold to a host
//! reference. (An atomic a run, in the threads' claiming order, ran no slower on the H200:
//! bench/NOTES.md, seventeenth section, v2 against v3.)
//! Each thread owns a contiguous range of segments: count() its runs, scan() (every thread),
//! then place() the same runs in the same order.

#include <varattn/detail/list_order.hpp>

#include <cstdint>

namespace varattn::detail {

template <int Threads>
class class_sort {
  static_assert(Threads % 32 == 0 && kSegmentClasses == 32,
                "whole warps; one warp scans the class totals, a lane a class");

 public:
  struct storage {
    int32_t place[kSegmentClasses][Threads];  // a thread's items of a class, then its next place
    int32_t first[kSegmentClasses + 1];       // each class's first place; the last: the total
  };

  __device__ class_sort(storage& s, int32_t segment_count)
      : s_(s), tid_(static_cast<int32_t>(threadIdx.x)) {
    const int32_t per = (segment_count + Threads - 1) / Threads;
    begin_ = min(segment_count, tid_ * per);
    end_ = min(segment_count, begin_ + per);
    for (int32_t slot = 0; slot < kSegmentClasses; ++slot) s_.place[slot][tid_] = 0;
  }

  //! This thread's segments: [begin(), end()).
  __device__ int32_t begin() const { return begin_; }
  __device__ int32_t end() const { return end_; }

  __device__ void count(int32_t slot, int32_t items) { s_.place[slot][tid_] += items; }

  //! After every count(): each thread's first place in each class, and each class's first
  //! place. Every thread calls it (barriers inside).
  __device__ void scan() {
    __syncthreads();
    const int32_t lane = tid_ % 32, warp = tid_ / 32;
    for (int32_t slot = warp; slot < kSegmentClasses; slot += Threads / 32) {
      int32_t carry = 0;
      for (int32_t base = 0; base < Threads; base += 32) {
        const int32_t n = s_.place[slot][base + lane];
        const int32_t sum = warp_inclusive_sum(n);
        s_.place[slot][base + lane] = carry + sum - n;
        carry += __shfl_sync(0xffffffffu, sum, 31);
      }
      if (lane == 0) s_.first[slot] = carry;  // the class's size until the scan below
    }
    __syncthreads();
    if (warp == 0) {
      const int32_t n = s_.first[lane];
      const int32_t sum = warp_inclusive_sum(n);
      s_.first[lane] = sum - n;
      if (lane == 31) s_.first[kSegmentClasses] = sum;
    }
    __syncthreads();
  }

  __device__ int32_t first(int32_t slot) const { return s_.first[slot]; }
  __device__ int32_t total() const { return s_.first[kSegmentClasses]; }

  //! The first place of this thread's next run of `items` in class `slot` (runs placed in the
  //! order they were counted).
  __device__ int32_t place(int32_t slot, int32_t items) {
    const int32_t at = s_.first[slot] + s_.place[slot][tid_];
    s_.place[slot][tid_] += items;
    return at;
  }

 private:
  __device__ static int32_t warp_inclusive_sum(int32_t v) {
    const int32_t lane = static_cast<int32_t>(threadIdx.x % 32);
#pragma unroll
    for (int32_t d = 1; d < 32; d *= 2) {
      const int32_t up = __shfl_up_sync(0xffffffffu, v, d);
      if (lane >= d) v += up;
    }
    return v;
  }

  storage& s_;
  int32_t tid_;
  int32_t begin_;
  int32_t end_;
};

}  // namespace varattn::detail
