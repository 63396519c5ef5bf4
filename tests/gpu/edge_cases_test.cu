// SPDX-License-Identifier: Apache-2.0
// Segment tables at the edges: empty segments, length 1, lengths off the tile size, one
// 16k segment, thousands of tiny ones.
#include <random>

#include "harness.cuh"

namespace {
template <class Element>
void check_edges() {
  if (!test::instantiated({64, 80, 128})) return;
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    test::problem empties;
    empties.lengths_q = {0, 0, 5, 0, 0, 0, 64, 0};
    empties.options.causal = causal;
    test::check<Element>(empties);

    test::problem ones;
    ones.lengths_q = std::vector<int32_t>(100, 1);
    ones.head_dim = 128;
    ones.options.causal = causal;
    test::check<Element>(ones);

    test::problem off_tile;
    off_tile.lengths_q = {63, 65, 127, 129, 191, 31, 33};
    off_tile.head_dim = 80;
    off_tile.options.causal = causal;
    test::check<Element>(off_tile);

    test::problem tiny;  // 2,048 segments of 1..64 tokens
    std::mt19937 rng(causal ? 11 : 12);
    tiny.lengths_q.resize(2048);
    for (int32_t& l : tiny.lengths_q) l = 1 + static_cast<int32_t>(rng() % 64);
    tiny.heads_q = 2;
    tiny.heads_kv = 1;
    tiny.options.causal = causal;
    test::check<Element>(tiny, {21, 22});

    test::problem long_one;  // one 16,384-token segment, reference on every 61st row
    long_one.lengths_q = {16384};
    long_one.heads_q = 2;
    long_one.heads_kv = 2;
    long_one.head_dim = 128;
    long_one.sample_every = 61;
    long_one.options.causal = causal;
    test::check<Element>(long_one, {31});
  }
}
}  // namespace

TEST_CASE("bfloat16 edge-case segment tables") { check_edges<__nv_bfloat16>(); }
TEST_CASE("half edge-case segment tables") { check_edges<__half>(); }

// Enough tiles of the Hopper kernel (segments over 64 rows) that the persistent grid (the
// harness's bucketed and device-built runs, which have a tile counter) runs ~20 tiles a CTA:
// tiles of different step counts, warpgroups with fewer steps than their tile (causal,
// windows, short last tiles) and tiles with no step at all (k shorter than q under causal:
// bottom-right, so the first rows see no key), back to back.
TEST_CASE("many Hopper tiles a CTA: mixed lengths, causal, windows, keyless tiles") {
  std::mt19937 rng(77);
  test::problem many;
  many.lengths_q.resize(300);
  many.lengths_k.resize(300);
  for (std::size_t i = 0; i < many.lengths_q.size(); ++i) {
    many.lengths_q[i] = 65 + static_cast<int32_t>(rng() % 336);
    // Mostly as long as q; every fifth shorter (keyless causal rows), every seventh empty.
    many.lengths_k[i] = i % 7 == 3   ? 0
                        : i % 5 == 1 ? static_cast<int32_t>(rng() % 64)
                                     : many.lengths_q[i] + static_cast<int32_t>(rng() % 200);
  }
  many.heads_q = 4;
  many.heads_kv = 2;
  many.sample_every = 9;  // the double-precision reference on every 9th row
  many.with_lse = true;
  for (const int32_t head_dim : {128, 80}) {
    if (!test::instantiated(head_dim)) continue;
    for (const int mode : {0, 1, 2}) {  // none, causal, a window of 96 keys to the left
      CAPTURE(head_dim);
      CAPTURE(mode);
      many.head_dim = head_dim;
      many.options.causal = mode == 1;
      many.options.window_left = mode == 2 ? 96 : -1;
      many.options.window_right = mode == 2 ? 0 : -1;
      test::check<__nv_bfloat16>(many, {51});
    }
  }
}

// Small enough for compute-sanitizer's racecheck, large enough that the persistent grid gives
// each CTA several tiles: 800 one-step tiles (200 segments of 65-128 rows and keys, 4 heads),
// so Q, the published tile ids and the K/V stages are reused across tiles.
TEST_CASE("persistent grid: Q, tile ids and stages reused across one-step tiles") {
  if (!test::instantiated(128)) return;
  std::mt19937 rng(78);
  test::problem reuse;
  reuse.lengths_q.resize(200);
  for (int32_t& length : reuse.lengths_q) length = 65 + static_cast<int32_t>(rng() % 64);
  reuse.heads_q = 4;
  reuse.heads_kv = 4;
  reuse.head_dim = 128;
  reuse.sample_every = 17;
  test::check<__nv_bfloat16>(reuse, {79});
}

// Inputs may overlap (only o must not): k and v with head_stride 0, one stored head that
// every kv head reads (the Hopper kernel's tensor maps then give the head dimension extent 1).
TEST_CASE("k and v whose heads share their elements (head_stride 0)") {
  for (const int32_t head_dim : {80, 128}) {
    if (!test::instantiated(head_dim)) continue;
    for (const bool causal : {false, true}) {
      CAPTURE(head_dim);
      CAPTURE(causal);
      test::problem shared;
      shared.lengths_q = {300, 17, 1000, 129};
      shared.heads_q = 4;
      shared.heads_kv = 2;
      shared.head_dim = head_dim;
      shared.shared_kv_head = true;
      shared.options.causal = causal;
      test::check<__nv_bfloat16>(shared, {41, 42});
    }
  }
}

TEST_CASE("no segments at all: nothing to launch, nothing written") {
  if (!test::instantiated(64)) return;
  test::problem none;
  none.lengths_q = {0, 0, 0};
  for (const test::outcome& r : test::run<__nv_bfloat16>(none, 1)) {
    CHECK(r.nonfinite == 0);
    CHECK(r.guard_written == 0);
  }
}

// Head dims 64 to 80 on Hopper: 192-row tiles of three consumer warpgroups (at 80 with P
// through shared memory and 144 keys a step, the tile of plans whose longest segment has
// kLongSegment rows or more: 2053 is one, 10 tiles and 133 rows, 14 steps and 37 keys).
// Segments on, under and over the tile height and its multiples (a third warpgroup with no
// rows, one with a few), on and around a multiple of 144 keys (288, 145; 577 ends one key
// into a step), causal (warpgroups with different step counts) and not.
TEST_CASE("head dims 64 to 80 Hopper tiles of 192 rows: segments around the tile height") {
  for (const int32_t head_dim : {64, 72, 80}) {
    if (!test::instantiated(head_dim)) continue;
    for (const bool causal : {false, true}) {
      CAPTURE(head_dim);
      CAPTURE(causal);
      test::problem p;
      p.lengths_q = {191, 192, 193, 384, 577, 65, 1, 130, 288, 145};
      if (head_dim == 80) {
        p.lengths_q.push_back(2053);
        p.device_max_q_length = 2053;  // device-built plans take the tall tile only with a bound
      }
      p.heads_q = 4;
      p.heads_kv = 2;
      p.head_dim = head_dim;
      p.options.causal = causal;
      test::check<__nv_bfloat16>(p, {81, 82});
      test::check<__half>(p, {83});
    }
  }
}
