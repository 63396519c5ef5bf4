// SPDX-License-Identifier: Apache-2.0
// Which plans run the Hopper forward's persistent grid when given a tile counter
// (plan::tile_counter): fused Hopper plans, but for host-built lists whose tiles average
// kLongTileSteps key steps or more (plan::mean_tile_steps), which run one CTA a tile; the
// device-built ones always (the host never sees their lengths); each bucket on its own.
#include "stub_checks.hpp"

#include <varattn/forward_scratch.hpp>
#include <varattn/kernel_config.hpp>
#include <varattn/plan.hpp>

#include <cstdint>
#include <doctest/doctest.h>
#include <utility>
#include <vector>

using varattn::kernel_family;
using varattn::launch_policy;
using varattn::plan;
using varattn::segments;

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);
constexpr varattn::attention_shape shape{16, 16, 128};

varattn::attention_options with(bool causal, kernel_family family = kernel_family::automatic) {
  varattn::attention_options o;
  o.causal = causal;
  o.kernel = family;
  return o;
}

plan fused(const std::vector<int32_t>& lengths, bool causal = false,
           kernel_family family = kernel_family::automatic) {
  const segments segs = segments::from_lengths(lengths);
  return plan::make(segs, segs, shape, with(causal, family), launch_policy::fused, stream_a);
}

// bench/workloads.json's llm-d128 (16 segments, 257 to 3633 rows).
const std::vector<int32_t> kLlm = {2072, 1950, 257,  2683, 2877, 459,  3633, 1321,
                                   1458, 2746, 1049, 2717, 2694, 1334, 554,  1799};

}  // namespace

TEST_CASE("the tile counter: the threshold is the one measured (H200 d128, s37)") {
  CHECK(varattn::kLongTileSteps == 48);
}

TEST_CASE("the tile counter: a uniform 16k segment drops it, per_segment never has it") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const plan p = fused({16384});
  REQUIRE(p.kernel().family == kernel_family::sm90);
  REQUIRE(p.tile().block_n == 128);
  CHECK(p.mean_tile_steps() == 128.0);
  CHECK(!p.tile_counter());
  // Four of them (sweep-d128-s16384): the same.
  const plan four = fused({16384, 16384, 16384, 16384});
  CHECK(four.mean_tile_steps() == 128.0);
  CHECK(!four.tile_counter());
  const segments one = segments::from_lengths({16384});
  const plan per_segment = plan::make(one, one, shape, {}, launch_policy::per_segment);
  CHECK(per_segment.mean_tile_steps() == 0.0);
  CHECK(!per_segment.tile_counter());
}

TEST_CASE("the tile counter: short and mid-length tiles keep it") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  // 64 segments of 1024 (sweep-d128-s1024, the counter's 9% win): 8 steps a tile.
  const plan s1024 = fused(std::vector<int32_t>(64, 1024));
  REQUIRE(s1024.kernel().family == kernel_family::sm90);
  CHECK(s1024.mean_tile_steps() == 8.0);
  CHECK(s1024.tile_counter());
  // 16 of 4096 (sweep-d128-s4096): 32 steps.
  const plan s4096 = fused(std::vector<int32_t>(16, 4096));
  CHECK(s4096.mean_tile_steps() == 32.0);
  CHECK(s4096.tile_counter());
  // llm-d128 and llm-d128-causal (the counter wins 3% and 5%).
  const plan llm = fused(kLlm);
  CHECK(llm.mean_tile_steps() == doctest::Approx(4550.0 / 242));  // 18.8
  CHECK(llm.tile_counter());
  const plan llm_causal = fused(kLlm, true);
  CHECK(llm_causal.mean_tile_steps() == doctest::Approx(2396.0 / 242));  // 9.9
  CHECK(llm_causal.tile_counter());
  // 1024 segments of 64: the Hopper short tile (no persistent grid, no counter); the Hopper
  // kernel forced onto them, one step a tile: kept.
  const plan s64 = fused(std::vector<int32_t>(1024, 64));
  CHECK(s64.kernel().hopper_short());
  CHECK(!s64.tile_counter());
  const plan s64_sm90 = fused(std::vector<int32_t>(1024, 64), false, kernel_family::sm90);
  CHECK(s64_sm90.kernel().family == kernel_family::sm90);
  CHECK(s64_sm90.mean_tile_steps() == 1.0);
  CHECK(s64_sm90.tile_counter());
}

TEST_CASE("the tile counter: a causal 16k segment (64.5 steps a tile) drops it") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const plan p = fused({16384}, true);
  REQUIRE(p.kernel().family == kernel_family::sm90);
  CHECK(p.work().size() == 128);
  CHECK(p.mean_tile_steps() == 64.5);  // tile t sees (t + 1) x 128 keys
  CHECK(!p.tile_counter());
  // A window of 1024 keys to the left (long-d128-window1024): ~9 steps a tile, kept.
  varattn::attention_options window = with(true);
  window.window_left = 1023;
  const segments one = segments::from_lengths({16384});
  const plan windowed = plan::make(one, one, shape, window, launch_policy::fused, stream_a);
  CHECK(windowed.mean_tile_steps() < 10.0);
  CHECK(windowed.tile_counter());
}

TEST_CASE("the tile counter: the threshold is a mean of kLongTileSteps steps a tile") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const int32_t n = varattn::kLongTileSteps * 128;  // keys: kLongTileSteps steps a tile
  const plan at = fused({n, n});
  CHECK(at.mean_tile_steps() == double(varattn::kLongTileSteps));
  CHECK(!at.tile_counter());
  const plan below = fused({n - 128, n - 128});
  CHECK(below.mean_tile_steps() == double(varattn::kLongTileSteps - 1));
  CHECK(below.tile_counter());
  // A mean over the tiles: one 16k segment among 64 of 1024 (128 x 128 + 512 x 8 steps over
  // 640 tiles = 32) keeps it.
  std::vector<int32_t> mixed(64, 1024);
  mixed.push_back(16384);
  const plan m = fused(mixed);
  CHECK(m.mean_tile_steps() == 32.0);
  CHECK(m.tile_counter());
}

TEST_CASE("the tile counter: a packed GQA plan counts the steps of its block_m / pack queries") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  // Causal 16k, group 2: tiles of 64 queries x 2 heads; tile t sees (t + 1) x 64 keys,
  // ceil((t + 1) / 2) steps: 2 x (1 + ... + 128) / 256 = 64.5, as unpacked (dropped).
  const segments one = segments::from_lengths({16384});
  const plan p = plan::make(one, one, {16, 8, 128}, with(true), launch_policy::fused, stream_a);
  REQUIRE(p.kernel().family == kernel_family::sm90);
  REQUIRE(p.kernel().pack == 2);
  CHECK(p.tile().block_m == 64);
  CHECK(p.work().size() == 256);
  CHECK(p.mean_tile_steps() == 64.5);
  CHECK(!p.tile_counter());
  // A window of 1024 keys to the left, group 8 (16 queries a tile): ~9 steps, kept.
  varattn::attention_options window = with(true);
  window.window_left = 1023;
  const plan w = plan::make(one, one, {16, 2, 128}, window, launch_policy::fused, stream_a);
  REQUIRE(w.kernel().pack == 8);
  CHECK(w.mean_tile_steps() < 10.0);
  CHECK(w.tile_counter());
}

TEST_CASE("forward_scratch{data}: the counter, the persistent grid not forced") {
  unsigned int counter[2] = {};
  const varattn::forward_scratch scratch{counter};
  CHECK(scratch.data == counter);
  CHECK(!scratch.force_persistent);
  CHECK(!varattn::forward_scratch{}.force_persistent);
}

TEST_CASE("the tile counter: device-built plans keep it, whatever their lengths") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  for (const bool causal : {false, true}) {
    const plan p = plan::reserve_on_device(1, 16384, 16384, shape, with(causal), 16384);
    REQUIRE(p.kernel().family == kernel_family::sm90);
    CHECK(p.built_on_device());
    CHECK(p.mean_tile_steps() == 0.0);
    CHECK(p.tile_counter());
  }
}

TEST_CASE("the tile counter: empty plans") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  // A Hopper list of no items (every segment empty): nothing long, kept (the launch is none).
  const plan none = fused({0, 0}, false, kernel_family::sm90);
  REQUIRE(none.kernel().family == kernel_family::sm90);
  CHECK(none.work().empty());
  CHECK(none.mean_tile_steps() == 0.0);
  CHECK(none.tile_counter());
  // Moved from: no list, no counter.
  plan p = fused({16384, 1024});
  const plan taken = std::move(p);
  CHECK(p.empty());
  CHECK(p.mean_tile_steps() == 0.0);
  CHECK(!p.tile_counter());
  CHECK(taken.mean_tile_steps() == doctest::Approx(16448.0 / 136));  // (128^2 + 8^2) / 136
  CHECK(!taken.tile_counter());
}

TEST_CASE("the tile counter: each bucket decides on its own") {
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const auto bucketed = [](const std::vector<int32_t>& lengths) {
    const segments segs = segments::from_lengths(lengths);
    return plan::make(segs, segs, shape, {}, launch_policy::bucketed, stream_a);
  };
  // Short segments in the Hopper short tile (no counter), the 16k one alone: dropped.
  const plan a = bucketed({32, 32, 16384});
  REQUIRE(a.buckets().size() == 2);
  CHECK(!a.tile_counter());
  CHECK(a.buckets()[0].kernel().hopper_short());
  CHECK(!a.buckets()[0].tile_counter());
  CHECK(a.buckets()[1].kernel().family == kernel_family::sm90);
  CHECK(a.buckets()[1].mean_tile_steps() == 128.0);
  CHECK(!a.buckets()[1].tile_counter());
  // The long bucket of 1024s keeps it.
  const plan b = bucketed({32, 1024, 1024});
  REQUIRE(b.buckets().size() == 2);
  CHECK(b.buckets()[1].mean_tile_steps() == 8.0);
  CHECK(b.buckets()[1].tile_counter());
}
