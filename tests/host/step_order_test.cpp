// SPDX-License-Identifier: Apache-2.0
// The Hopper dK/dV CTA's item order (step_order.hpp): the producer's locate and the consumers'
// counters (first, next, then the tail loop) must name the same (step, head) for every item,
// or a consumer computes a step with another step's tiles.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <utility>
#include <varattn/detail/backward/step_order.hpp>
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
              if (tail && steps == 0) continue;
              const int32_t step_end = step_first + steps;
              const auto o = varattn::detail::step_order::make(step_first, step_end, head0, heads,
                                                               k_tile, tail);
              const int32_t items = heads * steps;
              const std::vector<item> produced = producer_walk(o, items);
              CAPTURE(heads);
              CAPTURE(head0);
              CAPTURE(step_first);
              CAPTURE(steps);
              CAPTURE(k_tile);
              CAPTURE(tail);
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
                  // Several: each step's heads from start_head, then the step below.
                  REQUIRE(walked == ((i + 1) % heads == 0 ? -1 : 0));
                  if (i % heads == 0) REQUIRE(produced[i].second == head0 + k_tile % heads);
                }
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
  CHECK(cases > 5000);
}
