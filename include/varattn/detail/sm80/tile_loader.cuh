// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_loader.cuh
//! Global -> shared copies of a [Rows, HeadDim] tile with cp.async, one 16-byte vector per
//! thread per step, coalesced along each row. Rows past `valid_rows`, and the padding
//! columns up to the next multiple of 16, are zero-filled (the products read them).

#include <varattn/detail/sm80/cp_async.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

//! Row `row` of the tile comes from row_address(row) (packed tiles: rows of several heads).
template <class Traits, int Rows, class Element, class RowAddress>
__device__ __forceinline__ void load_rows_async(Element* smem, RowAddress row_address,
                                                int valid_rows) {
  const Element* first = row_address(0);  // the source of zero-filled vectors (never read)
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
                valid ? row_address(row) + chunk * 8 : first, valid);
  }
}

//! Rows `token_stride` elements apart from `gmem`. When the threads cover whole rows (no
//! padding columns, a row's vectors dividing the threads: head dims 64 and 128 at 4 warps),
//! each thread copies one column vector of rows r0, r0 + kRowsPerPass, ...: its address is
//! computed once and advanced by a precomputed stride, instead of a row and column split
//! and a 64-bit row multiply for every vector (~17 instructions a copy at head dim 64).
template <class Traits, int Rows, class Element>
__device__ __forceinline__ void load_tile_async(Element* smem, const Element* gmem,
                                                int64_t token_stride, int valid_rows) {
  constexpr int kChunks = Traits::kPaddedChunks;
  if constexpr (Traits::kChunks == kChunks && Traits::kThreads % kChunks == 0 &&
                Rows % (Traits::kThreads / kChunks) == 0) {
    constexpr int kRowsPerPass = Traits::kThreads / kChunks;
    const unsigned row0 = threadIdx.x / kChunks;
    const unsigned chunk = threadIdx.x % kChunks;
    const Element* source = gmem + row0 * token_stride + chunk * 8;
    const int64_t pass_stride = kRowsPerPass * token_stride;
    Element* target = smem + row0 * Traits::kStride + chunk * 8;
#pragma unroll
    for (int pass = 0; pass < Rows / kRowsPerPass; ++pass) {
      const bool valid = static_cast<int>(row0) + pass * kRowsPerPass < valid_rows;
      cp_async_16(target + pass * kRowsPerPass * Traits::kStride, valid ? source : gmem, valid);
      source += pass_stride;
    }
  } else {
    load_rows_async<Traits, Rows>(
        smem, [gmem, token_stride](int row) { return gmem + row * token_stride; }, valid_rows);
  }
}

}  // namespace varattn::detail::sm80
