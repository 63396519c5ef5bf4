// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file bulk_reduce.cuh
//! Bulk asynchronous reductions from shared to global memory (sm_90, the TMA unit's
//! cp.reduce.async.bulk): a thread hands over a contiguous run of float32 values that the
//! copy engine adds, element by element and atomically, into global memory. The Hopper
//! backward adds its dQ terms this way: one instruction a 256-byte row instead of 32
//! red.global a row, and the warps go on while the adds drain.

#include <varattn/detail/sm90/mbarrier.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! dst[i] += src[i] for `bytes` / 4 floats; dst and src 16-byte aligned, bytes a multiple of
//! 16. The writers of src make it visible first (fence_proxy_async, then a barrier).
__device__ __forceinline__ void bulk_reduce_add(float* dst, const float* src, uint32_t bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n"
               ::"l"(dst),
               "r"(shared_address(src)), "r"(bytes)
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
