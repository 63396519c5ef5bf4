// SPDX-License-Identifier: Apache-2.0
// One small problem for each kernel family and tile height, under every variant: the target of
// compute-sanitizer's racecheck (run_on_gpu.sh's sanitize stage), too slow for the full tables.
// And that the harness really reaches both families: on an sm_90 device automatic runs the
// Hopper kernel and the sm80 family the portable one; kernel_family::sm90 is refused elsewhere.
#include <algorithm>
#include <string>

#include "harness.cuh"

namespace {

bool on_hopper() { return varattn::device_arch::current().major == 9; }

test::problem tall_problem(int32_t d, bool causal) {
  test::problem tall;
  tall.lengths_q = {300, 40};
  tall.lengths_k = {700, 450};
  tall.heads_q = 2;
  tall.heads_kv = 1;
  tall.head_dim = d;
  tall.options.causal = causal;
  return tall;
}

}  // namespace

TEST_CASE("every kernel family on a small problem") {
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    // Tall tiles with several k/v steps, a last tile of 44 rows and len_q != len_k: the Hopper
    // kernel (automatic on sm_90) and the sm80 kernel for each head dim; the logsumexp, and a
    // window and a softcap on the causal runs (every mask and score path once).
    for (const int32_t d : {128, 72, 64}) {
      if (!test::instantiated(d)) continue;
      CAPTURE(d);
      test::problem tall = tall_problem(d, causal);
      tall.with_lse = true;
      if (causal) {
        tall.options.window_left = 100;
        tall.options.softcap = 30.0f;
      }
      test::check<__nv_bfloat16>(tall, {41});
    }
    // Short tiles: the sm80 tile at 80, on sm_90 the Hopper short tile at 64 and 128.
    for (const int32_t d : {64, 80, 128}) {
      if (!test::instantiated(d)) continue;
      CAPTURE(d);
      test::problem short_tiles;  // every segment <= 64 rows: short tiles
      short_tiles.lengths_q = {50, 64, 3};
      short_tiles.head_dim = d;
      short_tiles.options.causal = causal;
      short_tiles.with_lse = causal;
      test::check<__half>(short_tiles, {42});
      // Short segments sharing tiles (work_item::group: 5 + 0 + 17 + 30, then 64 alone, 3 +
      // 3), q and k of different lengths, a segment with queries and no key: its table in
      // shared memory and the per-row masks under the sanitizers.
      test::problem groups;
      groups.lengths_q = {5, 0, 17, 30, 64, 3, 3};
      groups.lengths_k = {9, 2, 17, 28, 64, 3, 0};
      groups.head_dim = d;
      groups.options.causal = causal;
      groups.options.window_left = causal ? 4 : -1;
      groups.with_lse = true;
      groups.device_max_q_length = 64;
      test::check<__nv_bfloat16>(groups, {43});
    }
  }
}

TEST_CASE("the harness runs the Hopper kernel and the sm80 kernel on sm_90, sm80 elsewhere") {
  if (!test::instantiated(128)) return;
  const std::vector<test::outcome> results = test::run<__nv_bfloat16>(tall_problem(128, true), 43);
  // The kernels each (variant, family) ran; "" when it did not run (same kernels as automatic).
  const auto kernels = [&](test::variant how, varattn::kernel_family family) {
    for (const test::outcome& r : results) {
      if (r.how == how && r.family == family) return r.kernels;
    }
    return std::string();
  };
  const auto automatic = varattn::kernel_family::automatic, sm80 = varattn::kernel_family::sm80;
  // The bucketed plan puts the 40-query segment in a short tile (on sm_90 the Hopper short
  // tile) and the 300 in a tall one.
  for (const test::variant how : test::kVariants) {
    CAPTURE(std::string(test::variant_name(how)));
    const bool bucketed = how == test::variant::bucketed;
    if (on_hopper()) {
      CHECK(kernels(how, automatic) == (bucketed ? "sm90+sm90" : "sm90"));
      CHECK(kernels(how, sm80) == (bucketed ? "sm80+sm80" : "sm80"));
    } else {
      CHECK(kernels(how, automatic) == (bucketed ? "sm80+sm80" : "sm80"));
      CHECK(kernels(how, sm80).empty());  // the same kernels as automatic: skipped
    }
  }
  for (const test::outcome& r : results) test::check_outcome<__nv_bfloat16>({}, r);
  // Every segment short: automatic on sm_90 runs the Hopper short tile (an sm90 kernel) under
  // every policy, the sm80 family its mma.sync tile.
  test::problem short_tiles = tall_problem(128, true);
  short_tiles.lengths_q = {50, 64, 3};
  short_tiles.lengths_k = {50, 64, 3};
  for (const test::outcome& r : test::run<__nv_bfloat16>(short_tiles, 45)) {
    CAPTURE(std::string(test::variant_name(r.how)));
    if (r.family == automatic) CHECK(r.kernels == (on_hopper() ? "sm90" : "sm80"));
    if (r.family == sm80) CHECK(r.kernels == (on_hopper() ? "sm80" : ""));
    test::check_outcome<__nv_bfloat16>(short_tiles, r);
  }
}

TEST_CASE("kernel_family::sm90 runs short segments on Hopper and is refused elsewhere") {
  if (!test::instantiated(80)) return;
  test::problem short_tiles;
  short_tiles.lengths_q = {50, 64, 3};
  short_tiles.lengths_k = {70, 64, 0};
  short_tiles.head_dim = 80;
  short_tiles.with_lse = true;
  short_tiles.options.kernel = varattn::kernel_family::sm90;
  if (on_hopper()) {
    for (const test::outcome& r : test::run<__half>(short_tiles, 44)) {
      CHECK(r.kernels == "sm90");
      test::check_outcome<__half>(short_tiles, r);
    }
  } else {
    const auto segs = varattn::segments::from_lengths(short_tiles.lengths_q);
    CHECK_THROWS_AS(varattn::plan::make(segs, segs, {4, 2, 80}, short_tiles.options),
                    varattn::error);
  }
}
