// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file store_output.cuh
//! The Hopper kernel's output store: each thread writes its two rows of the warpgroup's
//! accumulator straight to global memory, skipping rows past the segment, 16 bytes a store:
//! the four threads of a row (a quad) hold 4 bytes of each n8 tile, so per four tiles they
//! transpose their words by shuffles (quad_transpose) until each holds one tile's 16 bytes.
//! 4-byte stores covered half an L2 sector each (8 sectors a warp's store against 4 ideal,
//! 1.64x FA4's L2 write sectors on llm-d128: bench/NOTES.md, fiftieth session). Tiles past the
//! last multiple of four (head dims 72 and 80) keep the 4-byte stores.

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

//! A 4 x 4 transpose of 32-bit words across a quad: thread q's v[j] becomes thread j's v[q]
//! as it was. Two butterfly stages (lane ^ 1, lane ^ 2), each moving the words whose slot bit
//! differs from the thread's: four shuffles and their selects.
__device__ __forceinline__ void quad_transpose(uint32_t (&v)[4], int quad) {
#pragma unroll
  for (int m = 1; m <= 2; m *= 2) {
    const bool high = (quad & m) != 0;
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      if (b & m) continue;  // the pair (b, b | m), once
      const uint32_t sent = high ? v[b] : v[b | m];
      const uint32_t got = __shfl_xor_sync(0xffffffffu, sent, m);
      if (high) {
        v[b] = got;
      } else {
        v[b | m] = got;
      }
    }
  }
}

//! o: the warp's 16 x (8 * OutTiles) fragment whose row 0 is tile row `row0`; tile row r goes
//! to out + row_offset(r) (elements; 16-byte aligned: validate_view's strides). Every lane
//! takes part in the shuffles; rows at or past `valid_rows` store nothing.
template <int OutTiles, class Element, class RowOffset>
__device__ __forceinline__ void store_output(const float (&o)[OutTiles][4], const row_results& rows,
                                             Element* out, const RowOffset& row_offset, int row0,
                                             int valid_rows) {
  using pack = sm80::mma_16816<Element>;
  constexpr int kQuadTiles = OutTiles / 4 * 4;  // tiles stored 16 bytes a thread
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int quad = lane % 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + lane / 4 + r * 8;
    const bool valid = row < valid_rows;
    Element* out_row = out + (valid ? row_offset(row) : 0);
#pragma unroll
    for (int t0 = 0; t0 < kQuadTiles; t0 += 4) {
      uint32_t v[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[j] = pack::pack(o[t0 + j][2 * r] * rows.inv[r], o[t0 + j][2 * r + 1] * rows.inv[r]);
      }
      quad_transpose(v, quad);  // v: tile t0 + quad's 8 columns
      if (valid) {
        *reinterpret_cast<uint4*>(out_row + (t0 + quad) * 8) = make_uint4(v[0], v[1], v[2], v[3]);
      }
    }
#pragma unroll
    for (int t = kQuadTiles; t < OutTiles; ++t) {
      if (valid) {
        *reinterpret_cast<uint32_t*>(out_row + t * 8 + quad * 2) =
            pack::pack(o[t][2 * r] * rows.inv[r], o[t][2 * r + 1] * rows.inv[r]);
      }
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
