// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file delta.cuh
//! The backward's preprocessing: D = rowsum(d_o * o) in float32 for every query row of every
//! q head, into the workspace (the atomic path's dQ accumulator is zeroed before it by a
//! memset: launch.cuh); and, when
//! the device rejected a device-built plan's offsets, NaN in every element of d_q, d_k and d_v
//! (as the forward fills o), so that invalid device-side input can never pass for gradients.

#include <varattn/detail/backward/params.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace varattn::detail {

inline constexpr int kDeltaThreads = 256;

__device__ __forceinline__ float element_to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float element_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class Element>
__device__ void fill_nan(device_rows<Element> t, int64_t rows, int32_t heads, int32_t head_dim,
                         int64_t first_warp, int64_t warps, int lane) {
  constexpr uint16_t kNan = std::is_same_v<Element, __half> ? 0x7e00 : 0x7fc0;
  for (int64_t item = first_warp; item < rows * heads; item += warps) {
    auto* row = reinterpret_cast<uint16_t*>(t.at(item / heads, static_cast<int32_t>(item % heads)));
    for (int c = lane; c < head_dim; c += 32) row[c] = kNan;
  }
}

//! One warp a (q head, row) pair, head-major so that the D stores of a warp group coalesce;
//! each lane reads 16-byte vectors of o and d_o. `status` (null: none) is the plan's device
//! status; non-zero fills the gradients with NaN instead.
template <class Element>
__global__ void __launch_bounds__(kDeltaThreads)
    delta_kernel(const __grid_constant__ backward_params<Element> p, const int32_t* status) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t warps = int64_t{gridDim.x} * (kDeltaThreads / 32);
  const int64_t first = int64_t{blockIdx.x} * (kDeltaThreads / 32) + threadIdx.x / 32;
  if (status != nullptr && *status != 0) {
    fill_nan(p.d_q, p.rows_q, p.heads_q, p.head_dim, first, warps, lane);
    fill_nan(p.d_k, p.rows_k, p.heads_kv, p.head_dim, first, warps, lane);
    fill_nan(p.d_v, p.rows_k, p.heads_kv, p.head_dim, first, warps, lane);
    return;
  }
  for (int64_t item = first; item < p.rows_q * p.heads_q; item += warps) {
    const int32_t head = static_cast<int32_t>(item / p.rows_q);
    const int64_t row = item % p.rows_q;
    const Element* o = p.o.at(row, head);
    const Element* d_o = p.d_o.at(row, head);
    float sum = 0.f;
    for (int c = lane * 8; c < p.head_dim; c += 32 * 8) {
      const uint4 ov = *reinterpret_cast<const uint4*>(o + c);
      const uint4 dv = *reinterpret_cast<const uint4*>(d_o + c);
      const auto* oe = reinterpret_cast<const Element*>(&ov);
      const auto* de = reinterpret_cast<const Element*>(&dv);
#pragma unroll
      for (int e = 0; e < 8; ++e) sum += element_to_float(oe[e]) * element_to_float(de[e]);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0) p.delta[item] = sum;
  }
}

}  // namespace varattn::detail
