// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file mma.cuh
//! The m16n8k16 tensor-core product with fp32 accumulation, for half and bfloat16, and
//! the packing of two floats into one operand register.
//!
//! Fragment layout (g = lane / 4, c = 2 * (lane % 4)):
//!   A 16x16: a0 = (g, c..c+1), a1 = (g+8, c..), a2 = (g, c+8..), a3 = (g+8, c+8..)
//!   B 16x8 : b0 = (k = c..c+1, n = g), b1 = (k = c+8.., n = g)
//!   C 16x8 : d0,d1 = (g, c..c+1), d2,d3 = (g+8, c..c+1)

#include <varattn/detail/arch_guard.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace varattn::detail::sm80 {

template <class Element>
struct mma_16816;

template <>
struct mma_16816<__half> {
  static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4],
                                             uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
  //! Element `i` (0: lo, 1: hi) of a packed pair, back to float.
  static __device__ __forceinline__ float unpack(uint32_t pair, int i) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(pair >> (16 * i))));
  }
};

template <>
struct mma_16816<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4],
                                             uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
  //! Element `i` (0: lo, 1: hi) of a packed pair, back to float (bf16 is float's top half).
  static __device__ __forceinline__ float unpack(uint32_t pair, int i) {
    return __uint_as_float(i == 0 ? pair << 16 : pair & 0xffff0000u);
  }
};

//! Two n8 tiles of an fp32 C fragment (columns 0-7 and 8-15 of 16 rows) packed to 16 bits as
//! the A fragment of one k16 step: how P, computed as scores in C layout, feeds P V on both
//! kernels without a trip through shared memory.
template <class Element>
__device__ __forceinline__ void pack_a_fragment(uint32_t (&a)[4], const float (&lo)[4],
                                                const float (&hi)[4]) {
  a[0] = mma_16816<Element>::pack(lo[0], lo[1]);
  a[1] = mma_16816<Element>::pack(lo[2], lo[3]);
  a[2] = mma_16816<Element>::pack(hi[0], hi[1]);
  a[3] = mma_16816<Element>::pack(hi[2], hi[3]);
}

}  // namespace varattn::detail::sm80
