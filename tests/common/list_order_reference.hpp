// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file list_order_reference.hpp
//! The order in which device_plan.cuh's builder writes a fused forward's work list, computed
//! by one host thread: classes of tile steps largest first (list_order.hpp, work_list.hpp's
//! tile_steps), segment order within a class (class_sort.cuh is stable), a segment's run of
//! tiles in one class reversed when its last tile sees more keys than its first. The host
//! tests check its properties; the GPU tests check the device's list against it.

#include <varattn/detail/list_order.hpp>
#include <varattn/work_list.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace test {

// Function objects, not lambdas: for_each_class_run is host and device code, and nvcc warns
// of a host lambda called from it.
struct class_counter {
  int32_t* next;  // items a class
  VARATTN_HOST_DEVICE void operator()(int32_t, int32_t tiles, int32_t slot) const {
    next[slot] += tiles;
  }
};

struct class_placer {
  int32_t* next;  // each class's next place
  varattn::work_item* items;
  int32_t segment, q_length, k_length, block_m;
  varattn::detail::window w;
  VARATTN_HOST_DEVICE void operator()(int32_t first_tile, int32_t tiles, int32_t slot) const {
    using varattn::detail::tile_keys;
    const int32_t last_tile = first_tile + tiles - 1;
    const bool rising = tile_keys(q_length, k_length, last_tile, block_m, w) >
                        tile_keys(q_length, k_length, first_tile, block_m, w);
    for (int32_t t = 0; t < tiles; ++t) {
      items[next[slot]++] = {segment, rising ? last_tile - t : first_tile + t};
    }
  }
};

inline std::vector<varattn::work_item> class_ordered_list(const std::vector<int32_t>& q_lengths,
                                                          const std::vector<int32_t>& k_lengths,
                                                          int32_t block_m, int32_t block_n,
                                                          varattn::detail::window w) {
  std::array<int32_t, varattn::detail::kSegmentClasses> next{};
  for (std::size_t s = 0; s < q_lengths.size(); ++s) {
    varattn::detail::for_each_class_run(q_lengths[s], k_lengths[s], block_m, block_n, w,
                                        class_counter{next.data()});
  }
  int32_t first = 0;
  for (int32_t& n : next) {
    const int32_t tiles = n;
    n = first;
    first += tiles;
  }
  std::vector<varattn::work_item> items(static_cast<std::size_t>(first));
  for (std::size_t s = 0; s < q_lengths.size(); ++s) {
    varattn::detail::for_each_class_run(
        q_lengths[s], k_lengths[s], block_m, block_n, w,
        class_placer{next.data(), items.data(), static_cast<int32_t>(s), q_lengths[s],
                     k_lengths[s], block_m, w});
  }
  return items;
}

}  // namespace test
