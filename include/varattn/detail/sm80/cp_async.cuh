// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file cp_async.cuh
//! Asynchronous global-to-shared copies (sm_80+): 16 bytes bypassing L1, or 4 bytes.

#include <varattn/detail/arch_guard.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

//! Copies 16 bytes; when `valid` is false nothing is read and the destination is zeroed,
//! which keeps rows past a segment's end finite in the GEMMs.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem),
               "r"(src_bytes));
}

//! Copies 4 bytes (a float of a per-row array) through L1 (.cg takes only 16); zeroes the
//! destination when `valid` is false.
__device__ __forceinline__ void cp_async_4(void* smem, const void* gmem, bool valid) {
  const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem),
               "r"(src_bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

//! Waits until at most `Pending` committed groups are still in flight.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

}  // namespace varattn::detail::sm80
