// SPDX-License-Identifier: Apache-2.0
// Segment tables at the edges: empty segments, length 1, lengths off the tile size, one
// 16k segment, thousands of tiny ones.
#include <random>

#include "harness.cuh"

namespace {
template <class Element>
void check_edges() {
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

// Inputs may overlap (only o must not): k and v with head_stride 0, one stored head that
// every kv head reads (the Hopper kernel's tensor maps then give the head dimension extent 1).
TEST_CASE("k and v whose heads share their elements (head_stride 0)") {
  for (const int32_t head_dim : {80, 128}) {
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
  test::problem none;
  none.lengths_q = {0, 0, 0};
  for (const test::outcome& r : test::run<__nv_bfloat16>(none, 1)) {
    CHECK(r.nonfinite == 0);
    CHECK(r.guard_written == 0);
  }
}
