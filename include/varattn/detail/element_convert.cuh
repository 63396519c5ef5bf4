// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file element_convert.cuh
//! One element of q, k, v or o to float and back, by the conversion intrinsics. PyTorch
//! compiles extensions with __CUDA_NO_HALF_CONVERSIONS__ and __CUDA_NO_BFLOAT16_CONVERSIONS__,
//! which take away __half's and __nv_bfloat16's conversion operators (static_cast included):
//! code that the Python package compiles converts by these names only. Host and device: the
//! bench fills its inputs with them too. Call them qualified (`detail::to_float(x)`):
//! unqualified, argument-dependent lookup would also find a user's own global
//! `to_float(__half)` and make the call ambiguous.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace varattn::detail {

__host__ __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__host__ __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

//! Rounded to nearest even, as the conversion operators round.
template <class Element>
__host__ __device__ __forceinline__ Element from_float(float x);
template <>
__host__ __device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__host__ __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

}  // namespace varattn::detail
