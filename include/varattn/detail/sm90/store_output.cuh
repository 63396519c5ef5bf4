// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file store_output.cuh
//! The Hopper kernel's output store: each thread writes its two rows of the warpgroup's
//! accumulator straight to global memory, 4 bytes a store, skipping rows past the segment.

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

//! o: the warp's 16 x (8 * OutTiles) fragment whose row 0 is tile row `row0`; tile row r goes
//! to out + row_offset(r) (elements).
template <int OutTiles, class Element, class RowOffset>
__device__ __forceinline__ void store_output(const float (&o)[OutTiles][4], const row_results& rows,
                                             Element* out, const RowOffset& row_offset, int row0,
                                             int valid_rows) {
  using pack = sm80::mma_16816<Element>;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int col = (lane % 4) * 2;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + lane / 4 + r * 8;
    if (row >= valid_rows) continue;
    Element* out_row = out + row_offset(row) + col;
#pragma unroll
    for (int t = 0; t < OutTiles; ++t) {
      *reinterpret_cast<uint32_t*>(out_row + t * 8) =
          pack::pack(o[t][2 * r] * rows.inv[r], o[t][2 * r + 1] * rows.inv[r]);
    }
  }
}

//! The same for consecutive rows `token_stride` apart (an unpacked tile).
template <int OutTiles, class Element>
__device__ __forceinline__ void store_output(const float (&o)[OutTiles][4], const row_results& rows,
                                             Element* out, int64_t token_stride, int row0,
                                             int valid_rows) {
  store_output(
      o, rows, out, [token_stride](int row) { return row * token_stride; }, row0, valid_rows);
}

}  // namespace varattn::detail::sm90
