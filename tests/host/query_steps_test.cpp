// SPDX-License-Identifier: Apache-2.0
// A dK/dV k tile's query steps (query_steps.hpp: steps_of_tile, which kv_tile::place runs)
// against the mask's own definition, and tiles_covering (the adds a dQ row receives: what a
// block of the accumulator waits for) against a count over every tile's steps.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>
#include <varattn/detail/backward/query_steps.hpp>

namespace {

using varattn::detail::query_steps;
using varattn::detail::segment_mask;
using varattn::detail::window;

struct shape {
  int32_t q_length, k_length, tile_keys, rows;
  window w;
};

// Query i sees a key of [key0, key0 + keys): the mask's definition, one query at a time.
bool sees(const segment_mask& m, int32_t i, int32_t key0, int32_t keys) {
  return int64_t{i} + m.min_offset <= int64_t{key0} + keys - 1 &&
         int64_t{i} + m.max_offset >= key0;
}

template <bool FromFirstQuery>
void check(const shape& s, int64_t& checked) {
  const segment_mask m = segment_mask::make(s.w, s.q_length, s.k_length);
  std::vector<int32_t> adds(static_cast<size_t>(s.q_length), 0);
  for (int32_t key0 = 0; key0 < s.k_length; key0 += s.tile_keys) {
    const int32_t keys = std::min(s.tile_keys, s.k_length - key0);
    const query_steps st =
        varattn::detail::steps_of_tile<FromFirstQuery>(m, s.q_length, key0, keys, s.rows);
    // Every query that sees a key lies in a step; every step holds one that does.
    int32_t first_seen = -1;
    for (int32_t i = 0; i < s.q_length; ++i) {
      if (!sees(m, i, key0, keys)) continue;
      if (first_seen < 0) first_seen = i;
      const int64_t step = (int64_t{i} - st.origin) / s.rows;
      CHECK((i >= st.origin && step >= st.first && step < st.end));
      ++checked;
    }
    for (int32_t step = st.first; step < st.end; ++step) {
      const int32_t q0 = st.origin + step * s.rows;
      bool any = false;
      for (int32_t i = q0; i < std::min(q0 + s.rows, s.q_length) && !any; ++i) {
        any = sees(m, i, key0, keys);
      }
      CHECK(any);
      for (int32_t i = q0; i < std::min(q0 + s.rows, s.q_length); ++i) ++adds[i];
    }
    // Its steps' rows in the segment are [begin_row, end_row).
    int32_t covered = 0;
    for (int32_t step = st.first; step < st.end; ++step) {
      const int32_t q0 = st.origin + step * s.rows;
      covered += std::max(0, std::min(q0 + s.rows, s.q_length) - q0);
    }
    CHECK(covered == (st.end > st.first ? st.end_row(s.rows, s.q_length) - st.begin_row(s.rows)
                                        : 0));
    if (FromFirstQuery && first_seen >= 0) CHECK(st.origin == first_seen);
    if (first_seen < 0) CHECK(st.end <= st.first);
  }
  for (int32_t row = 0; row < s.q_length; ++row) {
    const int32_t got = varattn::detail::tiles_covering<FromFirstQuery>(
        m, s.q_length, s.tile_keys, s.rows, row);
    if (got != adds[row]) {
      FAIL_CHECK("row ", row, ": tiles_covering ", got, ", steps' adds ", adds[row],
                 " (q ", s.q_length, ", k ", s.k_length, ", tile ", s.tile_keys, ", rows ",
                 s.rows, ", window ", s.w.left, "/", s.w.right, ")");
      return;
    }
    ++checked;
  }
}

}  // namespace

TEST_CASE("query steps: every seen query in a step, tiles_covering = the steps' adds") {
  const std::vector<window> windows = {{-1, -1}, {-1, 0}, {0, 0},   {37, 0},
                                       {100, 0}, {50, 20}, {-1, 30}, {20, -1},
                                       {1023, 0}, {0, -1}};
  const std::vector<int32_t> lengths = {0, 1, 5, 31, 32, 33, 79, 80, 81, 127, 128, 129, 300, 1025};
  int64_t checked = 0;
  for (const window w : windows) {
    for (const int32_t q : lengths) {
      for (const int32_t k : lengths) {
        for (const int32_t tile : {64, 128}) {
          for (const int32_t rows : {32, 64, 80, 128}) {
            check<false>({q, k, tile, rows, w}, checked);
            check<true>({q, k, tile, rows, w}, checked);
          }
        }
      }
    }
  }
  // Random lengths and windows, q shorter and longer than k.
  std::mt19937 rng(20261205);
  for (int n = 0; n < 300; ++n) {
    const int32_t q = static_cast<int32_t>(rng() % 3000);
    const int32_t k = static_cast<int32_t>(rng() % 3000);
    const int32_t left = static_cast<int32_t>(rng() % 1200) - 100;   // < 0: unbounded
    const int32_t right = static_cast<int32_t>(rng() % 300) - 150;
    const window w{left < 0 ? -1 : left, right < 0 ? (right < -75 ? -1 : 0) : right};
    const int32_t rows = (rng() % 2) ? 80 : 128;
    check<false>({q, k, 128, rows, w}, checked);
    check<true>({q, k, 128, rows, w}, checked);
  }
  MESSAGE("query steps: ", checked, " queries and rows checked");
}
