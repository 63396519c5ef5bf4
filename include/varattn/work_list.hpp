// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_list.hpp
//! Work items of the fused launch: one (segment, q-tile) each, run for every head. Built on
//! the host in longest-first order so that the long tiles do not trail at the end of the
//! grid; the device-built plan writes the same items grouped by size class, largest first
//! (device_plan.cuh, list_order.hpp).

#include <varattn/detail/list_order.hpp>
#include <varattn/detail/mask.hpp>
#include <varattn/kernel_config.hpp>
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

//! Keys the tile's rows see together (first to last visible key): the main loop's trip
//! count in keys, hence its cost. At most k_length.
VARATTN_HOST_DEVICE int32_t tile_keys(int32_t q_length, int32_t k_length, int32_t q_tile,
                                      int32_t block_m, window w) {
  // int64: the tile's first row reaches 2^31 for segments near 2^31 rows.
  const int64_t first_row = int64_t{q_tile} * block_m;
  const int64_t left = q_length - first_row;
  const int32_t rows = static_cast<int32_t>(left < block_m ? left : block_m);
  const segment_mask mask = segment_mask::make(w, q_length, k_length);
  const int32_t end = mask.end_key(static_cast<int32_t>(first_row), rows);
  const int32_t begin = mask.first_key(static_cast<int32_t>(first_row));
  return rows <= 0 || end <= begin ? 0 : end - begin;
}

//! The main-loop steps of block_n keys that a tile takes (tile_keys rounded up): its cost.
VARATTN_HOST_DEVICE int32_t tile_steps(int32_t q_length, int32_t k_length, int32_t q_tile,
                                       int32_t block_m, int32_t block_n, window w) {
  return ceil_div(tile_keys(q_length, k_length, q_tile, block_m, w), block_n);
}

//! Calls run(first_tile, tiles, slot) for each run of consecutive q tiles of one segment in
//! the same size class (list_order.hpp) of their steps (tile_steps): the device-built list's
//! unit of placement (device_plan.cuh). Steps, not keys: tiles of one step cost the same
//! whatever their keys, so short segments stay one class, in segment order (ordering them by
//! keys made the memory-bound tiny-d64 forward 2% slower on the H200). A tile's steps rise,
//! hold and fall at most once along a segment under any mask, so a segment has few runs.
template <class Run>
VARATTN_HOST_DEVICE void for_each_class_run(int32_t q_length, int32_t k_length, int32_t block_m,
                                            int32_t block_n, window w, const Run& run) {
  const int32_t tiles = ceil_div(q_length, block_m);
  const auto slot_of = [&](int32_t t) {
    return size_class_slot(tile_steps(q_length, k_length, t, block_m, block_n, w));
  };
  int32_t first = 0;
  int32_t slot = tiles > 0 ? slot_of(0) : 0;
  for (int32_t t = 1; t <= tiles; ++t) {
    const int32_t next = t < tiles ? slot_of(t) : -1;
    if (next == slot) continue;
    run(first, t - first, slot);
    first = t;
    slot = next;
  }
}

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
                                              int32_t block_m, window w,
                                              segment_filter filter = segment_filter::all) {
  std::vector<work_item> items;
  std::vector<int32_t> cost;
  for (std::size_t s = 0; s < q.size(); ++s) {
    if (!selected(filter, q[s].length)) continue;
    const int32_t tiles = ceil_div(q[s].length, block_m);
    for (int32_t t = 0; t < tiles; ++t) {
      items.push_back({static_cast<int32_t>(s), t});
      cost.push_back(tile_keys(q[s].length, k[s].length, t, block_m, w));
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
