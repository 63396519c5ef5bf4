// SPDX-License-Identifier: Apache-2.0
// The kernels' mask (detail/mask.hpp, shared by the host work list and both kernels) against
// the reference's definition of the visible keys, by brute force over small segments and
// every kind of window: element visibility, the key blocks a tile visits, and tile costs.
#include <varattn/detail/mask.hpp>
#include <varattn/reference.hpp>
#include <varattn/work_list.hpp>

#include <algorithm>
#include <cstdint>
#include <doctest/doctest.h>
#include <random>
#include <vector>

namespace {

std::vector<varattn::attention_options> window_options() {
  std::vector<varattn::attention_options> out;
  for (const bool causal : {false, true}) {
    for (const int32_t left : {-1, 0, 1, 2, 7, 64, 1000}) {
      for (const int32_t right : {-1, 0, 1, 3, 64, 1000}) {
        varattn::attention_options o;
        o.causal = causal;
        o.window_left = left;
        o.window_right = right;
        out.push_back(o);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the kernels' mask sees exactly the reference's keys, tile by tile") {
  std::mt19937 rng(5);
  const std::vector<std::pair<int32_t, int32_t>> fixed = {
      {1, 1}, {5, 2}, {2, 5}, {64, 64}, {100, 7}, {7, 100}, {0, 9}, {9, 0}, {130, 200}, {200, 130}};
  for (const varattn::attention_options& o : window_options()) {
    std::vector<std::pair<int32_t, int32_t>> lengths = fixed;
    for (int n = 0; n < 6; ++n) {
      lengths.push_back({int32_t(rng() % 260), int32_t(rng() % 260)});
    }
    for (const auto& [lq, lk] : lengths) {
      CAPTURE(o.causal);
      CAPTURE(o.window_left);
      CAPTURE(o.window_right);
      CAPTURE(lq);
      CAPTURE(lk);
      const auto w = varattn::detail::window::of(o);
      const auto mask = varattn::detail::segment_mask::make(w, lq, lk);
      // Element by element.
      int64_t mismatches = 0;
      for (int32_t i = 0; i < lq; ++i) {
        const auto keys = varattn::reference_visible_keys(i, lq, lk, o);
        for (int32_t j = 0; j < lk; ++j) {
          mismatches += mask.visible(i, j) != (j >= keys.first && j <= keys.last);
        }
      }
      CHECK(mismatches == 0);
      // Tile by tile: the key blocks visited cover every visible key and stay inside the
      // keys; the cost is the span of the rows' visible keys.
      for (const int32_t block_m : {64, 128}) {
        for (int32_t t = 0; t * block_m < lq; ++t) {
          const int32_t query0 = t * block_m, rows = std::min(block_m, lq - query0);
          int64_t first = INT64_MAX, last = -1;
          for (int32_t i = query0; i < query0 + rows; ++i) {
            const auto keys = varattn::reference_visible_keys(i, lq, lk, o);
            if (keys.empty()) continue;
            first = std::min(first, keys.first);
            last = std::max(last, keys.last);
          }
          const int64_t span = last < 0 ? 0 : last - first + 1;
          CAPTURE(block_m);
          CAPTURE(t);
          CHECK(varattn::detail::tile_keys(lq, lk, t, block_m, w) == span);
          for (const int32_t block_n : {32, 64, 128, 144}) {  // 144: head dim 80's step
            const auto blocks = mask.key_blocks(query0, rows, block_n);
            if (span == 0) {
              CHECK(blocks.count == 0);
              continue;
            }
            CHECK(int64_t{blocks.first} * block_n <= first);
            CHECK(int64_t{blocks.first + 1} * block_n > first);  // no block before the first
            CHECK(int64_t{blocks.first + blocks.count} * block_n > last);
            CHECK(int64_t{blocks.first + blocks.count - 1} * block_n <= last);  // nor after
          }
        }
      }
    }
  }
}
