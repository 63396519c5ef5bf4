// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tma_load.cuh
//! Tile loads by the copy engine (sm_90, cp.async.bulk.tensor): one thread hands over a box of
//! a segment map (tensor_map.hpp) and the engine writes it, swizzled, into shared memory and
//! counts its bytes on an mbarrier (mbarrier_arrive_expect_tx). Rows past the box's segment
//! arrive as zeros.

#include <varattn/detail/sm90/mbarrier.cuh>
#include <varattn/detail/sm90/tensor_map.hpp>

#include <cstdint>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! Copies the box of rows [first, first + box rows) of head `head` and channels
//! [column, column + box channels) into `smem` (1024-byte aligned; 256 for the 32-byte
//! swizzle's boxes), rows from `valid` on as zeros;
//! completes `valid`-independent box bytes on `barrier`. `m` is (inside) a __grid_constant__
//! kernel parameter. Requires first + valid <= m.rows and valid >= 1.
__device__ __forceinline__ void tma_load_box(const segment_map& m, void* smem, uint64_t* barrier,
                                             int32_t first, int32_t valid, int32_t head,
                                             int32_t column) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes "
      "[%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(shared_address(smem)),
      "l"(reinterpret_cast<uint64_t>(&m.map)), "r"(shared_address(barrier)), "r"(column),
      "r"(m.rows - valid), "r"(head * m.head_step), "r"(first + valid)
      : "memory");
}

//! The same for a map with the heads in its box (make_segment_map with pack > 1): tokens
//! [first, first + valid) of heads [head, head + pack) into shared-memory rows token x pack +
//! head, the box's tokens from `valid` on as zeros.
__device__ __forceinline__ void tma_load_packed_box(const segment_map& m, void* smem,
                                                    uint64_t* barrier, int32_t first, int32_t valid,
                                                    int32_t head, int32_t column) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes "
      "[%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(shared_address(smem)),
      "l"(reinterpret_cast<uint64_t>(&m.map)), "r"(shared_address(barrier)), "r"(column), "r"(head),
      "r"(m.rows - valid), "r"(first + valid)
      : "memory");
}

//! Fetches the tensor map at `map` (a __grid_constant__ parameter's address: a segment map's
//! `map`, the backward's dq_map) into the descriptor cache ahead of its first use.
__device__ __forceinline__ void prefetch_tensor_map(const void* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
