// SPDX-License-Identifier: Apache-2.0
// The Hopper dK/dV CTA's item order (step_order.hpp): the producer's locate and the consumers'
// counters (first, next, then the tail loop) must name the same (step, head) for every item,
// or a consumer computes a step with another step's tiles.
#include <varattn/detail/backward/query_steps.hpp>
#include <varattn/detail/backward/step_order.hpp>
#include <varattn/detail/mask.hpp>

#include <cstdint>
#include <doctest/doctest.h>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using item = std::pair<int32_t, int32_t>;  // (step, head)

std::vector<item> producer_walk(const varattn::detail::step_order& o, int32_t items) {
  std::vector<item> walk;
  for (int32_t i = 0; i < items; ++i) {
    int32_t step = -1, head = -1;
    o.locate(i, step, head);
    walk.emplace_back(step, head);
  }
  return walk;
}

// The consumers' loops in dkdv_kernel.cuh: counters over the main items, then the tail loop.
std::vector<item> consumer_walk(const varattn::detail::step_order& o, int32_t items) {
  std::vector<item> walk;
  int32_t step = 0, head = 0;
  o.first(step, head);
  int32_t i = 0;
  for (; i < o.main_items; ++i) {
    walk.emplace_back(step, head);
    o.next(step, head);
  }
  for (head = o.head0; i < items; ++i, ++head) walk.emplace_back(o.main_end, head);
  return walk;
}

}  // namespace

TEST_CASE("step_order: the producer and the consumers walk the same items, each once") {
  int cases = 0;
  for (int32_t heads : {1, 2, 3, 4, 7, 8, 28, 32}) {
    for (int32_t head0 : {0, 5}) {
      for (int32_t step_first = 0; step_first < 3; ++step_first) {
        for (int32_t steps = 0; steps <= 6; ++steps) {
          for (int32_t k_tile = 0; k_tile <= heads + 1; ++k_tile) {
            for (bool tail : {false, true}) {
              for (const auto& [rows, period] :
                   {std::pair{80, 0}, std::pair{80, 240}, std::pair{80, 1200}, std::pair{64, 64},
                    std::pair{64, 320}, std::pair{128, 384}, std::pair{128, 1000}}) {
                if (tail && steps == 0) continue;
                const int32_t step_end = step_first + steps;
                const int32_t first_query = 128 * k_tile + 16 * step_first;  // any row
                const auto o = varattn::detail::step_order::make(
                    step_first, step_end, head0, heads, k_tile, tail, first_query, rows, period);
                const int32_t items = heads * steps;
                const std::vector<item> produced = producer_walk(o, items);
                CAPTURE(heads);
                CAPTURE(head0);
                CAPTURE(step_first);
                CAPTURE(steps);
                CAPTURE(k_tile);
                CAPTURE(tail);
                CAPTURE(rows);
                CAPTURE(period);
                REQUIRE(produced == consumer_walk(o, items));
                std::set<item> seen(produced.begin(), produced.end());
                REQUIRE(seen.size() == produced.size());
                for (const item& at : produced) {
                  REQUIRE(at.first >= step_first);
                  REQUIRE(at.first < step_end);
                  REQUIRE(at.second >= head0);
                  REQUIRE(at.second < head0 + heads);
                }
                for (int32_t i = 0; i + 1 < o.main_items; ++i) {
                  const int32_t walked = produced[i + 1].first - produced[i].first;
                  if (heads == 1) {
                    REQUIRE(walked == 1);  // one head: the steps ascend, as head-major did
                  } else {
                    // Several: each step's heads from start_head, then the step below, round
                    // from the last main step after the first.
                    const bool round = produced[i].first == step_first;
                    const int32_t below = round ? o.main_end - 1 - step_first : -1;
                    REQUIRE(walked == ((i + 1) % heads == 0 ? below : 0));
                    if (i % heads == 0) REQUIRE(produced[i].second == head0 + k_tile % heads);
                  }
                }
                if (heads > 1 && o.main_items > 0 && period == 0) {
                  REQUIRE(produced[0].first == o.main_end - 1);  // no band: from the last step
                }
                if (tail) {  // the tail steps last, one a head from head0
                  for (int32_t h = 0; h < heads; ++h) {
                    REQUIRE(produced[o.main_items + h] == item{step_end - 1, head0 + h});
                  }
                }
                ++cases;
              }
            }
          }
        }
      }
    }
  }
  CHECK(cases > 5000);
}

TEST_CASE("step_order: under a window, every unclipped CTA is on the same rows modulo the band") {
  using varattn::detail::band_period;
  using varattn::detail::segment_mask;
  using varattn::detail::step_order;
  using varattn::detail::steps_of_tile;
  int64_t checked = 0;
  // (keys, rows): the head-dim-128 kernel's 80-row steps from a tile's first query; 64-row
  // steps of 64-key tiles (the head-dim-256 split kernel) and 128-row steps of 128-key tiles
  // (head dim 64) on the segment's grid. Windows whose span is 0, 1 and rows - 1 past a
  // multiple of the step; q = k and bottom-right aligned q != k.
  for (const auto& [keys, rows, from_first] :
       {std::tuple{128, 80, true}, std::tuple{64, 64, false}, std::tuple{128, 128, false}}) {
    for (int32_t left : {0, 511, 512, 513, 1023, 4095}) {
      for (int32_t right : {0, 37, 200}) {
        for (const auto& [q_length, k_length] :
             {std::pair{16384, 16384}, std::pair{16000, 16384}, std::pair{16384, 16000}}) {
          const auto mask = segment_mask::make({left, right}, q_length, k_length);
          const int32_t period = from_first ? band_period<true>(mask, keys, rows)
                                            : band_period<false>(mask, keys, rows);
          CAPTURE(keys);
          CAPTURE(rows);
          CAPTURE(left);
          CAPTURE(right);
          CAPTURE(q_length);
          CAPTURE(k_length);
          REQUIRE(period % rows == 0);
          REQUIRE(period >= keys + left + right);
          REQUIRE(period < keys + left + right + 2 * rows);
          int32_t unclipped = 0;
          for (int32_t k_tile = 0; k_tile < k_length / keys; ++k_tile) {
            const int32_t key0 = k_tile * keys;
            // Unclipped: every query that sees one of its keys is in the segment.
            if (int64_t{key0} - mask.max_offset < 0 ||
                int64_t{key0} + keys - 1 - mask.min_offset >= q_length) {
              continue;
            }
            ++unclipped;
            const auto s = from_first ? steps_of_tile<true>(mask, q_length, key0, keys, rows)
                                      : steps_of_tile<false>(mask, q_length, key0, keys, rows);
            CAPTURE(k_tile);
            REQUIRE((s.end - s.first) * rows == period);  // its steps span one period
            const int32_t heads = 4;
            const auto o = step_order::make(s.first, s.end, 0, heads, k_tile, false,
                                            s.origin + s.first * rows, rows, period);
            for (int32_t walked = 0; walked < s.end - s.first; ++walked) {
              int32_t step, head;
              o.locate(walked * heads, step, head);
              const int32_t residue = (s.origin + step * rows) % period;
              CAPTURE(walked);
              REQUIRE(residue >= period - rows * (walked + 1));
              REQUIRE(residue < period - rows * walked);
              ++checked;
            }
          }
          REQUIRE(unclipped > k_length / keys / 2);
        }
      }
    }
  }
  CHECK(checked > 300000);
}

TEST_CASE("band_period: 0 without a band") {
  using varattn::detail::band_period;
  using varattn::detail::segment_mask;
  // (left, right, q_length, k_length): an unbounded side, also where the other offset lies
  // within 2^30 of it (q or k of ~1.2e9 rows: the span alone would not tell).
  const std::tuple<int32_t, int32_t, int32_t, int32_t> cases[] = {
      {-1, -1, 4096, 4096},     {-1, 0, 4096, 4096},      {100, -1, 4096, 4096},
      {1 << 30, 0, 4096, 4096}, {-1, 0, 1200000000, 128}, {100, -1, 128, 1200000000}};
  for (const auto& [left, right, q_length, k_length] : cases) {
    CAPTURE(left);
    CAPTURE(right);
    CAPTURE(q_length);
    const auto mask = segment_mask::make({left, right}, q_length, k_length);
    CHECK(band_period<true>(mask, 128, 80) == 0);
    CHECK(band_period<false>(mask, 128, 128) == 0);
  }
}
