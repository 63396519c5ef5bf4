// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file segment_group.cuh
//! A tile that holds a group of whole short segments (work_item::group, the sm80 short tile
//! and the Hopper one): their query rows and their keys lie back to back in q, k and v, so the tile loads
//! them as one segment's, and each row sees only its own segment's keys, under its segment's
//! window: one key range a row, in the tile's keys.

#include <varattn/detail/mask.hpp>
#include <varattn/work_list.hpp>

#include <cmath>
#include <cstdint>

namespace varattn::detail {

//! A work item's group: the offsets of its segments from the first one's (count + 1 of each);
//! count 0 for any other item.
struct segment_group {
  const int32_t* cu_q;
  const int32_t* cu_k;
  int32_t count;
};

//! The keys [first, end) one row sees, counted from the group's first key.
struct row_keys {
  int32_t first;
  int32_t end;
};

//! The group's offsets relative to its first row and key, in shared memory.
struct group_table {
  int32_t q[kMaxGroupSegments + 1];
  int32_t k[kMaxGroupSegments + 1];

  //! Threads [0, g.count] write one entry each (a CTA has more threads than a group segments);
  //! read after a barrier.
  __device__ __forceinline__ void fill(const segment_group& g) {
    const int t = static_cast<int>(threadIdx.x);
    if (t <= g.count) {
      q[t] = g.cu_q[t] - g.cu_q[0];
      k[t] = g.cu_k[t] - g.cu_k[0];
    }
  }

  //! The keys tile row `row` sees: those of its segment i, the last with q[i] <= row (past the
  //! empty segments before it), under the window. Rows past the group see something
  //! harmless (they are never stored).
  __device__ __forceinline__ row_keys keys_of_row(int32_t row, int32_t count, window w) const {
    int32_t low = 0, high = count;  // q[low] <= row; the segment is in [low, high)
    while (high - low > 1) {
      const int32_t mid = (low + high) / 2;
      if (q[mid] <= row) {
        low = mid;
      } else {
        high = mid;
      }
    }
    const segment_mask mask = segment_mask::make(w, q[low + 1] - q[low], k[low + 1] - k[low]);
    const int32_t query = row - q[low];
    const int32_t first = mask.first_key(query);
    const int32_t end = mask.end_key(query, 1);
    return {k[low] + first, k[low] + (end > first ? end : first)};
  }
};

//! Hides the scores outside each row's keys in one warp's 16 x (8 * ScoreTiles) fragment (mma
//! C layout: the thread's rows lane / 4 and lane / 4 + 8 see `low` and `high`), column 0 being
//! tile key `key0`.
template <int ScoreTiles>
__device__ __forceinline__ void mask_to_row_keys(float (&s)[ScoreTiles][4], row_keys low,
                                                 row_keys high, int32_t key0) {
  hide_scores(s, key0, [&](int half, int32_t key) {
    const row_keys& keys = half == 0 ? low : high;
    return key < keys.first || key >= keys.end;
  });
}

}  // namespace varattn::detail
