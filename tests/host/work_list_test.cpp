// SPDX-License-Identifier: Apache-2.0
// Tile counts and costs near the int32 limit: 2^31 - 1 rows must not overflow (UB) on the way.
// Groups of short segments (for_each_item_run): greedy, bounded, every tile once.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>
#include <varattn/work_list.hpp>
#include <vector>

// The windows a plan makes of causal = true / false (detail::window::of).
constexpr varattn::detail::window kCausal{-1, 0};
constexpr varattn::detail::window kFull{};

TEST_CASE("ceil_div is exact up to INT32_MAX") {
  CHECK(varattn::ceil_div(0, 64) == 0);
  CHECK(varattn::ceil_div(1, 64) == 1);
  CHECK(varattn::ceil_div(64, 64) == 1);
  CHECK(varattn::ceil_div(65, 64) == 2);
  CHECK(varattn::ceil_div(INT32_MAX, 64) == 33554432);
  CHECK(varattn::ceil_div(INT32_MAX, 1) == INT32_MAX);
  CHECK(varattn::ceil_div(INT32_MAX, INT32_MAX) == 1);
  CHECK(varattn::ceil_div(INT32_MAX - 1, INT32_MAX) == 1);
  static_assert(varattn::ceil_div(INT32_MAX, 128) == 16777216);
}

TEST_CASE("tile costs of segments of 2^31 - 1 rows") {
  constexpr int32_t block_m = 1 << 30;  // two tiles, so the test stays small
  // Causal, bottom-right: tile 1 ends at the last row and sees every key.
  CHECK(varattn::detail::tile_keys(INT32_MAX, INT32_MAX, 0, block_m, kCausal) == block_m);
  CHECK(varattn::detail::tile_keys(INT32_MAX, INT32_MAX, 1, block_m, kCausal) == INT32_MAX);
  CHECK(varattn::detail::tile_keys(INT32_MAX, INT32_MAX, 1, block_m, kFull) == INT32_MAX);
  CHECK(varattn::detail::tile_keys(1, INT32_MAX, 0, 128, kCausal) == INT32_MAX);
  CHECK(varattn::detail::tile_keys(INT32_MAX, 1, 0, block_m, kCausal) == 0);

  const auto q = varattn::segments::from_lengths({INT32_MAX}, "cu_seqlens_q");
  const auto k = varattn::segments::from_lengths({INT32_MAX}, "cu_seqlens_k");
  const std::vector<varattn::work_item> items =
      varattn::detail::build_work_list(q, k, block_m, 64, kCausal, false);
  REQUIRE(items.size() == 2);
  CHECK(items[0].q_tile == 1);  // the costlier tile first
  CHECK(items[1].q_tile == 0);
}

namespace {
// Every item of `items` as the (segment, tile) pairs it covers; a group covers tile 0 of each
// of its segments that has rows.
std::vector<std::pair<int32_t, int32_t>> covered(const std::vector<varattn::work_item>& items,
                                                 const std::vector<int32_t>& q_lengths) {
  std::vector<std::pair<int32_t, int32_t>> tiles;
  for (const varattn::work_item& item : items) {
    if (!item.is_group()) {
      tiles.emplace_back(item.segment, item.q_tile);
      continue;
    }
    for (int32_t s = item.segment; s < item.segment + item.segments(); ++s) {
      if (q_lengths[s] > 0) tiles.emplace_back(s, 0);
    }
  }
  std::sort(tiles.begin(), tiles.end());
  return tiles;
}
}  // namespace

TEST_CASE("groups of short segments: greedy in segment order, empty ones inside a group") {
  const std::vector<int32_t> lengths = {5, 0, 17, 1, 0, 30, 12, 64, 3, 3, 3};
  const auto q = varattn::segments::from_lengths(lengths, "cu_seqlens_q");
  const auto items = varattn::detail::build_work_list(q, q, 64, 64, kFull, true);
  // 5 + 0 + 17 + 1 + 0 + 30 = 53 rows; 12 more would make 65: a group of six, then 12 alone
  // (64 after it does not fit), 64 alone, and 3 + 3 + 3. Costliest first (a group's cost is its
  // keys): 64, the group of 53, 12, the group of 9.
  REQUIRE(items.size() == 4);
  CHECK(items[0].segment == 7);
  CHECK(items[0].q_tile == 0);
  CHECK(items[1].segment == 0);
  CHECK(items[1].segments() == 6);
  CHECK(items[1].is_group());
  CHECK(items[2].segment == 6);
  CHECK(items[2].q_tile == 0);
  CHECK(items[3].segment == 8);
  CHECK(items[3].segments() == 3);
  // Without grouping: one tile a non-empty segment, as before.
  const auto plain = varattn::detail::build_work_list(q, q, 64, 64, kFull, false);
  CHECK(plain.size() == 9);
  for (const varattn::work_item& item : plain) CHECK_FALSE(item.is_group());
}

TEST_CASE("groups of short segments: every tile once, within one tile's rows and one step's keys") {
  using varattn::detail::segment_filter;
  for (const uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    for (const int32_t block_n : {32, 64}) {
      for (const bool prefix : {false, true}) {
        for (const segment_filter filter :
             {segment_filter::all, segment_filter::short_only, segment_filter::long_only}) {
          CAPTURE(seed);
          CAPTURE(block_n);
          CAPTURE(prefix);
          std::vector<int32_t> lq(400), lk(400);
          for (std::size_t i = 0; i < lq.size(); ++i) {
            // Mostly short, some empty, a few long ones that break the runs.
            lq[i] = rng() % 9 == 0 ? 0 : rng() % 25 == 0 ? 70 + static_cast<int32_t>(rng() % 200)
                                                           : 1 + static_cast<int32_t>(rng() % 40);
            lk[i] = prefix ? lq[i] + static_cast<int32_t>(rng() % 12) : lq[i];
          }
          if (seed == 3) lq[5] = 0, lk[5] = 0;  // a segment with neither
          const auto q = varattn::segments::from_lengths(lq, "cu_seqlens_q");
          const auto k = varattn::segments::from_lengths(lk, "cu_seqlens_k");
          for (const varattn::detail::window w : {kFull, kCausal, varattn::detail::window{3, 0}}) {
            using varattn::detail::build_work_list;
            const auto items = build_work_list(q, k, 64, block_n, w, true, filter);
            const auto plain = build_work_list(q, k, 64, block_n, w, false, filter);
            CHECK(covered(items, lq) == covered(plain, lq));  // the same tiles, each once
            std::size_t groups = 0;
            for (const varattn::work_item& item : items) {
              if (!item.is_group()) continue;
              ++groups;
              const int32_t first = item.segment, last = item.segment + item.segments();
              CHECK(item.segments() >= 2);
              CHECK(item.segments() <= varattn::detail::kMaxGroupSegments);
              CHECK(lq[first] > 0);
              CHECK(q[last - 1].end() - q[first].begin <= 64);
              CHECK(k[last - 1].end() - k[first].begin <= block_n);
              for (int32_t s = first; s < last; ++s) {
                CHECK(varattn::detail::selected(filter, lq[s]));
                CHECK(lq[s] <= 64);
              }
            }
            if (filter != segment_filter::long_only) CHECK(groups > 0);
            if (filter == segment_filter::long_only) CHECK(groups == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("groups of short segments: at most kMaxGroupSegments, however many are empty") {
  std::vector<int32_t> lengths(300, 0);
  lengths[0] = 1;
  lengths[299] = 1;
  const auto q = varattn::segments::from_lengths(lengths, "cu_seqlens_q");
  const auto items = varattn::detail::build_work_list(q, q, 64, 64, kFull, true);
  // Segment 0 opens a group that takes 63 empty segments; 299 then opens nothing past it.
  REQUIRE(items.size() == 2);
  CHECK(items[0].is_group());
  CHECK(items[0].segment == 0);
  CHECK(items[0].segments() == varattn::detail::kMaxGroupSegments);
  CHECK(items[1].segment == 299);
  CHECK(items[1].q_tile == 0);
}
