// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file device_plan.cuh
//! Building a fused plan's work list on the device from device cu_seqlens: one single-CTA
//! kernel, no host wait, so that a whole forward, plan building included, can be captured in
//! a CUDA graph. The items are grouped by size class (list_order.hpp), largest first, as the
//! host sorts its list longest first (work_list.hpp).

#include <varattn/detail/class_sort.cuh>
#include <varattn/detail/launch_kernel.cuh>
#include <varattn/detail/list_order.hpp>
#include <varattn/device_report.hpp>
#include <varattn/device_segments.hpp>
#include <varattn/error.hpp>
#include <varattn/plan.hpp>
#include <varattn/work_list.hpp>

#include <cuda_runtime_api.h>

#include <climits>
#include <cstdint>

namespace varattn {
namespace detail {

//! What is wrong with offsets[i] of an array of n + 1 offsets that must run from 0 to `rows`
//! without decreasing (a device_report code, 0 if nothing); `bound` gets the compared value.
__device__ __forceinline__ int32_t offset_error(const int32_t* offsets, int32_t i, int32_t n,
                                                int32_t rows, int32_t& bound) {
  const int32_t value = offsets[i];
  if (i == 0 && value != 0) return bound = 0, device_report::kFirstNotZero;
  if (i > 0 && value < offsets[i - 1]) return bound = offsets[i - 1], device_report::kDecreasing;
  if (i == n && value != rows) return bound = rows, device_report::kLastMismatch;
  return device_report::kNone;
}

//! The status word while a build runs (any non-zero status: the forward writes NaN).
inline constexpr int32_t kStatusBuilding = -1;

//! A build key, the `kBuildKeyWords` words the builder keeps beside the list: a marker no
//! zeroed or never-built buffer holds, then the builder's every scalar argument (the list is a
//! function of them and of the offsets alone). Made where it is used (from the kernel's
//! parameters) rather than kept in registers across the build.
struct build_key_args {
  int32_t segment_count, rows_q, rows_k, block_m, block_n;
  window w;
  bool grouping;
  int32_t capacity;

  __device__ __forceinline__ int32_t word(int i) const {
    switch (i) {
      case 0: return 0x76617231;  // "var1"
      case 1: return segment_count;
      case 2: return rows_q;
      case 3: return rows_k;
      case 4: return block_m;
      case 5: return block_n;
      case 6: return w.left;
      case 7: return w.right;
      case 8: return grouping ? 1 : 0;
      default: return capacity;
    }
  }
};
static_assert(kBuildKeyWords == 10, "build_key_args::word lists ten words");

//! True when the buffer already holds the list this build would write: the last build into it
//! succeeded (status 0) for the same key, and its copy of the offsets equals the call's. Every
//! thread of the block calls it (one block-wide vote, no shared memory).
__device__ __forceinline__ bool list_unchanged(const int32_t* cu_q, const int32_t* cu_k,
                                               const build_key_args& key, const int32_t* status,
                                               const int32_t* stored_key,
                                               const int32_t* plan_cu_q,
                                               const int32_t* plan_cu_k) {
  bool differs = *status != device_report::kNone;
#pragma unroll
  for (int i = 0; i < kBuildKeyWords; ++i) differs = differs || stored_key[i] != key.word(i);
  if (!differs) {
    for (auto i = static_cast<int32_t>(threadIdx.x); i <= key.segment_count;
         i += static_cast<int32_t>(blockDim.x)) {
      differs = differs || plan_cu_q[i] != cu_q[i] || plan_cu_k[i] != cu_k[i];
    }
  }
  return __syncthreads_or(differs ? 1 : 0) == 0;
}

// A template only so that the header-only definition may appear in many translation units.
// Validates and copies the offsets into the plan, then writes the (segment, q-tile) items,
// and with `grouping` the groups of short segments (for_each_item_run), by the size class
// of each tile's main-loop steps (tile_steps), largest first, in segment order within a class
// (class_sort.cuh), a segment's run of tiles in one class reversed when its last tile sees
// more keys than its first (a causal run grows), and each class's end in the list
// (class_ends: locate_class_rank, the Hopper forward's ranks).
// Invalid offsets leave count 0 and a non-zero status (the forward then writes NaN
// everywhere) and, unless an earlier failure is still untaken, a report naming the first bad
// entry (lowest index; q before k).
// One CTA (a minimum of 1 block an SM): ptxas otherwise held the kernel to 64 registers, and
// with the class ends' stores the placement loops spilled (16 / 52 bytes; 78 registers here).
template <int Threads = kBuildThreads>
__global__ void __launch_bounds__(Threads, 1)
    build_work_list_kernel(const int32_t* __restrict__ cu_q, const int32_t* __restrict__ cu_k,
                           int32_t segment_count, int32_t rows_q, int32_t rows_k,
                           int32_t block_m, int32_t block_n, window w, bool grouping,
                           int32_t capacity, bool when_changed,
                           int32_t* count, int32_t* status, int32_t* stored_key,
                           int32_t* plan_cu_q, int32_t* plan_cu_k, int32_t* class_ends,
                           work_item* items, device_report* report) {
  __shared__ int32_t first_bad;  // 2 * index + array of the first invalid entry
  __shared__ typename class_sort<Threads>::storage sort_storage;
  const int32_t tid = static_cast<int32_t>(threadIdx.x);
  // Made at each use from the parameters: none of it stays live across the build.
  const auto key = [&] {
    return build_key_args{segment_count, rows_q, rows_k, block_m, block_n, w, grouping, capacity};
  };
  if (when_changed &&
      list_unchanged(cu_q, cu_k, key(), status, stored_key, plan_cu_q, plan_cu_k)) {
    return;
  }
  // The key now, not at the end (where it cost registers across the build), with a status
  // that says "being built" until the end writes 0 (or the failure's code): a build that
  // fails, or a forward or build misused on this buffer from another stream meanwhile, never
  // takes the half-written list as valid (non-zero status: NaN output, no skip).
  if (tid == 0) {
#pragma unroll
    for (int i = 0; i < kBuildKeyWords; ++i) stored_key[i] = key().word(i);
    *status = kStatusBuilding;
    first_bad = INT32_MAX;
  }
  __syncthreads();
  for (int32_t i = tid; i <= segment_count; i += Threads) {
    plan_cu_q[i] = cu_q[i];
    plan_cu_k[i] = cu_k[i];
    int32_t bound;
    if (offset_error(cu_q, i, segment_count, rows_q, bound) != device_report::kNone) {
      atomicMin(&first_bad, 2 * i);
    } else if (offset_error(cu_k, i, segment_count, rows_k, bound) != device_report::kNone) {
      atomicMin(&first_bad, 2 * i + 1);
    }
  }
  __syncthreads();
  if (first_bad != INT32_MAX) {
    if (tid < kSegmentClasses) class_ends[tid] = 0;  // no stale classes beside count 0
    const int32_t index = first_bad / 2, array = first_bad % 2;
    if (tid == 0) {
      int32_t bound = 0;
      const int32_t code = offset_error(array == 0 ? cu_q : cu_k, index, segment_count,
                                        array == 0 ? rows_q : rows_k, bound);
      *count = 0;
      *status = code;
      if (report->code == device_report::kNone) {
        report->array = array;
        report->index = index;
        report->value = (array == 0 ? cu_q : cu_k)[index];
        report->bound = bound;
        __threadfence_system();  // the fields land before the code that publishes them
        report->code = code;
      }
    }
    return;
  }
  class_sort<Threads> sort(sort_storage, segment_count);
  const auto length = [&](int32_t s) {
    return segment_lengths{cu_q[s + 1] - cu_q[s], cu_k[s + 1] - cu_k[s]};
  };
  // Groups never cross two threads' ranges: each thread groups its own segments.
  for_each_item_run(
      sort.begin(), sort.end(), length, block_m, block_n, w, grouping,
      [&](int32_t, int32_t, int32_t tiles, int32_t slot) { sort.count(slot, tiles); },
      [&](int32_t, int32_t, int32_t slot) { sort.count(slot, 1); });
  sort.scan();
  for_each_item_run(
      sort.begin(), sort.end(), length, block_m, block_n, w, grouping,
      [&](int32_t s, int32_t first_tile, int32_t tiles, int32_t slot) {
        // Reversed when it grows (causal): its larger end first; a one-tile run (every short
        // segment) needs no comparison.
        const segment_lengths l = length(s);
        const int32_t last_tile = first_tile + tiles - 1;
        const bool rising = tiles > 1 && tile_keys(l.q, l.k, last_tile, block_m, w) >
                                             tile_keys(l.q, l.k, first_tile, block_m, w);
        const int32_t at = sort.place(slot, tiles);
        for (int32_t t = 0; t < tiles && at + t < capacity; ++t) {
          items[at + t] = {s, rising ? last_tile - t : first_tile + t};
        }
      },
      [&](int32_t first, int32_t count, int32_t slot) {
        const int32_t at = sort.place(slot, 1);
        if (at < capacity) items[at] = work_item::group(first, count);
      });
  // The class ends (locate_class_rank), clamped as the count is: items past the capacity are
  // not written, so no class reaches past it, and ends[31] equals *count.
  if (tid < kSegmentClasses) {
    const int32_t end = sort.first(tid + 1);
    class_ends[tid] = end < capacity ? end : capacity;
  }
  if (tid == 0) {
    const int32_t total = sort.total();
    *count = total < capacity ? total : capacity;
    *status = device_report::kNone;
  }
}

}  // namespace detail

//! Writes the work list of `p` (from plan::reserve_on_device or plan::on_device) from device
//! offsets `cu_q` / `cu_k` (segment_count + 1 each) with one kernel on `stream`. No host wait,
//! no allocation: capturable in a CUDA graph, and re-run whenever the offsets change. The
//! offsets are validated on the device: invalid ones make every output element of the
//! forwards that use this build NaN, and are reported by plan::raise_device_error (no wait)
//! or plan::check_device_build (waits); a failed build is never taken as unchanged.
//! `history`: the workspace's build_history (rebuild), for plans on a caller's workspace
//! (plan::on_device) built with rebuild::when_changed; a plan's own buffer (reserve_on_device)
//! keeps its own.
inline void build_on_device(plan& p, device_span<const int32_t> cu_q,
                            device_span<const int32_t> cu_k, cudaStream_t stream,
                            rebuild when = rebuild::always, build_history* history = nullptr) {
  p.require_usable("build_on_device");
  if (!p.built_on_device()) {
    detail::fail("build_on_device: the plan was not made by reserve_on_device or on_device");
  }
  const std::size_t expected = std::size_t(p.segment_count()) + 1;
  if (cu_q.data == nullptr) detail::fail("cu_seqlens_q is a null pointer");
  if (cu_k.data == nullptr) detail::fail("cu_seqlens_k is a null pointer");
  if (cu_q.size != expected) {
    detail::fail("cu_seqlens_q has ", cu_q.size, " offsets, the plan expects ", expected);
  }
  if (cu_k.size != expected) {
    detail::fail("cu_seqlens_k has ", cu_k.size, " offsets, the plan expects ", expected);
  }
  // Where the header may be memory no build of this context wrote, the first build is full.
  if (p.c_.owned_device) history = &p.c_.owned_builds;
  if (when == rebuild::when_changed && history == nullptr) {
    detail::fail("build_on_device: rebuild::when_changed on a caller's workspace "
                 "(plan::on_device) needs that workspace's build_history");
  }
  build_history::context context;
  if (history != nullptr) {
    context = build_history::context_of(stream);
    when = history->resolve(context, when);
  }
  const device_work w = p.device();
  auto* base = p.c_.device;  // [count, status, build key, ...] (plan.hpp)
  detail::launch_kernel(detail::build_work_list_kernel<>, dim3(1), dim3(detail::kBuildThreads), 0,
                        stream, cu_q.data, cu_k.data, p.segment_count(), p.rows_q(), p.rows_k(),
                        p.tile().block_m, p.tile().block_n, p.c_.window,
                        p.kernel().groups_segments(), w.capacity, when == rebuild::when_changed,
                        base, base + 1, base + 2, const_cast<int32_t*>(w.cu_q),
                        const_cast<int32_t*>(w.cu_k), const_cast<int32_t*>(w.class_ends),
                        const_cast<work_item*>(w.items), p.c_.report);
  if (history != nullptr) history->record(context);  // only once the launch was accepted
  p.c_.built = true;
}

}  // namespace varattn
