// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_list.hpp
//! Work items of the fused launch: one (segment, q-tile) each, or one group of whole short
//! segments sharing a tile; run for every head. Built on the host in longest-first order so
//! that the long tiles do not trail at the end of the grid; the device-built plan writes its
//! items grouped by size class, largest first (device_plan.cuh, list_order.hpp), with groups
//! that stop at each builder thread's range of segments.

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
  int32_t segment;  //!< the segment, or a group's first segment
  //! The segment's q tile; negative for a group: segments [segment, segment - q_tile), each
  //! whole, share one tile (their rows and keys are contiguous in q, k and v).
  int32_t q_tile;

  VARATTN_HOST_DEVICE static work_item group(int32_t first, int32_t count) {
    return {first, -count};
  }
  VARATTN_HOST_DEVICE bool is_group() const { return q_tile < 0; }
  //! The segments the item covers: 1, or the group's.
  VARATTN_HOST_DEVICE int32_t segments() const { return q_tile < 0 ? -q_tile : 1; }
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
VARATTN_EXEC_CHECK_DISABLE
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

//! Threads of the device's list builder (device_plan.cuh): each takes ceil(n / threads)
//! consecutive segments, and groups only within them.
inline constexpr int kBuildThreads = 256;

//! Segments a group tile may hold (the sm80 short tile's table of their offsets): a bound
//! on the empty segments a group may take in between.
inline constexpr int32_t kMaxGroupSegments = 64;

//! A segment's query and key rows, as for_each_item_run's `length` gives them.
struct segment_lengths {
  int32_t q;
  int32_t k;
};

//! for_each_class_run's callback for one segment: run(segment, first_tile, tiles, slot).
template <class Run>
struct segment_run {
  const Run& run;
  int32_t segment;
  VARATTN_EXEC_CHECK_DISABLE
  VARATTN_HOST_DEVICE void operator()(int32_t first_tile, int32_t tiles, int32_t slot) const {
    run(segment, first_tile, tiles, slot);
  }
};

//! The runs of segments [begin, end), in segment order: run(segment, first_tile, tiles, slot)
//! as for_each_class_run gives them, or, with `grouping`, group(first, count, slot) for
//! consecutive segments whose queries fit one block_m tile and whose keys fit one block_n
//! step together. Short segments (tiny-d64: 8 to 64 rows) leave most of a 64-row tile's
//! rows idle; a short tile's time is its chain of loads and barriers, not its rows, so a
//! group of them takes one tile's time for several. Greedy, in order: a segment joins the
//! open group when both sums still fit, else starts the next; a group of one is its
//! segment's ordinary tile, so lists without grouping are unchanged. `length(s)` gives
//! segment s's segment_lengths. Both builders (host and device) and the tests' reference call
//! this: the device calls it per thread over its own range of segments.
VARATTN_EXEC_CHECK_DISABLE
template <class Length, class Run, class Group>
VARATTN_HOST_DEVICE void for_each_item_run(int32_t begin, int32_t end, const Length& length,
                                           int32_t block_m, int32_t block_n, window w,
                                           bool grouping, const Run& run, const Group& group) {
  int32_t first = begin, count = 0, q_rows = 0, k_rows = 0;  // the open group
  for (int32_t s = begin; s <= end; ++s) {  // s == end: only closes the open group
    int32_t q = 0, k = 0;
    if (s < end) {
      const auto l = length(s);
      q = l.q;
      k = l.k;
    }
    const bool fits = s < end && grouping && q <= block_m && k <= block_n;
    // An empty query segment has no tile: it only joins a group already open.
    if (fits && count > 0 && count < kMaxGroupSegments && q_rows + q <= block_m &&
        k_rows + k <= block_n) {
      ++count;
      q_rows += q;
      k_rows += k;
      continue;
    }
    if (count == 1) {  // a group of one: its segment's ordinary tile
      for_each_class_run(q_rows, k_rows, block_m, block_n, w, segment_run<Run>{run, first});
    } else if (count > 1) {
      group(first, count, size_class_slot(k_rows > 0 ? 1 : 0));
    }
    count = 0;
    if (fits && q > 0) {
      first = s;
      count = 1;
      q_rows = q;
      k_rows = k;
    } else if (s < end) {
      for_each_class_run(q, k, block_m, block_n, w, segment_run<Run>{run, s});
    }
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

//! The host's list: every item of the segments `filter` selects (grouped when `grouping`:
//! for_each_item_run), the costliest first (a group costs its keys, as one tile would).
inline std::vector<work_item> build_work_list(const segments& q, const segments& k,
                                              int32_t block_m, int32_t block_n, window w,
                                              bool grouping,
                                              segment_filter filter = segment_filter::all) {
  std::vector<work_item> items;
  std::vector<int32_t> cost;
  const auto length = [&](int32_t s) { return segment_lengths{q[s].length, k[s].length}; };
  const auto run = [&](int32_t s, int32_t first_tile, int32_t tiles, int32_t) {
    for (int32_t t = first_tile; t < first_tile + tiles; ++t) {
      items.push_back({s, t});
      cost.push_back(tile_keys(q[s].length, k[s].length, t, block_m, w));
    }
  };
  const auto group = [&](int32_t first, int32_t count, int32_t) {
    items.push_back(work_item::group(first, count));
    cost.push_back(k[first + count - 1].end() - k[first].begin);
  };
  // Groups take consecutive selected segments only: their rows must be contiguous.
  const auto n = static_cast<int32_t>(q.size());
  for (int32_t s = 0; s < n;) {
    if (!selected(filter, q[s].length)) {
      ++s;
      continue;
    }
    int32_t end = s + 1;
    while (end < n && selected(filter, q[end].length)) ++end;
    for_each_item_run(s, end, length, block_m, block_n, w, grouping, run, group);
    s = end;
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
