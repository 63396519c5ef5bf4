// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file bulk_reduce.cuh
//! Bulk asynchronous reductions from shared to global memory (sm_90, the TMA unit's
//! cp.reduce.async.bulk.tensor): a thread hands over a box of a tensor (a TMA tensor map) that
//! the copy engine adds, element by element and atomically, into global memory. The Hopper
//! backward adds its dQ terms this way: one instruction a box of a query step's rows x 32
//! channels instead of red.global a pair, and the warps go on while the adds drain.

#include <varattn/detail/sm90/mbarrier.cuh>
#include <varattn/detail/sm90/tma_load.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! Adds a box of the dQ accumulator (dq_tensor_map: rank 4, rows clipped at the segment's
//! end) from shared memory `src` (the map's 128-byte swizzle, 1024-byte aligned): channels
//! [channel, + 32) of head `head`, the box's first `valid` rows onto rows [first, + valid) of
//! the accumulator's `rows`; its rows past `valid` are not added (segment_map's coordinates:
//! row i is in bounds exactly when rows - valid + i < rows). One instruction for the whole
//! box, whose elements the copy engine adds atomically. `map` is the address of a
//! __grid_constant__ kernel parameter.
__device__ __forceinline__ void bulk_reduce_add_rows(const void* map, const void* src,
                                                     int32_t channel, int32_t head,
                                                     int32_t first, int32_t valid, int32_t rows) {
  asm volatile(
      "cp.reduce.async.bulk.tensor.4d.global.shared::cta.add.tile.bulk_group "
      "[%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(reinterpret_cast<uint64_t>(map)),
      "r"(shared_address(src)), "r"(channel), "r"(rows - valid), "r"(head), "r"(first + valid)
      : "memory");
}

//! Closes this thread's bulk operations issued since the last commit into one group.
__device__ __forceinline__ void bulk_commit() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

//! Waits until at most `Pending` of this thread's groups still read their shared memory
//! (the source may then be overwritten).
template <int Pending>
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(Pending) : "memory");
}

//! Waits until at most `Pending` of this thread's groups are incomplete (writes done).
template <int Pending>
__device__ __forceinline__ void bulk_wait() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(Pending) : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
