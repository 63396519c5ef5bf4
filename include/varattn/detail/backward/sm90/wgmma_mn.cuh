// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file wgmma_mn.cuh
//! The one warpgroup MMA the Hopper backward needs beyond sm90/wgmma_ops.cuh: m64n64k16 with
//! A and B both from shared memory and both MN-major (transpose bits set), for dQ += dS K
//! with dS^T stored [key][query] (A's M = queries contiguous) and K stored [key][channel]
//! (B's N = channels contiguous). Descriptors: descriptor_128b_mn (sm90/wgmma.cuh).
//! d is the warpgroup's accumulator in the mma.sync C layout (warp w: rows 16w..16w+15).

#include <varattn/detail/sm90/wgmma_ops.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// The instruction text differs only in the input type; one asm body a type.
#define VARATTN_WGMMA_MN_64(TYPE)                                                               \
  asm volatile(                                                                                \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                             \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " "                          \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "      \
      "%32, %33, p, 1, 1, 1, 1;\n}\n"                                                          \
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]),             \
        "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]),             \
        "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]),             \
        "+f"(d[3][3]), "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),             \
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]),             \
        "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]), "+f"(d[7][1]),             \
        "+f"(d[7][2]), "+f"(d[7][3])                                                           \
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)))

//! d[64 x 64] (+)= A B, A and B MN-major in shared memory. `accumulate` false overwrites d.
template <class Element>
__device__ __forceinline__ void mma_ss_mn(float (&d)[8][4], uint64_t a, uint64_t b,
                                          bool accumulate) {
  if constexpr (std::is_same_v<Element, __nv_bfloat16>) {
    VARATTN_WGMMA_MN_64("bf16");
  } else {
    static_assert(std::is_same_v<Element, __half>, "bf16 or f16");
    VARATTN_WGMMA_MN_64("f16");
  }
}

#undef VARATTN_WGMMA_MN_64

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
