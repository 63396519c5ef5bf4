// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file stmatrix.cuh
//! Four 8 x 8 16-bit matrices of a warp stored to shared memory in one instruction (stmatrix,
//! sm_90): the head-dim-80 forward writes P [row][key] from its mma A fragments (stmatrix_x4);
//! the backward writes dS [query][key] from the registers that hold dS^T as mma A fragments (a
//! pair of adjacent queries a register; stmatrix_x4_trans), where plain stores would split
//! every register into two 16-bit halves.

#include <cstdint>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! Register i holds matrix i's pair (row lane / 4, columns 2 (lane % 4) and + 1), the mma.sync
//! fragment layout. Lane l gives the shared address of row l % 8 of matrix l / 8: its 8
//! elements, 16 contiguous bytes (the address 16-byte aligned).
__device__ __forceinline__ void stmatrix_x4(uint32_t address, const uint32_t (&r)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n"
               :
               : "r"(address), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
               : "memory");
}

//! The same, each matrix transposed: lane l gives the shared address of row l % 8 of matrix
//! l / 8 as stored, which is column l % 8 of the registers' matrix.
__device__ __forceinline__ void stmatrix_x4_trans(uint32_t address, const uint32_t (&r)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n"
               :
               : "r"(address), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
               : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
