// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_loader.cuh
//! Global -> shared copies of a [Rows, HeadDim] tile with cp.async, one 16-byte vector per
//! thread per step, coalesced along each row. Rows past `valid_rows`, and the padding
//! columns up to the next multiple of 16, are zero-filled (the products read them).

#include <varattn/detail/sm80/cp_async.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

template <class Traits, int Rows, class Element>
__device__ __forceinline__ void load_tile_async(Element* smem, const Element* gmem,
                                                int64_t token_stride, int valid_rows) {
  constexpr int kVectors = Rows * Traits::kPaddedChunks;
  constexpr int kSteps = (kVectors + Traits::kThreads - 1) / Traits::kThreads;
#pragma unroll
  for (int step = 0; step < kSteps; ++step) {
    const int i = step * Traits::kThreads + static_cast<int>(threadIdx.x);
    if (kVectors % Traits::kThreads != 0 && i >= kVectors) break;
    const int row = i / Traits::kPaddedChunks;
    const int chunk = i % Traits::kPaddedChunks;
    const bool valid = row < valid_rows && chunk < Traits::kChunks;
    cp_async_16(smem + row * Traits::kStride + chunk * 8,
                valid ? gmem + row * token_stride + chunk * 8 : gmem, valid);
  }
}

}  // namespace varattn::detail::sm80
