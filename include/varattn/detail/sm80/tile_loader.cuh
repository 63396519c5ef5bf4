// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_loader.cuh
//! Global -> shared copies of a [Rows, HeadDim] tile with cp.async, one 16-byte vector per
//! thread per step, coalesced along each row. Rows past `valid_rows` are zero-filled.

#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/sm80/cp_async.cuh>

#include <cstdint>

namespace varattn::detail {

template <class Traits, int Rows, class Element>
__device__ __forceinline__ void load_tile_async(Element* smem, const Element* gmem,
                                                int64_t token_stride, int valid_rows) {
  constexpr int kVectors = Rows * Traits::kChunks;
  static_assert(kVectors % Traits::kThreads == 0, "tile must split evenly over the CTA");
#pragma unroll
  for (int step = 0; step < kVectors / Traits::kThreads; ++step) {
    const int i = step * Traits::kThreads + static_cast<int>(threadIdx.x);
    const int row = i / Traits::kChunks;
    const int col = (i % Traits::kChunks) * 8;
    const bool valid = row < valid_rows;
    sm80::cp_async_16(smem + row * Traits::kStride + col,
                      valid ? gmem + row * token_stride + col : gmem, valid);
  }
}

}  // namespace varattn::detail
