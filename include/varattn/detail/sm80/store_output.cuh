// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file store_output.cuh
//! The sm80 kernel's output store: one warp's 16 normalized rows are staged in shared memory
//! (the warp's own rows of the Q tile) and written with 16-byte coalesced stores, skipping
//! rows past the segment's end and the padding columns.

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

//! Row r (of the warp's 16) goes to out_row(r).
template <class Traits, class Element, class RowAddress>
__device__ __forceinline__ void store_output(const float (&o)[Traits::kOutTiles][4],
                                             const row_results& rows, Element* smem_rows,
                                             RowAddress out_row, int valid_rows) {
  using mma = mma_16816<Element>;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int row = lane / 4;
#pragma unroll
  for (int t = 0; t < Traits::kOutTiles; ++t) {
    const int col = t * 8 + (lane % 4) * 2;
    *reinterpret_cast<uint32_t*>(smem_rows + row * Traits::kStride + col) =
        mma::pack(o[t][0] * rows.inv[0], o[t][1] * rows.inv[0]);
    *reinterpret_cast<uint32_t*>(smem_rows + (row + 8) * Traits::kStride + col) =
        mma::pack(o[t][2] * rows.inv[1], o[t][3] * rows.inv[1]);
  }
  __syncwarp();
  constexpr int kVectors = 16 * Traits::kChunks;
#pragma unroll
  for (int i = lane; i < kVectors; i += 32) {
    const int r = i / Traits::kChunks;
    const int c = (i % Traits::kChunks) * 8;
    if (r < valid_rows) {
      *reinterpret_cast<uint4*>(out_row(r) + c) =
          *reinterpret_cast<const uint4*>(smem_rows + r * Traits::kStride + c);
    }
  }
}

}  // namespace varattn::detail::sm80
