// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file store_output.cuh
//! The sm80 kernel's output store: one warp's 16 normalized rows are staged in shared memory
//! (the warp's own rows of the Q tile), then written with 16-byte coalesced stores, skipping
//! rows past the segment's end, rows the caller does not keep, and the padding columns. A
//! group tile recomputes the rows it staged non-finite instead (group_isolation.cuh).

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/kernel/group_isolation.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

//! Stages the warp's 16 normalized rows in `smem_rows` (row r at r * kStride). With Probe,
//! returns which of the thread's staged rows below valid_rows hold an inf or NaN: bit 0 its row
//! lane / 4, bit 1 its row lane / 4 + 8 (group_isolation.cuh); without, 0.
template <class Traits, bool Probe, class Element>
__device__ __forceinline__ uint32_t stage_output(const float (&o)[Traits::kOutTiles][4],
                                                 const row_results& rows, Element* smem_rows,
                                                 int valid_rows) {
  using mma = mma_16816<Element>;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int row = lane / 4;
  nonfinite_probe<Element> probe[2];  // rows `row` and `row + 8`
#pragma unroll
  for (int t = 0; t < Traits::kOutTiles; ++t) {
    const int col = t * 8 + (lane % 4) * 2;
    const uint32_t low = mma::pack(o[t][0] * rows.inv[0], o[t][1] * rows.inv[0]);
    const uint32_t high = mma::pack(o[t][2] * rows.inv[1], o[t][3] * rows.inv[1]);
    *reinterpret_cast<uint32_t*>(smem_rows + row * Traits::kStride + col) = low;
    *reinterpret_cast<uint32_t*>(smem_rows + (row + 8) * Traits::kStride + col) = high;
    if constexpr (Probe) {
      probe[0].add(low);
      probe[1].add(high);
    }
  }
  return (row < valid_rows && probe[0].hit() ? 1u : 0u) |
         (row + 8 < valid_rows && probe[1].hit() ? 2u : 0u);
}

//! Writes the staged row r (of the warp's 16) to out_row(r) if r < valid_rows and keep(r).
template <class Traits, class Element, class RowAddress, class Keep>
__device__ __forceinline__ void write_output(const Element* smem_rows, RowAddress out_row,
                                             int valid_rows, Keep keep) {
  int lane = static_cast<int>(threadIdx.x % 32);
  if constexpr (32 % Traits::kChunks != 0) {
    // Head dims whose row of vectors does not divide the warp (80: 10): each vector's row and
    // column cost a division by kChunks, and ptxas held them across a strided CTA's tiles,
    // spilling 20 bytes with a group tile's rare path (ptxas -v, bench/NOTES.md sixty-first):
    // read the lane opaquely, so they are computed afresh a tile.
    asm volatile("mov.u32 %0, %%laneid;" : "=r"(lane));
    lane &= 31;  // the bound the asm hides: the loop below unrolls fully
  }
  __syncwarp();
  constexpr int kVectors = 16 * Traits::kChunks;
#pragma unroll
  for (int i = lane; i < kVectors; i += 32) {
    const int r = i / Traits::kChunks;
    // Not i % kChunks: with i's bound known (lane & 31) nvcc took the remainder in 16 bits, two
    // PRMTs and a mask a vector (d80: +16 instructions a warp's store, SASS, sixty-fourth).
    const int c = (i - r * Traits::kChunks) * 8;
    if (r < valid_rows && keep(r)) {
      *reinterpret_cast<uint4*>(out_row(r) + c) =
          *reinterpret_cast<const uint4*>(smem_rows + r * Traits::kStride + c);
    }
  }
}

//! One warp's 16 rows of a tile's output: staged in `staging`, then written to out_row(r) for r
//! < valid_rows. A group tile (`grouped`) probes what it stages, writes only the finite rows and
//! hands the others to recompute(nonfinite), bit r for row r: the rare path (group_isolation.cuh);
//! a tile of one segment neither probes nor votes (its rows meet no other segment's keys).
template <class Traits, class Element, class RowAddress, class Recompute>
__device__ __forceinline__ void store_output(const float (&o)[Traits::kOutTiles][4],
                                             const row_results& rows, Element* staging,
                                             int valid_rows, bool grouped, RowAddress out_row,
                                             Recompute recompute) {
  // Two branches rather than run-time tests in the loops: ptxas did not sink the probe's HFMA2s
  // into a branch, and one-segment tiles ran them (+4.3% instructions, vl-window-d80, s61); a
  // one-segment tile also skips the keep test and the vote (its store path: ~171 -> 154, SASS).
  if (!grouped) {
    stage_output<Traits, false>(o, rows, staging, valid_rows);
    write_output<Traits>(staging, out_row, valid_rows, [](int) { return true; });
    return;
  }
  const uint32_t nonfinite =
      nonfinite_rows(stage_output<Traits, true>(o, rows, staging, valid_rows));
  write_output<Traits>(staging, out_row, valid_rows,
                       [&](int r) { return (nonfinite >> r & 1u) == 0; });
  if (nonfinite != 0) recompute(nonfinite);
}

}  // namespace varattn::detail::sm80
