// SPDX-License-Identifier: Apache-2.0
// Plan validation and decomposition: every (segment, head, q-tile) exactly once.
#include <doctest/doctest.h>

#include <climits>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <varattn/plan.hpp>
#include <vector>

using varattn::attention_options;
using varattn::attention_shape;
using varattn::plan;
using varattn::segments;

// The windows a plan makes of causal = true / false (detail::window::of).
constexpr varattn::detail::window kCausal{-1, 0};
constexpr varattn::detail::window kFull{};

TEST_CASE("the plan covers every (segment, head, q-tile) exactly once") {
  for (const int32_t head_dim : {64, 72, 80, 96, 128, 256}) {
    if (!varattn::head_dims::contains(head_dim)) continue;  // a build with fewer head dims
    for (const uint32_t seed : {1u, 2u, 3u}) {
      std::mt19937 rng(seed);
      std::uniform_int_distribution<int32_t> length(0, 300);
      std::vector<int32_t> lengths(1 + rng() % 40);
      for (int32_t& l : lengths) l = rng() % 5 == 0 ? 0 : length(rng);
      const segments segs = segments::from_lengths(lengths, "cu_seqlens_q");
      const attention_shape shape{6, 3, head_dim};
      const plan p = plan::make(segs, segs, shape, {}, varattn::launch_policy::per_segment);
      const int32_t block_m = p.tile().block_m;

      std::map<std::tuple<int32_t, int32_t, int32_t>, int> seen;
      p.for_each_work_item([&](int32_t s, int32_t head, int32_t tile) { ++seen[{s, head, tile}]; });
      std::size_t expected = 0;
      for (const varattn::segment s : segs) {
        const int32_t tiles = (s.length + block_m - 1) / block_m;
        for (int32_t head = 0; head < shape.heads_q; ++head) {
          for (int32_t tile = 0; tile < tiles; ++tile) {
            CHECK(seen[{s.index, head, tile}] == 1);
            // The tile's rows lie inside the segment.
            CHECK(tile * block_m < s.length);
          }
        }
        expected += std::size_t(tiles) * shape.heads_q;
      }
      CHECK(seen.size() == expected);
      // Empty segments launch nothing.
      for (const varattn::segment_launch& launch : p.launches()) CHECK(launch.q_length > 0);
    }
  }
}

TEST_CASE("the plan pairs q and k segments of the same index") {
  const segments q = segments::from_lengths({3, 0, 70}, "cu_seqlens_q");
  const segments k = segments::from_lengths({5, 2, 1}, "cu_seqlens_k");
  const plan p = plan::make(q, k, {2, 1, 64}, attention_options{true, 0.5f},
                            varattn::launch_policy::per_segment);
  REQUIRE(p.launches().size() == 2);
  CHECK(p.launches()[0].segment == 0);
  CHECK(p.launches()[0].k_begin == 0);
  CHECK(p.launches()[0].k_length == 5);
  CHECK(p.launches()[1].segment == 2);
  CHECK(p.launches()[1].q_begin == 3);
  CHECK(p.launches()[1].q_tiles == (70 + p.tile().block_m - 1) / p.tile().block_m);
  CHECK(p.launches()[1].k_begin == 7);
  CHECK(p.launches()[1].k_length == 1);
  CHECK(p.causal());
  CHECK(p.scale() == 0.5f);
  CHECK(p.rows_q() == 73);
  CHECK(p.rows_k() == 8);
  CHECK(plan::make(q, k, {2, 1, 80}, {}, varattn::launch_policy::per_segment).scale() ==
        doctest::Approx(1.0 / std::sqrt(80.0)));
}

TEST_CASE("bad shapes are rejected with the argument and the values") {
  const segments q = segments::from_lengths({3, 4}, "cu_seqlens_q");
  const segments k3 = segments::from_lengths({3, 4, 1}, "cu_seqlens_k");
  CHECK_THROWS_WITH_AS(plan::make(q, k3, {2, 2, 64}),
                       "cu_seqlens_q has 2 segments but cu_seqlens_k has 3", varattn::error);
  CHECK_THROWS_WITH_AS(plan::make(q, q, {6, 4, 64}),
                       "heads_q = 6 is not a multiple of heads_kv = 4", varattn::error);
  CHECK_THROWS_WITH_AS(plan::make(q, q, {0, 1, 64}), "heads_q = 0 must be positive",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::make(q, q, {4, -1, 64}), "heads_kv = -1 must be positive",
                       varattn::error);
  // 88: a head dim the kernels take, but not in the default list.
  CHECK_THROWS_WITH_AS(
      plan::make(q, q, {4, 4, 88}),
      ("head_dim = 88 is not instantiated (available: " + varattn::head_dims::to_string() + ")")
          .c_str(),
      varattn::error);
  for (const int32_t d : {0, 24, 36, 100, 264, -8}) {
    CAPTURE(d);
    CHECK_THROWS_WITH_AS(
        plan::make(q, q, {4, 4, d}),
        ("head_dim = " + std::to_string(d) + " is not supported (a multiple of 8 from 32 to 256)")
            .c_str(),
        varattn::error);
  }
  CHECK_THROWS_WITH_AS(plan::make(q, q, {4, 4, 64}, attention_options{false, -1.0f}),
                       "scale = -1 must be positive and finite", varattn::error);
}

TEST_CASE("the fused work list holds every (segment, q-tile) once, longest first") {
  for (const bool causal : {false, true}) {
    std::mt19937 rng(causal ? 5 : 6);
    std::vector<int32_t> lq(50), lk(50);
    for (std::size_t i = 0; i < lq.size(); ++i) {
      lq[i] = rng() % 7 == 0 ? 0 : static_cast<int32_t>(rng() % 400);
      lk[i] = static_cast<int32_t>(rng() % 400);
    }
    const auto q = segments::from_lengths(lq, "cu_seqlens_q");
    const auto k = segments::from_lengths(lk, "cu_seqlens_k");
    const int32_t block_m = 64;
    const varattn::detail::window w = causal ? kCausal : kFull;
    const auto items = varattn::detail::build_work_list(q, k, block_m, 64, w, false);
    std::map<std::pair<int32_t, int32_t>, int> seen;
    int32_t previous_cost = INT32_MAX;
    for (const varattn::work_item& item : items) {
      ++seen[{item.segment, item.q_tile}];
      const int32_t cost =
          varattn::detail::tile_keys(lq[item.segment], lk[item.segment], item.q_tile, block_m, w);
      CHECK(cost <= previous_cost);
      previous_cost = cost;
    }
    std::size_t expected = 0;
    for (std::size_t s = 0; s < lq.size(); ++s) {
      const int32_t tiles = (lq[s] + block_m - 1) / block_m;
      for (int32_t t = 0; t < tiles; ++t) CHECK(seen[{int32_t(s), t}] == 1);
      expected += tiles;
    }
    CHECK(seen.size() == expected);
    CHECK(items.size() == expected);
  }
}

TEST_CASE("a causal tile's cost counts the keys up to its last row's diagonal") {
  // 100 queries over 150 keys, bottom-right aligned: row i sees keys j <= i + 50.
  CHECK(varattn::detail::tile_keys(100, 150, 0, 64, kCausal) == 114);
  CHECK(varattn::detail::tile_keys(100, 150, 1, 64, kCausal) == 150);
  CHECK(varattn::detail::tile_keys(100, 20, 0, 64, kCausal) == 0);  // rows 0..63 see j <= i - 80
  CHECK(varattn::detail::tile_keys(100, 20, 1, 64, kCausal) == 20);
  CHECK(varattn::detail::tile_keys(100, 20, 0, 64, kFull) == 20);
}

TEST_CASE("automatic picks fused for several segments and per_segment for one") {
  CHECK(varattn::resolve_policy(varattn::launch_policy::automatic, 2) ==
        varattn::launch_policy::fused);
  CHECK(varattn::resolve_policy(varattn::launch_policy::automatic, 1) ==
        varattn::launch_policy::per_segment);
  CHECK(varattn::resolve_policy(varattn::launch_policy::per_segment, 9) ==
        varattn::launch_policy::per_segment);
  // One segment: host-only plan, no CUDA call even though the policy was left automatic.
  const segments one = segments::from_lengths({300});
  const plan p = plan::make(one, one, {4, 4, 128});
  CHECK(p.policy() == varattn::launch_policy::per_segment);
  CHECK(p.launches().size() == 1);
}

TEST_CASE("bucket filters split the work list into short and long segments") {
  const segments q = segments::from_lengths({64, 65, 1, 0, 300, 64, 2000}, "cu_seqlens_q");
  for (const bool causal : {false, true}) {
    using varattn::detail::segment_filter;
    const varattn::detail::window w = causal ? kCausal : kFull;
    const auto all = varattn::detail::build_work_list(q, q, 128, 64, w, false);
    const auto short_items =
        varattn::detail::build_work_list(q, q, 64, 64, w, false,
                                           segment_filter::short_only);
    const auto long_items =
        varattn::detail::build_work_list(q, q, 128, 64, w, false,
                                           segment_filter::long_only);
    std::map<int32_t, int> tiles_short, tiles_long;
    for (const varattn::work_item& w : short_items) ++tiles_short[w.segment];
    for (const varattn::work_item& w : long_items) ++tiles_long[w.segment];
    // Segments of <= 64 queries: one short tile each; longer ones: ceil(len / 128) tall tiles.
    CHECK(tiles_short == std::map<int32_t, int>{{0, 1}, {2, 1}, {5, 1}});
    CHECK(tiles_long == std::map<int32_t, int>{{1, 1}, {4, 3}, {6, 16}});
    CHECK(all.size() == 1 + 1 + 1 + 3 + 1 + 16);
  }
}

TEST_CASE("the plan resolves the window (causal folded in) and keeps the softcap") {
  const segments q = segments::from_lengths({3, 4}, "cu_seqlens_q");
  const auto make = [&](bool causal, int32_t left, int32_t right, float softcap = 0.0f) {
    attention_options o;
    o.causal = causal;
    o.window_left = left;
    o.window_right = right;
    o.softcap = softcap;
    o.kernel = varattn::kernel_family::sm80;
    return plan::make(q, q, {2, 2, 64}, o, varattn::launch_policy::per_segment);
  };
  const plan full = make(false, -1, -1);
  CHECK(full.window_left() == -1);
  CHECK(full.window_right() == -1);
  CHECK_FALSE(full.causal());
  CHECK(full.softcap() == 0.0f);
  const plan causal = make(true, -1, -1, 50.0f);  // causal: right = 0
  CHECK(causal.window_left() == -1);
  CHECK(causal.window_right() == 0);
  CHECK(causal.causal());
  CHECK(causal.softcap() == 50.0f);
  const plan causal_right = make(true, 7, 5);  // min(5, 0)
  CHECK(causal_right.window_left() == 7);
  CHECK(causal_right.window_right() == 0);
  const plan window = make(false, 3, 9);
  CHECK(window.window_left() == 3);
  CHECK(window.window_right() == 9);
  const plan zero = make(false, 0, 0);
  CHECK(zero.window_left() == 0);
  CHECK(zero.window_right() == 0);
  CHECK(make(false, -1, -1).kernel().family == varattn::kernel_family::sm80);
}

TEST_CASE("invalid windows and softcaps are rejected with the argument and the value") {
  const segments q = segments::from_lengths({3, 4}, "cu_seqlens_q");
  const auto make = [&](const attention_options& o) {
    return plan::make(q, q, {2, 2, 64}, o, varattn::launch_policy::per_segment);
  };
  attention_options o;
  o.window_left = -2;
  CHECK_THROWS_WITH_AS(make(o), "window_left = -2 must be -1 (unbounded) or >= 0",
                       varattn::error);
  o.window_left = INT32_MIN;
  CHECK_THROWS_WITH_AS(make(o), "window_left = -2147483648 must be -1 (unbounded) or >= 0",
                       varattn::error);
  o = {};
  o.window_right = -2;
  CHECK_THROWS_WITH_AS(make(o), "window_right = -2 must be -1 (unbounded) or >= 0",
                       varattn::error);
  o = {};
  o.causal = true;  // causal does not excuse an invalid right window
  o.window_right = -9;
  CHECK_THROWS_WITH_AS(make(o), "window_right = -9 must be -1 (unbounded) or >= 0",
                       varattn::error);
  o = {};
  o.softcap = -1.0f;
  CHECK_THROWS_WITH_AS(make(o), "softcap = -1 must be 0 (off) or positive and finite",
                       varattn::error);
  o.softcap = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(make(o), "softcap = inf must be 0 (off) or positive and finite",
                       varattn::error);
  o.softcap = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(make(o), "softcap = nan must be 0 (off) or positive and finite",
                       varattn::error);
  // The largest windows and a tiny softcap are valid.
  o = {};
  o.window_left = INT32_MAX;
  o.window_right = INT32_MAX;
  o.softcap = 1e-30f;
  CHECK_NOTHROW(make(o));
}

TEST_CASE("a plan covers at most kMaxRows rows of q and of k") {
  // Offsets only: no memory behind them. The kernels' tile arithmetic adds up to one key
  // block (256) to a row index; kMaxRows keeps that within int32.
  attention_options o;
  o.kernel = varattn::kernel_family::sm80;
  const segments fits = segments::from_lengths({varattn::kMaxRows}, "cu_seqlens_q");
  const segments too_many_q = segments::from_lengths({varattn::kMaxRows + 1}, "cu_seqlens_q");
  const segments too_many_k = segments::from_lengths({varattn::kMaxRows + 1}, "cu_seqlens_k");
  CHECK_NOTHROW(plan::make(fits, fits, {1, 1, 64}, o, varattn::launch_policy::per_segment));
  CHECK_THROWS_WITH_AS(
      plan::make(too_many_q, fits, {1, 1, 64}, o, varattn::launch_policy::per_segment),
      "cu_seqlens_q[1] = 2147483392 exceeds 2147483391, the most rows a plan covers",
      varattn::error);
  CHECK_THROWS_WITH_AS(
      plan::make(fits, too_many_k, {1, 1, 64}, o, varattn::launch_policy::per_segment),
      "cu_seqlens_k[1] = 2147483392 exceeds 2147483391, the most rows a plan covers",
      varattn::error);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(1, varattn::kMaxRows + 1, 1, {1, 1, 64}, o),
                       "rows_q = 2147483392 exceeds 2147483391, the most rows a plan covers",
                       varattn::error);
}
