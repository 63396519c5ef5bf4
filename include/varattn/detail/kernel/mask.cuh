// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file mask.cuh
//! Sets scores of keys a query must not see to -inf: keys past the segment's end, and for
//! causal attention keys after the query's diagonal (bottom-right aligned).

#include <cmath>

namespace varattn::detail {

template <bool Causal>
struct score_mask {
  int k_length;
  int diagonal;  //!< query i sees key j iff j <= i + diagonal (= k_length - q_length)

  //! Keys the queries before `query_end` can see: all of them, or for causal attention
  //! those up to the diagonal of the last query (a tile's k/v loop stops there).
  __device__ __forceinline__ int visible_keys(int query_end) const {
    return Causal ? max(0, min(k_length, query_end + diagonal)) : k_length;
  }

  //! True when some key in [key0, key0 + block_n) is hidden from some query in
  //! [query0, query0 + block_m): only those steps pay for masking.
  __device__ __forceinline__ bool needed(int query0, int key0, int block_n) const {
    return key0 + block_n > k_length || (Causal && key0 + block_n - 1 > query0 + diagonal);
  }

  //! s is one warp's 16 x (8 * ScoreTiles) C fragment whose row 0 is query `query0` and
  //! column 0 is key `key0`.
  template <int ScoreTiles>
  __device__ __forceinline__ void apply(float (&s)[ScoreTiles][4], int query0, int key0) const {
    const int lane = static_cast<int>(threadIdx.x % 32);
#pragma unroll
    for (int t = 0; t < ScoreTiles; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int query = query0 + lane / 4 + (e / 2) * 8;
        const int key = key0 + t * 8 + (lane % 4) * 2 + (e % 2);
        if (key >= k_length || (Causal && key > query + diagonal)) s[t][e] = -INFINITY;
      }
    }
  }
};

}  // namespace varattn::detail
