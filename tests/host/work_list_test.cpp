// SPDX-License-Identifier: Apache-2.0
// Tile counts and costs near the int32 limit: 2^31 - 1 rows must not overflow (UB) on the way.
#include <doctest/doctest.h>

#include <cstdint>
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
      varattn::detail::build_work_list(q, k, block_m, kCausal);
  REQUIRE(items.size() == 2);
  CHECK(items[0].q_tile == 1);  // the costlier tile first
  CHECK(items[1].q_tile == 0);
}
