// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file ldmatrix.cuh
//! Four 8x8 b16 matrices from shared memory into the mma fragment layout. Lane l gives
//! the address of row (l % 8) of matrix (l / 8); register i receives matrix i.

#include <varattn/detail/arch_guard.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

//! Same, transposed: for B operands stored k-major (V is [key][channel]).
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

}  // namespace varattn::detail::sm80
