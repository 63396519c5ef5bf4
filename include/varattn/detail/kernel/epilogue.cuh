// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file epilogue.cuh
//! The end of a tile, shared by both kernels: each thread's two rows (g and g + 8 of a
//! 16-row fragment in the mma C layout) get their normalizer (0 for rows that saw no key:
//! their output is zeros) and, when asked for, their logsumexp (-inf for those rows). The
//! output stores themselves are per architecture (sm80/store_output.cuh, sm90/store_output.cuh).

#include <varattn/detail/kernel/online_softmax.cuh>

#include <cstdint>

namespace varattn::detail {

struct row_results {
  float inv[2];  //!< multiplies the accumulator: 1 / row sum, or 0
  float lse[2];
};

//! Finishes the softmax of the 16 rows whose first is tile row `row0` and, if `write_lse`,
//! writes the logsumexp of tile row `row` (below `rows`, the tile's valid rows) to
//! *lse_at(row).
template <class LseAddress>
__device__ __forceinline__ row_results finish_rows(const online_softmax& softmax,
                                                   float exp2_scale, bool write_lse,
                                                   LseAddress lse_at, int row0, int rows) {
  row_results r;
  softmax.finish(exp2_scale, r.inv, r.lse);
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (write_lse && lane % 4 == 0) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int row = row0 + lane / 4 + 8 * i;
      if (row < rows) *lse_at(row) = r.lse[i];
    }
  }
  return r;
}

//! The same for a tile whose rows' logsumexps are consecutive from `lse` (null: none).
__device__ __forceinline__ row_results finish_rows(const online_softmax& softmax,
                                                   float exp2_scale, float* lse, int row0,
                                                   int rows) {
  return finish_rows(
      softmax, exp2_scale, lse != nullptr, [lse](int row) { return lse + row; }, row0, rows);
}

}  // namespace varattn::detail
