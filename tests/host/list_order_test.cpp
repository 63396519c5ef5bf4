// SPDX-License-Identifier: Apache-2.0
// Work-list size classes (list_order.hpp): the backward grid's rank -> (unit, list index) map
// that takes the classes in turn, each unit-major (item-major under a banded mask), and the
// forward's device-built list (device_plan.cuh's order, tests/common/list_order_reference.hpp).
#include "../common/list_order_reference.hpp"

#include <varattn/detail/list_order.hpp>
#include <varattn/detail/mask.hpp>
#include <varattn/segments.hpp>
#include <varattn/work_list.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <doctest/doctest.h>
#include <random>
#include <set>
#include <utility>
#include <vector>

using varattn::detail::kSegmentClasses;
using varattn::detail::listed_rank;
using varattn::detail::locate_rank;
using varattn::detail::size_class_slot;

TEST_CASE("size classes: longer segments in earlier slots, bit length of the query rows") {
  CHECK(size_class_slot(0) == 31);  // keys without queries: the last slot
  CHECK(size_class_slot(-5) == 31);
  CHECK(size_class_slot(1) == 30);
  CHECK(size_class_slot(2) == 29);
  CHECK(size_class_slot(3) == 29);
  CHECK(size_class_slot(4) == 28);
  CHECK(size_class_slot(1023) == 21);
  CHECK(size_class_slot(1024) == 20);
  CHECK(size_class_slot(16384) == 16);
  CHECK(size_class_slot(INT32_MAX) == 0);
  for (int32_t n = 1; n < 5000; ++n) CHECK(size_class_slot(n + 1) <= size_class_slot(n));
}

namespace {

// Every rank below total x units maps to a distinct (unit, index) pair, in slot order and
// unit-major (item_major: item-major) within a slot; every rank past it maps to nothing.
void check_map(const std::array<int32_t, kSegmentClasses>& counts, int32_t units,
               bool item_major = false) {
  int32_t total = 0;
  for (int32_t n : counts) total += n;
  std::set<std::pair<int32_t, int32_t>> seen;
  int32_t slot = 0, slot_first = 0;
  int32_t last_unit = 0, last_index = -1;
  for (int32_t rank = 0; rank < total * units + 3 * units; ++rank) {
    const listed_rank at = locate_rank(rank, counts.data(), units, item_major);
    if (rank >= total * units) {
      CHECK_FALSE(at.found);
      continue;
    }
    REQUIRE(at.found);
    CHECK(at.unit >= 0);
    CHECK(at.unit < units);
    CHECK(at.index >= 0);
    CHECK(at.index < total);
    CHECK(seen.insert({at.unit, at.index}).second);
    // The slot this index is in: indices of a slot follow the earlier slots' in the list.
    while (at.index >= slot_first + counts[slot]) slot_first += counts[slot++];
    CHECK(at.index >= slot_first);
    // Within the rank order: (slot, unit, index) never goes back ((slot, index, unit)).
    if (at.index >= slot_first && last_index >= slot_first) {
      if (item_major) {
        CHECK((at.index > last_index || (at.index == last_index && at.unit > last_unit)));
      } else {
        CHECK((at.unit > last_unit || (at.unit == last_unit && at.index > last_index)));
      }
    }
    last_unit = at.unit;
    last_index = at.index;
  }
  CHECK(static_cast<int64_t>(seen.size()) == total * units);
}

}  // namespace

TEST_CASE("grid ranks take the classes in turn, each unit-major, every item of every unit once") {
  std::array<int32_t, kSegmentClasses> counts{};
  SUBCASE("one class") {
    counts[16] = 128;  // one 16,384-row segment of 128 k tiles
    check_map(counts, 16);
    // unit-major as before: rank r is unit r / 128, tile r % 128
    const listed_rank at = locate_rank(128 * 5 + 7, counts.data(), 16);
    CHECK(at.found);
    CHECK(at.unit == 5);
    CHECK(at.index == 7);
  }
  SUBCASE("several classes with empty ones between") {
    counts[18] = 65;  // prefill-like: a few long segments, many short
    counts[19] = 47;
    counts[21] = 30;
    counts[24] = 11;
    counts[31] = 3;  // keys without queries
    check_map(counts, 8);
    // the first ranks are slot 18 for every unit, then slot 19
    CHECK(locate_rank(0, counts.data(), 8).index == 0);
    CHECK(locate_rank(65 * 8 - 1, counts.data(), 8).unit == 7);
    CHECK(locate_rank(65 * 8 - 1, counts.data(), 8).index == 64);
    CHECK(locate_rank(65 * 8, counts.data(), 8).unit == 0);
    CHECK(locate_rank(65 * 8, counts.data(), 8).index == 65);
  }
  SUBCASE("one unit, every class used") {
    for (int32_t slot = 0; slot < kSegmentClasses; ++slot) counts[slot] = 1 + slot % 3;
    check_map(counts, 1);
  }
  SUBCASE("no items: no rank maps") {
    CHECK_FALSE(locate_rank(0, counts.data(), 4).found);
  }
}

TEST_CASE("grid ranks under a banded mask: item-major within each class, every item once") {
  using varattn::detail::window;
  // The launch's gate (backward/launch.cuh): item-major only where both window sides are
  // finite; causal alone (a k tile's queries run to the segment's end) and none stay
  // unit-major.
  CHECK(window{1023, 0}.banded());
  CHECK(window{255, 255}.banded());
  CHECK(window{0, 0}.banded());
  CHECK_FALSE(window{-1, 0}.banded());
  CHECK_FALSE(window{1023, -1}.banded());
  CHECK_FALSE(window{-1, 255}.banded());
  CHECK_FALSE(window{}.banded());
  varattn::attention_options options;
  options.causal = true;
  CHECK_FALSE(window::of(options).banded());
  options.window_left = 1023;  // long-d128-window1024
  CHECK(window::of(options).banded());

  // And only while every unit's rows in flight fit 3/4 of the L2: the bench's windows at d128
  // bf16 (16 units, 132 CTAs in flight, 128-key tiles, Q + dO + the fp32 dQ accumulator + lse
  // and D: 1,032 B a row), against an H200's L2 (60 MB) and an H100's (50 MB).
  using varattn::detail::item_major_in_l2;
  for (const int64_t l2 : {int64_t{60} << 20, int64_t{50} << 20}) {
    CAPTURE(l2);
    CHECK(item_major_in_l2(512, 128, 16, 132, 1032, l2));    // 16 x 1,664 rows: 27.5 MB
    CHECK(item_major_in_l2(1024, 128, 16, 132, 1032, l2));   // 16 x 2,176 rows: 35.9 MB
    CHECK_FALSE(item_major_in_l2(2048, 128, 16, 132, 1032, l2));  // 52.8 MB
    CHECK_FALSE(item_major_in_l2(4096, 128, 16, 132, 1032, l2));  // 86.6 MB (measured +3%)
  }
  // the limit itself, and no units at all
  CHECK(item_major_in_l2(100, 100, 1, 1, 1 << 10, 400 << 10));         // 200 KB of 300
  CHECK(item_major_in_l2(200, 100, 1, 1, 1 << 10, 400 << 10));         // 300 KB of 300
  CHECK_FALSE(item_major_in_l2(201, 100, 1, 1, 1 << 10, 400 << 10));   // 301 KB
  CHECK_FALSE(item_major_in_l2(100, 100, 0, 1, 1 << 10, 400 << 10));

  std::array<int32_t, kSegmentClasses> counts{};
  SUBCASE("one class: long-d128-window1024, and GQA's fewer units") {
    counts[16] = 128;  // one 16,384-row segment of 128 k tiles, 16 kv heads
    for (const int32_t units : {16, 4, 1}) check_map(counts, units, window::of(options).banded());
    // rank r is unit r % 16, tile r / 16: the 8 short tiles (120-127) of every head are the
    // last 128 ranks
    const listed_rank at = locate_rank(16 * 7 + 5, counts.data(), 16, true);
    CHECK(at.found);
    CHECK(at.unit == 5);
    CHECK(at.index == 7);
    CHECK(locate_rank(16 * 120, counts.data(), 16, true).index == 120);
    CHECK(locate_rank(16 * 128 - 1, counts.data(), 16, true).unit == 15);
    CHECK(locate_rank(16 * 128 - 1, counts.data(), 16, true).index == 127);
    CHECK_FALSE(locate_rank(16 * 128, counts.data(), 16, true).found);
    // causal: the same ranks as before
    options.window_left = -1;
    const listed_rank causal =
        locate_rank(128 * 5 + 7, counts.data(), 16, window::of(options).banded());
    CHECK(causal.unit == 5);
    CHECK(causal.index == 7);
  }
  SUBCASE("several classes: each item-major, the classes in turn") {
    counts[18] = 65;
    counts[19] = 47;
    counts[21] = 30;
    counts[31] = 3;
    check_map(counts, 8, true);
    CHECK(locate_rank(65 * 8 - 1, counts.data(), 8, true).unit == 7);
    CHECK(locate_rank(65 * 8 - 1, counts.data(), 8, true).index == 64);
    CHECK(locate_rank(65 * 8, counts.data(), 8, true).unit == 0);
    CHECK(locate_rank(65 * 8, counts.data(), 8, true).index == 65);
  }
  SUBCASE("random counts and units (head splits x kv heads)") {
    std::mt19937 rng(38);
    for (int trial = 0; trial < 200; ++trial) {
      CAPTURE(trial);
      for (int32_t& n : counts) n = rng() % 4 == 0 ? static_cast<int32_t>(rng() % 40) : 0;
      const auto units = static_cast<int32_t>(1 + rng() % 12);
      CAPTURE(units);
      check_map(counts, units, true);
      check_map(counts, units, false);
    }
  }
}

TEST_CASE("device-built forward list: one causal segment comes out as the host's list") {
  // One segment: the device's order (test::class_ordered_list, which a GPU test checks the
  // device's list against) is each class largest first, which is the host's longest-first
  // order (build_work_list).
  const std::vector<int32_t> q{16384};
  const auto items = test::class_ordered_list(q, q, 128, 64, varattn::detail::window{-1, 0});
  const auto segs = varattn::segments::from_lengths({16384}, "cu_seqlens_q");
  const std::vector<varattn::work_item> host =
      varattn::detail::build_work_list(segs, segs, 128, 64, varattn::detail::window{-1, 0}, false);
  REQUIRE(items.size() == host.size());
  for (std::size_t i = 0; i < items.size(); ++i) CHECK(items[i].q_tile == host[i].q_tile);
}

TEST_CASE("device-built forward list: every tile once, size classes of steps largest first") {
  using varattn::detail::window;
  const std::vector<int32_t> q{476, 2016, 0, 2843, 1, 8192, 140, 1155, 64, 65};
  std::vector<int32_t> k_same = q;
  std::vector<int32_t> k_more = q;
  for (int32_t& n : k_more) n += 700;  // chunked prefill: a cached prefix before the queries
  const window masks[] = {window{}, window{-1, 0}, window{1023, 0}, window{255, 255},
                          window{0, -1}};
  for (const window w : masks) {
    for (const auto* k : {&k_same, &k_more}) {
      for (const int32_t block_m : {64, 128, 192}) {
        for (const int32_t block_n : {1, 64, 176}) {
          CAPTURE(w.left);
          CAPTURE(w.right);
          CAPTURE(block_m);
          CAPTURE(block_n);
          const auto items = test::class_ordered_list(q, *k, block_m, block_n, w);
          // every (segment, tile) exactly once
          std::set<std::pair<int32_t, int32_t>> seen;
          std::size_t expected = 0;
          for (int32_t len : q) {
            expected += static_cast<std::size_t>(varattn::ceil_div(len, block_m));
          }
          CHECK(items.size() == expected);
          for (const auto& it : items) {
            CHECK(it.q_tile >= 0);
            CHECK(it.q_tile < varattn::ceil_div(q[it.segment], block_m));
            CHECK(seen.insert({it.segment, it.q_tile}).second);
          }
          // classes largest first, and within 2x of the order by steps, longest first, item by
          // item (block_n 1: steps are keys, the host's order)
          int32_t last_slot = 0;
          std::vector<int32_t> costs;
          for (const auto& it : items) {
            const int32_t cost = varattn::detail::tile_steps(q[it.segment], (*k)[it.segment],
                                                             it.q_tile, block_m, block_n, w);
            const int32_t slot = size_class_slot(cost);
            CHECK(slot >= last_slot);
            last_slot = slot;
            costs.push_back(cost);
          }
          std::vector<int32_t> sorted = costs;
          std::sort(sorted.begin(), sorted.end(), std::greater<>());
          for (std::size_t i = 0; i < costs.size(); ++i) {
            CHECK(2 * int64_t{costs[i]} >= sorted[i]);  // same power-of-two band or above
            CHECK(costs[i] <= 2 * int64_t{sorted[i]});
          }
        }
      }
    }
  }
}

TEST_CASE("device-built forward list: tiles of one step are one class, in segment order") {
  // Short segments (tiny-d64's 8 to 64 rows) cost one step each whatever their keys: the list
  // keeps the segment order that streams through memory.
  std::vector<int32_t> q;
  for (int32_t i = 0; i < 300; ++i) q.push_back(1 + (i * 37) % 64);
  const auto items = test::class_ordered_list(q, q, 64, 64, varattn::detail::window{});
  REQUIRE(items.size() == q.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    CHECK(items[i].segment == static_cast<int32_t>(i));
    CHECK(items[i].q_tile == 0);
  }
}

TEST_CASE("device-built forward list: groups stay within each builder thread's segments") {
  // 600 short segments over 256 threads: 3 a thread, so a group never spans more than 3, and
  // one starts at every multiple of 3 that has rows.
  std::vector<int32_t> q;
  for (int32_t i = 0; i < 600; ++i) q.push_back((i * 7) % 11);  // 0 to 10 rows
  const auto items = test::class_ordered_list(q, q, 64, 64, varattn::detail::window{}, true);
  std::vector<int> seen(q.size(), 0);
  for (const varattn::work_item& it : items) {
    const int32_t first = it.segment, last = it.segment + it.segments();
    CHECK(first / 3 == (last - 1) / 3);  // one thread's range
    for (int32_t s = first; s < last; ++s) ++seen[static_cast<std::size_t>(s)];
  }
  for (std::size_t s = 0; s < q.size(); ++s) {
    CAPTURE(s);
    // A segment with rows is covered once; an empty one at most once (inside a group).
    CHECK(seen[s] <= 1);
    if (q[s] > 0) CHECK(seen[s] == 1);
  }
  CHECK(items.size() < q.size() / 2);
}

namespace {
struct class_run {
  int32_t first, tiles, slot;
  bool operator==(const class_run& o) const {
    return first == o.first && tiles == o.tiles && slot == o.slot;
  }
};

// for_each_class_run's runs, found tile by tile: the reference of its closed form.
std::vector<class_run> runs_tile_by_tile(int32_t q, int32_t k, int32_t block_m, int32_t block_n,
                                         varattn::detail::window w) {
  std::vector<class_run> runs;
  const int32_t tiles = varattn::ceil_div(q, block_m);
  for (int32_t t = 0; t < tiles; ++t) {
    const int32_t slot =
        size_class_slot(varattn::detail::tile_steps(q, k, t, block_m, block_n, w));
    if (!runs.empty() && runs.back().slot == slot) {
      ++runs.back().tiles;
    } else {
      runs.push_back({t, 1, slot});
    }
  }
  return runs;
}

std::vector<class_run> class_runs(int32_t q, int32_t k, int32_t block_m, int32_t block_n,
                                  varattn::detail::window w) {
  std::vector<class_run> runs;
  varattn::detail::for_each_class_run(q, k, block_m, block_n, w,
                                      [&](int32_t first, int32_t tiles, int32_t slot) {
                                        runs.push_back({first, tiles, slot});
                                      });
  return runs;
}
}  // namespace

TEST_CASE("class runs found in closed form are the tile-by-tile runs, under every mask") {
  using varattn::detail::window;
  std::mt19937 rng(20261202);
  const auto draw = [&](int32_t lo, int32_t hi) {
    return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
  };
  int64_t checked = 0;
  for (int i = 0; i < 20000; ++i) {
    const int32_t block_m = std::array<int32_t, 6>{16, 64, 80, 128, 176, 192}[draw(0, 5)];
    const int32_t block_n = std::array<int32_t, 6>{1, 32, 64, 80, 128, 176}[draw(0, 5)];
    // Lengths around tile multiples and off them; keys fewer, equal or more.
    const int32_t q =
        std::max(0, draw(0, 3) == 0 ? block_m * draw(0, 70) + draw(-1, 1) : draw(0, 9000));
    const int32_t k = std::max(0, draw(0, 2) == 0 ? q + draw(-300, 300) : draw(0, 9000));
    // Windows: none, causal, left, right, both; reaching past either end of the keys.
    const int32_t left = draw(0, 4) == 0 ? -1 : draw(0, 1) ? draw(0, 300) : draw(0, 12000);
    const int32_t right = draw(0, 4) == 0 ? -1 : draw(0, 1) ? draw(0, 300) : draw(0, 12000);
    const window w{left, right};
    CAPTURE(q);
    CAPTURE(k);
    CAPTURE(block_m);
    CAPTURE(block_n);
    CAPTURE(left);
    CAPTURE(right);
    const auto want = runs_tile_by_tile(q, k, block_m, block_n, w);
    const auto got = class_runs(q, k, block_m, block_n, w);
    REQUIRE(got.size() == want.size());
    for (std::size_t r = 0; r < want.size(); ++r) REQUIRE(got[r] == want[r]);
    checked += static_cast<int64_t>(want.size());
  }
  CHECK(checked > 20000);
}

TEST_CASE("class runs of segments near 2^31 rows: the tile-by-tile runs") {
  // 2^31 - 1 rows in tiles of 2^24 rows (128 tiles): no overflow on the way to the cuts.
  using varattn::detail::window;
  for (const window w : {window{-1, 0}, window{1 << 26, 0}, window{0, 1 << 27}, window{}}) {
    for (const int32_t k : {INT32_MAX, 1 << 29, 1}) {
      CAPTURE(w.left);
      CAPTURE(w.right);
      CAPTURE(k);
      CHECK(class_runs(INT32_MAX, k, 1 << 24, 1 << 20, w) ==
            runs_tile_by_tile(INT32_MAX, k, 1 << 24, 1 << 20, w));
    }
  }
}

namespace {

using varattn::detail::class_rank;
using varattn::detail::locate_class_rank;

// The Hopper forward's class-major ranks (locate_class_rank): every rank below count x groups
// maps to a distinct (item, head group), the classes in list order, within a class the bands
// (kv heads) in order, within a band the class's items in order, an item's band of head groups
// on consecutive ranks; every rank past it maps to nothing.
void check_class_map(const std::array<int32_t, kSegmentClasses>& counts, uint32_t units,
                     uint32_t band) {
  std::array<int32_t, kSegmentClasses> ends{};
  int32_t total = 0;
  for (int32_t slot = 0; slot < kSegmentClasses; ++slot) ends[slot] = total += counts[slot];
  const uint32_t groups = units * band;
  std::set<std::pair<int32_t, int32_t>> seen;
  const auto slot_of = [&](int32_t index) {
    int32_t slot = 0;
    while (ends[slot] <= index) ++slot;
    return slot;
  };
  class_rank last{false, 0, 0};
  const auto ranks = static_cast<uint32_t>(total) * groups;
  for (uint32_t rank = 0; rank < ranks + 2 * groups + 1; ++rank) {
    const class_rank at = locate_class_rank(rank, ends.data(), groups, band);
    if (rank >= ranks) {
      CHECK_FALSE(at.found);
      continue;
    }
    REQUIRE(at.found);
    REQUIRE(at.index >= 0);
    REQUIRE(at.index < total);
    REQUIRE(at.group >= 0);
    REQUIRE(at.group < static_cast<int32_t>(groups));
    CHECK(seen.insert({at.index, at.group}).second);
    if (rank > 0) {
      const int32_t s0 = slot_of(last.index), s1 = slot_of(at.index);
      const int32_t b0 = last.group / static_cast<int32_t>(band);
      const int32_t b1 = at.group / static_cast<int32_t>(band);
      // (slot, band, index, group in band) strictly increases along the ranks.
      const bool ahead =
          s1 > s0 ||
          (s1 == s0 && (b1 > b0 || (b1 == b0 && (at.index > last.index ||
                                                 (at.index == last.index &&
                                                  at.group > last.group)))));
      CHECK(ahead);
      // An item's band is taken on consecutive ranks.
      if (rank % band != 0) {
        CHECK(at.index == last.index);
        CHECK(b1 == b0);
      }
    }
    last = at;
  }
  CHECK(seen.size() == static_cast<std::size_t>(ranks));
}

}  // namespace

TEST_CASE("forward class-major ranks: one to one, classes in turn, kv head bands inside") {
  std::array<int32_t, kSegmentClasses> counts{};
  SUBCASE("one class, MHA: head-major as before") {
    counts[25] = 86;
    check_class_map(counts, 16, 1);
    std::array<int32_t, kSegmentClasses> ends{};
    for (int32_t slot = 25; slot < kSegmentClasses; ++slot) ends[slot] = 86;
    const class_rank at = locate_class_rank(86 * 5 + 7, ends.data(), 16, 1);
    CHECK(at.found);
    CHECK(at.group == 5);
    CHECK(at.index == 7);
  }
  SUBCASE("vl-full-d80: 6400 | 4096, 2304 | 1600, 1024 | 576 on 192 x 144") {
    counts[25] = 34;
    counts[26] = 22 + 12;
    counts[27] = 9 + 6;
    counts[28] = 3;
    check_class_map(counts, 16, 1);
    std::array<int32_t, kSegmentClasses> ends{};
    for (int32_t slot = 0, sum = 0; slot < kSegmentClasses; ++slot) {
      ends[slot] = sum += counts[slot];
    }
    // head 15's longest tiles come before any head's 4096 tiles
    const class_rank at = locate_class_rank(34 * 16 - 1, ends.data(), 16, 1);
    CHECK(at.group == 15);
    CHECK(at.index == 33);
    CHECK(locate_class_rank(34 * 16, ends.data(), 16, 1).group == 0);
    CHECK(locate_class_rank(34 * 16, ends.data(), 16, 1).index == 34);
  }
  SUBCASE("GQA bands and every class used") {
    for (int32_t slot = 0; slot < kSegmentClasses; ++slot) counts[slot] = 1 + slot % 3;
    check_class_map(counts, 2, 4);
    check_class_map(counts, 3, 1);
    check_class_map(counts, 1, 8);
  }
  SUBCASE("no items: no rank maps") {
    const std::array<int32_t, kSegmentClasses> ends{};
    CHECK_FALSE(locate_class_rank(0, ends.data(), 4, 2).found);
  }
  SUBCASE("random class counts, units and bands") {
    std::mt19937 rng(37);
    for (int trial = 0; trial < 200; ++trial) {
      CAPTURE(trial);
      for (int32_t& n : counts) n = rng() % 4 == 0 ? static_cast<int32_t>(rng() % 40) : 0;
      const uint32_t units = 1 + rng() % 6, band = 1u << (rng() % 4);
      CAPTURE(units);
      CAPTURE(band);
      check_class_map(counts, units, band);
    }
  }
}

TEST_CASE("forward ranks as one class (causal and windowed masks): band major over the list") {
  // by_class = false: rank r is band r / (count x band), then item, then the band's group,
  // whatever the class ends between (the order of the kernel before class ranks).
  std::mt19937 rng(39);
  for (int trial = 0; trial < 100; ++trial) {
    CAPTURE(trial);
    std::array<int32_t, kSegmentClasses> ends{};
    for (int32_t slot = 0, sum = 0; slot < kSegmentClasses; ++slot) {
      ends[slot] = sum += rng() % 3 == 0 ? static_cast<int32_t>(rng() % 30) : 0;
    }
    const uint32_t band = 1u << (rng() % 4), groups = band * (1 + rng() % 5);
    const auto count = static_cast<uint32_t>(ends[kSegmentClasses - 1]);
    CAPTURE(count);
    CAPTURE(groups);
    CAPTURE(band);
    for (uint32_t rank = 0; rank < count * groups + groups + 1; ++rank) {
      const class_rank at = locate_class_rank(rank, ends.data(), groups, band, false);
      if (rank >= count * groups) {
        CHECK_FALSE(at.found);
        continue;
      }
      const uint32_t span = count * band, in_band = rank % span;
      REQUIRE(at.found);
      CHECK(at.index == static_cast<int32_t>(in_band / band));
      CHECK(at.group == static_cast<int32_t>(rank / span * band + in_band % band));
    }
  }
}

TEST_CASE("host-built lists: class ends partition the longest-first list by step classes") {
  using varattn::detail::window;
  const std::vector<int32_t> lengths{4096, 2304, 1024, 576, 6400, 1600, 0, 1, 63, 64, 65};
  const auto segs = varattn::segments::from_lengths(lengths, "cu_seqlens_q");
  for (const window w : {window{}, window{-1, 0}, window{255, 255}}) {
    for (const bool grouping : {false, true}) {
      for (const int32_t block_m : {64, 128, 192}) {
        for (const int32_t block_n : {64, 144}) {
          CAPTURE(w.left);
          CAPTURE(grouping);
          CAPTURE(block_m);
          CAPTURE(block_n);
          const auto items =
              varattn::detail::build_work_list(segs, segs, block_m, block_n, w, grouping);
          const auto ends =
              varattn::detail::list_class_ends(items, segs, segs, block_m, block_n, w);
          CHECK(ends[kSegmentClasses - 1] == static_cast<int32_t>(items.size()));
          for (int32_t slot = 1; slot < kSegmentClasses; ++slot) {
            CHECK(ends[slot] >= ends[slot - 1]);
          }
          for (std::size_t i = 0; i < items.size(); ++i) {
            if (items[i].is_group()) continue;
            const varattn::work_item item = items[i];
            const int32_t slot = size_class_slot(varattn::detail::tile_steps(
                lengths[item.segment], lengths[item.segment], item.q_tile, block_m, block_n, w));
            CHECK(static_cast<int32_t>(i) < ends[slot]);
            CHECK(static_cast<int32_t>(i) >= (slot > 0 ? ends[slot - 1] : 0));
          }
        }
      }
    }
  }
}
