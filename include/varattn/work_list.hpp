// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_list.hpp
//! Work items of the fused launch: one (segment, q-tile) each, run for every head. Built on
//! the host in longest-first order so that the long tiles do not trail at the end of the
//! grid; the device-built plan writes the same items in segment order.

#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace varattn {

struct work_item {
  int32_t segment;
  int32_t q_tile;
};

namespace detail {

//! Keys the tile visits: the main loop's trip count, hence its cost. At most k_length.
inline int32_t tile_keys(int32_t q_length, int32_t k_length, int32_t q_tile, int32_t block_m,
                         bool causal) {
  if (!causal) return k_length;
  // int64: the tile's end row plus k_length reaches 2^32 for segments near 2^31 rows.
  const int64_t first_row = int64_t{q_tile} * block_m;
  const int64_t rows = std::min<int64_t>(block_m, q_length - first_row);
  const int64_t keys = std::min<int64_t>(k_length, first_row + rows + k_length - q_length);
  return static_cast<int32_t>(std::max<int64_t>(0, keys));
}

//! Segments whose query length is at most this take short tiles in a bucketed plan.
inline constexpr int32_t kShortSegment = 64;

//! Which segments a work list covers.
enum class segment_filter { all, short_only, long_only };

inline bool selected(segment_filter filter, int32_t q_length) {
  switch (filter) {
    case segment_filter::short_only: return q_length <= kShortSegment;
    case segment_filter::long_only: return q_length > kShortSegment;
    case segment_filter::all: break;
  }
  return true;
}

inline std::vector<work_item> build_work_list(const segments& q, const segments& k,
                                              int32_t block_m, bool causal,
                                              segment_filter filter = segment_filter::all) {
  std::vector<work_item> items;
  std::vector<int32_t> cost;
  for (std::size_t s = 0; s < q.size(); ++s) {
    if (!selected(filter, q[s].length)) continue;
    const int32_t tiles = ceil_div(q[s].length, block_m);
    for (int32_t t = 0; t < tiles; ++t) {
      items.push_back({static_cast<int32_t>(s), t});
      cost.push_back(tile_keys(q[s].length, k[s].length, t, block_m, causal));
    }
  }
  std::vector<std::size_t> order(items.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  std::vector<work_item> sorted;
  sorted.reserve(items.size());
  for (std::size_t i : order) sorted.push_back(items[i]);
  return sorted;
}

}  // namespace detail
}  // namespace varattn
