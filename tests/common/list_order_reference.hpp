// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file list_order_reference.hpp
//! The order in which device_plan.cuh's builder writes a fused forward's work list, computed
//! by one host thread: classes of tile steps largest first (list_order.hpp, work_list.hpp's
//! tile_steps), segment order within a class (class_sort.cuh is stable), a segment's run of
//! tiles in one class reversed when its last tile sees more keys than its first; with
//! grouping, the groups of short segments each builder thread forms within its own range. The host
//! tests check its properties; the GPU tests check the device's list and class ends against it.

#include <varattn/detail/list_order.hpp>
#include <varattn/work_list.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <vector>

namespace test {

//! One class of the list: its items in the order the builder places them.
using class_lists = std::array<std::vector<varattn::work_item>, varattn::detail::kSegmentClasses>;

struct lengths_at {
  const std::vector<int32_t>* q;
  const std::vector<int32_t>* k;
  varattn::detail::segment_lengths operator()(int32_t s) const {
    return {(*q)[static_cast<std::size_t>(s)], (*k)[static_cast<std::size_t>(s)]};
  }
};

struct run_placer {
  class_lists* lists;
  const std::vector<int32_t>* q_lengths;
  const std::vector<int32_t>* k_lengths;
  int32_t block_m;
  varattn::detail::window w;
  void operator()(int32_t segment, int32_t first_tile, int32_t tiles, int32_t slot) const {
    using varattn::detail::tile_keys;
    const int32_t q_length = (*q_lengths)[static_cast<std::size_t>(segment)];
    const int32_t k_length = (*k_lengths)[static_cast<std::size_t>(segment)];
    const int32_t last_tile = first_tile + tiles - 1;
    const bool rising = tile_keys(q_length, k_length, last_tile, block_m, w) >
                        tile_keys(q_length, k_length, first_tile, block_m, w);
    for (int32_t t = 0; t < tiles; ++t) {
      (*lists)[static_cast<std::size_t>(slot)].push_back(
          {segment, rising ? last_tile - t : first_tile + t});
    }
  }
};

struct group_placer {
  class_lists* lists;
  void operator()(int32_t first, int32_t count, int32_t slot) const {
    (*lists)[static_cast<std::size_t>(slot)].push_back(varattn::work_item::group(first, count));
  }
};

//! Each builder thread groups only within its own range of segments (class_sort.cuh's split:
//! ceil(n / kBuildThreads) a thread).
inline class_lists class_ordered_lists(const std::vector<int32_t>& q_lengths,
                                       const std::vector<int32_t>& k_lengths, int32_t block_m,
                                       int32_t block_n, varattn::detail::window w,
                                       bool grouping = false) {
  class_lists lists;
  const auto n = static_cast<int32_t>(q_lengths.size());
  const int32_t per = (n + varattn::detail::kBuildThreads - 1) / varattn::detail::kBuildThreads;
  for (int32_t begin = 0; per > 0 && begin < n; begin += per) {
    varattn::detail::for_each_item_run(begin, std::min(n, begin + per),
                                       lengths_at{&q_lengths, &k_lengths}, block_m, block_n, w,
                                       grouping,
                                       run_placer{&lists, &q_lengths, &k_lengths, block_m, w},
                                       group_placer{&lists});
  }
  return lists;
}

//! The builder's list: the classes' items one class after the other.
inline std::vector<varattn::work_item> class_ordered_list(
    const std::vector<int32_t>& q_lengths, const std::vector<int32_t>& k_lengths,
    int32_t block_m, int32_t block_n, varattn::detail::window w, bool grouping = false) {
  std::vector<varattn::work_item> items;
  const class_lists lists =
      class_ordered_lists(q_lengths, k_lengths, block_m, block_n, w, grouping);
  for (const auto& list : lists) items.insert(items.end(), list.begin(), list.end());
  return items;
}

//! The class ends the builder writes beside that list (locate_class_rank): ends[slot] is the
//! list index past slot's items, the classes' sizes summed (no slot rule of the library's
//! own: the classes are where the builder's runs placed the items), each end capped at
//! `capacity` as the builder caps its count.
inline std::array<int32_t, varattn::detail::kSegmentClasses> class_ordered_ends(
    const std::vector<int32_t>& q_lengths, const std::vector<int32_t>& k_lengths,
    int32_t block_m, int32_t block_n, varattn::detail::window w, bool grouping = false,
    int32_t capacity = INT32_MAX) {
  std::array<int32_t, varattn::detail::kSegmentClasses> ends{};
  int64_t end = 0;
  const class_lists lists =
      class_ordered_lists(q_lengths, k_lengths, block_m, block_n, w, grouping);
  for (std::size_t slot = 0; slot < lists.size(); ++slot) {
    end += static_cast<int64_t>(lists[slot].size());
    ends[slot] = static_cast<int32_t>(std::min<int64_t>(end, capacity));
  }
  return ends;
}

}  // namespace test
