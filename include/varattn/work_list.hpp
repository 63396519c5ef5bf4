// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file work_list.hpp
//! Work items of the fused launch: one (segment, q-tile) each, or one group of whole short
//! segments sharing a tile; run for every head. Built on the host in longest-first order so
//! that the long tiles do not trail at the end of the grid; the device-built plan writes its
//! items grouped by size class, largest first (device_plan.cuh, list_order.hpp), with groups
//! that stop at each builder thread's range of segments.

#include <varattn/detail/host_device.hpp>
#include <varattn/detail/list_order.hpp>
#include <varattn/detail/mask.hpp>
#include <varattn/kernel_config.hpp>
#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>

#include <algorithm>
#include <array>
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
//! count in keys, hence its cost. At most k_length. `mask` is the segment's
//! (segment_mask::make), made once for all its tiles.
VARATTN_HOST_DEVICE int32_t tile_keys(const segment_mask& mask, int32_t q_length, int32_t q_tile,
                                      int32_t block_m) {
  // int64: the tile's first row reaches 2^31 for segments near 2^31 rows.
  const int64_t first_row = int64_t{q_tile} * block_m;
  const int64_t left = q_length - first_row;
  const int32_t rows = static_cast<int32_t>(left < block_m ? left : block_m);
  const int32_t end = mask.end_key(static_cast<int32_t>(first_row), rows);
  const int32_t begin = mask.first_key(static_cast<int32_t>(first_row));
  return rows <= 0 || end <= begin ? 0 : end - begin;
}
VARATTN_HOST_DEVICE int32_t tile_keys(int32_t q_length, int32_t k_length, int32_t q_tile,
                                      int32_t block_m, window w) {
  return tile_keys(segment_mask::make(w, q_length, k_length), q_length, q_tile, block_m);
}

//! The main-loop steps of block_n keys that a tile takes (tile_keys rounded up): its cost.
VARATTN_HOST_DEVICE int32_t tile_steps(int32_t q_length, int32_t k_length, int32_t q_tile,
                                       int32_t block_m, int32_t block_n, window w) {
  return ceil_div(tile_keys(q_length, k_length, q_tile, block_m, w), block_n);
}

//! The first tile t in [0, tiles] with t block_m >= x: ceil(x / block_m), clamped.
VARATTN_HOST_DEVICE int32_t first_tile_at(int64_t x, int32_t tiles, int32_t block_m) {
  if (x <= 0) return 0;
  if (x > (int64_t{tiles} - 1) * block_m) return tiles;
  // Below tiles block_m <= q_length + block_m: x + block_m - 1 fits 32 unsigned bits, so one
  // 32-bit division, not an int64 one (a long call on the GPU).
  return static_cast<int32_t>((static_cast<uint32_t>(x) + static_cast<uint32_t>(block_m) - 1) /
                              static_cast<uint32_t>(block_m));
}

//! Segments of more tiles than this find their class runs by closed form (long_class_runs);
//! the others, every segment of a batch of short ones, tile by tile.
inline constexpr int32_t kClassRunsByTile = 4;

//! The class runs of a segment of many tiles, one at a time, without visiting every tile
//! (one device builder thread takes all of a long segment's, 128 for 16k rows, one after the
//! other). On full tiles of block_m rows a tile's keys are max(0, E(t) - B(t)), with end
//! E(t) = clamp((t + 1) block_m + max_offset, 0, k_length) and begin B(t) = max(0, t block_m
//! + min_offset): between the tiles where a clamp turns (cuts_, exact) and the last tile
//! (fewer rows), E - B is affine. So two neighbouring tiles give a piece's slope, and the last
//! tile of a run in that piece is one division away: its steps leave the size class (a power
//! of two of block_n keys) where the affine keys cross the class's bound. A cursor with its
//! work out of line on the device: its registers and code stay off the short segments' path,
//! and no caller's closure has to live in local memory for it.
class long_class_runs {
 public:
  VARATTN_HOST_DEVICE_OUT_OF_LINE long_class_runs(segment_mask mask, int32_t q_length,
                                                  int32_t tiles, int32_t block_m,
                                                  int32_t block_n)
      : mask_(mask), q_length_(q_length), tiles_(tiles), block_m_(block_m), block_n_(block_n) {
    const int64_t m = block_m, max_offset = mask.max_offset;
    cuts_[0] = first_tile_at(1 - max_offset - m, tiles, block_m);  // E leaves 0
    cuts_[1] = first_tile_at(mask.k_length - max_offset - m, tiles, block_m);  // E reaches k
    cuts_[2] = first_tile_at(-int64_t{mask.min_offset}, tiles, block_m);  // B leaves 0
    cuts_[3] = tiles - 1;                                                  // fewer rows
  }

  //! The next run (first tile, tiles, slot), in tile order; false after the last.
  VARATTN_HOST_DEVICE_OUT_OF_LINE bool next(int32_t& first, int32_t& tiles, int32_t& slot) {
    while (t_ < tiles_) {
      const int32_t at = t_, keys = keys_of(at), here = slot_for(keys);
      t_ = last_in_class(at, piece_end(at), keys, here) + 1;
      if (here == run_slot_) continue;
      const bool open = at > run_first_;
      first = run_first_, tiles = at - run_first_, slot = run_slot_;
      run_first_ = at;
      run_slot_ = here;
      if (open) return true;
    }
    if (run_first_ >= tiles_) return false;
    first = run_first_, tiles = tiles_ - run_first_, slot = run_slot_;
    run_first_ = tiles_;
    return true;
  }

 private:
  VARATTN_HOST_DEVICE int32_t keys_of(int32_t t) const {
    return tile_keys(mask_, q_length_, t, block_m_);
  }
  VARATTN_HOST_DEVICE int32_t slot_for(int32_t keys) const {
    return size_class_slot(ceil_div(keys, block_n_));
  }
  //! The first cut after tile t, or tiles_: [t, piece_end(t)) lies in one affine piece.
  VARATTN_HOST_DEVICE int32_t piece_end(int32_t t) const {
    int32_t end = tiles_;
    for (const int32_t c : cuts_) end = c > t && c < end ? c : end;
    return end;
  }
  //! The last tile of [t, end) (one piece) in `here`, tile t's class, whose keys are `keys`.
  VARATTN_HOST_DEVICE int32_t last_in_class(int32_t t, int32_t end, int32_t keys,
                                            int32_t here) const {
    if (end - t == 1) return t;
    const int32_t next = keys_of(t + 1);
    if (slot_for(next) != here) return t;
    if (keys == 0) {  // no keys: until max(0, E - B) turns positive (monotone: bisection)
      int32_t in = t + 1, out = end;
      while (out - in > 1) {
        const int32_t mid = in + (out - in) / 2;
        (keys_of(mid) == 0 ? in : out) = mid;
      }
      return in;
    }
    const int32_t slope = next - keys;  // both tiles' keys are E - B, unclamped
    if (slope == 0) return end - 1;
    // The class holds steps in [2^(bits - 1), 2^bits - 1]: keys in (lower, upper].
    const int32_t bits = kSegmentClasses - 1 - here;
    const int64_t upper = ((int64_t{1} << bits) - 1) * block_n_;
    const int64_t lower = ((int64_t{1} << (bits - 1)) - 1) * block_n_;
    const int64_t room = slope > 0 ? upper - keys : keys - 1 - lower;  // >= 0
    const int64_t step = slope > 0 ? slope : -int64_t{slope};
    if (room >= (end - 1 - int64_t{t}) * step) return end - 1;
    // room < tiles block_m: 32 bits.
    return t + static_cast<int32_t>(static_cast<uint32_t>(room) / static_cast<uint32_t>(step));
  }

  segment_mask mask_;
  int32_t q_length_, tiles_, block_m_, block_n_;
  int32_t cuts_[4];
  int32_t t_ = 0, run_first_ = 0, run_slot_ = -1;  // the next tile; the open run
};

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
  const segment_mask mask = segment_mask::make(w, q_length, k_length);
  if (tiles > kClassRunsByTile) {
    long_class_runs runs(mask, q_length, tiles, block_m, block_n);
    for (int32_t first = 0, count = 0, slot = 0; runs.next(first, count, slot);) {
      run(first, count, slot);
    }
    return;
  }
  const auto slot_of = [&](int32_t t) {
    return size_class_slot(ceil_div(tile_keys(mask, q_length, t, block_m), block_n));
  };
  int32_t first = 0;
  int32_t slot = tiles > 0 ? slot_of(0) : 0;
  // Not unrolled: with tiles <= kClassRunsByTile known here nvcc unrolled it at each call
  // site, and the one-CTA builder grew from 3,696 to 4,768 instructions with 16/52 bytes
  // spilled (sm_90a, ptxas -v).
  VARATTN_DEVICE_NO_UNROLL
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

//! Words of the build key the device's list builder keeps beside the list (a marker and its
//! every scalar argument: device_plan.cuh), in the plan's device buffer (plan.hpp).
inline constexpr int kBuildKeyWords = 10;

//! Segments a group tile may hold (the short tiles' table of their offsets): a bound
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

//! The class ends of a host-built list (locate_class_rank, list_order.hpp): ends[slot] is the
//! list index past the items of slots <= slot, each item in the class of its steps as the
//! device's builder places it (a tile: tile_steps; a group: one step, none without keys).
//! build_work_list's order (keys descending) keeps each class's items together, largest
//! class first, so the ends partition the list.
inline std::array<int32_t, kSegmentClasses> list_class_ends(const std::vector<work_item>& items,
                                                            const segments& q,
                                                            const segments& k, int32_t block_m,
                                                            int32_t block_n, window w) {
  std::array<int32_t, kSegmentClasses> ends{};
  int32_t last = 0;  // the previous item's slot (non-decreasing along the list)
  for (const work_item& item : items) {
    int32_t slot;
    if (item.is_group()) {
      const int32_t keys = k[item.segment + item.segments() - 1].end() - k[item.segment].begin;
      slot = size_class_slot(keys > 0 ? 1 : 0);
    } else {
      slot = size_class_slot(tile_steps(q[item.segment].length, k[item.segment].length,
                                        item.q_tile, block_m, block_n, w));
    }
    if (slot < last) fail("list_class_ends: the list is not in class order");
    last = slot;
    ++ends[static_cast<std::size_t>(slot)];
  }
  for (std::size_t slot = 1; slot < ends.size(); ++slot) ends[slot] += ends[slot - 1];
  return ends;
}

}  // namespace detail
}  // namespace varattn
