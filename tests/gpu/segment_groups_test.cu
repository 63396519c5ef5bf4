// SPDX-License-Identifier: Apache-2.0
// Groups of whole short segments in one sm80 short tile (work_item::group): each row must see
// its own segment's keys only, under its segment's window, whatever its neighbours in the
// tile: empty segments inside a group, keys without queries and queries without keys, q and k
// of different lengths, the logsumexp, softcap, and thousands of tiny segments. Every policy
// and family runs (the harness): host-built fused and bucketed plans group, per_segment does
// not, and device-built plans group only where a builder thread walks several segments (its
// ceil(n / 256): here the 3,000-segment case).
#include <algorithm>
#include <random>

#include "../common/mask_options.hpp"
#include "harness.cuh"

namespace {

struct group_case {
  const char* name;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  // empty: as lengths_q
  //! Thousands of segments: head dim 64, no window or softcap, one seed (every variant runs
  //! 3,000 launches per_segment; all masks and dims took over a minute a dtype on the H200).
  bool many = false;
};

std::vector<group_case> group_cases() {
  std::mt19937 rng(91);
  group_case many{"3,000 segments of 0 to 40 rows, keys 0 to 7 more", {}, {}, true};
  for (int32_t i = 0; i < 3000; ++i) {
    const auto q = static_cast<int32_t>(rng() % 41);
    many.lengths_q.push_back(q);
    many.lengths_k.push_back(q + static_cast<int32_t>(rng() % 8));
  }
  return {
      {"groups with empty segments inside", {5, 0, 17, 1, 0, 30, 12, 64, 3, 3, 3}, {}},
      // Segment 2 has a query and no key; 3 keys and no query; 5 more keys than its queries.
      {"q and k of different lengths", {10, 20, 1, 0, 7, 4, 9}, {30, 5, 0, 12, 9, 4, 1}},
      many,
  };
}

template <class Element>
void check_groups() {
  using test::mask_options;
  const varattn::attention_options masks[] = {
      mask_options(false, -1, -1), mask_options(true, -1, -1), mask_options(false, 3, 0),
      mask_options(false, 2, 2), mask_options(true, -1, -1, 5.0f)};
  uint64_t seed = 4000;
  for (const group_case& c : group_cases()) {
    for (const int32_t d : {64, 80, 256}) {
      if (c.many && d != 64) continue;
      if (!test::instantiated(d)) continue;
      for (const varattn::attention_options& m : masks) {
        if (c.many && (m.window_left >= 0 || m.softcap > 0)) continue;
        CAPTURE(std::string(c.name));
        CAPTURE(d);
        test::problem pr;  // 4 query heads on 2 kv heads (the harness's default)
        pr.lengths_q = c.lengths_q;
        pr.lengths_k = c.lengths_k;
        pr.head_dim = d;
        pr.options = m;
        pr.q_gain = m.softcap > 0 ? 12.0f : 1.0f;
        pr.with_lse = true;
        // Device-built plans pick their tile from this bound (default rows_q, which would
        // select tall or Hopper tiles): the short tile, where the device may group.
        pr.device_max_q_length = *std::max_element(c.lengths_q.begin(), c.lengths_q.end());
        if (c.many) {
          test::check<Element>(pr, {seed}, false);
        } else {
          test::check<Element>(pr, {seed, seed + 1}, false);
        }
        seed += 2;
      }
    }
  }
}

}  // namespace

TEST_CASE("segment groups: the host's fused list groups short segments") {
  if (!test::instantiated(64)) return;
  const auto segs = varattn::segments::from_lengths({5, 0, 17, 1, 0, 30, 12, 64, 3, 3, 3});
  varattn::attention_options options;
  options.kernel = varattn::kernel_family::sm80;
  test::stream_guard s;
  const auto p =
      varattn::plan::make(segs, segs, {4, 2, 64}, options, varattn::launch_policy::fused, s.stream);
  REQUIRE(p.kernel().groups_segments());
  int32_t groups = 0;
  for (const varattn::work_item& item : p.work()) groups += item.is_group() ? 1 : 0;
  CHECK(p.work().size() == 4);
  CHECK(groups == 2);
}

TEST_CASE("bfloat16: segment groups match the reference") { check_groups<__nv_bfloat16>(); }
TEST_CASE("half: segment groups match the reference") { check_groups<__half>(); }
