// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file delta.cuh
//! The backward's preprocessing: D = rowsum(d_o * o) in float32 for every query row of every
//! q head, into the workspace (the atomic path's dQ accumulator is zeroed before it by a
//! memset: launch.cuh); and, when
//! the device rejected a device-built plan's offsets, NaN in every element of d_q, d_k and d_v
//! (as the forward fills o), so that invalid device-side input can never pass for gradients.

#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/element_convert.cuh>
#include <varattn/error.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace varattn::detail {

inline constexpr int kDeltaThreads = 256;

template <class Element>
__device__ void fill_nan(device_rows<Element> t, int64_t rows, int32_t heads, int32_t head_dim,
                         int64_t first_warp, int64_t warps, int lane) {
  constexpr uint16_t kNan = std::is_same_v<Element, __half> ? 0x7e00 : 0x7fc0;
  for (int64_t item = first_warp; item < rows * heads; item += warps) {
    auto* row = reinterpret_cast<uint16_t*>(t.at(item / heads, static_cast<int32_t>(item % heads)));
    for (int c = lane; c < head_dim; c += 32) row[c] = kNan;
  }
}

//! Rows of D one warp reads per pass: Lanes lanes share a (q head, row) item (one 16-byte
//! vector of o and of d_o each: Lanes x 8 >= head_dim), 32 / Lanes items side by side, and
//! kDeltaPasses of those loaded before any is summed, so that a lane has 2 x kDeltaPasses
//! loads in flight (one warp a row with one vector a lane left 3/4 of the lanes idle at head
//! dim 64 and ran at ~30% of the copy rate: NOTES twenty-ninth).
inline constexpr int kDeltaPasses = 4;

//! The lanes an item takes at this head dim: head_dim / 8 vectors, rounded up to a power of
//! two (the sum is a butterfly within them), at least 8 (head dim 32 leaves half of them idle
//! rather than take a fourth form the tests' head dims never reach).
inline int delta_lanes(int32_t head_dim) {
  const int vectors = (head_dim + 7) / 8;
  // Past 32 vectors a lane would need two: the plan accepts head dims up to 256 only.
  if (vectors > 32) fail("delta_lanes: head_dim = ", head_dim, " is above 256");
  return vectors <= 8 ? 8 : vectors <= 16 ? 16 : 32;
}

//! Items head-major (item = head * rows_q + row, D's own layout), so that the items a warp
//! holds are consecutive rows of one head and its D stores one run. `status` (null: none)
//! is the plan's device status; non-zero fills the gradients with NaN instead.
template <class Element, int Lanes>
__global__ void __launch_bounds__(kDeltaThreads)
    delta_kernel(const __grid_constant__ backward_params<Element> p, const int32_t* status) {
  static_assert(Lanes == 8 || Lanes == 16 || Lanes == 32);
  constexpr int kItemsPerPass = 32 / Lanes;
  constexpr int kItemsPerWarp = kItemsPerPass * kDeltaPasses;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t warps = int64_t{gridDim.x} * (kDeltaThreads / 32);
  const int64_t first = int64_t{blockIdx.x} * (kDeltaThreads / 32) + threadIdx.x / 32;
  if (status != nullptr && *status != 0) {
    fill_nan(p.d_q, p.rows_q, p.heads_q, p.head_dim, first, warps, lane);
    fill_nan(p.d_k, p.rows_k, p.heads_kv, p.head_dim, first, warps, lane);
    fill_nan(p.d_v, p.rows_k, p.heads_kv, p.head_dim, first, warps, lane);
    return;
  }
  const int column = (lane % Lanes) * 8;
  const bool has_column = column < p.head_dim;
  const int slot = lane / Lanes;
  const int64_t items = p.rows_q * p.heads_q;
  for (int64_t base = first * kItemsPerWarp; base < items; base += warps * kItemsPerWarp) {
    // One division a pass of the loop: the items after it step rows, wrapping to the next
    // head (more than once only where rows_q < kItemsPerWarp).
    int64_t row = (base + slot) % p.rows_q;
    auto head = static_cast<int32_t>((base + slot) / p.rows_q);
    uint4 ov[kDeltaPasses], dv[kDeltaPasses];
#pragma unroll
    for (int pass = 0; pass < kDeltaPasses; ++pass) {
      const int64_t item = base + pass * kItemsPerPass + slot;
      ov[pass] = dv[pass] = make_uint4(0, 0, 0, 0);
      if (has_column && item < items) {
        ov[pass] = *reinterpret_cast<const uint4*>(p.o.at(row, head) + column);
        dv[pass] = *reinterpret_cast<const uint4*>(p.d_o.at(row, head) + column);
      }
      for (row += kItemsPerPass; row >= p.rows_q; row -= p.rows_q) ++head;
    }
#pragma unroll
    for (int pass = 0; pass < kDeltaPasses; ++pass) {
      const auto* oe = reinterpret_cast<const Element*>(&ov[pass]);
      const auto* de = reinterpret_cast<const Element*>(&dv[pass]);
      float sum = 0.f;
#pragma unroll
      for (int e = 0; e < 8; ++e) sum += detail::to_float(oe[e]) * detail::to_float(de[e]);
#pragma unroll
      for (int offset = Lanes / 2; offset > 0; offset /= 2) {
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      }
      const int64_t item = base + pass * kItemsPerPass + slot;
      if (lane % Lanes == 0 && item < items) p.delta[item] = sum;
    }
  }
}

}  // namespace varattn::detail
