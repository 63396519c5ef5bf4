// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file query_steps.hpp
//! Which query steps a dK/dV CTA's k tile runs, and so which of its segment's query rows its
//! dQ reductions add into. One function for the kernels (kv_tile::place) and for the count of
//! adds a dQ row receives (tiles_covering: the rows a block of the accumulator waits for
//! before it can be converted, bench/experiments/dq_by_blocks.md). Host and device:
//! tests/host/query_steps_test.cpp checks both against brute force.

#include <varattn/detail/host_device.hpp>
#include <varattn/detail/mask.hpp>

#include <cstdint>

namespace varattn::detail {

//! A k tile's query steps: steps [first, end) of `rows` queries each, step s holding the
//! queries [origin + s rows, + rows). Its dQ adds cover the segment's rows
//! [begin_row(), end_row()) (a partial last step clipped to the segment).
struct query_steps {
  int32_t origin;
  int32_t first;
  int32_t end;

  VARATTN_HOST_DEVICE int32_t begin_row(int32_t rows) const { return origin + first * rows; }
  VARATTN_HOST_DEVICE int32_t end_row(int32_t rows, int32_t q_length) const {
    const int64_t e = int64_t{origin} + int64_t{end} * rows;
    return e < q_length ? static_cast<int32_t>(e) : q_length;
  }
};

//! The steps of `rows` queries that see the keys [key0, key0 + keys) of a segment of q_length
//! queries under `mask`. Query i sees key j iff min_offset <= j - i <= max_offset: the queries
//! [key0 - max_offset, key0 + keys - 1 - min_offset] (int64: the offsets may be INT32_MIN /
//! INT32_MAX), clipped to the segment. The steps lie on multiples of `rows` from the
//! segment's query 0 (origin 0: a constant the kernels' code folds), or, FromFirstQuery,
//! start at the first of those queries: a causal tile whose first key is off the multiples
//! (80-row steps on 128-key tiles) would else start with rows that see none of its keys and
//! cross its diagonal in three steps, not two (bench/experiments/causal_backward_gap.md).
//! The last step's rows past the last query that sees a key are masked, not skipped.
template <bool FromFirstQuery>
VARATTN_HOST_DEVICE query_steps steps_of_tile(const segment_mask& mask, int32_t q_length,
                                              int32_t key0, int32_t keys, int32_t rows) {
  const int64_t first = int64_t{key0} - mask.max_offset;
  const int64_t last = int64_t{key0} + keys - 1 - mask.min_offset;
  const int64_t q_first = first < 0 ? 0 : first;
  const int64_t q_last = last < q_length - 1 ? last : q_length - 1;
  query_steps s;
  if constexpr (FromFirstQuery) {
    // q_first <= q_last < q_length where there is a step: no int32 overflow below.
    const bool any = q_last >= q_first;
    s.origin = any ? static_cast<int32_t>(q_first) : 0;
    s.first = 0;
    s.end = any ? static_cast<int32_t>((q_last - q_first) / rows) + 1 : 0;
  } else {
    s.origin = 0;
    s.first = static_cast<int32_t>(q_first / rows);
    s.end = q_last < q_first ? s.first : static_cast<int32_t>(q_last / rows) + 1;
  }
  return s;
}

//! The rows an unclipped k tile of `keys` keys runs under a banded `mask`, in whole steps of
//! `rows`, placed as steps_of_tile places them: the period of the CTAs' walk under a window
//! (step_order.hpp), so that every unclipped tile of the segment walks the same residues.
//! FromFirstQuery, the keys + max_offset - min_offset queries that see one of its keys
//! rounded up to steps; on the grid (keys a multiple of rows: every tile's steps have the
//! same phase), the steps from tile 0's first such query to its last, which may be one more.
//! 0 where the mask is not banded (an offset at its int32 end) or the span reaches 2^30.
template <bool FromFirstQuery>
VARATTN_HOST_DEVICE int32_t band_period(const segment_mask& mask, int32_t keys, int32_t rows) {
  if (mask.min_offset == INT32_MIN || mask.max_offset == INT32_MAX) return 0;
  const int64_t span = int64_t{mask.max_offset} - mask.min_offset + keys;
  if (span >= (int64_t{1} << 30)) return 0;
  if constexpr (FromFirstQuery) {
    return static_cast<int32_t>((span + rows - 1) / rows * rows);
  } else {
    const auto floor_steps = [rows](int64_t query) {  // the step holding `query`, rounded down
      return query >= 0 ? query / rows : -((-query + rows - 1) / rows);
    };
    const int64_t first = -int64_t{mask.max_offset};
    return static_cast<int32_t>((floor_steps(first + span - 1) - floor_steps(first) + 1) * rows);
  }
}

//! How many k tiles (of tile_keys keys; the segment's mask.k_length keys) add into query row
//! `row` of a segment of q_length queries, steps of `rows` queries: the adds dQ row `row`
//! of each q head receives. A tile's covered rows [begin_row, end_row) move forward with the
//! tile, both ends non-decreasing, so the tiles covering a row are a run: two binary
//! searches, not a pass over the tiles. Tiles that see no query keep the order: they come
//! first (keys before every query's window; bottom-right alignment leaves no key after the
//! last query's), with empty ranges at or before the seen tiles' starts.
template <bool FromFirstQuery>
VARATTN_HOST_DEVICE int32_t tiles_covering(const segment_mask& mask, int32_t q_length,
                                           int32_t tile_keys, int32_t rows, int32_t row) {
  const int32_t tiles = (mask.k_length + tile_keys - 1) / tile_keys;
  // The rows tile t's steps add into: [begin, end).
  const auto covered = [&](int32_t t, int32_t& begin, int32_t& end) {
    const int32_t key0 = t * tile_keys;
    const int32_t keys = mask.k_length - key0 < tile_keys ? mask.k_length - key0 : tile_keys;
    const query_steps s = steps_of_tile<FromFirstQuery>(mask, q_length, key0, keys, rows);
    begin = s.begin_row(rows);
    end = s.end_row(rows, q_length);
  };
  // The first tile for which past(begin, end) holds (false up to some tile, true from it on).
  const auto first_past = [&](auto past) {
    int32_t first = 0;
    for (int32_t n = tiles; n > 0;) {
      const int32_t half = n / 2;
      int32_t begin, end;
      covered(first + half, begin, end);
      if (past(begin, end)) {
        n = half;
      } else {
        first += half + 1;
        n -= half + 1;
      }
    }
    return first;
  };
  // lo: the first tile whose rows end past `row`; hi: the first whose rows begin past it.
  const int32_t lo = first_past([row](int32_t, int32_t end) { return end > row; });
  const int32_t hi = first_past([row](int32_t begin, int32_t) { return begin > row; });
  return hi > lo ? hi - lo : 0;
}

}  // namespace varattn::detail
