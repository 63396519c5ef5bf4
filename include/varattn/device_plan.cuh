#pragma once
//! \file device_plan.cuh
//! Building a fused plan's work list on the device from device cu_seqlens: one single-CTA
//! kernel (a CUB block scan over per-segment tile counts), no host wait, so that a whole
//! forward, plan building included, can be captured in a CUDA graph.

#include <varattn/device_segments.hpp>
#include <varattn/error.hpp>
#include <varattn/plan.hpp>
#include <varattn/work_list.hpp>

#include <cub/block/block_scan.cuh>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace varattn {
namespace detail {

inline constexpr int kBuildThreads = 256;

// A template only so that the header-only definition may appear in many translation units.
// Validates and copies the offsets into the plan, then writes the (segment, q-tile) items in
// segment order. Invalid offsets leave count 0 (a forward then writes nothing) and a status.
template <int Threads = kBuildThreads>
__global__ void __launch_bounds__(Threads)
    build_work_list_kernel(const int32_t* __restrict__ cu_q, const int32_t* __restrict__ cu_k,
                           int32_t segment_count, int32_t rows_q, int32_t rows_k,
                           int32_t block_m, int32_t capacity, int32_t* count, int32_t* status,
                           int32_t* plan_cu_q, int32_t* plan_cu_k, work_item* items) {
  using scan = cub::BlockScan<int32_t, Threads>;
  __shared__ typename scan::TempStorage scan_storage;
  __shared__ int32_t bad;
  __shared__ int32_t carry;
  const int32_t tid = static_cast<int32_t>(threadIdx.x);
  if (tid == 0) {
    bad = plan::kStatusOk;
    carry = 0;
  }
  __syncthreads();
  for (int32_t i = tid; i <= segment_count; i += Threads) {
    const int32_t q = cu_q[i], k = cu_k[i];
    plan_cu_q[i] = q;
    plan_cu_k[i] = k;
    if (i == 0 && (q != 0 || k != 0)) atomicMax(&bad, int32_t{plan::kStatusFirstNotZero});
    if (i > 0 && (q < cu_q[i - 1] || k < cu_k[i - 1])) atomicMax(&bad, int32_t{plan::kStatusDecreasing});
    if (i == segment_count && (q != rows_q || k != rows_k)) {
      atomicMax(&bad, int32_t{plan::kStatusLastMismatch});
    }
  }
  __syncthreads();
  if (bad != plan::kStatusOk) {
    if (tid == 0) {
      *count = 0;
      *status = bad;
    }
    return;
  }
  for (int32_t base = 0; base < segment_count; base += Threads) {
    const int32_t s = base + tid;
    const int32_t tiles = s < segment_count ? (cu_q[s + 1] - cu_q[s] + block_m - 1) / block_m : 0;
    int32_t first = 0, total = 0;
    scan(scan_storage).ExclusiveSum(tiles, first, total);
    first += carry;
    for (int32_t t = 0; t < tiles && first + t < capacity; ++t) items[first + t] = {s, t};
    __syncthreads();  // everyone has read carry, and scan_storage may be reused
    if (tid == 0) carry += total;
    __syncthreads();
  }
  if (tid == 0) {
    *count = carry < capacity ? carry : capacity;
    *status = plan::kStatusOk;
  }
}

}  // namespace detail

//! Writes the work list of `p` (from plan::reserve_on_device) from device offsets
//! `cu_q` / `cu_k` (segment_count + 1 each) with one kernel on `stream`. No host wait, no
//! allocation: capturable in a CUDA graph, and re-run whenever the offsets change. The
//! offsets are validated on the device (see plan::check_device_build).
inline void build_on_device(const plan& p, device_span<const int32_t> cu_q,
                            device_span<const int32_t> cu_k, cudaStream_t stream) {
  if (!p.built_on_device()) detail::fail("build_on_device: the plan was not made by reserve_on_device");
  const std::size_t expected = std::size_t(p.segment_count()) + 1;
  if (cu_q.data == nullptr) detail::fail("cu_seqlens_q is a null pointer");
  if (cu_k.data == nullptr) detail::fail("cu_seqlens_k is a null pointer");
  if (cu_q.size != expected) {
    detail::fail("cu_seqlens_q has ", cu_q.size, " offsets, the plan expects ", expected);
  }
  if (cu_k.size != expected) {
    detail::fail("cu_seqlens_k has ", cu_k.size, " offsets, the plan expects ", expected);
  }
  const device_work w = p.device();
  auto* base = const_cast<int32_t*>(w.count);  // the plan owns this buffer
  detail::build_work_list_kernel<><<<1, detail::kBuildThreads, 0, stream>>>(
      cu_q.data, cu_k.data, p.segment_count(), p.rows_q(), p.rows_k(), p.tile().block_m,
      w.capacity, base, base + 1, const_cast<int32_t*>(w.cu_q), const_cast<int32_t*>(w.cu_k),
      const_cast<work_item*>(w.items));
  VARATTN_CHECK_LAUNCH();
}

}  // namespace varattn
